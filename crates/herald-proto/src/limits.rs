//! The numeric limits of the protocol, as systemd's sender and receiver apply them.

/// Largest datagram a receiver accepts, in bytes. systemd reads into a buffer of
/// `PIPE_BUF` bytes and drops anything that did not fit (`MSG_TRUNC`).
pub const MAX_DATAGRAM: usize = 4096;

/// Most file descriptors a receiver accepts with one message. More than this overflows
/// the control buffer (`MSG_CTRUNC`) and the message is dropped.
pub const MAX_FDS_RECEIVE: usize = 768;

/// Most file descriptors the kernel lets one `sendmsg` carry (`SCM_MAX_FD`).
pub const MAX_FDS_SEND: usize = 253;

/// Largest `FDNAME=` value, in bytes (`FDNAME_MAX`).
pub const MAX_FDNAME: usize = 255;

/// Largest errno value `ERRNO=` may carry (`ERRNO_MAX`).
pub const MAX_ERRNO: u32 = 4095;

/// Largest `sun_path` string, in bytes, for a path or abstract address: the field is
/// 108 bytes and systemd keeps one for the terminating (or leading) NUL.
pub const MAX_UNIX_PATH: usize = 107;

/// The first file descriptor passed by socket activation (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: i32 = 3;

/// Send buffer a client asks for before sending (`SNDBUF_SIZE`, 8 MiB).
pub const SEND_BUFFER: usize = 8 * 1024 * 1024;
