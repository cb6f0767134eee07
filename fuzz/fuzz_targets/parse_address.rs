//! Any `$NOTIFY_SOCKET` value: parsing never panics, and what parses formats back to
//! the same address.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use herald_proto::NotifyAddress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(addr) = NotifyAddress::parse(OsStr::from_bytes(data)) {
        let text = addr.to_os_string();
        assert_eq!(NotifyAddress::parse(&text).expect("formatted address parses"), addr);
    }
});
