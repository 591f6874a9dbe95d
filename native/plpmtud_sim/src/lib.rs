//! Test support for `plpmtud_core`, kept out of the shipped crate: a
//! deterministic path simulator ([`sim`]) and the fuzzing harness
//! ([`fuzz`]) that turns arbitrary bytes into prober calls, configurations
//! and fragment streams. Used by the core's tests, examples and benchmarks
//! and by `fuzz/`, and the reassembler's oracle ([`reassemble`]) for
//! `plpmtud_path`; never published.

pub mod fuzz;
pub mod reassemble;
pub mod sim;

pub use sim::SplitMix64;
