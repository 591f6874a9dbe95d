//! Application-level fragmentation and reassembly for the BEAM. Conversion
//! and error mapping only.

use crate::atoms::named as atom;
use crate::{atoms, encode};
use parking_lot::Mutex;
use plpmtud_core::fragment::{self, Bounds, Reassembler, Reject};
use rustler::{Binary, Encoder, Env, Resource, ResourceArc, Term};

/// A reassembler shared by reference.
pub struct ReassemblerResource(Mutex<Reassembler>);

#[rustler::resource_impl]
impl Resource for ReassemblerResource {}
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
