//! The prober as a resource: one NIF per core event and query, each O(1).

use crate::{atoms, config, encode};
use parking_lot::Mutex;
use plpmtud_core::{LossReason, ProbeError, Prober};
use rustler::{Atom, Binary, Encoder, Env, Resource, ResourceArc, Term};

/// A prober shared by reference with the BEAM; the lock is held for one call.
pub struct ProberResource(Mutex<Prober>);

#[rustler::resource_impl]
impl Resource for ProberResource {}

type Handle = ResourceArc<ProberResource>;

/// `{:ok, handle}` or `{:error, reason}` from a configuration map.
#[rustler::nif]
fn prober_new<'a>(env: Env<'a>, config: Term<'a>) -> Term<'a> {
    match config::decode(config) {
        Ok(config) => match Prober::new(config) {
            Ok(prober) => {
                let handle = ResourceArc::new(ProberResource(Mutex::new(prober)));
                (atoms::ok(), handle).encode(env)
            }
            Err(e) => config::ConfigFailure::Invalid(e).encode(env),
        },
        Err(failure) => failure.encode(env),
    }
}

/// The configuration keys the core accepts.
#[rustler::nif]
fn config_keys(env: Env<'_>) -> Vec<Atom> {
    plpmtud_core::CONFIG_KEYS
        .iter()
        .filter_map(|k| Atom::from_str(env, k).ok())
        .collect()
}

#[rustler::nif]
fn prober_connected(p: Handle, now: u64) -> Atom {
    p.0.lock().connected(now);
    atoms::ok()
}

#[rustler::nif]
fn prober_connected_hint(p: Handle, now: u64, hint: u32) -> Atom {
    p.0.lock().connected_with_hint(now, hint);
    atoms::ok()
}

#[rustler::nif]
fn prober_next_probe(p: Handle) -> Option<u32> {
    p.0.lock().next_probe()
}

#[rustler::nif]
fn prober_probe_sent<'a>(env: Env<'a>, p: Handle, now: u64, id: u64, size: u32) -> Term<'a> {
    match p.0.lock().probe_sent(now, id, size) {
        Ok(()) => atoms::ok().encode(env),
        Err(ProbeError::NotDue) => (atoms::error(), atoms::not_due()).encode(env),
        Err(ProbeError::InFlight { id }) => (atoms::error(), (atoms::in_flight(), id)).encode(env),
        Err(ProbeError::WrongSize { expected, .. }) => {
            (atoms::error(), (atoms::wrong_size(), expected)).encode(env)
        }
    }
}

#[rustler::nif]
fn prober_probe_acked(p: Handle, now: u64, id: u64) -> bool {
    p.0.lock().probe_acked(now, id)
}

#[rustler::nif]
fn prober_probe_lost(p: Handle, now: u64, id: u64, reason: Atom) -> rustler::NifResult<bool> {
    let reason = if reason == atoms::timeout() {
        LossReason::Timeout
    } else if reason == atoms::dup_ack() {
        LossReason::DupAck
    } else {
        return Err(rustler::Error::BadArg);
    };
    Ok(p.0.lock().probe_lost(now, id, reason))
}

#[rustler::nif]
fn prober_is_probe(p: Handle, id: u64) -> bool {
    p.0.lock().is_probe(id)
}

#[rustler::nif]
fn prober_packet_acked(p: Handle, now: u64, size: u32) -> Atom {
    p.0.lock().packet_acked(now, size);
    atoms::ok()
}

#[rustler::nif]
fn prober_packet_lost(p: Handle, now: u64, size: u32) -> Atom {
    p.0.lock().packet_lost(now, size);
    atoms::ok()
}

#[rustler::nif]
fn prober_rtt_sample(p: Handle, rtt: u64) -> Atom {
    p.0.lock().rtt_sample(rtt);
    atoms::ok()
}

#[rustler::nif]
fn prober_ptb(p: Handle, now: u64, mtu: u32, quoted_probe: Option<u64>) -> Atom {
    encode::ptb_verdict(p.0.lock().ptb(now, mtu, quoted_probe))
}

/// A PTB for probe `id` quoting `quoted` (the UDP payload as the ICMP error copied it).
#[rustler::nif]
fn prober_ptb_quoted(p: Handle, now: u64, mtu: u32, id: u64, quoted: Binary<'_>) -> Atom {
    encode::ptb_verdict(p.0.lock().ptb_quoted(now, mtu, id, quoted.as_slice()))
}

#[rustler::nif]
fn prober_emsgsize(p: Handle, now: u64, mtu: u32) -> Atom {
    encode::ptb_verdict(p.0.lock().emsgsize(now, mtu))
}

#[rustler::nif]
fn prober_claim_probe(p: Handle, now: u64, id: u64, size: u32) -> bool {
    p.0.lock().claim_probe(now, id, size)
}

/// `claim_probe` for a packet whose UDP payload starts with `payload`.
#[rustler::nif]
fn prober_claim_probe_quoted(p: Handle, now: u64, id: u64, size: u32, payload: Binary<'_>) -> bool {
    p.0.lock()
        .claim_probe_quoted(now, id, size, payload.as_slice())
}

#[rustler::nif]
fn prober_overhead(p: Handle) -> u32 {
    p.0.lock().overhead_bytes()
}

#[rustler::nif]
fn prober_tick(p: Handle, now: u64) -> Atom {
    p.0.lock().tick(now);
    atoms::ok()
}

#[rustler::nif]
fn prober_deadline(p: Handle) -> Option<u64> {
    p.0.lock().deadline()
}

#[rustler::nif]
fn prober_probe_now(p: Handle, now: u64) -> bool {
    p.0.lock().probe_now(now)
}

#[rustler::nif]
fn prober_set_enabled(p: Handle, now: u64, enabled: bool) -> Atom {
    p.0.lock().set_enabled(now, enabled);
    atoms::ok()
}

/// Takes every pending notification, oldest first.
#[rustler::nif]
fn prober_notifications<'a>(env: Env<'a>, p: Handle) -> Vec<Term<'a>> {
    let mut prober = p.0.lock();
    std::iter::from_fn(|| prober.poll_notification())
        .map(|n| encode::notification(env, &n))
        .collect()
}

#[rustler::nif]
fn prober_mtu(p: Handle) -> u32 {
    p.0.lock().plpmtu()
}

#[rustler::nif]
fn prober_payload_size(p: Handle) -> u32 {
    p.0.lock().payload_size()
}

#[rustler::nif]
fn prober_state(env: Env<'_>, p: Handle) -> Atom {
    encode::state(env, p.0.lock().state())
}

#[rustler::nif]
fn prober_stats<'a>(env: Env<'a>, p: Handle) -> Term<'a> {
    let stats = *p.0.lock().stats();
    encode::stats(env, &stats)
}

#[rustler::nif]
fn prober_history<'a>(env: Env<'a>, p: Handle) -> Vec<Term<'a>> {
    let prober = p.0.lock();
    prober.history().map(|c| encode::change(env, c)).collect()
}

#[rustler::nif]
fn prober_info<'a>(env: Env<'a>, p: Handle) -> Term<'a> {
    encode::info(env, &p.0.lock())
}

/// `:ok`, or `{:error, invariant}` naming the invariant the prober breaks.
#[rustler::nif]
fn prober_check<'a>(env: Env<'a>, p: Handle) -> Term<'a> {
    match p.0.lock().check_invariants() {
        Ok(()) => atoms::ok().encode(env),
        Err(broken) => (atoms::error(), broken).encode(env),
    }
}
