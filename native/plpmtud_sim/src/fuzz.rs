//! Fuzzing support: arbitrary bytes become prober events, configuration
//! values, so any byte-level fuzzer (and proptest) can drive the state
//! machine and the configuration decoder. Test and
//! benchmark code; not used at run time.

use plpmtud_core::config::{Config, ConfigValue, CONFIG_KEYS};
use plpmtud_core::events::{ChangeReason, Event as Answer, Events, LossReason, EVENTS_MAX};
use plpmtud_core::{Prober, Quote};

/// Most losses in one [`Event::Lost`] batch.
pub const MAX_BATCH: usize = 6;

/// One call into the prober, decoded from fuzz input. Sizes are in the
/// prober's unit (the configuration picks it), MTUs from the network in IP
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `connected(hint)`.
    Connected(Option<u32>),
    /// Send a due probe (if any) as `id`, with its quoted bytes (the id's
    /// own bytes) or without: of the sizes due (`probe_sizes` above 1), the
    /// one at `id` modulo their number, largest first (see [`probe_to_send`]).
    SendProbe(u64, bool),
    /// `acked(id, size)` at the size of the latest probe sent as `id`.
    ProbeAcked(u64),
    /// `sent(id, size)`: a transport's transmission, probe or data.
    Sent(u64, u32),
    /// `acked(id, size)`: a transport's ack, probe or data.
    Acked(u64, u32),
    /// `lost(reason, batch)`: the first `len` losses, each an id and a size
    /// (0: unknown).
    Lost([(u64, u32); MAX_BATCH], u8, LossReason),
    /// `rtt_sample(ms)`.
    Rtt(u64),
    /// `ptb(ip_mtu, Quote::Id(id))`, or `Quote::None` without an id.
    Ptb(u32, Option<u64>),
    /// `ptb(ip_mtu, Quote::Bytes(..))` quoting the bytes of `id` (as
    /// [`Event::SendProbe`] sends them) cut to `len` bytes.
    PtbQuoted(u32, u64, u8),
    /// `send_refused(size, kernel_ip_mtu)`.
    SendRefused(u32, Option<u32>),
    /// Time passes by this many ms, then `tick`.
    Tick(u64),
    /// `probe_now`.
    ProbeNow,
    /// `set_enabled`.
    SetEnabled(bool),
}

/// Reads fuzz bytes from the front; zero once exhausted.
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl Bytes<'_> {
    pub(crate) fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | (u32::from(self.u16()) << 16)
    }
}

/// Ids the decoder uses for probes: 0 to 7.
pub const PROBE_IDS: u64 = 8;

/// The bytes a probe sent as `id` by [`Event::SendProbe`] quotes.
pub fn quote_of(id: u64) -> [u8; 8] {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_le_bytes()
}

fn reason(bytes: &mut Bytes<'_>) -> LossReason {
    match bytes.u8() % 3 {
        0 => LossReason::Timeout,
        1 => LossReason::DupAck,
        _ => LossReason::Resent,
    }
}

/// Decodes `data` into events (at most one per 3 bytes, bounded by 4096).
pub fn events(data: &[u8]) -> Vec<Event> {
    let mut bytes = Bytes(data);
    let mut out = Vec::new();
    while !bytes.0.is_empty() && out.len() < 4096 {
        let id = u64::from(bytes.u8()) % PROBE_IDS;
        let event = match bytes.u8() % 13 {
            0 => Event::Connected((bytes.u8() % 4 == 0).then(|| u32::from(bytes.u16()))),
            1 => Event::SendProbe(id, bytes.u8() % 2 == 0),
            2 => Event::ProbeAcked(id),
            3 => {
                let len = bytes.u8() % (MAX_BATCH as u8 + 1);
                let mut batch = [(0, 0); MAX_BATCH];
                for loss in batch.iter_mut().take(usize::from(len)) {
                    let byte = bytes.u8();
                    let size = if byte % 2 == 0 {
                        u32::from(bytes.u16())
                    } else {
                        0
                    };
                    *loss = (u64::from(byte >> 1) % PROBE_IDS, size);
                }
                Event::Lost(batch, len, reason(&mut bytes))
            }
            4 => Event::Sent(id, u32::from(bytes.u16())),
            5 => Event::Acked(id, u32::from(bytes.u16())),
            6 => Event::Rtt(u64::from(bytes.u16())),
            7 => Event::Ptb(u32::from(bytes.u16()), (bytes.u8() % 2 == 0).then_some(id)),
            8 => Event::PtbQuoted(u32::from(bytes.u16()), id, bytes.u8() % 9),
            9 => Event::SendRefused(
                u32::from(bytes.u16()),
                (bytes.u8() % 2 == 0).then(|| u32::from(bytes.u16())),
            ),
            10 => Event::Tick(u64::from(bytes.u32() % 4_000_000)),
            11 => Event::ProbeNow,
            _ => Event::SetEnabled(bytes.u8() % 4 != 0),
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
                [
                    "inet",
                    "inet6",
                    "binary",
                    "common_values",
                    "rtt",
                    "fixed",
                    "payload",
                    "ip",
                ][usize::from(bytes.u8() % 8)],
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

/// The due size [`Event::SendProbe`] sends as `id`: of the sizes due,
/// largest first, the one at `id` modulo their number (so a round's sizes
/// leave in any order).
pub fn probe_to_send(prober: &Prober, id: u64) -> Option<u32> {
    let snapshot = prober.snapshot();
    let due = snapshot.due();
    if due.is_empty() {
        return None;
    }
    due.get((id % due.len() as u64) as usize).copied()
}

/// Applies `event` at `*now` (advancing it for ticks); returns the
/// prober's answer. `oracle` knows the size each probe id was sent at.
pub fn apply(prober: &mut Prober, now: &mut u64, oracle: &AckOracle, event: Event) -> Events {
    match event {
        Event::Connected(hint) => prober.connected(*now, hint),
        Event::SendProbe(id, quoted) => {
            if let Some(size) = probe_to_send(prober, id) {
                let quote = quote_of(id);
                prober.sent(*now, id, size, quoted.then_some(&quote[..]));
            }
            Events::default()
        }
        Event::ProbeAcked(id) => {
            let size = oracle.size_of(id).unwrap_or(0);
            prober.acked(*now, id, size)
        }
        Event::Sent(id, size) => {
            prober.sent(*now, id, size, None);
            Events::default()
        }
        Event::Acked(id, size) => prober.acked(*now, id, size),
        Event::Lost(batch, len, reason) => {
            let losses = batch[..usize::from(len)]
                .iter()
                .map(|&(id, size)| (id, Some(size).filter(|&s| s > 0)));
            prober.lost(*now, reason, losses).1
        }
        Event::Rtt(ms) => {
            prober.rtt_sample(ms);
            Events::default()
        }
        Event::Ptb(ip_mtu, id) => {
            let quote = id.map_or(Quote::None, Quote::Id);
            prober.ptb(*now, ip_mtu, quote)
        }
        Event::PtbQuoted(ip_mtu, id, len) => {
            let quote = quote_of(id);
            prober.ptb(*now, ip_mtu, Quote::Bytes(&quote[..usize::from(len)]))
        }
        Event::SendRefused(size, kernel_ip_mtu) => prober.send_refused(*now, size, kernel_ip_mtu),
        Event::Tick(ms) => {
            *now = now.saturating_add(ms);
            prober.tick(*now)
        }
        Event::ProbeNow => prober.probe_now(*now),
        Event::SetEnabled(on) => prober.set_enabled(*now, on),
    }
}

/// Checks that `answer` tells what the call did: every PLPMTU change is in
/// it (from `before` to the PLPMTU now), every size newly due (not in
/// `due_before`, the sizes due before the call) is announced, and the list
/// never filled up (so nothing was dropped).
pub fn check_answer(
    prober: &Prober,
    answer: &Events,
    (mtu_before, due_before): (u32, &[u32]),
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
    let packet = prober.sizes().packet;
    if told != (mtu_before, packet) || changes.windows(2).any(|w| w[0].1 != w[1].0) {
        return Err(format!(
            "PLPMTU went {mtu_before} -> {packet} but the answer says {changes:?}"
        ));
    }
    let snapshot = prober.snapshot();
    if prober.sizes().probe != snapshot.due().first().copied() {
        return Err(format!(
            "sizes().probe {:?} is not the largest due {:?}",
            prober.sizes().probe,
            snapshot.due()
        ));
    }
    for &due in snapshot.due() {
        let announced = answer
            .iter()
            .any(|e| matches!(*e, Answer::ProbeDue { size } if size == due));
        if !due_before.contains(&due) && !announced {
            return Err(format!("probe {due} became due unannounced: {answer:?}"));
        }
    }
    Ok(())
}

/// Runs the events of `data` on a prober configured from its first 32 bytes
/// (the last of them sets `probe_sizes`, 1 to 4), checking after every
/// event the invariants and the oracle of [`AckOracle`]. `Err` names the
/// broken one.
pub fn run(data: &[u8]) -> Result<usize, String> {
    let (head, tail) = data.split_at(data.len().min(32));
    let mut config = config(head);
    let sizes = head.last().map_or(1, |&b| i128::from(b % 4) + 1);
    config
        .set("probe_sizes", ConfigValue::Int(sizes))
        .map_err(|e| format!("probe_sizes {sizes} refused: {e}"))?;
    let mut prober = Prober::new(config).map_err(|e| format!("valid config refused: {e}"))?;
    let mut now = 0u64;
    let mut oracle = AckOracle::default();
    let events = events(tail);
    for (i, event) in events.iter().enumerate() {
        let before = oracle.before(&prober, *event);
        let due_before: Vec<u32> = prober.snapshot().due().to_vec();
        let answer = apply(&mut prober, &mut now, &oracle, *event);
        prober
            .snapshot()
            .invariants
            .map_err(|broken| format!("after event {i} {event:?}: {broken}"))?;
        check_answer(&prober, &answer, (before, &due_before))
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
        let snapshot = prober.snapshot();
        let due = snapshot.due();
        match event {
            Event::SendProbe(id, _) if !due.is_empty() => {
                self.record(id, probe_to_send(prober, id));
            }
            Event::Sent(id, size) if due.contains(&size) => self.record(id, Some(size)),
            Event::Sent(id, size) => {
                let index = id as usize;
                if self.size_of(id).is_some_and(|s| s != size) {
                    self.resent[index] = true;
                }
            }
            _ => {}
        }
        prober.sizes().packet
    }

    /// The size of the latest probe sent as `id`.
    pub fn size_of(&self, id: u64) -> Option<u32> {
        self.sent.get(id as usize).copied().flatten()
    }

    /// Call after applying `event`: `Err` if the PLPMTU rose without an
    /// acknowledgement of a probe of exactly the new size.
    pub fn after(&self, prober: &Prober, event: Event, before: u32) -> Result<(), String> {
        let after = prober.sizes().packet;
        if after <= before || matches!(event, Event::SetEnabled(_)) {
            return Ok(());
        }
        let reason = prober.snapshot().history().last().map(|c| c.reason);
        let probe = |id: u64| self.size_of(id).filter(|_| !self.resent[id as usize]);
        let acked = match event {
            Event::ProbeAcked(id) => probe(id),
            Event::Acked(id, size) => probe(id).filter(|&sent| sent == size),
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

    /// A probe of `size` goes under `id`: an id sent before as a probe of
    /// another size can no longer confirm anything (its ack may be the
    /// earlier packet's, late).
    fn record(&mut self, id: u64, size: Option<u32>) {
        if let Some(slot) = self.sent.get_mut(id as usize) {
            let earlier = *slot;
            *slot = size;
            self.resent[id as usize] = earlier.is_some() && earlier != size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_prober() -> Prober {
        let config = Config {
            size_unit: plpmtud_core::SizeUnit::Ip,
            ..Config::default()
        };
        Prober::new(config).unwrap()
    }

    #[test]
    fn the_ack_oracle_accepts_only_a_rise_to_the_acked_probe() {
        let mut prober = ip_prober();
        let mut now = 0;
        let mut oracle = AckOracle::default();
        for event in [
            Event::Connected(None),
            Event::SendProbe(1, false),
            Event::ProbeAcked(1),
        ] {
            let before = oracle.before(&prober, event);
            apply(&mut prober, &mut now, &oracle, event);
            assert_eq!(oracle.after(&prober, event, before), Ok(()));
        }
        assert_eq!(prober.sizes().packet, 1038);
        // The same rise, blamed on anything but the ack of a 1038-byte probe.
        assert!(oracle.after(&prober, Event::Tick(0), 576).is_err());
        assert!(oracle.after(&prober, Event::ProbeAcked(2), 576).is_err());
        assert!(oracle.after(&prober, Event::Acked(1, 1000), 576).is_err());
        oracle.record(2, Some(1269));
        assert!(oracle.after(&prober, Event::ProbeAcked(2), 576).is_err());
        assert!(oracle.after(&prober, Event::ProbeAcked(1), 576).is_ok());
        assert!(oracle.after(&prober, Event::Acked(1, 1038), 576).is_ok());
    }

    #[test]
    fn sent_probes_are_recorded_under_their_id() {
        let mut prober = ip_prober();
        let mut now = 0;
        let mut oracle = AckOracle::default();
        for event in [
            Event::Connected(None),
            Event::Sent(3, 1000),
            Event::Sent(3, 1038),
        ] {
            let before = oracle.before(&prober, event);
            apply(&mut prober, &mut now, &oracle, event);
            assert_eq!(oracle.after(&prober, event, before), Ok(()));
        }
        assert_eq!(oracle.sent[3], Some(1038));
        assert_eq!(prober.snapshot().in_flight(), &[3]);
    }

    #[test]
    fn a_quoted_ptb_matches_the_probe_by_its_bytes_alone() {
        let mut prober = ip_prober();
        let mut now = 0;
        let oracle = AckOracle::default();
        apply(&mut prober, &mut now, &oracle, Event::Connected(None));
        apply(&mut prober, &mut now, &oracle, Event::SendProbe(5, true));
        let verdict = |answer: Events| {
            answer.iter().find_map(|e| match *e {
                Answer::Hint { verdict, .. } => Some(verdict),
                _ => None,
            })
        };
        use plpmtud_core::PtbVerdict::{Accepted, Unmatched};
        let cut = apply(&mut prober, &mut now, &oracle, Event::PtbQuoted(900, 5, 7));
        assert_eq!(verdict(cut), Some(Unmatched));
        let other = apply(&mut prober, &mut now, &oracle, Event::PtbQuoted(900, 4, 8));
        assert_eq!(verdict(other), Some(Unmatched));
        let by_id = apply(&mut prober, &mut now, &oracle, Event::Ptb(900, Some(5)));
        assert_eq!(verdict(by_id), Some(Unmatched));
        let quoted = apply(&mut prober, &mut now, &oracle, Event::PtbQuoted(900, 5, 8));
        assert_eq!(verdict(quoted), Some(Accepted));
    }

    #[test]
    fn a_round_of_several_sizes_is_sent_in_any_order_and_judged_by_the_oracle() {
        let mut prober = Prober::new(Config {
            size_unit: plpmtud_core::SizeUnit::Ip,
            probe_sizes: 4,
            ..Config::default()
        })
        .unwrap();
        let mut now = 0;
        let mut oracle = AckOracle::default();
        let mut step = |prober: &mut Prober, oracle: &mut AckOracle, event| {
            let before = oracle.before(prober, event);
            let due_before = prober.snapshot().due().to_vec();
            let answer = apply(prober, &mut now, oracle, event);
            check_answer(prober, &answer, (before, &due_before))?;
            oracle.after(prober, event, before)
        };
        step(&mut prober, &mut oracle, Event::Connected(None)).unwrap();
        // Id 2 of four due sizes: the third largest.
        assert_eq!(probe_to_send(&prober, 2), Some(1038));
        step(&mut prober, &mut oracle, Event::SendProbe(2, false)).unwrap();
        assert_eq!(oracle.size_of(2), Some(1038));
        assert_eq!(prober.snapshot().due(), [1500, 1269, 807]);
        step(&mut prober, &mut oracle, Event::ProbeAcked(2)).unwrap();
        assert_eq!(prober.sizes().packet, 1038);
        // A rise blamed on another size of the round is caught.
        assert!(oracle.after(&prober, Event::Acked(2, 1269), 576).is_err());
        // The answer must announce every size newly due, not only the first.
        let due: Vec<u32> = prober.snapshot().due().to_vec();
        assert_eq!(due, [1500, 1269]);
        assert!(check_answer(&prober, &Events::default(), (1038, &due[..1])).is_err());
        assert!(check_answer(&prober, &Events::default(), (1038, &due)).is_ok());
    }

    #[test]
    fn the_prober_seeds_keep_the_invariants_and_the_oracle() {
        let seeds: [&[u8]; 2] = [
            include_bytes!("../../../fuzz/seeds/prober_events/connect_and_probe"),
            include_bytes!("../../../fuzz/seeds/prober_events/common_values_round_within_k"),
        ];
        for seed in seeds {
            assert!(run(seed).unwrap() >= 3);
        }
    }
}
