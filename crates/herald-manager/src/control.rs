//! The control socket: owner-only, one JSON request line per connection, one JSON
//! response line back (see [`crate::api`]). Connections are non-blocking and live in
//! the event loop; a job request's answer waits until its jobs finish.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::api::{JobOutcome, Request, Response};

/// Largest request accepted, in bytes.
const MAX_REQUEST: usize = 64 * 1024;

/// Binds the control socket at `path` (replacing a stale one), mode 0600.
pub fn listen(path: &Path) -> io::Result<OwnedFd> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    // Owner-only from the moment it exists: bind under a restrictive umask.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = rustix::net::bind(&sock, &SocketAddrUnix::new(path)?);
    rustix::process::umask(old);
    bound?;
    rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(0o600))?;
    rustix::net::listen(&sock, 64)?;
    Ok(sock)
}

/// Accepts one pending connection, if any. Connections from other users are refused
/// (the socket's mode already keeps them out; this also covers root-owned sockets
/// reached through a shared directory).
pub fn accept(listener: &OwnedFd) -> io::Result<Option<Conn>> {
    loop {
        match rustix::net::accept_with(listener, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK) {
            Ok(fd) => {
                let peer = rustix::net::sockopt::socket_peercred(&fd)?;
                let me = rustix::process::geteuid();
                if peer.uid != me && !peer.uid.is_root() {
                    continue;
                }
                return Ok(Some(Conn::new(fd)));
            }
            Err(rustix::io::Errno::AGAIN) => return Ok(None),
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::CONNABORTED) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// One control connection.
#[derive(Debug)]
pub struct Conn {
    /// The connected socket.
    pub fd: OwnedFd,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    pending_jobs: usize,
    outcomes: Vec<JobOutcome>,
    /// Whether epoll watches it for writability.
    pub watching_out: bool,
    answered: bool,
}

impl Conn {
    fn new(fd: OwnedFd) -> Conn {
        Conn {
            fd,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            pending_jobs: 0,
            outcomes: Vec::new(),
            watching_out: false,
            answered: false,
        }
    }

    /// Reads what is available. `Ok(Some(..))` once a whole line arrived;
    /// `Err` when the peer went away or sent too much.
    pub fn read_request(&mut self) -> io::Result<Option<Result<Request, serde_json::Error>>> {
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(&self.fd, &mut buf) {
                Ok(0) => {
                    if self.input.is_empty() || self.answered || self.pending_jobs > 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    // A request without its newline: take it as the whole request.
                    let req = serde_json::from_slice(&self.input);
                    self.input.clear();
                    return Ok(Some(req));
                }
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    if self.input.len() > MAX_REQUEST {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "request too large",
                        ));
                    }
                    if let Some(nl) = self.input.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = self.input.drain(..=nl).collect();
                        if self.answered || self.pending_jobs > 0 {
                            // One request per connection.
                            return Ok(None);
                        }
                        return Ok(Some(serde_json::from_slice(&line[..line.len() - 1])));
                    }
                }
                Err(rustix::io::Errno::AGAIN) => return Ok(None),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Queues the response.
    pub fn respond(&mut self, response: Response) {
        self.answered = true;
        let mut line = serde_json::to_vec(&response).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
        line.push(b'\n');
        self.output = line;
        self.written = 0;
    }

    /// The answer waits for `n` jobs.
    pub fn expect_jobs(&mut self, n: usize) {
        self.pending_jobs += n;
        self.answered = true;
    }

    /// A job this connection waits for finished; the answer goes out after the last.
    pub fn job_finished(&mut self, outcome: JobOutcome) {
        self.outcomes.push(outcome);
        self.pending_jobs = self.pending_jobs.saturating_sub(1);
        if self.pending_jobs == 0 {
            let ok = self.outcomes.iter().all(|o| o.result == "done");
            let error = (!ok).then(|| {
                self.outcomes
                    .iter()
                    .filter(|o| o.result != "done")
                    .map(|o| {
                        format!(
                            "{} {}: {}",
                            o.kind.as_str(),
                            o.unit,
                            o.reason.as_deref().unwrap_or(&o.result)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            let jobs = std::mem::take(&mut self.outcomes);
            self.respond(Response {
                ok,
                error,
                jobs,
                ..Response::default()
            });
        }
    }

    /// Whether a response is waiting to be written.
    pub fn has_output(&self) -> bool {
        self.written < self.output.len()
    }

    /// Writes what it can. `Ok(true)`: the response is out and the connection is done.
    pub fn write_out(&mut self) -> io::Result<bool> {
        while self.written < self.output.len() {
            match rustix::io::write(self.fd.as_fd(), &self.output[self.written..]) {
                Ok(n) => self.written += n,
                Err(rustix::io::Errno::AGAIN) => return Ok(false),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.answered && self.pending_jobs == 0 && !self.output.is_empty())
    }
}
