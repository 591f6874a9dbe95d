//! Error-queue control messages and socket addresses: never panic.
#![no_main]

use plpmtud_udp::errqueue;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(err) = errqueue::parse_control(data) {
        let _ = err.kind();
    }
    let _ = errqueue::parse_extended_error(data);
    let _ = errqueue::parse_sockaddr(data);
});
