//! Encoding core values as BEAM terms: atoms for enums, maps for records.

use crate::atoms;
use plpmtud_core::{
    ChangeReason, Event, Events, HintSource, IpFamily, LossReason, MtuChange, PtbVerdict, SizeUnit,
    Snapshot, State, Stats,
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

/// A loss reason: `:timeout`, `:dup_ack` or `:resent`.
pub fn loss(reason: LossReason) -> Atom {
    match reason {
        LossReason::Timeout => atoms::timeout(),
        LossReason::DupAck => atoms::dup_ack(),
        LossReason::Resent => atoms::resent(),
    }
}

/// One event of the prober's answer as a tagged tuple, sizes in the
/// handle's unit (a hint's MTU in IP bytes).
pub fn event<'a>(env: Env<'a>, e: &Event) -> Term<'a> {
    match *e {
        Event::ProbeDue { size } => (atoms::probe_due(), size).encode(env),
        Event::ProbeAcked { id, size, rtt_ms } => {
            (atoms::probe_acked(), id, size, rtt_ms).encode(env)
        }
        Event::ProbeLost { id, size, reason } => {
            (atoms::probe_lost(), id, size, loss(reason)).encode(env)
        }
        Event::MtuChanged { old, new, reason } => {
            (atoms::mtu_changed(), old, new, self::reason(reason)).encode(env)
        }
        Event::SearchStarted { limit } => (atoms::search_started(), limit).encode(env),
        Event::SearchComplete { mtu } => (atoms::search_complete(), mtu).encode(env),
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
            ip_mtu,
            verdict,
        } => {
            let tag = match source {
                HintSource::Ptb => atoms::ptb(),
                HintSource::Emsgsize => atoms::emsgsize(),
            };
            (tag, ip_mtu, ptb_verdict(verdict)).encode(env)
        }
    }
}

/// The answer of one call: its events, oldest first (`[]` when nothing happened).
pub fn events<'a>(env: Env<'a>, events: &Events) -> Term<'a> {
    events
        .iter()
        .rev()
        .fold(Term::list_new_empty(env), |list, e| {
            list.list_prepend(event(env, e))
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

/// The prober's snapshot as one map: sizes in the unit (`packet`,
/// `probe`, `base`, `probing`, `confirmed`, `limit`, `history`) and in IP bytes
/// (`packet_ip`, `probe_ip`, `base_ip`, `ceiling_ip`).
pub fn snapshot<'a>(env: Env<'a>, s: &Snapshot) -> Term<'a> {
    let nil = atoms::nil().encode(env);
    let opt = |v: Option<u64>| v.map_or(nil, |v| v.encode(env));
    let unit = match s.unit {
        SizeUnit::Payload => atoms::payload(),
        SizeUnit::Ip => atoms::ip(),
    };
    let family = match s.family {
        IpFamily::V4 => atoms::inet(),
        IpFamily::V6 => atoms::inet6(),
    };
    let invariants = match s.invariants {
        Ok(()) => atoms::ok().encode(env),
        Err(broken) => (atoms::error(), broken).encode(env),
    };
    let history: Vec<Term<'a>> = s.history().iter().map(|c| change(env, c)).collect();
    let (confirmed, limit) = s.search_range;
    pairs(
        env,
        &[
            ("state", state(s.state).encode(env)),
            ("enabled", s.enabled.encode(env)),
            ("unit", unit.encode(env)),
            ("family", family.encode(env)),
            ("overhead", s.overhead.encode(env)),
            ("packet", s.sizes.packet.encode(env)),
            ("probe", opt(s.sizes.probe.map(u64::from))),
            ("base", s.sizes.base.encode(env)),
            ("packet_ip", s.ip_sizes.packet.encode(env)),
            ("probe_ip", opt(s.ip_sizes.probe.map(u64::from))),
            ("base_ip", s.ip_sizes.base.encode(env)),
            ("probing", opt(s.probing.map(u64::from))),
            ("ceiling_ip", s.ceiling_ip.encode(env)),
            ("confirmed", confirmed.encode(env)),
            ("limit", limit.encode(env)),
            ("deadline", opt(s.deadline)),
            ("probe_timeout", s.probe_timeout_ms.encode(env)),
            ("in_flight", s.in_flight().encode(env)),
            ("stats", stats(env, &s.stats)),
            ("history", history.encode(env)),
            ("invariants", invariants),
        ],
    )
}
