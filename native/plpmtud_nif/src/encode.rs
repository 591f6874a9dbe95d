//! Encoding core values as BEAM terms: atoms for enums, maps for records.

use crate::atoms;
use plpmtud_core::{
    ChangeReason, Event, Events, HintSource, LossReason, MtuChange, Prober, PtbVerdict, State,
    Stats,
};
use rustler::{Atom, Encoder, Env, Term};

fn map<'a>(env: Env<'a>, keys: &[&str], values: &[Term<'a>]) -> Term<'a> {
    let keys: Vec<Term<'a>> = keys.iter().map(|k| atoms::named(env, k)).collect();
    Term::map_from_arrays(env, &keys, values).expect("distinct atom keys")
}

/// A map with atom keys from `(key, value)` pairs.
pub fn pairs<'a>(env: Env<'a>, pairs: &[(&str, Term<'a>)]) -> Term<'a> {
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    let values: Vec<Term<'a>> = pairs.iter().map(|(_, v)| *v).collect();
    map(env, &keys, &values)
}

/// A new binary holding a copy of `bytes`.
pub fn binary<'a>(env: Env<'a>, bytes: &[u8]) -> Term<'a> {
    rustler::OwnedBinary::from_slice(bytes)
        .release(env)
        .encode(env)
}

/// The state as an RFC 8899 name.
pub fn state(state: State) -> Atom {
    match state {
        State::Disabled => atoms::disabled(),
        State::Base => atoms::base(),
        State::Searching => atoms::searching(),
        State::SearchComplete => atoms::search_complete(),
        State::Error => atoms::error(),
    }
}

/// A change reason as a snake_case atom.
pub fn reason(reason: ChangeReason) -> Atom {
    match reason {
        ChangeReason::Initial => atoms::initial(),
        ChangeReason::ProbeAcked => atoms::probe_acked(),
        ChangeReason::ProbeFailed => atoms::probe_failed(),
        ChangeReason::BlackHole => atoms::black_hole(),
        ChangeReason::Fallback => atoms::fallback(),
        ChangeReason::Disabled => atoms::disabled(),
    }
}

/// A loss reason: `:timeout` or `:dup_ack`.
pub fn loss(reason: LossReason) -> Atom {
    match reason {
        LossReason::Timeout => atoms::timeout(),
        LossReason::DupAck => atoms::dup_ack(),
        LossReason::Resent => atoms::resent(),
    }
}

/// One event of the prober's answer as a tagged tuple; sizes that the
/// transport segments with come in both units (IP bytes, then payload
/// bytes from the prober's own conversion).
pub fn event<'a>(env: Env<'a>, p: &Prober, e: &Event) -> Term<'a> {
    match *e {
        Event::ProbeDue { size } => (atoms::probe_due(), size, p.payload_for(size)).encode(env),
        Event::ProbeAcked { id, size, rtt_ms } => {
            (atoms::probe_acked(), id, size, rtt_ms).encode(env)
        }
        Event::ProbeLost { id, size, reason } => {
            (atoms::probe_lost(), id, size, loss(reason)).encode(env)
        }
        Event::MtuChanged { old, new, reason } => {
            let payload = p.payload_for(new);
            (
                atoms::mtu_changed(),
                old,
                new,
                self::reason(reason),
                payload,
            )
                .encode(env)
        }
        Event::SearchStarted { limit } => (atoms::search_started(), limit).encode(env),
        Event::SearchComplete { mtu } => {
            (atoms::search_complete(), mtu, p.payload_for(mtu)).encode(env)
        }
        Event::Fallback {
            mtu,
            next_search_in_ms,
        } => (atoms::fallback(), mtu, next_search_in_ms).encode(env),
        Event::BlackHoleSuspected { mtu } => (atoms::black_hole_suspected(), mtu).encode(env),
        Event::BlackHoleConfirmed { lost_mtu } => {
            (atoms::black_hole_confirmed(), lost_mtu).encode(env)
        }
        Event::Hint {
            source,
            mtu,
            verdict,
        } => {
            let tag = match source {
                HintSource::Ptb => atoms::ptb(),
                HintSource::Emsgsize => atoms::emsgsize(),
            };
            (tag, mtu, ptb_verdict(verdict)).encode(env)
        }
    }
}

/// The answer of one call: its events, oldest first (`[]` when nothing happened).
pub fn events<'a>(env: Env<'a>, p: &Prober, events: &Events) -> Term<'a> {
    events
        .iter()
        .rev()
        .fold(Term::list_new_empty(env), |list, e| {
            list.list_prepend(event(env, p, e))
        })
}

/// A PTB verdict: `:accepted` or why it was ignored.
pub fn ptb_verdict(verdict: PtbVerdict) -> Atom {
    match verdict {
        PtbVerdict::Accepted => atoms::accepted(),
        PtbVerdict::Unmatched => atoms::unmatched(),
        PtbVerdict::NotSmaller => atoms::not_smaller(),
        PtbVerdict::BelowFloor => atoms::below_floor(),
        PtbVerdict::NotProbing => atoms::not_probing(),
    }
}

/// `%{at: ms, old: mtu, new: mtu, reason: atom}`.
pub fn change<'a>(env: Env<'a>, c: &MtuChange) -> Term<'a> {
    let values = [
        c.at_ms.encode(env),
        c.old.encode(env),
        c.new.encode(env),
        reason(c.reason).encode(env),
    ];
    map(env, &["at", "old", "new", "reason"], &values)
}

/// The counters as a map.
pub fn stats<'a>(env: Env<'a>, s: &Stats) -> Term<'a> {
    let pairs: [(&str, u32); 18] = [
        ("probes_sent", s.probes_sent),
        ("probes_acked", s.probes_acked),
        ("probes_lost_timeout", s.probes_lost_timeout),
        ("probes_lost_dup_ack", s.probes_lost_dup_ack),
        ("probes_lost_resent", s.probes_lost_resent),
        ("stale_events", s.stale_events),
        ("ptb_accepted", s.ptb_accepted),
        ("ptb_ignored", s.ptb_ignored),
        ("ptb_unmatched", s.ptb_unmatched),
        ("ptb_not_smaller", s.ptb_not_smaller),
        ("ptb_below_floor", s.ptb_below_floor),
        ("ptb_not_probing", s.ptb_not_probing),
        ("emsgsize_limits", s.emsgsize_limits),
        ("probing_checks", s.probing_checks),
        ("black_hole_checks", s.black_hole_checks),
        ("black_holes", s.black_holes),
        ("fallbacks", s.fallbacks),
        ("searches_completed", s.searches_completed),
    ];
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    let values: Vec<Term<'a>> = pairs.iter().map(|(_, v)| v.encode(env)).collect();
    map(env, &keys, &values)
}

/// `%{...}` of the search as a whole, for `info/1`.
pub fn info<'a>(env: Env<'a>, p: &plpmtud_core::Prober) -> Term<'a> {
    let (confirmed, limit) = p.search_range();
    let opt = |v: Option<u64>| v.map_or(atoms::nil().encode(env), |v| v.encode(env));
    let values = [
        state(p.state()).encode(env),
        p.plpmtu().encode(env),
        p.payload_size().encode(env),
        confirmed.encode(env),
        limit.encode(env),
        opt(p.next_probe().map(u64::from)),
        opt(p.deadline()),
        p.probe_timeout_ms().encode(env),
        p.config().enabled.encode(env),
        p.overhead_bytes().encode(env),
        opt(p.probe_in_flight()),
        p.config().effective_floor().encode(env),
        p.config().ceiling.encode(env),
    ];
    let keys = [
        "state",
        "mtu",
        "payload_size",
        "confirmed",
        "limit",
        "next_probe",
        "deadline",
        "probe_timeout",
        "enabled",
        "overhead",
        "probe_in_flight",
        "floor",
        "ceiling",
    ];
    map(env, &keys, &values)
}
