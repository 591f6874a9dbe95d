//! The node-wide path-MTU cache for the BEAM. Conversion and error mapping only.

use crate::atoms::named as atom;
use crate::socket::decode_ip;
use crate::{atoms, encode};
use plpmtud_path::cache::{CacheReason, PathCache, PathEntry};
use rustler::{Atom, Encoder, Env, NifResult, Resource, ResourceArc, Term};

/// The path-MTU cache shared by reference.
pub struct CacheResource(PathCache);

#[rustler::resource_impl]
impl Resource for CacheResource {}
fn entry<'a>(env: Env<'a>, e: &PathEntry) -> Term<'a> {
    let history: Vec<Term<'a>> = e
        .history
        .iter()
        .map(|c| {
            encode::pairs(
                env,
                &[
                    ("at", c.at_ms.encode(env)),
                    ("mtu", c.mtu.encode(env)),
                    ("reason", atom(env, c.reason.name())),
                ],
            )
        })
        .collect();
    encode::pairs(
        env,
        &[
            ("mtu", e.mtu.encode(env)),
            ("confirmed_at", e.confirmed_at_ms.encode(env)),
            ("confidence", e.confidence.encode(env)),
            ("history", history.encode(env)),
        ],
    )
}

#[rustler::nif]
fn cache_new(env: Env<'_>, capacity: u32, ttl_ms: u64) -> Term<'_> {
    ResourceArc::new(CacheResource(PathCache::new(capacity as usize, ttl_ms))).encode(env)
}

#[rustler::nif]
fn cache_lookup<'a>(
    env: Env<'a>,
    c: ResourceArc<CacheResource>,
    now: u64,
    ip: Term<'a>,
) -> NifResult<Term<'a>> {
    let ip = decode_ip(ip)?;
    Ok(c.0.lookup(now, ip).map(|e| entry(env, &e)).encode(env))
}

#[rustler::nif]
fn cache_record<'a>(
    env: Env<'a>,
    c: ResourceArc<CacheResource>,
    now: u64,
    ip: Term<'a>,
    mtu: u32,
    reason: Atom,
) -> NifResult<Atom> {
    let ip = decode_ip(ip)?;
    let name = reason.to_term(env).atom_to_string()?;
    let reason = CacheReason::from_name(&name).ok_or(rustler::Error::BadArg)?;
    c.0.record(now, ip, mtu, reason);
    Ok(atoms::ok())
}

#[rustler::nif]
fn cache_remove(c: ResourceArc<CacheResource>, ip: Term<'_>) -> NifResult<bool> {
    Ok(c.0.remove(decode_ip(ip)?))
}

/// The live entries and the counters, in one call on a dirty CPU
/// scheduler (a full cache is tens of thousands of terms):
/// `%{entries: [{ip, entry}], size:, hits:, misses:, evictions:, expirations:}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn cache_snapshot<'a>(env: Env<'a>, c: ResourceArc<CacheResource>, now: u64) -> Term<'a> {
    let entries: Vec<Term<'a>> =
        c.0.entries(now)
            .iter()
            .map(|(ip, e)| (crate::socket::encode_ip(env, *ip), entry(env, e)).encode(env))
            .collect();
    let s = c.0.stats();
    encode::pairs(
        env,
        &[
            ("entries", entries.encode(env)),
            ("size", c.0.len().encode(env)),
            ("hits", s.hits.encode(env)),
            ("misses", s.misses.encode(env)),
            ("evictions", s.evictions.encode(env)),
            ("expirations", s.expirations.encode(env)),
        ],
    )
}
