//! The prober as a resource: one NIF per core event and query, each O(1).
//! Every event NIF returns the core's answer (its events) from the same
//! call; the `on_*` NIFs take the transport's payload bytes (converted by
//! the core) so that each transport event of the Erlang facade is one call.

use crate::error::NifError;
use crate::{atoms, config, encode, list};
use parking_lot::Mutex;
use plpmtud_core::{Events, LossReason, Prober};
use rustler::{Atom, Binary, Encoder, Env, Resource, ResourceArc, Term};

/// A prober shared by reference with the BEAM; the lock is held for one call.
pub struct ProberResource(Mutex<Prober>);

#[rustler::resource_impl]
impl Resource for ProberResource {}

type Handle = ResourceArc<ProberResource>;

/// Runs `f` on the prober and encodes the events it answered.
fn answer<'a>(env: Env<'a>, p: &Handle, f: impl FnOnce(&mut Prober) -> Events) -> Term<'a> {
    let mut prober = p.0.lock();
    let events = f(&mut prober);
    encode::events(env, &prober, &events)
}

fn loss_reason(reason: Atom) -> rustler::NifResult<LossReason> {
    if reason == atoms::timeout() {
        Ok(LossReason::Timeout)
    } else if reason == atoms::dup_ack() {
        Ok(LossReason::DupAck)
    } else {
        Err(rustler::Error::BadArg)
    }
}

/// `{:ok, handle}` or `{:error, reason}` from a configuration map:
/// `{:badarg, key, message}` for a key of the wrong kind or unknown,
/// `{:invalid_config, key, message}` for a value out of range.
#[rustler::nif]
fn prober_new<'a>(env: Env<'a>, config: Term<'a>) -> Term<'a> {
    let prober = config::decode(config).and_then(|c| Ok(Prober::new(c)?));
    match prober {
        Ok(prober) => {
            let handle = ResourceArc::new(ProberResource(Mutex::new(prober)));
            (atoms::ok(), handle).encode(env)
        }
        Err(e) => e.to_term(env),
    }
}

/// The configuration keys the core accepts.
#[rustler::nif]
fn config_keys(env: Env<'_>) -> Vec<Term<'_>> {
    plpmtud_core::CONFIG_KEYS
        .iter()
        .map(|k| atoms::named(env, k))
        .collect()
}

#[rustler::nif]
fn prober_connected(env: Env<'_>, p: Handle, now: u64) -> Term<'_> {
    answer(env, &p, |prober| prober.connected(now))
}

#[rustler::nif]
fn prober_connected_hint(env: Env<'_>, p: Handle, now: u64, hint: u32) -> Term<'_> {
    answer(env, &p, |prober| prober.connected_with_hint(now, hint))
}

#[rustler::nif]
fn prober_next_probe(p: Handle) -> Option<u32> {
    p.0.lock().next_probe()
}

/// `probe_size` of the facade: the due probe in payload bytes, or nil.
#[rustler::nif]
fn prober_next_probe_payload(p: Handle) -> Option<u32> {
    let prober = p.0.lock();
    prober.next_probe().map(|size| prober.payload_for(size))
}

/// `:ok`, or `{:error, :not_due | {:in_flight, id} | {:wrong_size, expected}}`.
#[rustler::nif]
fn prober_probe_sent(env: Env<'_>, p: Handle, now: u64, id: u64, size: u32) -> Term<'_> {
    match p.0.lock().probe_sent(now, id, size) {
        Ok(_) => atoms::ok().encode(env),
        Err(e) => NifError::from(e).to_term(env),
    }
}

#[rustler::nif]
fn prober_probe_acked(env: Env<'_>, p: Handle, now: u64, id: u64) -> Term<'_> {
    answer(env, &p, |prober| prober.probe_acked(now, id))
}

#[rustler::nif]
fn prober_probe_lost(
    env: Env<'_>,
    p: Handle,
    now: u64,
    id: u64,
    reason: Atom,
) -> rustler::NifResult<Term<'_>> {
    let reason = loss_reason(reason)?;
    Ok(answer(env, &p, |prober| prober.probe_lost(now, id, reason)))
}

#[rustler::nif]
fn prober_is_probe(p: Handle, id: u64) -> bool {
    p.0.lock().is_probe(id)
}

#[rustler::nif]
fn prober_packet_acked(env: Env<'_>, p: Handle, now: u64, size: u32) -> Term<'_> {
    answer(env, &p, |prober| prober.packet_acked(now, size))
}

#[rustler::nif]
fn prober_packet_lost(env: Env<'_>, p: Handle, now: u64, size: u32) -> Term<'_> {
    answer(env, &p, |prober| prober.packet_lost(now, size))
}

#[rustler::nif]
fn prober_rtt_sample(p: Handle, rtt: u64) -> Atom {
    p.0.lock().rtt_sample(rtt);
    atoms::ok()
}

#[rustler::nif]
fn prober_ptb(env: Env<'_>, p: Handle, now: u64, mtu: u32, quoted: Option<u64>) -> Term<'_> {
    answer(env, &p, |prober| prober.ptb(now, mtu, quoted))
}

/// A PTB for probe `id` quoting `quoted` (the UDP payload as the ICMP error copied it).
#[rustler::nif]
fn prober_ptb_quoted<'a>(
    env: Env<'a>,
    p: Handle,
    now: u64,
    mtu: u32,
    id: u64,
    quoted: Binary<'a>,
) -> Term<'a> {
    answer(env, &p, |prober| {
        prober.ptb_quoted(now, mtu, id, quoted.as_slice())
    })
}

#[rustler::nif]
fn prober_emsgsize(env: Env<'_>, p: Handle, now: u64, mtu: u32) -> Term<'_> {
    answer(env, &p, |prober| prober.emsgsize(now, mtu))
}

/// EMSGSIZE for a packet of `refused` IP bytes; `kernel_mtu` if known.
#[rustler::nif]
fn prober_send_refused(
    env: Env<'_>,
    p: Handle,
    now: u64,
    refused: u32,
    kernel_mtu: Option<u32>,
) -> Term<'_> {
    answer(env, &p, |prober| {
        prober.send_refused(now, refused, kernel_mtu)
    })
}

/// The facade's EMSGSIZE for a packet of `payload` bytes; `kernel_mtu` if known.
#[rustler::nif]
fn prober_on_send_refused(
    env: Env<'_>,
    p: Handle,
    now: u64,
    payload: u32,
    kernel_mtu: Option<u32>,
) -> Term<'_> {
    answer(env, &p, |prober| {
        let refused = prober.ip_for(payload);
        prober.send_refused(now, refused, kernel_mtu)
    })
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

/// The facade's `on_send`: packet `seq` of `payload` bytes is the probe
/// (`:probe`) if a probe of exactly that size is due, else `:normal`.
#[rustler::nif]
fn prober_on_send(p: Handle, now: u64, seq: u64, payload: u32) -> Atom {
    let mut prober = p.0.lock();
    let size = prober.ip_for(payload);
    if prober.claim_probe(now, seq, size) {
        atoms::probe()
    } else {
        atoms::normal()
    }
}

/// The facade's `on_ack`: packet `seq` of `payload` bytes was acknowledged.
#[rustler::nif]
fn prober_on_ack(env: Env<'_>, p: Handle, now: u64, seq: u64, payload: u32) -> Term<'_> {
    answer(env, &p, |prober| {
        let size = prober.ip_for(payload);
        prober.acked(now, seq, size)
    })
}

/// The facade's `on_lost`: `{is_probe, events}` for packet `seq` of
/// `payload` bytes (nil: size unknown, the sequence number alone decides).
#[rustler::nif]
fn prober_on_lost<'a>(
    env: Env<'a>,
    p: Handle,
    now: u64,
    seq: u64,
    reason: Atom,
    payload: Option<u32>,
) -> rustler::NifResult<Term<'a>> {
    let reason = loss_reason(reason)?;
    let mut prober = p.0.lock();
    let size = payload.map(|payload| prober.ip_for(payload));
    let (probe, events) = prober.lost(now, seq, size, reason);
    Ok((probe, encode::events(env, &prober, &events)).encode(env))
}

/// Padding (payload bytes) that makes a data packet of `data` payload
/// bytes the due probe, or nil.
#[rustler::nif]
fn prober_padding_for(p: Handle, data: u32) -> Option<u32> {
    p.0.lock().padding_for(data)
}

/// Losses one `prober_on_lost_batch` call takes (tens of microseconds);
/// the facade splits longer batches.
const MAX_LOSS_BATCH: usize = 1024;

/// The facade's `on_lost` for a batch `[{seq, payload}]` lost together:
/// `{probe_seqs, events}`, the sequence numbers that were probes (keep them
/// out of congestion control) and every event of the batch, oldest first.
#[rustler::nif]
fn prober_on_lost_batch<'a>(
    env: Env<'a>,
    p: Handle,
    now: u64,
    reason: Atom,
    losses: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    let reason = loss_reason(reason)?;
    let losses = list::decode_at_most::<(u64, u32)>(losses, MAX_LOSS_BATCH)?;
    let mut prober = p.0.lock();
    let mut probes = Vec::new();
    let mut events = Vec::new();
    for (seq, payload) in losses {
        let size = prober.ip_for(payload);
        let (probe, answer) = prober.lost(now, seq, Some(size), reason);
        if probe {
            probes.push(seq);
        }
        events.extend(answer.iter().map(|e| encode::event(env, &prober, e)));
    }
    Ok((probes, events).encode(env))
}

#[rustler::nif]
fn prober_overhead(p: Handle) -> u32 {
    p.0.lock().overhead_bytes()
}

/// IP bytes of a datagram carrying `payload` bytes (the core's conversion).
#[rustler::nif]
fn prober_ip_for(p: Handle, payload: u32) -> u32 {
    p.0.lock().ip_for(payload)
}

/// Payload bytes of a datagram of `size` IP bytes (the core's conversion).
#[rustler::nif]
fn prober_payload_for(p: Handle, size: u32) -> u32 {
    p.0.lock().payload_for(size)
}

/// `base_size` of the facade: the payload of a datagram at the floor.
#[rustler::nif]
fn prober_base_payload(p: Handle) -> u32 {
    p.0.lock().base_payload()
}

#[rustler::nif]
fn prober_tick(env: Env<'_>, p: Handle, now: u64) -> Term<'_> {
    answer(env, &p, |prober| prober.tick(now))
}

/// The probe timeout in force now (ms).
#[rustler::nif]
fn prober_probe_timeout(p: Handle) -> u64 {
    p.0.lock().probe_timeout_ms()
}

#[rustler::nif]
fn prober_deadline(p: Handle) -> Option<u64> {
    p.0.lock().deadline()
}

#[rustler::nif]
fn prober_probe_now(env: Env<'_>, p: Handle, now: u64) -> Term<'_> {
    answer(env, &p, |prober| prober.probe_now(now))
}

#[rustler::nif]
fn prober_set_enabled(env: Env<'_>, p: Handle, now: u64, enabled: bool) -> Term<'_> {
    answer(env, &p, |prober| prober.set_enabled(now, enabled))
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
fn prober_state(p: Handle) -> Atom {
    encode::state(p.0.lock().state())
}

#[rustler::nif]
fn prober_stats<'a>(env: Env<'a>, p: Handle) -> Term<'a> {
    let stats = *p.0.lock().stats();
    encode::stats(env, &stats)
}

#[rustler::nif]
fn prober_history<'a>(env: Env<'a>, p: Handle) -> Vec<Term<'a>> {
    let prober = p.0.lock();
    prober.history().map(|c| encode::change(env, &c)).collect()
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
