//! Reassembly of application-level fragments for the BEAM (splitting is
//! `plpmtud_fragment:split/3`, in Erlang). Conversion and error mapping only.

use crate::atoms::named as atom;
use crate::{atoms, encode};
use parking_lot::Mutex;
use plpmtud_path::fragment::{Bounds, Completed, Reassembler, Reject, PER_FRAGMENT_COST};
use rustler::{Binary, Encoder, Env, OwnedBinary, Resource, ResourceArc, Term};

/// A reassembler shared by reference.
pub struct ReassemblerResource(Mutex<Reassembler>);

#[rustler::resource_impl]
impl Resource for ReassemblerResource {}

/// A completed message too big to join on a normal scheduler, for
/// `reassembler_join/1` (a dirty CPU NIF).
pub struct JoinResource {
    reassembler: ResourceArc<ReassemblerResource>,
    done: Mutex<Option<Completed>>,
}

#[rustler::resource_impl]
impl Resource for JoinResource {}

/// Messages heavier than this (bytes plus [`PER_FRAGMENT_COST`] per
/// fragment: tens of microseconds of copying and checksumming) are joined
/// on a dirty CPU scheduler.
const JOIN_INLINE: usize = 64 * 1024;

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
        Reject::Duplicate => "duplicate",
        Reject::DuplicateMessage => "duplicate_message",
        Reject::TooLarge => "too_large",
        Reject::BadChecksum => "bad_checksum",
    }
}

fn refused(env: Env<'_>, reject: Reject) -> Term<'_> {
    (atoms::error(), atom(env, reject_name(reject))).encode(env)
}

/// `{:ok, message}`, `:more`, `{:error, reason}`, or `{:join, job}` for a
/// message to finish with `reassembler_join/1`.
#[rustler::nif]
fn reassembler_push<'a>(
    env: Env<'a>,
    r: ResourceArc<ReassemblerResource>,
    now: u64,
    fragment: Binary<'a>,
) -> Term<'a> {
    let taken = r.0.lock().take(now, &fragment);
    match taken {
        Ok(None) => atom(env, "more"),
        Err(reject) => refused(env, reject),
        Ok(Some(done)) if done.len() + done.fragments() * PER_FRAGMENT_COST <= JOIN_INLINE => {
            join(env, &r, &done)
        }
        Ok(Some(done)) => {
            let job = JoinResource {
                reassembler: r,
                done: Mutex::new(Some(done)),
            };
            (atom(env, "join"), ResourceArc::new(job)).encode(env)
        }
    }
}

/// Joins and verifies a message `reassembler_push/3` completed, on a dirty
/// CPU scheduler: `{:ok, message}`, `{:error, :bad_checksum}`, or
/// `{:error, :already_joined}` for a job joined before.
#[rustler::nif(schedule = "DirtyCpu")]
fn reassembler_join(env: Env<'_>, job: ResourceArc<JoinResource>) -> Term<'_> {
    let Some(done) = job.done.lock().take() else {
        return (atoms::error(), atom(env, "already_joined")).encode(env);
    };
    join(env, &job.reassembler, &done)
}

/// Copies `done` into a new binary, checks it and tells the reassembler.
fn join<'a>(env: Env<'a>, r: &ReassemblerResource, done: &Completed) -> Term<'a> {
    let mut binary = OwnedBinary::new(done.len());
    let checked = done.join_into(binary.as_mut_slice());
    match r.0.lock().settle(done.key(), checked.is_ok()) {
        Ok(()) => (atoms::ok(), binary.release(env)).encode(env),
        Err(reject) => refused(env, reject),
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
