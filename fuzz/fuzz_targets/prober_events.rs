//! Arbitrary event sequences on a prober with an arbitrary valid config;
//! the invariants and the acknowledgement oracle (every rise of the PLPMTU
//! is to the size of the probe acknowledged by that event) are checked after
//! every event.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = plpmtud_sim::fuzz::run(data) {
        panic!("{broken}");
    }
});
