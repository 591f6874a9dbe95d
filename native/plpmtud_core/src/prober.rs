//! The PLPMTUD state machine for one path (RFC 8899 §5.2), sans-IO.
//!
//! Events go in with the caller's monotonic time in milliseconds; the caller
//! reads back the size to probe next ([`Prober::next_probe`]), when to wake the
//! prober ([`Prober::deadline`]) and what changed ([`Prober::poll_notification`]).
//! Sizes are IP MTU bytes. One probe is in flight at a time; the caller names
//! each probe with an id of its choosing (aiutp: the packet's sequence number).

use crate::black_hole::BlackHoleDetector;
use crate::config::{Config, ConfigError, ProbeTimeoutMode};
use crate::quote::fingerprint;
use crate::ring::Ring;
use crate::rtt::RttEstimator;
use crate::search::next_probe_size;
use crate::units::payload_for_mtu;
use thiserror::Error;

/// Entries kept in the MTU change history.
pub const HISTORY_LEN: usize = 8;
/// Notifications kept until polled; older ones are dropped (and counted).
/// One event queues at most three, so polling after each event loses none.
pub const NOTIFICATION_LEN: usize = 4;
/// Probe ids remembered for [`Prober::is_probe`] after they were resolved.
const RECENT_PROBES: usize = 4;

/// The prober's phase, with RFC 8899's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// Not probing: not yet connected, or discovery is disabled.
    #[default]
    Disabled,
    /// Checking with a probe that the path still carries the current PLPMTU.
    Base,
    /// Bisecting between the confirmed size and the ceiling.
    Searching,
    /// The search ended; the next one starts after the probe interval.
    SearchComplete,
    /// Probing failed even at the current PLPMTU; the floor is in use until the next search.
    Error,
}

/// Why a probe was declared lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// No acknowledgement before the probe timeout.
    Timeout,
    /// The transport inferred the loss from duplicate acknowledgements.
    DupAck,
}

/// Why the PLPMTU changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChangeReason {
    /// Set when the prober was created or discovery was re-enabled.
    #[default]
    Initial,
    /// A probe of the new size was acknowledged.
    ProbeAcked,
    /// A validated Packet-Too-Big lowered it (to be confirmed by a probe).
    Ptb,
    /// A probe of the unconfirmed size failed; back to the confirmed size.
    ProbeFailed,
    /// Full-size packets were black-holed; back to the floor.
    BlackHole,
    /// Probing failed even at the current PLPMTU; back to the floor.
    Fallback,
    /// Discovery was disabled; the fixed size applies.
    Disabled,
}

/// One change of the PLPMTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MtuChange {
    /// When it changed (caller's clock, ms).
    pub at_ms: u64,
    /// PLPMTU before.
    pub old: u32,
    /// PLPMTU after.
    pub new: u32,
    /// Why.
    pub reason: ChangeReason,
}

/// What the caller may want to tell the transport's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    /// The PLPMTU changed.
    MtuChanged(MtuChange),
    /// A search ended with this PLPMTU.
    SearchComplete {
        /// The PLPMTU found.
        mtu: u32,
    },
    /// Probing failed at the current PLPMTU: the floor is used and the next
    /// search is delayed by `next_search_in_ms`.
    Fallback {
        /// The PLPMTU now in use (the floor).
        mtu: u32,
        /// Time until the next search.
        next_search_in_ms: u64,
    },
    /// A black hole at `lost_mtu` was confirmed; the search restarts from the floor.
    BlackHole {
        /// The PLPMTU that stopped working.
        lost_mtu: u32,
    },
}

impl Default for Notification {
    fn default() -> Self {
        Notification::SearchComplete { mtu: 0 }
    }
}

/// How a Packet-Too-Big hint was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtbVerdict {
    /// Accepted: the reported size will be probed to confirm it.
    Accepted,
    /// The quoted packet is not a probe being resolved now.
    Unmatched,
    /// The reported MTU is not smaller than the quoted probe.
    NotSmaller,
    /// The reported MTU is below the floor.
    BelowFloor,
    /// Discovery is not running.
    NotProbing,
}

/// Why [`Prober::probe_sent`] refused a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ProbeError {
    /// No probe is due (see [`Prober::next_probe`]).
    #[error("no probe is due")]
    NotDue,
    /// A probe is already in flight; only one at a time.
    #[error("probe {id} is still in flight")]
    InFlight {
        /// The id of the probe in flight.
        id: u64,
    },
    /// The probe does not have the size the prober asked for.
    #[error("probe size must be {expected}, got {got}")]
    WrongSize {
        /// The size asked for.
        expected: u32,
        /// The size given.
        got: u32,
    },
}

/// Counters since creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Probes sent.
    pub probes_sent: u64,
    /// Probes acknowledged.
    pub probes_acked: u64,
    /// Probes lost by timeout.
    pub probes_lost_timeout: u64,
    /// Probes lost by duplicate acknowledgements.
    pub probes_lost_dup_ack: u64,
    /// Acks and losses naming no probe in flight.
    pub stale_events: u64,
    /// Packet-Too-Big hints accepted.
    pub ptb_accepted: u64,
    /// Packet-Too-Big hints ignored, for any reason (the sum of the four below).
    pub ptb_ignored: u64,
    /// ... because the quoted packet was not a probe being resolved.
    pub ptb_unmatched: u64,
    /// ... because the reported MTU was not smaller than the quoted probe.
    pub ptb_not_smaller: u64,
    /// ... because the reported MTU was below the floor.
    pub ptb_below_floor: u64,
    /// ... because no search was running.
    pub ptb_not_probing: u64,
    /// Local EMSGSIZE reports that lowered the search limit.
    pub emsgsize_limits: u64,
    /// Checks that probing works at all, after repeated failed sizes.
    pub probing_checks: u64,
    /// Black-hole suspicions that a probe checked.
    pub black_hole_checks: u64,
    /// Black holes confirmed.
    pub black_holes: u64,
    /// Fallbacks to the floor.
    pub fallbacks: u64,
    /// Searches completed.
    pub searches_completed: u64,
    /// Notifications dropped because nobody polled them.
    pub notifications_dropped: u64,
}

/// Why the current probe is being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A size inside the search range.
    Search,
    /// After repeated failures: does probing work at all? (rule 5)
    CheckProbing,
    /// After loss bursts: is the PLPMTU black-holed? Resume `resume` if not.
    CheckBlackHole { resume: State },
}

/// A probe sent recently: what a PTB must quote to be believed.
#[derive(Debug, Clone, Copy, Default)]
struct ProbeRecord {
    id: u64,
    size: u32,
    /// Fingerprint of its first bytes, when the caller gave them.
    quote: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u64,
    deadline_ms: u64,
    sent_at_ms: u64,
}

/// The PLPMTUD state machine for one path.
#[derive(Debug, Clone)]
pub struct Prober {
    config: Config,
    floor: u32,
    state: State,
    connected: bool,
    plpmtu: u32,
    /// Largest size confirmed in this search.
    confirmed: u32,
    /// Largest size not known to be too big in this search.
    limit: u32,
    /// Nothing has failed yet in this search.
    untouched: bool,
    purpose: Purpose,
    /// The size being probed now (kept across retransmissions).
    target: Option<u32>,
    /// A size a validated PTB asked to confirm next.
    forced: Option<u32>,
    in_flight: Option<InFlight>,
    losses_at_size: u32,
    failed_sizes: u32,
    next_search_at_ms: Option<u64>,
    interval_ms: u64,
    rtt: RttEstimator,
    black_hole: BlackHoleDetector,
    recent_probes: Ring<ProbeRecord, RECENT_PROBES>,
    stats: Stats,
    history: Ring<MtuChange, HISTORY_LEN>,
    notifications: Ring<Notification, NOTIFICATION_LEN>,
}

impl Prober {
    /// A prober for one path; idle (`Disabled`) until [`Prober::connected`].
    pub fn new(config: Config) -> Result<Prober, ConfigError> {
        config.validate()?;
        let floor = config.effective_floor();
        let plpmtu = if config.enabled {
            floor
        } else {
            config.effective_disabled_mtu()
        };
        let mut history = Ring::default();
        history.push(MtuChange {
            at_ms: 0,
            old: 0,
            new: plpmtu,
            reason: ChangeReason::Initial,
        });
        Ok(Prober {
            config,
            floor,
            state: State::Disabled,
            connected: false,
            plpmtu,
            confirmed: floor,
            limit: config.ceiling,
            untouched: true,
            purpose: Purpose::Search,
            target: None,
            forced: None,
            in_flight: None,
            losses_at_size: 0,
            failed_sizes: 0,
            next_search_at_ms: None,
            interval_ms: config.probe_interval_ms,
            rtt: RttEstimator::default(),
            black_hole: BlackHoleDetector::default(),
            recent_probes: Ring::default(),
            stats: Stats::default(),
            history,
            notifications: Ring::default(),
        })
    }

    /// The connection is up: discovery starts (MTU-001). Repeated calls are ignored.
    pub fn connected(&mut self, now_ms: u64) {
        if self.connected {
            return;
        }
        self.connected = true;
        if self.config.enabled {
            self.start_search(now_ms, self.config.ceiling);
        }
    }

    /// Like [`Prober::connected`], for a destination whose path MTU is
    /// already known (a node-wide cache): the first and, if it is
    /// acknowledged, only probe is `hint`. If `hint` fails, the search goes
    /// on below it; a hint outside the floor..=ceiling range is ignored.
    pub fn connected_with_hint(&mut self, now_ms: u64, hint: u32) {
        if self.connected {
            return;
        }
        self.connected(now_ms);
        if self.state == State::Searching && hint > self.floor && hint <= self.config.ceiling {
            self.limit = hint;
            self.untouched = false;
            self.forced = Some(hint);
            self.target = Some(hint);
        }
    }

    /// The size to probe next, if a probe is due now. Send exactly this many IP
    /// bytes with DF set, then call [`Prober::probe_sent`].
    pub fn next_probe(&self) -> Option<u32> {
        match self.in_flight {
            Some(_) => None,
            None => self.target,
        }
    }

    /// A probe of `size` bytes named `id` was sent at `now_ms`. A PTB for it
    /// is believed when it names `id`: make ids unguessable (plpmtud's own
    /// probes use random 64-bit nonces), or use [`Prober::probe_sent_quoted`].
    pub fn probe_sent(&mut self, now_ms: u64, id: u64, size: u32) -> Result<(), ProbeError> {
        self.record_probe(now_ms, id, size, None)
    }

    /// Like [`Prober::probe_sent`] for a probe whose UDP payload starts with
    /// `payload`: a PTB for it is believed only if it quotes the same first
    /// [`crate::quote::QUOTE_LEN`] bytes ([`Prober::ptb_quoted`]), so a
    /// guessable id (a 16-bit sequence number) is not enough to forge one.
    pub fn probe_sent_quoted(
        &mut self,
        now_ms: u64,
        id: u64,
        size: u32,
        payload: &[u8],
    ) -> Result<(), ProbeError> {
        self.record_probe(now_ms, id, size, Some(fingerprint(payload)))
    }

    fn record_probe(
        &mut self,
        now_ms: u64,
        id: u64,
        size: u32,
        quote: Option<u64>,
    ) -> Result<(), ProbeError> {
        if let Some(in_flight) = self.in_flight {
            return Err(ProbeError::InFlight { id: in_flight.id });
        }
        let expected = self.target.ok_or(ProbeError::NotDue)?;
        if size != expected {
            return Err(ProbeError::WrongSize {
                expected,
                got: size,
            });
        }
        self.in_flight = Some(InFlight {
            id,
            sent_at_ms: now_ms,
            deadline_ms: now_ms.saturating_add(self.probe_timeout_ms()),
        });
        self.recent_probes.push(ProbeRecord { id, size, quote });
        self.stats.probes_sent += 1;
        Ok(())
    }

    /// The probe `id` was acknowledged. Returns false (and counts it) when `id`
    /// is not the probe in flight.
    pub fn probe_acked(&mut self, now_ms: u64, id: u64) -> bool {
        let Some(in_flight) = self.take_in_flight(id) else {
            return false;
        };
        let Some(size) = self.target.take() else {
            return false;
        };
        self.stats.probes_acked += 1;
        self.rtt.sample(now_ms.saturating_sub(in_flight.sent_at_ms));
        self.losses_at_size = 0;
        self.failed_sizes = 0;
        match self.purpose {
            Purpose::Search => {
                self.forced = None;
                self.confirmed = self.confirmed.max(size);
                self.limit = self.limit.max(self.confirmed);
                if self.confirmed > self.plpmtu {
                    self.set_plpmtu(now_ms, self.confirmed, ChangeReason::ProbeAcked);
                }
                self.advance(now_ms);
            }
            Purpose::CheckProbing => {
                self.purpose = Purpose::Search;
                self.state = State::Searching;
                self.advance(now_ms);
            }
            Purpose::CheckBlackHole { resume } => self.resume_after_check(now_ms, resume),
        }
        true
    }

    /// The probe `id` was lost. Returns false (and counts it) when `id` is not
    /// the probe in flight. Probe losses are not congestion: see [`Prober::is_probe`].
    pub fn probe_lost(&mut self, now_ms: u64, id: u64, reason: LossReason) -> bool {
        if self.take_in_flight(id).is_none() {
            return false;
        }
        match reason {
            LossReason::Timeout => self.stats.probes_lost_timeout += 1,
            LossReason::DupAck => self.stats.probes_lost_dup_ack += 1,
        }
        self.losses_at_size += 1;
        if self.losses_at_size >= self.config.effective_max_probes() {
            self.size_failed(now_ms);
        }
        true
    }

    /// True if `id` names the probe in flight or one of the last few probes:
    /// the transport should keep such losses out of its congestion control.
    pub fn is_probe(&self, id: u64) -> bool {
        self.recent_probes.iter().any(|probe| probe.id == id)
    }

    /// A data packet of `size` IP bytes was acknowledged.
    pub fn packet_acked(&mut self, now_ms: u64, size: u32) {
        if size < self.plpmtu {
            return;
        }
        self.black_hole.reset();
        self.failed_sizes = 0;
        if let (State::Base, Purpose::CheckBlackHole { resume }) = (self.state, self.purpose) {
            self.abandon_probe();
            self.resume_after_check(now_ms, resume);
        }
    }

    /// A data packet of `size` IP bytes was lost (black-hole detection input).
    pub fn packet_lost(&mut self, now_ms: u64, size: u32) {
        // Error is watched too: the aiutp fallback keeps a size above the floor.
        let watching = matches!(
            self.state,
            State::Searching | State::SearchComplete | State::Error
        );
        if !watching || size < self.plpmtu || self.plpmtu <= self.floor {
            return;
        }
        let window = self.probe_timeout_ms();
        if !self
            .black_hole
            .on_full_size_lost(now_ms, window, self.config.black_hole_threshold)
        {
            return;
        }
        self.stats.black_hole_checks += 1;
        self.black_hole.reset();
        self.abandon_probe();
        let resume = self.state;
        self.begin_check(Purpose::CheckBlackHole { resume });
    }

    /// An RTT sample measured by the transport, in milliseconds.
    pub fn rtt_sample(&mut self, rtt_ms: u64) {
        self.rtt.sample(rtt_ms);
    }

    /// An ICMP Packet-Too-Big (or Fragmentation Needed) hint reporting
    /// `reported_mtu`; `quoted_probe` is the id of the probe the quoted packet
    /// matched (by nonce or sequence number), `None` if it matched none.
    /// A probe sent with [`Prober::probe_sent_quoted`] is never matched this
    /// way: its PTBs must go through [`Prober::ptb_quoted`].
    pub fn ptb(&mut self, now_ms: u64, reported_mtu: u32, quoted_probe: Option<u64>) -> PtbVerdict {
        self.handle_ptb(now_ms, reported_mtu, quoted_probe.map(|id| (id, None)))
    }

    /// A Packet-Too-Big hint for probe `id` whose quoted copy of the UDP
    /// payload is `quoted`: accepted only if the quoted bytes are the ones
    /// the probe was sent with ([`Prober::probe_sent_quoted`]).
    pub fn ptb_quoted(
        &mut self,
        now_ms: u64,
        reported_mtu: u32,
        id: u64,
        quoted: &[u8],
    ) -> PtbVerdict {
        self.handle_ptb(now_ms, reported_mtu, Some((id, Some(fingerprint(quoted)))))
    }

    fn handle_ptb(
        &mut self,
        now_ms: u64,
        reported_mtu: u32,
        quoted: Option<(u64, Option<u64>)>,
    ) -> PtbVerdict {
        let verdict = self.judge_ptb(reported_mtu, quoted);
        if verdict != PtbVerdict::Accepted {
            self.stats.ptb_ignored += 1;
            match verdict {
                PtbVerdict::Unmatched => self.stats.ptb_unmatched += 1,
                PtbVerdict::NotSmaller => self.stats.ptb_not_smaller += 1,
                PtbVerdict::BelowFloor => self.stats.ptb_below_floor += 1,
                PtbVerdict::NotProbing | PtbVerdict::Accepted => self.stats.ptb_not_probing += 1,
            }
            return verdict;
        }
        self.stats.ptb_accepted += 1;
        self.limit_size(now_ms, reported_mtu);
        PtbVerdict::Accepted
    }

    /// The local stack refused to send a packet because it knows the path
    /// MTU is `mtu` (EMSGSIZE). It never crossed the network, so it needs no
    /// matching; the size is still confirmed by a probe before it is trusted.
    pub fn emsgsize(&mut self, now_ms: u64, mtu: u32) -> PtbVerdict {
        let reference = match self.state {
            State::Searching => self.limit.max(self.plpmtu),
            State::Base | State::SearchComplete => self.plpmtu,
            State::Disabled | State::Error => return PtbVerdict::NotProbing,
        };
        if mtu < self.floor {
            return PtbVerdict::BelowFloor;
        }
        if mtu >= reference {
            return PtbVerdict::NotSmaller;
        }
        self.stats.emsgsize_limits += 1;
        self.limit_size(now_ms, mtu);
        PtbVerdict::Accepted
    }

    /// Makes data packet `id` of `size` IP bytes the probe if a probe of
    /// exactly that size is due; true if it became the probe (aiutp's `on_send`).
    pub fn claim_probe(&mut self, now_ms: u64, id: u64, size: u32) -> bool {
        self.next_probe() == Some(size) && self.probe_sent(now_ms, id, size).is_ok()
    }

    /// [`Prober::claim_probe`] for a packet whose UDP payload starts with
    /// `payload`, so that its PTBs are checked against it ([`Prober::ptb_quoted`]).
    pub fn claim_probe_quoted(&mut self, now_ms: u64, id: u64, size: u32, payload: &[u8]) -> bool {
        self.next_probe() == Some(size) && self.probe_sent_quoted(now_ms, id, size, payload).is_ok()
    }

    /// Handles timers due at `now_ms`: probe timeouts and the next search.
    pub fn tick(&mut self, now_ms: u64) {
        if let Some(in_flight) = self.in_flight {
            if now_ms >= in_flight.deadline_ms {
                self.probe_lost(now_ms, in_flight.id, LossReason::Timeout);
            }
        }
        if let Some(at) = self.next_search_at_ms {
            if now_ms >= at && matches!(self.state, State::SearchComplete | State::Error) {
                self.start_search(now_ms, self.config.ceiling);
            }
        }
    }

    /// When [`Prober::tick`] must next be called, if ever.
    pub fn deadline(&self) -> Option<u64> {
        match self.in_flight {
            Some(in_flight) => Some(in_flight.deadline_ms),
            None => match self.state {
                State::SearchComplete | State::Error => self.next_search_at_ms,
                _ => None,
            },
        }
    }

    /// Starts a search now instead of at the next interval. False if discovery
    /// is disabled, not connected or already searching.
    pub fn probe_now(&mut self, now_ms: u64) -> bool {
        if !self.config.enabled || !self.connected {
            return false;
        }
        if !matches!(self.state, State::SearchComplete | State::Error) {
            return false;
        }
        self.start_search(now_ms, self.config.ceiling);
        true
    }

    /// Turns discovery on or off at run time. Off: the fixed `disabled_mtu`
    /// applies and no probes are due. On: a fresh search from the floor.
    pub fn set_enabled(&mut self, now_ms: u64, enabled: bool) {
        if enabled == self.config.enabled {
            return;
        }
        self.config.enabled = enabled;
        self.abandon_probe();
        self.purpose = Purpose::Search;
        self.forced = None;
        self.next_search_at_ms = None;
        self.state = State::Disabled;
        if enabled {
            self.set_plpmtu(now_ms, self.floor, ChangeReason::Initial);
            if self.connected {
                self.start_search(now_ms, self.config.ceiling);
            }
        } else {
            let mtu = self.config.effective_disabled_mtu();
            self.set_plpmtu(now_ms, mtu, ChangeReason::Disabled);
        }
    }

    /// Takes the oldest notification not yet seen.
    pub fn poll_notification(&mut self) -> Option<Notification> {
        self.notifications.pop()
    }

    /// The current packetization-layer path MTU, in IP bytes.
    pub fn plpmtu(&self) -> u32 {
        self.plpmtu
    }

    /// Bytes of every packet that are not payload: IP header plus `packet_overhead`.
    pub fn overhead_bytes(&self) -> u32 {
        self.config.family.ip_header_bytes() + self.config.packet_overhead
    }

    /// Payload bytes one datagram may carry at the current PLPMTU, after the IP
    /// header and the configured per-packet overhead.
    pub fn payload_size(&self) -> u32 {
        payload_for_mtu(self.plpmtu, self.config.family, self.config.packet_overhead)
    }

    /// The id of the probe in flight, if any.
    pub fn probe_in_flight(&self) -> Option<u64> {
        self.in_flight.map(|p| p.id)
    }

    /// The current phase.
    pub fn state(&self) -> State {
        self.state
    }

    /// The search range: (largest confirmed size, largest size not known too big).
    pub fn search_range(&self) -> (u32, u32) {
        (self.confirmed, self.limit)
    }

    /// The probe timeout in force now.
    pub fn probe_timeout_ms(&self) -> u64 {
        let c = &self.config;
        match c.probe_timeout_mode {
            ProbeTimeoutMode::Fixed => c.probe_timeout_ms,
            ProbeTimeoutMode::Rtt => self
                .rtt
                .rto_ms(c.min_probe_timeout_ms, c.max_probe_timeout_ms)
                .unwrap_or(c.probe_timeout_ms),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The latest PLPMTU changes, oldest first.
    pub fn history(&self) -> impl DoubleEndedIterator<Item = &MtuChange> + '_ {
        self.history.iter()
    }

    /// The configuration in force (`enabled` reflects [`Prober::set_enabled`]).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Checks the state machine's invariants; `Err` names the one broken.
    /// For tests and fuzzing: it never fails on any event sequence.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        let c = &self.config;
        if self.plpmtu < self.floor || self.plpmtu > c.ceiling {
            return Err("plpmtu outside floor..=ceiling");
        }
        if (self.state == State::Disabled) != (!c.enabled || !self.connected) {
            return Err("disabled exactly when not enabled or not connected");
        }
        if !c.enabled && self.plpmtu != c.effective_disabled_mtu() {
            return Err("disabled_mtu in use while disabled");
        }
        if self.in_flight.is_some() && self.target.is_none() {
            return Err("a probe in flight without a size");
        }
        match self.state {
            State::Searching | State::Base
                if self.next_probe().is_none() && self.deadline().is_none() =>
            {
                Err("searching with neither a probe due nor a deadline")
            }
            State::SearchComplete | State::Error if self.deadline().is_none() => {
                Err("settled without a next search")
            }
            State::Searching if self.confirmed > self.limit => Err("confirmed above limit"),
            State::Searching | State::Base => match self.target {
                Some(size) if size < self.floor || size > c.ceiling => {
                    Err("probe size out of range")
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn take_in_flight(&mut self, id: u64) -> Option<InFlight> {
        match self.in_flight {
            Some(in_flight) if in_flight.id == id => self.in_flight.take(),
            _ => {
                self.stats.stale_events += 1;
                None
            }
        }
    }

    fn abandon_probe(&mut self) {
        self.in_flight = None;
        self.target = None;
        self.losses_at_size = 0;
    }

    /// A new search from the current PLPMTU up to `limit`.
    fn start_search(&mut self, now_ms: u64, limit: u32) {
        self.state = State::Searching;
        self.purpose = Purpose::Search;
        self.confirmed = self.plpmtu;
        self.limit = limit.max(self.plpmtu);
        self.untouched = true;
        self.forced = None;
        self.failed_sizes = 0;
        self.losses_at_size = 0;
        self.next_search_at_ms = None;
        self.black_hole.reset();
        self.advance(now_ms);
    }

    /// Chooses the next search size, or completes the search.
    fn advance(&mut self, now_ms: u64) {
        let c = &self.config;
        let next = self.forced.or_else(|| {
            next_probe_size(
                c.strategy,
                self.confirmed,
                self.limit,
                c.search_threshold,
                self.untouched,
            )
        });
        match next {
            Some(size) => self.target = Some(size),
            None => self.complete_search(now_ms),
        }
    }

    fn complete_search(&mut self, now_ms: u64) {
        self.target = None;
        self.state = State::SearchComplete;
        self.interval_ms = self.config.probe_interval_ms;
        self.next_search_at_ms = Some(now_ms.saturating_add(self.interval_ms));
        self.stats.searches_completed += 1;
        self.notify(Notification::SearchComplete { mtu: self.plpmtu });
    }

    fn begin_check(&mut self, purpose: Purpose) {
        self.state = State::Base;
        self.purpose = purpose;
        self.losses_at_size = 0;
        self.target = Some(self.plpmtu);
    }

    fn resume_after_check(&mut self, now_ms: u64, resume: State) {
        self.purpose = Purpose::Search;
        self.state = resume;
        if resume == State::Searching {
            self.advance(now_ms);
        }
    }

    /// `max_probes` transmissions of the target size were lost.
    fn size_failed(&mut self, now_ms: u64) {
        let Some(size) = self.target.take() else {
            return;
        };
        self.losses_at_size = 0;
        match self.purpose {
            Purpose::Search => {
                self.forced = None;
                self.limit = size.saturating_sub(1).max(self.confirmed);
                self.untouched = false;
                self.failed_sizes += 1;
                if self.plpmtu > self.confirmed {
                    self.set_plpmtu(now_ms, self.confirmed, ChangeReason::ProbeFailed);
                }
                let tripped = self.failed_sizes >= self.config.failure_threshold;
                if tripped && self.config.aiutp_compat {
                    self.fall_back(now_ms, self.confirmed);
                    return;
                }
                self.advance(now_ms);
                if tripped && self.state == State::Searching {
                    self.stats.probing_checks += 1;
                    self.begin_check(Purpose::CheckProbing);
                }
            }
            Purpose::CheckProbing => self.fall_back(now_ms, self.floor),
            Purpose::CheckBlackHole { .. } => {
                let lost_mtu = self.plpmtu;
                self.stats.black_holes += 1;
                self.notify(Notification::BlackHole { lost_mtu });
                self.set_plpmtu(now_ms, self.floor, ChangeReason::BlackHole);
                self.start_search(now_ms, lost_mtu.saturating_sub(1));
            }
        }
    }

    /// Gives up probing until the (doubled) interval passes; `mtu` stays in use.
    fn fall_back(&mut self, now_ms: u64, mtu: u32) {
        self.purpose = Purpose::Search;
        self.target = None;
        self.forced = None;
        self.failed_sizes = 0;
        self.state = State::Error;
        self.stats.fallbacks += 1;
        self.set_plpmtu(now_ms, mtu, ChangeReason::Fallback);
        self.interval_ms = self
            .interval_ms
            .saturating_mul(2)
            .min(self.config.max_probe_interval_ms);
        self.next_search_at_ms = Some(now_ms.saturating_add(self.interval_ms));
        self.notify(Notification::Fallback {
            mtu,
            next_search_in_ms: self.interval_ms,
        });
    }

    /// Sizes above `mtu` are known not to pass: search at most `mtu`, and
    /// probe `mtu` itself next (lowering the PLPMTU to it meanwhile if needed).
    fn limit_size(&mut self, now_ms: u64, mtu: u32) {
        self.abandon_probe();
        self.purpose = Purpose::Search;
        self.state = State::Searching;
        self.next_search_at_ms = None;
        if mtu < self.plpmtu {
            self.confirmed = self.floor;
            self.set_plpmtu(now_ms, mtu, ChangeReason::Ptb);
        }
        self.limit = mtu;
        self.untouched = false;
        self.forced = (mtu > self.confirmed).then_some(mtu);
        self.advance(now_ms);
    }

    /// `quoted`: the probe id the PTB names and, if the caller had the quoted
    /// bytes, their fingerprint.
    fn judge_ptb(&self, reported_mtu: u32, quoted: Option<(u64, Option<u64>)>) -> PtbVerdict {
        if !matches!(self.state, State::Searching | State::Base) {
            return PtbVerdict::NotProbing;
        }
        let Some(target) = self.target else {
            return PtbVerdict::NotProbing;
        };
        let quoted_size = quoted.and_then(|(id, quoted_print)| {
            self.recent_probes
                .iter()
                .find(|probe| {
                    probe.id == id
                        && probe.size == target
                        && probe.quote.map_or(true, |sent| quoted_print == Some(sent))
                })
                .map(|probe| probe.size)
        });
        match quoted_size {
            None => PtbVerdict::Unmatched,
            Some(size) if reported_mtu >= size => PtbVerdict::NotSmaller,
            Some(_) if reported_mtu < self.floor => PtbVerdict::BelowFloor,
            Some(_) => PtbVerdict::Accepted,
        }
    }

    fn set_plpmtu(&mut self, now_ms: u64, new: u32, reason: ChangeReason) {
        let old = self.plpmtu;
        if old == new {
            return;
        }
        self.plpmtu = new;
        self.black_hole.reset();
        let change = MtuChange {
            at_ms: now_ms,
            old,
            new,
            reason,
        };
        self.history.push(change);
        self.notify(Notification::MtuChanged(change));
    }

    fn notify(&mut self, notification: Notification) {
        if self.notifications.push(notification).is_some() {
            self.stats.notifications_dropped += 1;
        }
    }
}
