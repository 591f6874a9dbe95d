//! A deterministic path simulator for tests, benchmarks and the demo.
//!
//! A virtual clock, a path MTU that may change at given times (also in the
//! middle of a search), seeded random loss, acknowledgements that come late,
//! twice or out of order, an optional router that answers oversized probes
//! with Packet-Too-Big, and optional data traffic at the PLPMTU. Same seed,
//! same run.
//!
//! Every acknowledgement carries the id of the probe it answers (ids are
//! never reused), so a late acknowledgement can only be matched to the old
//! probe it belongs to. With [`SimPath::resend`], the transport also resends
//! a probe's data under the probe's id at the PLPMTU before the probe is
//! resolved (uTP cannot renumber), tells the prober of that transmission,
//! and reports every acknowledgement of the id with the size of its last
//! transmission: the acknowledgement of the resend names the probe's id.
//!
//! # The oracle
//!
//! After every event the run checks, and records in [`SimResult::violations`]:
//!
//! - (a) the PLPMTU only rises when an acknowledgement of a probe of exactly
//!   the new size is delivered (with [`ChangeReason::ProbeAcked`]), and that
//!   probe was no larger than the path MTU when it was sent;
//! - (b) once the path MTU has not changed for [`settle_ms`] (a full search
//!   plus the longest probe interval), the PLPMTU is at most the path MTU when
//!   the path carries data traffic (the only way an acknowledged transport
//!   notices a path that shrank below a confirmed size), and also within the
//!   search threshold of it when the path is [`SimPath::benign`].
//!
//! A known, accepted weakness: an acknowledgement arriving after the probe
//! timeout is stale to the prober, so under long delays sizes that fit can be
//! judged too big. That makes the result lower, never higher; (b)'s lower
//! bound is therefore only checked on benign paths.
//!
//! The simulator drives the prober in IP bytes (`size_unit` `ip`, whatever
//! the configuration says): the path MTU, the probes and the trace are IP
//! sizes.

use plpmtud_core::config::{Config, ProbeTimeoutMode};
use plpmtud_core::events::{ChangeReason, Event, Events, LossReason};
use plpmtud_core::search::COMMON_MTUS;
use plpmtud_core::{Prober, Quote, SizeUnit, State};

/// SplitMix64: a tiny seeded generator, good enough for loss decisions.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }
}

/// The simulated path.
#[derive(Debug, Clone)]
pub struct SimPath {
    /// The path MTU at time 0 (IP bytes).
    pub mtu: u32,
    /// Later path MTUs: `(at_ms, mtu)`, in time order.
    pub mtu_changes: Vec<(u64, u32)>,
    /// Chance that any one packet (or its acknowledgement) is lost.
    pub loss: f64,
    /// Round-trip time.
    pub rtt_ms: u64,
    /// A router answers oversized probes with Packet-Too-Big.
    pub ptb: bool,
    /// Send a data packet at the PLPMTU this often, and report its fate.
    pub data_interval_ms: Option<u64>,
    /// Seed of the loss generator.
    pub seed: u64,
    /// Chance that a probe's acknowledgement is held back by `late_ack_ms`.
    pub late_ack: f64,
    /// Extra delay of a late acknowledgement (ms); beyond the probe timeout
    /// it arrives after the prober gave the probe up.
    pub late_ack_ms: u64,
    /// Chance that a probe's acknowledgement arrives twice.
    pub dup_ack: f64,
    /// Chance that a probe's acknowledgement gets a random extra delay of up
    /// to `reorder_ms`, so it is overtaken by later packets.
    pub reorder: f64,
    /// Largest extra delay of a reordered (or duplicated) acknowledgement (ms).
    pub reorder_ms: u64,
    /// Chance that the transport resends a probe's data under its id, at
    /// the PLPMTU, 1 ms after the probe (before anything is known of it).
    pub resend: f64,
}

impl SimPath {
    /// A loss-free path of `mtu` bytes with a 50 ms RTT and no data traffic.
    pub fn clean(mtu: u32) -> SimPath {
        SimPath {
            mtu,
            mtu_changes: Vec::new(),
            loss: 0.0,
            rtt_ms: 50,
            ptb: false,
            data_interval_ms: None,
            seed: 1,
            late_ack: 0.0,
            late_ack_ms: 0,
            dup_ack: 0.0,
            reorder: 0.0,
            reorder_ms: 0,
            resend: 0.0,
        }
    }

    /// When the path MTU last changed at or before `now_ms` (0 if never).
    pub fn last_change_at(&self, now_ms: u64) -> u64 {
        self.mtu_changes
            .iter()
            .take_while(|&&(at, _)| at <= now_ms)
            .last()
            .map_or(0, |&(at, _)| at)
    }

    /// True when nothing on the path can make a size that fits look too big:
    /// no loss, no late acknowledgement, and every acknowledgement (however
    /// reordered) arrives before the shortest probe timeout of `config`.
    pub fn benign(&self, config: &Config) -> bool {
        let shortest_timeout = match config.probe_timeout_mode {
            ProbeTimeoutMode::Fixed => config.probe_timeout_ms,
            ProbeTimeoutMode::Rtt => config.min_probe_timeout_ms.min(config.probe_timeout_ms),
        };
        let slowest_ack = self.rtt_ms + 1 + self.reorder_ms;
        self.loss == 0.0
            && self.late_ack == 0.0
            && self.resend == 0.0
            && slowest_ack < shortest_timeout
            && !config.aiutp_compat
    }

    /// The path MTU at `now_ms`.
    pub fn mtu_at(&self, now_ms: u64) -> u32 {
        self.mtu_changes
            .iter()
            .take_while(|&&(at, _)| at <= now_ms)
            .last()
            .map_or(self.mtu, |&(_, mtu)| mtu)
    }
}

/// How long after the last path MTU change the oracle's part (b) applies: an
/// upper bound on one search (every size, every retransmission, the probing
/// check, each at the longest probe timeout) plus the longest probe interval.
pub fn settle_ms(config: &Config) -> u64 {
    let longest_timeout = match config.probe_timeout_mode {
        ProbeTimeoutMode::Fixed => config.probe_timeout_ms,
        ProbeTimeoutMode::Rtt => config.max_probe_timeout_ms.max(config.probe_timeout_ms),
    };
    let span = u64::from(config.ceiling.saturating_sub(config.floor).max(1));
    let sizes = COMMON_MTUS.len() as u64 + u64::from(64 - span.leading_zeros()) + 4;
    let search = sizes * u64::from(config.max_probes.max(1)) * longest_timeout;
    search + config.max_probe_interval_ms.max(config.probe_interval_ms)
}

/// What happened, for printing and assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    /// A probe left.
    ProbeSent {
        /// Time (ms).
        at_ms: u64,
        /// Probe id.
        id: u64,
        /// Size (IP bytes).
        size: u32,
    },
    /// A Packet-Too-Big reached the prober.
    Ptb {
        /// Time (ms).
        at_ms: u64,
        /// Reported MTU.
        mtu: u32,
    },
    /// The path MTU changed.
    PathMtu {
        /// Time (ms).
        at_ms: u64,
        /// The new path MTU.
        mtu: u32,
        /// The prober's state when it changed.
        state: State,
    },
    /// The prober answered a call with this event.
    Prober {
        /// Time (ms).
        at_ms: u64,
        /// What happened.
        event: Event,
    },
}

/// When a simulation stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopWhen {
    /// At the first completed search or fallback.
    Settled,
    /// At this virtual time.
    At(u64),
}

/// The outcome of a simulation.
#[derive(Debug, Clone)]
pub struct SimResult {
    /// The prober at the end.
    pub prober: Prober,
    /// Virtual time at the end (ms).
    pub now_ms: u64,
    /// Distinct probe sizes in the order first sent.
    pub probe_sizes: Vec<u32>,
    /// Probe transmissions.
    pub probes_sent: u64,
    /// Everything that happened.
    pub trace: Vec<Trace>,
    /// True if the run settled (for [`StopWhen::Settled`]).
    pub settled: bool,
    /// Breaches of the oracle (see the module docs), in order; empty if none.
    pub violations: Vec<String>,
}

/// How many simulated searches ended where, against each path's MTU: the
/// counts every convergence table reports.
#[derive(Debug, Default, Clone)]
pub struct Outcomes {
    /// Runs.
    pub runs: u64,
    /// Runs ending at most the threshold below the path MTU, not above.
    pub within: u64,
    /// Runs ending above the path MTU.
    pub above: u64,
    /// Runs ending more than the threshold below the path MTU.
    pub short: u64,
    /// Runs ending in a fallback (`State::Error`).
    pub fallbacks: u64,
    /// Probe transmissions, summed.
    pub probes: u64,
}

impl Outcomes {
    /// Counts `run`, over a path of `path_mtu` IP bytes, as within
    /// `threshold` bytes below it, above it or short.
    pub fn add(&mut self, run: &SimResult, path_mtu: u32, threshold: u32) {
        let found = run.prober.sizes().packet;
        self.runs += 1;
        if found > path_mtu {
            self.above += 1;
        } else if path_mtu - found <= threshold {
            self.within += 1;
        } else {
            self.short += 1;
        }
        self.fallbacks += u64::from(run.prober.snapshot().state == plpmtud_core::State::Error);
        self.probes += run.probes_sent;
    }

    /// The mean of `total` over the runs.
    pub fn mean(&self, total: u64) -> f64 {
        total as f64 / self.runs as f64
    }
}

/// Checks the oracle after each event.
struct Oracle<'a> {
    path: &'a SimPath,
    settle_ms: u64,
    threshold: u32,
    benign: bool,
    violations: Vec<String>,
}

impl Oracle<'_> {
    /// `before` was the PLPMTU before the event; `acked` the transmission
    /// `(id, size, sent_at_ms)` whose acknowledgement the event delivered
    /// (the probe, or a resend under its id).
    fn check(&mut self, prober: &Prober, now: u64, before: u32, acked: Option<(u64, u32, u64)>) {
        if self.violations.len() >= 16 {
            return;
        }
        let after = prober.sizes().packet;
        if after > before {
            let reason = prober.snapshot().history().last().map(|c| c.reason);
            let fits = acked.is_some_and(|(_, size, sent_at)| {
                size == after && size <= self.path.mtu_at(sent_at)
            });
            if !fits || reason != Some(ChangeReason::ProbeAcked) {
                self.violations.push(format!(
                    "at {now} ms: PLPMTU raised {before} -> {after} ({reason:?}) by {acked:?}, \
                     not by an acknowledged probe of that size that fit the path"
                ));
            }
        }
        let path_mtu = self.path.mtu_at(now);
        let quiet = now >= self.path.last_change_at(now).saturating_add(self.settle_ms);
        if !quiet || self.path.data_interval_ms.is_none() {
            return;
        }
        if after > path_mtu {
            self.violations.push(format!(
                "at {now} ms: settled PLPMTU {after} above the path MTU {path_mtu}"
            ));
        } else if self.benign
            && path_mtu - after > self.threshold
            && prober.snapshot().state != State::Disabled
        {
            self.violations.push(format!(
                "at {now} ms: settled PLPMTU {after} more than {} below the path MTU {path_mtu}",
                self.threshold
            ));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    ProbeAck { id: u64, size: u32, sent_at_ms: u64 },
    Resend { id: u64 },
    ProbeDupAck { id: u64 },
    Ptb { id: u64, mtu: u32 },
    DataAck { id: u64, size: u32 },
    DataLost { id: u64, size: u32 },
}

/// Upper bound on processed steps, so no run can loop forever.
const MAX_STEPS: usize = 5_000_000;

/// Ids of data packets: never a probe's.
const DATA_IDS: u64 = 1 << 63;

/// Runs discovery for `config` (in IP bytes) over `path` from time 0 until `stop`.
pub fn simulate(config: Config, path: &SimPath, stop: StopWhen) -> SimResult {
    let config = Config {
        size_unit: SizeUnit::Ip,
        ..config
    };
    let mut prober = Prober::new(config).expect("simulated config must be valid");
    let mut rng = SplitMix64::new(path.seed);
    let mut pending: Vec<(u64, Pending)> = Vec::new();
    let mut trace = Vec::new();
    let mut probe_sizes: Vec<u32> = Vec::new();
    let mut probes_sent = 0;
    let mut next_id: u64 = 1;
    let mut next_data_id = DATA_IDS;
    let mut now: u64 = 0;
    let mut next_data = path.data_interval_ms.map(|_| 0u64);
    let horizon = match stop {
        StopWhen::At(t) => t,
        StopWhen::Settled => u64::MAX,
    };
    let mut settled = false;
    let mut oracle = Oracle {
        path,
        settle_ms: settle_ms(&config),
        threshold: config.search_threshold,
        benign: path.benign(&config),
        violations: Vec::new(),
    };
    let mut changes = path.mtu_changes.iter().copied().peekable();
    // Ids that were resent, with the size of their last transmission.
    let mut resent: Vec<(u64, u32)> = Vec::new();
    record(&mut trace, now, prober.connected(now, None));
    for _ in 0..MAX_STEPS {
        if stop == StopWhen::Settled
            && matches!(
                prober.snapshot().state,
                State::SearchComplete | State::Error
            )
        {
            settled = true;
            break;
        }
        if let Some(size) = prober.sizes().probe {
            let id = next_id;
            next_id += 1;
            assert!(prober.sent(now, id, size, None), "the due probe is claimed");
            probes_sent += 1;
            if probe_sizes.last() != Some(&size) && !probe_sizes.contains(&size) {
                probe_sizes.push(size);
            }
            trace.push(Trace::ProbeSent {
                at_ms: now,
                id,
                size,
            });
            let resend = rng.chance(path.resend);
            if resend {
                pending.push((now + 1, Pending::Resend { id }));
            }
            let path_mtu = path.mtu_at(now);
            if size > path_mtu {
                if path.ptb {
                    pending.push((now + path.rtt_ms / 2, Pending::Ptb { id, mtu: path_mtu }));
                }
            } else if !rng.chance(path.loss) {
                let ack = Pending::ProbeAck {
                    id,
                    size,
                    sent_at_ms: now,
                };
                let mut at = now + path.rtt_ms;
                if rng.chance(path.late_ack) {
                    at += path.late_ack_ms;
                }
                if rng.chance(path.reorder) {
                    at += rng.next_u64() % (path.reorder_ms + 1);
                }
                pending.push((at, ack));
                if rng.chance(path.dup_ack) {
                    let copy_at = at + 1 + rng.next_u64() % (path.reorder_ms + 1);
                    pending.push((copy_at, ack));
                }
                continue;
            }
            if path.data_interval_ms.is_some() {
                // A resend's acknowledgement comes before the loss is known.
                let told = now + path.rtt_ms + 1 + if resend { path.rtt_ms } else { 0 };
                pending.push((told, Pending::ProbeDupAck { id }));
            }
            continue;
        }
        let next_pending = pending.iter().map(|&(t, _)| t).min();
        let next_change = changes.peek().map(|&(at, _)| at.max(now));
        let wake = [next_pending, prober.deadline(), next_data, next_change]
            .into_iter()
            .flatten()
            .min();
        let Some(wake) = wake else { break };
        if wake > horizon {
            now = horizon;
            break;
        }
        now = now.max(wake);
        while let Some(&(at, mtu)) = changes.peek() {
            if at > now {
                break;
            }
            changes.next();
            trace.push(Trace::PathMtu {
                at_ms: at,
                mtu,
                state: prober.snapshot().state,
            });
        }
        if next_data == Some(now) {
            let size = prober.sizes().packet;
            let id = next_data_id;
            next_data_id += 1;
            let lost = size > path.mtu_at(now) || rng.chance(path.loss);
            let event = if lost {
                Pending::DataLost { id, size }
            } else {
                Pending::DataAck { id, size }
            };
            pending.push((now + path.rtt_ms, event));
            next_data = path.data_interval_ms.map(|dt| now + dt);
        }
        while let Some(index) = earliest_due(&pending, now) {
            let (_, event) = pending.remove(index);
            if let Pending::Resend { id } = event {
                let size = prober.sizes().packet;
                // The transport reports the transmission, as documented.
                prober.sent(now, id, size, None);
                resent.push((id, size));
                if size <= path.mtu_at(now) && !rng.chance(path.loss) {
                    let ack = Pending::ProbeAck {
                        id,
                        size,
                        sent_at_ms: now,
                    };
                    pending.push((now + path.rtt_ms, ack));
                }
                continue;
            }
            let before = prober.sizes().packet;
            let events = match event {
                // A resent id is acknowledged as the transport knows it:
                // with the size of its last transmission.
                Pending::ProbeAck { id, .. } if resent.iter().any(|&(r, _)| r == id) => {
                    let last = resent.iter().rev().find(|&&(r, _)| r == id);
                    prober.acked(now, id, last.map_or(0, |&(_, size)| size))
                }
                _ => deliver(&mut prober, now, event, &mut trace),
            };
            record(&mut trace, now, events);
            let acked = match event {
                Pending::ProbeAck {
                    id,
                    size,
                    sent_at_ms,
                } => Some((id, size, sent_at_ms)),
                _ => None,
            };
            oracle.check(&prober, now, before, acked);
        }
        let before = prober.sizes().packet;
        record(&mut trace, now, prober.tick(now));
        oracle.check(&prober, now, before, None);
    }
    SimResult {
        prober,
        now_ms: now,
        probe_sizes,
        probes_sent,
        trace,
        settled,
        violations: oracle.violations,
    }
}

/// The due event that was scheduled first (the earliest time, then the
/// order of scheduling), so equal times keep their order.
fn earliest_due(pending: &[(u64, Pending)], now: u64) -> Option<usize> {
    pending
        .iter()
        .enumerate()
        .filter(|(_, &(t, _))| t <= now)
        .min_by_key(|(i, &(t, _))| (t, *i))
        .map(|(i, _)| i)
}

fn deliver(prober: &mut Prober, now: u64, event: Pending, trace: &mut Vec<Trace>) -> Events {
    match event {
        Pending::ProbeAck { id, size, .. } => prober.acked(now, id, size),
        Pending::Resend { .. } => Events::default(),
        // Reported without its size: if the id was acknowledged meanwhile
        // (its resend's ack), the report is stale and says nothing of data.
        Pending::ProbeDupAck { id } => prober.lost(now, LossReason::DupAck, [(id, None)]).1,
        Pending::Ptb { id, mtu } => {
            trace.push(Trace::Ptb { at_ms: now, mtu });
            prober.ptb(now, mtu, Quote::Id(id))
        }
        Pending::DataAck { id, size } => prober.acked(now, id, size),
        Pending::DataLost { id, size } => {
            prober.lost(now, LossReason::Timeout, [(id, Some(size))]).1
        }
    }
}

fn record(trace: &mut Vec<Trace>, now: u64, events: Events) {
    trace.extend(
        events
            .iter()
            .map(|&event| Trace::Prober { at_ms: now, event }),
    );
}
