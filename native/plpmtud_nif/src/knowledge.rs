//! Path knowledge for the BEAM: the node-wide cache, fragmentation,
//! overheads and TCP MSS. Conversion and error mapping only.

use crate::socket::decode_ip;
use crate::{atoms, encode, list};
use parking_lot::Mutex;
use plpmtud_core::cache::{CacheReason, PathCache, PathEntry};
use plpmtud_core::fragment::{self, Bounds, Reassembler, Reject};
use plpmtud_core::overhead::{self, Layer};
use rustler::{Atom, Binary, Encoder, Env, NifResult, Resource, ResourceArc, Term};

/// The path-MTU cache shared by reference.
pub struct CacheResource(PathCache);

#[rustler::resource_impl]
impl Resource for CacheResource {}

/// A reassembler shared by reference.
pub struct ReassemblerResource(Mutex<Reassembler>);

#[rustler::resource_impl]
impl Resource for ReassemblerResource {}

use crate::atoms::named as atom;

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
    Ok(match c.0.lookup(now, ip) {
        Some(e) => entry(env, &e),
        None => atoms::nil().encode(env),
    })
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

#[rustler::nif]
fn cache_group_mtu<'a>(
    env: Env<'a>,
    c: ResourceArc<CacheResource>,
    now: u64,
    ips: Term<'a>,
) -> NifResult<Term<'a>> {
    let ips = list::proper(ips)?
        .map(decode_ip)
        .collect::<NifResult<Vec<_>>>()?;
    Ok(match c.0.group_mtu(now, &ips) {
        Some(mtu) => mtu.encode(env),
        None => atoms::nil().encode(env),
    })
}

#[rustler::nif]
fn cache_entries<'a>(env: Env<'a>, c: ResourceArc<CacheResource>, now: u64) -> Vec<Term<'a>> {
    c.0.entries(now)
        .iter()
        .map(|(ip, e)| (crate::socket::encode_ip(env, *ip), entry(env, e)).encode(env))
        .collect()
}

#[rustler::nif]
fn cache_stats(env: Env<'_>, c: ResourceArc<CacheResource>) -> Term<'_> {
    let s = c.0.stats();
    encode::pairs(
        env,
        &[
            ("hits", s.hits.encode(env)),
            ("misses", s.misses.encode(env)),
            ("evictions", s.evictions.encode(env)),
            ("expirations", s.expirations.encode(env)),
            ("size", c.0.len().encode(env)),
        ],
    )
}

/// `{:ok, [fragment]}` or `{:error, reason}`.
#[rustler::nif]
fn fragment_split<'a>(env: Env<'a>, message: Binary<'a>, id: u32, max_datagram: u32) -> Term<'a> {
    match fragment::split(&message, id, max_datagram as usize) {
        Ok(fragments) => {
            let list: Vec<Term<'a>> = fragments.iter().map(|f| encode::binary(env, f)).collect();
            (atoms::ok(), list).encode(env)
        }
        Err(e) => (atoms::error(), e.to_string()).encode(env),
    }
}

#[rustler::nif]
fn reassembler_new(env: Env<'_>, max_messages: u32, max_bytes: u64, timeout_ms: u64) -> Term<'_> {
    let bounds = Bounds {
        max_messages: max_messages as usize,
        max_bytes: max_bytes as usize,
        timeout_ms,
    };
    ResourceArc::new(ReassemblerResource(Mutex::new(Reassembler::new(bounds)))).encode(env)
}

fn reject_name(r: Reject) -> &'static str {
    match r {
        Reject::Malformed => "malformed",
        Reject::OutOfRange => "out_of_range",
        Reject::Inconsistent => "inconsistent",
        Reject::Duplicate => "duplicate",
        Reject::DuplicateMessage => "duplicate_message",
        Reject::TooLarge => "too_large",
        Reject::BadChecksum => "bad_checksum",
    }
}

/// `{:ok, message}`, `:more` or `{:error, reason}`.
#[rustler::nif]
fn reassembler_push<'a>(
    env: Env<'a>,
    r: ResourceArc<ReassemblerResource>,
    now: u64,
    fragment: Binary<'a>,
) -> Term<'a> {
    match r.0.lock().push(now, &fragment) {
        Ok(Some(message)) => (atoms::ok(), encode::binary(env, &message)).encode(env),
        Ok(None) => atom(env, "more"),
        Err(reject) => (atoms::error(), atom(env, reject_name(reject))).encode(env),
    }
}

#[rustler::nif]
fn reassembler_stats(env: Env<'_>, r: ResourceArc<ReassemblerResource>) -> Term<'_> {
    let guard = r.0.lock();
    let s = guard.stats();
    encode::pairs(
        env,
        &[
            ("completed", s.completed.encode(env)),
            ("malformed", s.malformed.encode(env)),
            ("out_of_range", s.out_of_range.encode(env)),
            ("inconsistent", s.inconsistent.encode(env)),
            ("duplicates", s.duplicates.encode(env)),
            ("duplicate_messages", s.duplicate_messages.encode(env)),
            ("too_large", s.too_large.encode(env)),
            ("bad_checksum", s.bad_checksum.encode(env)),
            ("expired", s.expired.encode(env)),
            ("evicted", s.evicted.encode(env)),
            ("peak_bytes", s.peak_bytes.encode(env)),
            ("bytes_held", guard.bytes_held().encode(env)),
            ("messages_held", guard.messages_held().encode(env)),
        ],
    )
}

/// Bytes a stack of layer names adds; `ArgumentError` for an unknown name.
#[rustler::nif]
fn overhead_of<'a>(env: Env<'a>, layers: Term<'a>) -> NifResult<u32> {
    let stack = list::decode_all::<Atom>(layers)?
        .into_iter()
        .map(|a| {
            a.to_term(env)
                .atom_to_string()
                .ok()
                .and_then(|n| Layer::from_name(&n))
        })
        .collect::<Option<Vec<Layer>>>()
        .ok_or(rustler::Error::BadArg)?;
    Ok(overhead::overhead(&stack))
}

#[rustler::nif]
fn standard_mtus(env: Env<'_>) -> Vec<(Term<'_>, u32)> {
    overhead::STANDARD_MTUS
        .iter()
        .map(|(name, mtu)| (atom(env, name), *mtu))
        .collect()
}
