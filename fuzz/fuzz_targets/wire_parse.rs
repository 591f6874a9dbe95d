//! Probe/ack datagram parsing: never panics; what parses re-encodes the same.
#![no_main]

use plpmtud_path::wire::{self, Kind};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(header) = wire::parse(data) {
        let again = match header.kind {
            Kind::Probe => wire::probe(header.nonce, header.size, data.len()),
            Kind::Ack => wire::ack(header.nonce, header.size as usize).to_vec(),
        };
        assert_eq!(wire::parse(&again).map(|h| h.nonce), Ok(header.nonce));
    }
});
