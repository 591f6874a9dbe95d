//! Fuzzing support: arbitrary bytes become prober events, configuration
//! values, so any byte-level fuzzer (and proptest) can drive the state
//! machine and the configuration decoder. Test and
//! benchmark code; not used at run time.

use crate::config::{Config, ConfigValue, CONFIG_KEYS};
use crate::events::{ChangeReason, Event as Answer, Events, LossReason, EVENTS_MAX};
use crate::prober::Prober;

/// One event for the prober, decoded from fuzz input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `connected`.
    Connected,
    /// Send the due probe (if any) as `id`.
    SendProbe(u64),
    /// `probe_acked(id)`.
    Acked(u64),
    /// `probe_lost(id, reason)`.
    Lost(u64, LossReason),
    /// `packet_acked(size)`.
    PacketAcked(u32),
    /// `packet_lost(size)`.
    PacketLost(u32),
    /// `rtt_sample(ms)`.
    Rtt(u64),
    /// `ptb(mtu, quoted)`.
    Ptb(u32, Option<u64>),
    /// `emsgsize(mtu)`.
    Emsgsize(u32),
    /// Time passes by this many ms, then `tick`.
    Tick(u64),
    /// `probe_now`.
    ProbeNow,
    /// `set_enabled`.
    SetEnabled(bool),
    /// `claim_probe(id, size)`.
    Claim(u64, u32),
    /// `acked(id, size)`: a transport's ack, probe or data.
    TransportAcked(u64, u32),
    /// `lost(id, size, reason)`: a transport's loss, probe or data.
    TransportLost(u64, u32, LossReason),
}

/// Reads fuzz bytes from the front; zero once exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | (u32::from(self.u16()) << 16)
    }
}

/// Ids the decoder uses for probes: 0 to 7.
pub const PROBE_IDS: u64 = 8;

/// Decodes `data` into events (at most one per 3 bytes, bounded by 4096).
pub fn events(data: &[u8]) -> Vec<Event> {
    let mut bytes = Bytes(data);
    let mut out = Vec::new();
    while !bytes.0.is_empty() && out.len() < 4096 {
        let id = u64::from(bytes.u8()) % PROBE_IDS;
        let event = match bytes.u8() % 15 {
            0 => Event::Connected,
            1 => Event::SendProbe(id),
            2 => Event::Acked(id),
            3 => Event::Lost(
                id,
                if bytes.u8() % 2 == 0 {
                    LossReason::Timeout
                } else {
                    LossReason::DupAck
                },
            ),
            4 => Event::PacketAcked(u32::from(bytes.u16())),
            5 => Event::PacketLost(u32::from(bytes.u16())),
            6 => Event::Rtt(u64::from(bytes.u16())),
            7 => Event::Ptb(u32::from(bytes.u16()), (bytes.u8() % 2 == 0).then_some(id)),
            8 => Event::Emsgsize(u32::from(bytes.u16())),
            9 => Event::Tick(u64::from(bytes.u32() % 4_000_000)),
            10 => Event::ProbeNow,
            11 => Event::SetEnabled(bytes.u8() % 4 != 0),
            12 => Event::Claim(id, u32::from(bytes.u16())),
            13 => Event::TransportAcked(id, u32::from(bytes.u16())),
            _ => Event::TransportLost(
                id,
                u32::from(bytes.u16()),
                if bytes.u8() % 2 == 0 {
                    LossReason::Timeout
                } else {
                    LossReason::DupAck
                },
            ),
        };
        out.push(event);
    }
    out
}

/// A configuration from fuzz bytes: each key gets a value of some kind, and
/// only the settings [`Config::set`] and [`Config::validate`] accept survive.
pub fn config(data: &[u8]) -> Config {
    let mut bytes = Bytes(data);
    let mut config = Config::default();
    for _ in 0..(bytes.u8() % 6) {
        let key = CONFIG_KEYS[usize::from(bytes.u8()) % CONFIG_KEYS.len()];
        let value = match bytes.u8() % 4 {
            0 => ConfigValue::Int(i128::from(bytes.u32() % 70_000)),
            1 => ConfigValue::Bool(bytes.u8() % 2 == 0),
            2 => ConfigValue::Name(
                ["inet", "inet6", "binary", "common_values", "rtt", "fixed"]
                    [usize::from(bytes.u8() % 6)],
            ),
            _ => ConfigValue::Nil,
        };
        let mut candidate = config;
        if candidate.set(key, value).is_ok() && candidate.validate().is_ok() {
            config = candidate;
        }
    }
    config
}

/// Applies `event` at `*now` (advancing it for ticks); returns the prober's answer.
pub fn apply(prober: &mut Prober, now: &mut u64, event: Event) -> Events {
    match event {
        Event::Connected => prober.connected(*now),
        Event::SendProbe(id) => match prober.next_probe() {
            Some(size) => prober
                .probe_sent(*now, id, size)
                .expect("the due probe is accepted"),
            None => Events::default(),
        },
        Event::Acked(id) => prober.probe_acked(*now, id),
        Event::Lost(id, reason) => prober.probe_lost(*now, id, reason),
        Event::PacketAcked(size) => prober.packet_acked(*now, size),
        Event::PacketLost(size) => prober.packet_lost(*now, size),
        Event::Rtt(ms) => {
            prober.rtt_sample(ms);
            Events::default()
        }
        Event::Ptb(mtu, quoted) => prober.ptb(*now, mtu, quoted),
        Event::Emsgsize(mtu) => prober.emsgsize(*now, mtu),
        Event::Tick(dt) => {
            *now += dt;
            prober.tick(*now)
        }
        Event::ProbeNow => prober.probe_now(*now),
        Event::SetEnabled(on) => prober.set_enabled(*now, on),
        Event::Claim(id, size) => {
            prober.claim_probe(*now, id, size);
            Events::default()
        }
        Event::TransportAcked(id, size) => prober.acked(*now, id, size),
        Event::TransportLost(id, size, reason) => prober.lost(*now, id, Some(size), reason).1,
    }
}

/// Checks that `answer` tells what the call did: every PLPMTU change is in
/// it (from `before` to the PLPMTU now), a probe newly due is announced, and
/// the list never filled up (so nothing was dropped).
pub fn check_answer(
    prober: &Prober,
    answer: &Events,
    (mtu_before, due_before): (u32, Option<u32>),
) -> Result<(), String> {
    if answer.len() >= EVENTS_MAX {
        return Err(format!(
            "{} events in one answer: some may be lost",
            answer.len()
        ));
    }
    let changes: Vec<(u32, u32)> = answer
        .iter()
        .filter_map(|e| match *e {
            Answer::MtuChanged { old, new, .. } => Some((old, new)),
            _ => None,
        })
        .collect();
    let told = match (changes.first(), changes.last()) {
        (Some(&(old, _)), Some(&(_, new))) => (old, new),
        _ => (mtu_before, mtu_before),
    };
    if told != (mtu_before, prober.plpmtu()) || changes.windows(2).any(|w| w[0].1 != w[1].0) {
        return Err(format!(
            "PLPMTU went {mtu_before} -> {} but the answer says {changes:?}",
            prober.plpmtu()
        ));
    }
    let due = prober.next_probe();
    let announced = answer
        .iter()
        .any(|e| matches!(*e, Answer::ProbeDue { size } if Some(size) == due));
    if due.is_some() && due != due_before && !announced {
        return Err(format!("probe {due:?} became due unannounced: {answer:?}"));
    }
    Ok(())
}

/// Runs the events of `data` on a prober configured from its first 32 bytes,
/// checking after every event the invariants and the oracle of
/// [`AckOracle`]. `Err` names the broken one.
pub fn run(data: &[u8]) -> Result<usize, String> {
    let (head, tail) = data.split_at(data.len().min(32));
    let config = config(head);
    let mut prober = Prober::new(config).map_err(|e| format!("valid config refused: {e}"))?;
    let mut now = 0u64;
    let mut oracle = AckOracle::default();
    let events = events(tail);
    for (i, event) in events.iter().enumerate() {
        let before = oracle.before(&prober, *event);
        let due_before = prober.next_probe();
        let answer = apply(&mut prober, &mut now, *event);
        prober
            .check_invariants()
            .map_err(|broken| format!("after event {i} {event:?}: {broken}"))?;
        check_answer(&prober, &answer, (before, due_before))
            .map_err(|broken| format!("after event {i} {event:?}: {broken}"))?;
        oracle
            .after(&prober, *event, before)
            .map_err(|broken| format!("after event {i} {event:?}: {broken}"))?;
    }
    Ok(events.len())
}

/// The harness's own record of the probes it sent, so that it can judge
/// every rise of the PLPMTU: it must be to the size of the probe the harness
/// acknowledged in that very event (the latest probe sent under the acked
/// id), acknowledged at that size, with no transmission of the id in
/// another form since the probe (a resend: its ack could be the resend's).
/// Decreases are always allowed, and so is switching discovery on or off,
/// which applies the configured floor or `disabled_mtu` whatever it is.
#[derive(Debug, Clone, Default)]
pub struct AckOracle {
    /// Size of the latest probe sent under each id (ids are 0..8).
    sent: [Option<u32>; PROBE_IDS as usize],
    /// The id went again at another size since that probe.
    resent: [bool; PROBE_IDS as usize],
}

impl AckOracle {
    /// Call before applying `event`: notes the probe it sends, if any, and
    /// returns the PLPMTU before it.
    pub fn before(&mut self, prober: &Prober, event: Event) -> u32 {
        let due = prober.next_probe();
        match event {
            Event::SendProbe(id) if due.is_some() => self.record(id, due),
            Event::Claim(id, size) if due == Some(size) => self.record(id, due),
            Event::Claim(id, size) => {
                let index = id as usize;
                if self
                    .sent
                    .get(index)
                    .copied()
                    .flatten()
                    .is_some_and(|s| s != size)
                {
                    self.resent[index] = true;
                }
            }
            _ => {}
        }
        prober.plpmtu()
    }

    /// Call after applying `event`: `Err` if the PLPMTU rose without an
    /// acknowledgement of a probe of exactly the new size.
    pub fn after(&self, prober: &Prober, event: Event, before: u32) -> Result<(), String> {
        let after = prober.plpmtu();
        if after <= before || matches!(event, Event::SetEnabled(_)) {
            return Ok(());
        }
        let reason = prober.history().next_back().map(|c| c.reason);
        let probe = |id: u64| {
            let index = id as usize;
            self.sent
                .get(index)
                .copied()
                .flatten()
                .filter(|_| !self.resent[index])
        };
        let acked = match event {
            Event::Acked(id) => probe(id),
            Event::TransportAcked(id, size) => probe(id).filter(|&sent| sent == size),
            _ => None,
        };
        if acked == Some(after) && reason == Some(ChangeReason::ProbeAcked) {
            return Ok(());
        }
        Err(format!(
            "PLPMTU rose {before} -> {after} ({reason:?}) without an acknowledged probe of \
             that size (acked {acked:?})"
        ))
    }

    fn record(&mut self, id: u64, size: Option<u32>) {
        if let Some(slot) = self.sent.get_mut(id as usize) {
            *slot = size;
            self.resent[id as usize] = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ack_oracle_accepts_only_a_rise_to_the_acked_probe() {
        let mut prober = Prober::new(Config::default()).unwrap();
        let mut now = 0;
        let mut oracle = AckOracle::default();
        for event in [Event::Connected, Event::SendProbe(1), Event::Acked(1)] {
            let before = oracle.before(&prober, event);
            apply(&mut prober, &mut now, event);
            assert_eq!(oracle.after(&prober, event, before), Ok(()));
        }
        assert_eq!(prober.plpmtu(), 1038);
        // The same rise, blamed on anything but the ack of a 1038-byte probe.
        assert!(oracle.after(&prober, Event::Tick(0), 576).is_err());
        assert!(oracle.after(&prober, Event::Acked(2), 576).is_err());
        oracle.record(2, Some(1269));
        assert!(oracle.after(&prober, Event::Acked(2), 576).is_err());
        assert!(oracle.after(&prober, Event::Acked(1), 576).is_ok());
    }

    #[test]
    fn claimed_probes_are_recorded_under_their_id() {
        let mut prober = Prober::new(Config::default()).unwrap();
        let mut now = 0;
        let mut oracle = AckOracle::default();
        for event in [
            Event::Connected,
            Event::Claim(3, 1000),
            Event::Claim(3, 1038),
        ] {
            let before = oracle.before(&prober, event);
            apply(&mut prober, &mut now, event);
            assert_eq!(oracle.after(&prober, event, before), Ok(()));
        }
        assert_eq!(oracle.sent[3], Some(1038));
        assert_eq!(prober.probe_in_flight(), Some(3));
    }
}
