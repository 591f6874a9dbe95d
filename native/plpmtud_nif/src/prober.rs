//! The prober as a resource: one NIF per core method, each O(1) (a loss
//! batch is bounded). Every answer is already in the facade's final shape:
//! events as a list, sizes in the handle's unit (`size_unit`), converted by
//! the core.

use crate::{atoms, config, encode, list};
use parking_lot::Mutex;
use plpmtud_core::{Events, LossReason, Prober, Quote};
use rustler::{Atom, Binary, Encoder, Env, Resource, ResourceArc, Term, TermType};

/// A prober shared by reference with the BEAM; the lock is held for one call.
pub struct ProberResource(Mutex<Prober>);

#[rustler::resource_impl]
impl Resource for ProberResource {}

type Handle = ResourceArc<ProberResource>;

/// Runs `f` on the prober and encodes the events it answered.
fn answer<'a>(env: Env<'a>, p: &Handle, f: impl FnOnce(&mut Prober) -> Events) -> Term<'a> {
    let events = f(&mut p.0.lock());
    encode::events(env, &events)
}

/// `:timeout`, `:dup_ack` or `:resent`; anything else raises `badarg`.
fn loss_reason(reason: Atom) -> rustler::NifResult<LossReason> {
    if reason == atoms::timeout() {
        Ok(LossReason::Timeout)
    } else if reason == atoms::dup_ack() {
        Ok(LossReason::DupAck)
    } else if reason == atoms::resent() {
        Ok(LossReason::Resent)
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

/// The connection is up; `hint` (in the unit) or nil.
#[rustler::nif]
fn prober_connected(env: Env<'_>, p: Handle, now: u64, hint: Option<u32>) -> Term<'_> {
    answer(env, &p, |prober| prober.connected(now, hint))
}

/// One of the sizes, in the unit: `:packet` (the PLPMTU), `:probe` (the
/// probe due, or nil) or `:base` (the floor).
#[rustler::nif]
fn prober_size(p: Handle, which: Atom) -> rustler::NifResult<Option<u32>> {
    let sizes = p.0.lock().sizes();
    if which == atoms::packet() {
        Ok(Some(sizes.packet))
    } else if which == atoms::probe() {
        Ok(sizes.probe)
    } else if which == atoms::base() {
        Ok(Some(sizes.base))
    } else {
        Err(rustler::Error::BadArg)
    }
}

/// Padding that makes a data packet of `data` bytes the due probe, or nil.
#[rustler::nif]
fn prober_padding_for(p: Handle, data: u32) -> Option<u32> {
    p.0.lock().padding_for(data)
}

/// Packet `seq` of `size` was sent; `quote` (the first bytes of its UDP
/// payload) or nil. `:probe` if it was claimed as the due probe, else `:normal`.
#[rustler::nif]
fn prober_sent(
    p: Handle,
    now: u64,
    seq: u64,
    size: u32,
    quote: Term<'_>,
) -> rustler::NifResult<Atom> {
    let quote = match quote.get_type() {
        TermType::Binary => Some(quote.decode::<Binary<'_>>()?),
        _ if quote.decode::<Atom>()? == atoms::nil() => None,
        _ => return Err(rustler::Error::BadArg),
    };
    let claimed =
        p.0.lock()
            .sent(now, seq, size, quote.as_ref().map(|b| b.as_slice()));
    Ok(if claimed {
        atoms::probe()
    } else {
        atoms::normal()
    })
}

/// Packet `seq` of `size` was acknowledged.
#[rustler::nif]
fn prober_acked(env: Env<'_>, p: Handle, now: u64, seq: u64, size: u32) -> Term<'_> {
    answer(env, &p, |prober| prober.acked(now, seq, size))
}

/// Losses one `prober_lost` call takes (tens of microseconds); the facade
/// splits longer batches.
const MAX_LOSS_BATCH: usize = 1024;

/// A batch `[{seq, size | nil}]` lost for `reason`: `{probe_seqs, events}`,
/// the sequence numbers that were probes (keep them out of congestion
/// control, each once) and every event of the batch, oldest first.
#[rustler::nif]
fn prober_lost<'a>(
    env: Env<'a>,
    p: Handle,
    now: u64,
    reason: Atom,
    losses: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    let reason = loss_reason(reason)?;
    let losses = list::decode_at_most::<(u64, Option<u32>)>(losses, MAX_LOSS_BATCH)?;
    let (probes, events) = p.0.lock().lost(now, reason, losses);
    Ok((probes.as_slice(), encode::events(env, &events)).encode(env))
}

/// An ICMP Packet-Too-Big reporting `ip_mtu` about the packet `quote`
/// describes: nil, the probe's sequence number, or the quoted UDP payload
/// (a binary, matched against the probes sent with their bytes).
#[rustler::nif]
fn prober_ptb<'a>(
    env: Env<'a>,
    p: Handle,
    now: u64,
    ip_mtu: u32,
    quote: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    let bytes;
    let quote = match quote.get_type() {
        TermType::Binary => {
            bytes = quote.decode::<Binary<'a>>()?;
            Quote::Bytes(bytes.as_slice())
        }
        TermType::Integer => Quote::Id(quote.decode::<u64>()?),
        _ if quote.decode::<Atom>()? == atoms::nil() => Quote::None,
        _ => return Err(rustler::Error::BadArg),
    };
    Ok(answer(env, &p, |prober| prober.ptb(now, ip_mtu, quote)))
}

/// EMSGSIZE for a packet of `size` (in the unit); the kernel's IP MTU or nil.
#[rustler::nif]
fn prober_send_refused(
    env: Env<'_>,
    p: Handle,
    now: u64,
    size: u32,
    kernel_ip_mtu: Option<u32>,
) -> Term<'_> {
    answer(env, &p, |prober| {
        prober.send_refused(now, size, kernel_ip_mtu)
    })
}

/// An RTT sample (ms).
#[rustler::nif]
fn prober_rtt(p: Handle, rtt_ms: u64) -> Atom {
    p.0.lock().rtt_sample(rtt_ms);
    atoms::ok()
}

#[rustler::nif]
fn prober_tick(env: Env<'_>, p: Handle, now: u64) -> Term<'_> {
    answer(env, &p, |prober| prober.tick(now))
}

#[rustler::nif]
fn prober_deadline(p: Handle) -> Option<u64> {
    p.0.lock().deadline()
}

#[rustler::nif]
fn prober_set_enabled(env: Env<'_>, p: Handle, now: u64, enabled: bool) -> Term<'_> {
    answer(env, &p, |prober| prober.set_enabled(now, enabled))
}

#[rustler::nif]
fn prober_probe_now(env: Env<'_>, p: Handle, now: u64) -> Term<'_> {
    answer(env, &p, |prober| prober.probe_now(now))
}

/// Everything about the prober as one map, taken under one lock.
#[rustler::nif]
fn prober_snapshot(env: Env<'_>, p: Handle) -> Term<'_> {
    let snapshot = p.0.lock().snapshot();
    encode::snapshot(env, &snapshot)
}
