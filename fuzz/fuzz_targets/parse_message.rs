//! Any datagram: the receiver's checks and the parser never panic, and whatever parses
//! formats back to bytes that parse to the same fields.
#![no_main]

use herald_proto::message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = message::check_datagram(data) else { return };
    // The lenient path a manager takes: every line on its own.
    for line in message::lines(payload) {
        if let Ok(field) = message::Field::parse(line) {
            let wire = message::format(&[field]).expect("a parsed field formats");
            assert_eq!(message::Field::parse(&wire).expect("formatted field parses"), field);
        }
    }
    // The strict path: the whole message.
    if let Ok(fields) = message::parse(payload) {
        let wire = message::format(&fields).expect("parsed fields format");
        assert_eq!(message::parse(&wire).expect("formatted message parses"), fields);
    }
});
