//! Rustler glue between the BEAM and `plpmtud_core`: decode terms, call the
//! core, encode results. No discovery logic lives here.

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
