//! Arbitrary datagrams (junk and real fragments, scrambled and repeated)
//! into a reassembler with arbitrary bounds: the bounds must hold after every
//! datagram and every delivered message must match its header's CRC.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = plpmtud_sim::reassemble::reassemble(data) {
        panic!("{broken}");
    }
});
