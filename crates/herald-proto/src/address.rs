//! `$NOTIFY_SOCKET` addresses: parsing and formatting.
//!
//! The forms systemd accepts: an absolute path (`/run/systemd/notify`), an abstract
//! socket (`@name`), and AF_VSOCK as `vsock:CID:PORT`, `vsock-stream:CID:PORT`,
//! `vsock-dgram:CID:PORT` or `vsock-seqpacket:CID:PORT`. Plain `vsock:` leaves the socket
//! type open: the client tries datagram, then seqpacket, then stream.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use crate::limits::MAX_UNIX_PATH;

/// `VMADDR_CID_ANY`: "any CID", which a client cannot connect to.
pub const VMADDR_CID_ANY: u32 = u32::MAX;
/// `VMADDR_CID_HYPERVISOR`.
pub const VMADDR_CID_HYPERVISOR: u32 = 0;
/// `VMADDR_CID_LOCAL`: loopback within the same machine.
pub const VMADDR_CID_LOCAL: u32 = 1;
/// `VMADDR_CID_HOST`: the host of a virtual machine.
pub const VMADDR_CID_HOST: u32 = 2;
/// `VMADDR_PORT_ANY`, which a client cannot connect to.
pub const VMADDR_PORT_ANY: u32 = u32::MAX;

/// The socket type named in a `vsock-TYPE:` address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VsockType {
    /// `SOCK_STREAM`.
    Stream,
    /// `SOCK_DGRAM`.
    Dgram,
    /// `SOCK_SEQPACKET`.
    Seqpacket,
}

impl VsockType {
    fn prefix(self) -> &'static str {
        match self {
            VsockType::Stream => "vsock-stream",
            VsockType::Dgram => "vsock-dgram",
            VsockType::Seqpacket => "vsock-seqpacket",
        }
    }
}

/// A parsed `$NOTIFY_SOCKET`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NotifyAddress {
    /// A socket in the file system, by absolute path.
    Path(PathBuf),
    /// A socket in the abstract namespace; the name excludes the leading `@`/NUL.
    Abstract(Vec<u8>),
    /// An AF_VSOCK address.
    Vsock {
        /// The socket type, or `None` for plain `vsock:` (try each in turn).
        socket_type: Option<VsockType>,
        /// The peer's context ID.
        cid: u32,
        /// The peer's port.
        port: u32,
    },
}

/// Why a `$NOTIFY_SOCKET` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// The value is empty.
    Empty,
    /// Neither absolute, nor `@abstract`, nor `vsock…:`.
    Relative(OsString),
    /// The path or abstract name does not fit in `sun_path`.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A NUL byte in a path (it would silently shorten it).
    Nul,
    /// A `vsock…:` address that is not `CID:PORT`.
    BadVsock(String),
    /// The CID is `VMADDR_CID_ANY` (or empty), which cannot be connected to.
    CidAny,
    /// The port is `VMADDR_PORT_ANY`, which cannot be connected to.
    PortAny,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Empty => write!(f, "NOTIFY_SOCKET is empty"),
            AddressError::Relative(v) => write!(
                f,
                "NOTIFY_SOCKET={} is neither an absolute path, an @abstract name nor a vsock: address",
                v.to_string_lossy()
            ),
            AddressError::TooLong { len } => write!(
                f,
                "NOTIFY_SOCKET address is {len} bytes long; at most {MAX_UNIX_PATH} fit in sun_path"
            ),
            AddressError::Nul => write!(f, "NOTIFY_SOCKET address contains a NUL byte"),
            AddressError::BadVsock(v) => {
                write!(f, "NOTIFY_SOCKET={v} is not a vsock address of the form vsock:CID:PORT")
            }
            AddressError::CidAny => write!(f, "NOTIFY_SOCKET names VMADDR_CID_ANY, which cannot be connected to"),
            AddressError::PortAny => write!(f, "NOTIFY_SOCKET names VMADDR_PORT_ANY, which cannot be connected to"),
        }
    }
}

impl std::error::Error for AddressError {}

fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_cid(s: &str) -> Result<u32, AddressError> {
    let cid = match s {
        "" => VMADDR_CID_ANY,
        "hypervisor" => VMADDR_CID_HYPERVISOR,
        "local" => VMADDR_CID_LOCAL,
        "host" => VMADDR_CID_HOST,
        _ => parse_u32(s).ok_or_else(|| AddressError::BadVsock(s.to_owned()))?,
    };
    if cid == VMADDR_CID_ANY {
        return Err(AddressError::CidAny);
    }
    Ok(cid)
}

impl NotifyAddress {
    /// Parses a `$NOTIFY_SOCKET` value.
    pub fn parse(value: &OsStr) -> Result<NotifyAddress, AddressError> {
        let bytes = value.as_bytes();
        match bytes.first() {
            None => Err(AddressError::Empty),
            Some(b'/') => {
                if bytes.contains(&0) {
                    return Err(AddressError::Nul);
                }
                if bytes.len() > MAX_UNIX_PATH {
                    return Err(AddressError::TooLong { len: bytes.len() });
                }
                Ok(NotifyAddress::Path(PathBuf::from(value)))
            }
            Some(b'@') => {
                let name = &bytes[1..];
                if name.len() > MAX_UNIX_PATH {
                    return Err(AddressError::TooLong { len: name.len() });
                }
                Ok(NotifyAddress::Abstract(name.to_vec()))
            }
            Some(_) => Self::parse_vsock(bytes)
                .unwrap_or_else(|| Err(AddressError::Relative(value.to_os_string()))),
        }
    }

    /// `None` when the value does not start with a vsock prefix at all.
    fn parse_vsock(bytes: &[u8]) -> Option<Result<NotifyAddress, AddressError>> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (prefix, rest) = text.split_once(':')?;
        let socket_type = match prefix {
            "vsock" => None,
            "vsock-stream" => Some(VsockType::Stream),
            "vsock-dgram" => Some(VsockType::Dgram),
            "vsock-seqpacket" => Some(VsockType::Seqpacket),
            _ => return None,
        };
        let parsed = (|| {
            let (cid, port) = rest
                .split_once(':')
                .ok_or_else(|| AddressError::BadVsock(text.to_owned()))?;
            let cid = parse_cid(cid).map_err(|e| match e {
                AddressError::BadVsock(_) => AddressError::BadVsock(text.to_owned()),
                e => e,
            })?;
            let port = parse_u32(port).ok_or_else(|| AddressError::BadVsock(text.to_owned()))?;
            if port == VMADDR_PORT_ANY {
                return Err(AddressError::PortAny);
            }
            Ok(NotifyAddress::Vsock {
                socket_type,
                cid,
                port,
            })
        })();
        Some(parsed)
    }

    /// The value as it would be written to `$NOTIFY_SOCKET`.
    pub fn to_os_string(&self) -> OsString {
        match self {
            NotifyAddress::Path(p) => p.clone().into_os_string(),
            NotifyAddress::Abstract(name) => {
                let mut v = Vec::with_capacity(name.len() + 1);
                v.push(b'@');
                v.extend_from_slice(name);
                OsString::from_vec(v)
            }
            NotifyAddress::Vsock { .. } => OsString::from(self.to_string()),
        }
    }
}

impl fmt::Display for NotifyAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyAddress::Path(p) => write!(f, "{}", p.display()),
            NotifyAddress::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
            NotifyAddress::Vsock {
                socket_type,
                cid,
                port,
            } => {
                let prefix = socket_type.map_or("vsock", VsockType::prefix);
                write!(f, "{prefix}:{cid}:{port}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<NotifyAddress, AddressError> {
        NotifyAddress::parse(OsStr::new(s))
    }

    #[test]
    fn accepted_forms_round_trip() {
        let long_path = format!("/{}", "p".repeat(MAX_UNIX_PATH - 1));
        let long_abstract = format!("@{}", "a".repeat(MAX_UNIX_PATH));
        let cases: Vec<(&str, NotifyAddress)> = vec![
            (
                "/run/systemd/notify",
                NotifyAddress::Path("/run/systemd/notify".into()),
            ),
            ("/", NotifyAddress::Path("/".into())),
            (&long_path, NotifyAddress::Path(long_path.clone().into())),
            (
                "@herald/notify",
                NotifyAddress::Abstract(b"herald/notify".to_vec()),
            ),
            ("@", NotifyAddress::Abstract(Vec::new())),
            (
                &long_abstract,
                NotifyAddress::Abstract(vec![b'a'; MAX_UNIX_PATH]),
            ),
            (
                "vsock:2:1234",
                NotifyAddress::Vsock {
                    socket_type: None,
                    cid: 2,
                    port: 1234,
                },
            ),
            (
                "vsock-stream:3:1",
                NotifyAddress::Vsock {
                    socket_type: Some(VsockType::Stream),
                    cid: 3,
                    port: 1,
                },
            ),
            (
                "vsock-dgram:1:99",
                NotifyAddress::Vsock {
                    socket_type: Some(VsockType::Dgram),
                    cid: 1,
                    port: 99,
                },
            ),
            (
                "vsock-seqpacket:4294967294:0",
                NotifyAddress::Vsock {
                    socket_type: Some(VsockType::Seqpacket),
                    cid: u32::MAX - 1,
                    port: 0,
                },
            ),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got, want, "{text}");
            assert_eq!(got.to_os_string(), OsString::from(text), "format of {text}");
            assert_eq!(got.to_string(), text);
        }
    }

    #[test]
    fn named_cids() {
        assert_eq!(
            parse("vsock:host:5").unwrap(),
            NotifyAddress::Vsock {
                socket_type: None,
                cid: 2,
                port: 5
            }
        );
        assert_eq!(
            parse("vsock:local:5").unwrap(),
            NotifyAddress::Vsock {
                socket_type: None,
                cid: 1,
                port: 5
            }
        );
        assert_eq!(
            parse("vsock:hypervisor:5").unwrap(),
            NotifyAddress::Vsock {
                socket_type: None,
                cid: 0,
                port: 5
            }
        );
    }

    #[test]
    fn refused_forms() {
        let too_long = format!("/{}", "p".repeat(MAX_UNIX_PATH));
        let too_long_abstract = format!("@{}", "a".repeat(MAX_UNIX_PATH + 1));
        let cases: Vec<(&str, AddressError)> = vec![
            ("", AddressError::Empty),
            ("run/notify", AddressError::Relative("run/notify".into())),
            ("./notify", AddressError::Relative("./notify".into())),
            ("notify", AddressError::Relative("notify".into())),
            ("vsocket:1:2", AddressError::Relative("vsocket:1:2".into())),
            (
                &too_long,
                AddressError::TooLong {
                    len: MAX_UNIX_PATH + 1,
                },
            ),
            (
                &too_long_abstract,
                AddressError::TooLong {
                    len: MAX_UNIX_PATH + 1,
                },
            ),
            ("/a\0b", AddressError::Nul),
            ("vsock:1", AddressError::BadVsock("vsock:1".into())),
            ("vsock:x:1", AddressError::BadVsock("vsock:x:1".into())),
            ("vsock:1:", AddressError::BadVsock("vsock:1:".into())),
            ("vsock:1:-2", AddressError::BadVsock("vsock:1:-2".into())),
            (
                "vsock:1:4294967296",
                AddressError::BadVsock("vsock:1:4294967296".into()),
            ),
            ("vsock::1", AddressError::CidAny),
            ("vsock:4294967295:1", AddressError::CidAny),
            ("vsock-dgram:2:4294967295", AddressError::PortAny),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Err(want), "{text:?}");
        }
        assert!(parse("run/notify")
            .unwrap_err()
            .to_string()
            .contains("neither an absolute path"));
    }
}
