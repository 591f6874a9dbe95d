//! Arbitrary event sequences on a prober with an arbitrary valid config;
//! the invariants are checked after every event.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = plpmtud_core::fuzz::run(data) {
        panic!("{broken}");
    }
});
