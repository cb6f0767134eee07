//! Property tests: formatting is the exact inverse of parsing, and parsing never panics.

use herald_proto::message::{self, Field, NotifyAccess};
use proptest::prelude::*;

/// Owned form of a field, so proptest can generate it; borrowed into `Field` for use.
#[derive(Debug, Clone)]
enum OwnedField {
    Simple(u8),
    Num(u8, u64),
    Text(u8, String),
    Other(String, Vec<u8>),
}

impl OwnedField {
    fn borrow(&self) -> Field<'_> {
        match self {
            OwnedField::Simple(k) => match k % 11 {
                0 => Field::Ready,
                1 => Field::Reloading,
                2 => Field::Stopping,
                3 => Field::MainPidFd,
                4 => Field::Watchdog,
                5 => Field::WatchdogTrigger,
                6 => Field::FdStore,
                7 => Field::FdStoreRemove,
                8 => Field::Barrier,
                9 => Field::RestartReset,
                _ => Field::FdPoll(k % 2 == 0),
            },
            OwnedField::Num(k, n) => match k % 8 {
                0 => Field::MonotonicUsec(*n),
                1 => Field::MainPidFdId(*n),
                2 => Field::WatchdogUsec(*n),
                3 => Field::ExtendTimeoutUsec(*n),
                4 => Field::Errno((*n % 4096) as u32),
                5 => Field::ExitStatus(*n as u8),
                6 => Field::MainPid((*n % i32::MAX as u64) as u32 + 1),
                _ => Field::NotifyAccess(
                    [
                        NotifyAccess::None,
                        NotifyAccess::Main,
                        NotifyAccess::Exec,
                        NotifyAccess::All,
                    ][(*n % 4) as usize],
                ),
            },
            OwnedField::Text(k, s) => match k % 4 {
                0 => Field::Status(s),
                1 => Field::BusError(s),
                2 => Field::VarlinkError(s),
                _ => Field::FdName(s),
            },
            OwnedField::Other(k, v) => Field::Other { key: k, value: v },
        }
    }
}

fn owned_field() -> impl Strategy<Value = OwnedField> {
    prop_oneof![
        any::<u8>().prop_map(OwnedField::Simple),
        (any::<u8>(), any::<u64>()).prop_map(|(k, n)| OwnedField::Num(k, n)),
        // Status: any UTF-8 without newline or NUL; error and fd names: printable ASCII.
        "[^\n\0]{0,40}".prop_map(|s| OwnedField::Text(0, s)),
        (1u8..4, "[!-9;-~]{1,30}").prop_map(|(k, s)| OwnedField::Text(k, s)),
        (
            "X_[A-Z0-9_]{0,12}",
            proptest::collection::vec(
                any::<u8>().prop_filter("no newline or NUL", |b| *b != b'\n' && *b != 0),
                0..40
            )
        )
            .prop_map(|(k, v)| OwnedField::Other(k, v)),
    ]
}

proptest! {
    #[test]
    fn format_then_parse_round_trips(fields in proptest::collection::vec(owned_field(), 1..12)) {
        let borrowed: Vec<Field<'_>> = fields.iter().map(OwnedField::borrow).collect();
        let wire = message::format(&borrowed).expect("valid fields format");
        let payload = message::check_datagram(&wire).expect("datagram rules hold");
        let back = message::parse(payload).expect("formatted message parses");
        prop_assert_eq!(back, borrowed);
    }

    #[test]
    fn parse_never_panics_and_reformats_to_a_canonical_message(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(payload) = message::check_datagram(&bytes) {
            if let Ok(fields) = message::parse(payload) {
                let wire = message::format(&fields).expect("parsed fields format");
                let again = message::parse(&wire).expect("reformatted message parses");
                prop_assert_eq!(again, fields);
            }
        }
    }
}
