//! A deterministic path simulator for tests, benchmarks and the demo.
//!
//! A virtual clock, a path MTU that may change at given times, seeded random
//! loss, an optional router that answers oversized probes with Packet-Too-Big,
//! and optional data traffic at the PLPMTU. Same seed, same run.

use crate::config::Config;
use crate::prober::{LossReason, Notification, Prober, State};

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
        }
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
    /// A probe was acknowledged.
    ProbeAcked {
        /// Time (ms).
        at_ms: u64,
        /// Probe id.
        id: u64,
        /// Size (IP bytes).
        size: u32,
        /// Round-trip time (ms).
        rtt_ms: u64,
    },
    /// A probe was declared lost.
    ProbeLost {
        /// Time (ms).
        at_ms: u64,
        /// Probe id.
        id: u64,
        /// Size (IP bytes).
        size: u32,
        /// How the loss was found.
        reason: LossReason,
    },
    /// A Packet-Too-Big reached the prober.
    Ptb {
        /// Time (ms).
        at_ms: u64,
        /// Reported MTU.
        mtu: u32,
    },
    /// The prober said something.
    Notified {
        /// Time (ms).
        at_ms: u64,
        /// What.
        notification: Notification,
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
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    ProbeAck { id: u64, size: u32, sent_at_ms: u64 },
    ProbeDupAck { id: u64, size: u32 },
    Ptb { id: u64, mtu: u32 },
    DataAck { size: u32 },
    DataLost { size: u32 },
}

/// Upper bound on processed steps, so no run can loop forever.
const MAX_STEPS: usize = 5_000_000;

/// Runs discovery for `config` over `path` from time 0 until `stop`.
pub fn simulate(config: Config, path: &SimPath, stop: StopWhen) -> SimResult {
    let mut prober = Prober::new(config).expect("simulated config must be valid");
    let mut rng = SplitMix64::new(path.seed);
    let mut pending: Vec<(u64, Pending)> = Vec::new();
    let mut trace = Vec::new();
    let mut probe_sizes: Vec<u32> = Vec::new();
    let mut probes_sent = 0;
    let mut next_id: u64 = 1;
    let mut now: u64 = 0;
    let mut next_data = path.data_interval_ms.map(|_| 0u64);
    let horizon = match stop {
        StopWhen::At(t) => t,
        StopWhen::Settled => u64::MAX,
    };
    let mut settled = false;
    let mut last_probe: Option<(u64, u32)> = None;
    prober.connected(now);
    for _ in 0..MAX_STEPS {
        drain(&mut prober, now, &mut trace);
        if stop == StopWhen::Settled
            && matches!(prober.state(), State::SearchComplete | State::Error)
        {
            settled = true;
            break;
        }
        if let Some(size) = prober.next_probe() {
            let id = next_id;
            next_id += 1;
            prober.probe_sent(now, id, size).expect("asked-for probe");
            probes_sent += 1;
            if probe_sizes.last() != Some(&size) && !probe_sizes.contains(&size) {
                probe_sizes.push(size);
            }
            trace.push(Trace::ProbeSent {
                at_ms: now,
                id,
                size,
            });
            last_probe = Some((id, size));
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
                pending.push((now + path.rtt_ms, ack));
                continue;
            }
            if path.data_interval_ms.is_some() {
                pending.push((now + path.rtt_ms + 1, Pending::ProbeDupAck { id, size }));
            }
            continue;
        }
        let next_pending = pending.iter().map(|&(t, _)| t).min();
        let wake = [next_pending, prober.deadline(), next_data]
            .into_iter()
            .flatten()
            .min();
        let Some(wake) = wake else { break };
        if wake > horizon {
            now = horizon;
            break;
        }
        now = now.max(wake);
        if next_data == Some(now) {
            let size = prober.plpmtu();
            let lost = size > path.mtu_at(now) || rng.chance(path.loss);
            let event = if lost {
                Pending::DataLost { size }
            } else {
                Pending::DataAck { size }
            };
            pending.push((now + path.rtt_ms, event));
            next_data = path.data_interval_ms.map(|dt| now + dt);
        }
        while let Some(index) = pending.iter().position(|&(t, _)| t <= now) {
            let (_, event) = pending.swap_remove(index);
            deliver(&mut prober, now, event, &mut trace);
        }
        let timeouts_before = prober.stats().probes_lost_timeout;
        prober.tick(now);
        if prober.stats().probes_lost_timeout > timeouts_before {
            if let Some((id, size)) = last_probe {
                let reason = LossReason::Timeout;
                trace.push(Trace::ProbeLost {
                    at_ms: now,
                    id,
                    size,
                    reason,
                });
            }
        }
    }
    drain(&mut prober, now, &mut trace);
    SimResult {
        prober,
        now_ms: now,
        probe_sizes,
        probes_sent,
        trace,
        settled,
    }
}

fn deliver(prober: &mut Prober, now: u64, event: Pending, trace: &mut Vec<Trace>) {
    match event {
        Pending::ProbeAck {
            id,
            size,
            sent_at_ms,
        } => {
            if prober.probe_acked(now, id) {
                let rtt_ms = now - sent_at_ms;
                trace.push(Trace::ProbeAcked {
                    at_ms: now,
                    id,
                    size,
                    rtt_ms,
                });
            }
        }
        Pending::ProbeDupAck { id, size } => {
            if prober.probe_lost(now, id, LossReason::DupAck) {
                let reason = LossReason::DupAck;
                trace.push(Trace::ProbeLost {
                    at_ms: now,
                    id,
                    size,
                    reason,
                });
            }
        }
        Pending::Ptb { id, mtu } => {
            trace.push(Trace::Ptb { at_ms: now, mtu });
            prober.ptb(now, mtu, Some(id));
        }
        Pending::DataAck { size } => prober.packet_acked(now, size),
        Pending::DataLost { size } => prober.packet_lost(now, size),
    }
}

fn drain(prober: &mut Prober, now: u64, trace: &mut Vec<Trace>) {
    while let Some(notification) = prober.poll_notification() {
        trace.push(Trace::Notified {
            at_ms: now,
            notification,
        });
    }
}
