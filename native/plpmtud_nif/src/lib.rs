//! Rustler glue between the BEAM and the plpmtud crates: the prober
//! (`plpmtud_core`), path knowledge (`plpmtud_path`: cache, reassembly,
//! overheads, wire format, rate limiter) and the DF socket with its reader
//! (`plpmtud_udp`). Decode terms, call the crate, encode results and send
//! messages; no discovery, caching or reading logic lives here.

mod atoms;
mod cache;
mod config;
mod df;
mod encode;
mod error;
mod fragment;
mod list;
mod overhead;
mod prober;
mod rate_limit;
mod select;
mod socket;
mod wire;

/// The version of the core crate this NIF was built with.
#[rustler::nif]
fn core_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn load(env: rustler::Env<'_>, _info: rustler::Term<'_>) -> bool {
    select::load(env)
}

rustler::init!("plpmtud_nif", load = load);
