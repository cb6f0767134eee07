//! The sd_notify wire protocol, as systemd speaks it: notification messages, the
//! `$NOTIFY_SOCKET` address forms, the environment a manager hands its services, and the
//! limits both sides apply. Pure: no I/O and no unsafe code, so it can be fuzzed and
//! table-tested in isolation, and shared by the client, the CLI and the manager.
//!
//! ```
//! use herald_proto::message::{self, Field};
//!
//! // Build a message: the bytes libsystemd would send.
//! let wire = message::format(&[Field::Ready, Field::Status("Listening on :8080")]).unwrap();
//! assert_eq!(wire, b"READY=1\nSTATUS=Listening on :8080");
//!
//! // Receive one: datagram rules first, then each assignment, in order.
//! let payload = message::check_datagram(b"READY=1\nX_MINE=42\0").unwrap();
//! let fields = message::parse(payload).unwrap();
//! assert_eq!(fields, [Field::Ready, Field::Other { key: "X_MINE", value: b"42" }]);
//!
//! // A value with a newline would inject an assignment: the typed API refuses it.
//! assert!(message::format(&[Field::Status("ok\nREADY=1")]).is_err());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod address;
pub mod env;
pub mod limits;
pub mod message;

pub use address::{AddressError, NotifyAddress, VsockType};
pub use message::{DatagramError, Field, FieldError, FieldErrorKind, NotifyAccess};
