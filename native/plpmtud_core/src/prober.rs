//! The PLPMTUD state machine for one path (RFC 8899 §5.2), sans-IO.
//!
//! Events go in with the caller's monotonic time in milliseconds; every
//! event method answers with the [`Events`] it produced (a probe due, a probe
//! acknowledged or lost, the PLPMTU changed, ...), so the caller acts on the
//! answer and never compares snapshots. Queries ([`Prober::sizes`],
//! [`Prober::deadline`], [`Prober::snapshot`]) read the state without
//! changing it.
//!
//! Every size the API takes or returns is in the prober's unit
//! (`size_unit`: payload bytes by default, or IP bytes); MTUs reported by
//! the network or the kernel are IP bytes. Inside, sizes are IP bytes: the
//! prober knows the family and the per-packet overhead, and its public
//! methods are the one place where the two units are converted. A search
//! round probes `probe_sizes` distinct sizes at once (a k-ary split of the
//! search range; one by default), each as `probe_copies` transmissions in
//! flight together; the caller names each transmission with an id of its
//! choosing (aiutp: the packet's sequence number). An acknowledgement of a
//! size confirms it at once (the smaller sizes of the round become moot), a
//! size that fails lowers the limit below it (the larger ones become moot),
//! and the next round is planned when every size of the round is resolved
//! or moot.
//!
//! The phase is data: each `Phase` variant carries exactly the fields that
//! exist in it (the search range while searching, what to resume after a
//! black-hole check, when the next search starts once settled), so states
//! that must never exist cannot be built.

use crate::black_hole::BlackHoleDetector;
use crate::config::{Config, ConfigError, ProbeTimeoutMode};
pub use crate::events::{ChangeReason, Event, Events, HintSource, LossReason, PtbVerdict};
use crate::quote::fingerprint;
use crate::ring::Ring;
use crate::rtt::RttEstimator;
use crate::search::{next_probe_size, round_sizes, MAX_SIZES};
use crate::units::{mtu_for_payload, payload_for_mtu, IpFamily, SizeUnit, MAX_MTU};
use arrayvec::ArrayVec;
use std::num::NonZeroU64;

/// Entries kept in the MTU change history.
pub const HISTORY_LEN: usize = 6;
/// Most probe transmissions in flight together: every copy of every size
/// of a round (`probe_sizes` x `probe_copies`).
pub const MAX_IN_FLIGHT: usize = MAX_SIZES * MAX_COPIES;
/// Probes remembered for loss reports ([`Prober::lost`]'s probe ids) and
/// PTB matching after they were resolved: every transmission of the last
/// two full rounds of 4 sizes of 4 copies (a copy's loss may be reported
/// after the next round's copies left; with one size of three copies, the
/// last ten sizes). A copy still in flight is a probe's even if its record
/// left the ring (more than 4 tries of a size with `max_probes` above 4).
pub const RECENT_PROBES: usize = MAX_IN_FLIGHT * 2;

/// The prober's phase, with RFC 8899's names (a summary of [`Prober`]'s
/// internal phase for callers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// Not probing: not yet connected, or discovery is disabled.
    #[default]
    Disabled,
    /// Checking with a probe that the path still carries the current PLPMTU
    /// (after a black-hole suspicion: the size in use before, while the
    /// floor is used).
    Base,
    /// Bisecting between the confirmed size and the limit.
    Searching,
    /// The search ended; the next one starts after the probe interval.
    SearchComplete,
    /// Probing failed even at the current PLPMTU; the floor is in use until the next search.
    Error,
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

/// What a Packet-Too-Big quotes, as the prober matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoted {
    /// A probe's id: matches a probe sent without its bytes.
    Id(u64),
    /// The fingerprint of the quoted bytes: matches a probe sent with them.
    Print(NonZeroU64),
}

/// Counters since creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Probes sent.
    pub probes_sent: u32,
    /// Probes acknowledged.
    pub probes_acked: u32,
    /// Probes lost by timeout.
    pub probes_lost_timeout: u32,
    /// Probes lost by duplicate acknowledgements.
    pub probes_lost_dup_ack: u32,
    /// Probes whose id was sent again in another form before they were
    /// resolved, so that no acknowledgement could confirm them.
    pub probes_lost_resent: u32,
    /// Acks and losses of a recent probe's id that is no longer in flight
    /// (reported late, or twice).
    pub stale_events: u32,
    /// Packet-Too-Big hints accepted.
    pub ptb_accepted: u32,
    /// Packet-Too-Big hints ignored, for any reason (the sum of the four below).
    pub ptb_ignored: u32,
    /// ... because the quoted packet was not a probe being resolved.
    pub ptb_unmatched: u32,
    /// ... because the reported MTU was not smaller than the quoted probe.
    pub ptb_not_smaller: u32,
    /// ... because the reported MTU was below the floor.
    pub ptb_below_floor: u32,
    /// ... because no search was running.
    pub ptb_not_probing: u32,
    /// Local EMSGSIZE reports that lowered the search limit.
    pub emsgsize_limits: u32,
    /// Checks that probing works at all, after repeated failed sizes.
    pub probing_checks: u32,
    /// Black-hole suspicions that a probe checked.
    pub black_hole_checks: u32,
    /// Black holes confirmed.
    pub black_holes: u32,
    /// Fallbacks to the floor.
    pub fallbacks: u32,
    /// Searches completed.
    pub searches_completed: u32,
    /// Search rounds planned (each one to `probe_sizes` sizes probed at once).
    pub rounds: u32,
}

/// The sizes a transport needs on every packet, in the prober's unit
/// (`size_unit`): a `Copy` value, cheap to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// The PLPMTU: the largest packet to send now.
    pub packet: u32,
    /// The probe due now, if any: send exactly this size (with DF set) and
    /// report it with [`Prober::sent`], which claims it as the probe.
    pub probe: Option<u32>,
    /// The floor (RFC 8899's BASE_PLPMTU): the size every path is taken to
    /// carry, whatever the PLPMTU.
    pub base: u32,
}

/// What an ICMP Packet-Too-Big tells of the packet it quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote<'a> {
    /// Nothing usable: the hint cannot be matched to a probe.
    None,
    /// The id of the probe the quoted packet names (a nonce or sequence
    /// number the caller parsed). Matches a probe sent without quoted bytes
    /// only: make such ids unguessable.
    Id(u64),
    /// The quoted copy of the UDP payload, as the ICMP error carries it:
    /// believed only if its first [`crate::quote::QUOTE_LEN`] bytes are
    /// those of a probe being resolved that was [`Prober::sent`] with its
    /// bytes. No id is needed, so the caller never parses the payload.
    Bytes(&'a [u8]),
}

/// The ids of a loss batch that were probes (keep their losses out of
/// congestion control): each once, in the order of the batch, held inline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeIds {
    ids: ArrayVec<u64, RECENT_PROBES>,
}

impl ProbeIds {
    /// Adds `id` unless it is there already. Only recent probes' ids are
    /// added, and at most [`RECENT_PROBES`] of them are distinct.
    fn note(&mut self, id: u64) {
        if !self.ids.contains(&id) {
            let _ = self.ids.try_push(id);
        }
    }

    /// The ids, in the order of the batch.
    pub fn as_slice(&self) -> &[u64] {
        &self.ids
    }

    /// True if `id` was a probe's.
    pub fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    /// True when no loss of the batch was a probe's.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Everything about a prober at one instant, copied out in one call: the
/// state, sizes in the prober's unit and in IP bytes, the search, the
/// probes in flight, the counters, the latest changes and the invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The phase.
    pub state: State,
    /// Discovery is on ([`Prober::set_enabled`]).
    pub enabled: bool,
    /// The unit of `sizes`, `search_range` and `history`.
    pub unit: SizeUnit,
    /// The IP family of the path.
    pub family: IpFamily,
    /// Bytes of every packet that are not payload: the IP header plus
    /// `packet_overhead`.
    pub overhead: u32,
    /// The sizes, in the prober's unit.
    pub sizes: Sizes,
    /// The same sizes in IP bytes.
    pub ip_sizes: Sizes,
    /// The (largest) size being probed, in the unit: due, or in flight
    /// (`None` when no search or check is running). See
    /// [`Snapshot::round`] for every size of the round.
    pub probing: Option<u32>,
    /// The largest size ever probed (`mtu_ceiling`, IP bytes).
    pub ceiling_ip: u32,
    /// (largest confirmed size, largest size not known too big) while a
    /// search runs or waits for a check, else (PLPMTU, PLPMTU); in the unit.
    pub search_range: (u32, u32),
    /// When [`Prober::tick`] must next be called, if ever.
    pub deadline: Option<u64>,
    /// The probe timeout in force now (ms).
    pub probe_timeout_ms: u64,
    /// Counters since creation.
    pub stats: Stats,
    /// `Err` names an invariant the prober breaks (a test and fuzz oracle:
    /// it is `Ok` after any sequence of calls).
    pub invariants: Result<(), &'static str>,
    in_flight: ArrayVec<u64, MAX_IN_FLIGHT>,
    round: ArrayVec<u32, MAX_SIZES>,
    due: ArrayVec<u32, MAX_SIZES>,
    history: ArrayVec<MtuChange, HISTORY_LEN>,
}

impl Snapshot {
    /// The ids of the probes in flight: by size, largest first, then by
    /// slot (a freed slot is reused, so not in the order sent).
    pub fn in_flight(&self) -> &[u64] {
        &self.in_flight
    }

    /// The sizes of the round being probed, largest first, in the unit
    /// (unresolved ones only: an acknowledged, failed or moot size leaves
    /// the round). Empty when no search or check is running.
    pub fn round(&self) -> &[u32] {
        &self.round
    }

    /// The sizes of the round due now (fewer transmissions in flight than
    /// wanted), largest first, in the unit: [`Sizes::probe`] is the first.
    pub fn due(&self) -> &[u32] {
        &self.due
    }

    /// The latest PLPMTU changes, oldest first, sizes in the prober's unit.
    pub fn history(&self) -> &[MtuChange] {
        &self.history
    }
}

/// The bounds of a search: what is known so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    /// Largest size confirmed in this search.
    confirmed: u32,
    /// Largest size not known to be too big.
    limit: u32,
    /// Nothing has failed yet in this search.
    untouched: bool,
    /// Sizes failed in a row (rule 5: then check that probing works at all);
    /// a round counts once, however many of its sizes failed.
    failed_sizes: u32,
}

/// One transmission of a probe in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    id: u64,
    sent_at_ms: u64,
    /// Lost when this many ms passed since `sent_at_ms` (at most
    /// [`crate::config::MAX_TIME_MS`]).
    timeout_ms: u32,
    /// The transport sent this id again in another form (a resend of the
    /// probe's data): an acknowledgement of the id cannot confirm the probe.
    resent: bool,
}

impl InFlight {
    fn deadline_ms(&self) -> u64 {
        self.sent_at_ms.saturating_add(u64::from(self.timeout_ms))
    }
}

/// Most transmissions of one size in flight together (`probe_copies`).
pub const MAX_COPIES: usize = 4;
const _: () = assert!(MAX_COPIES == 4, "probe_copies is 1..=4 in the config table");

/// One size being probed, across its transmissions (several may be in
/// flight together, each a probe with its own id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attempt {
    size: u32,
    copies: [Option<InFlight>; MAX_COPIES],
    losses: u32,
}

impl Attempt {
    fn of(size: u32) -> Attempt {
        Attempt {
            size,
            copies: [None; MAX_COPIES],
            losses: 0,
        }
    }

    /// The transmissions in flight.
    fn in_flight(&self) -> impl Iterator<Item = &InFlight> + '_ {
        self.copies.iter().flatten()
    }

    /// The transmission in flight named `id`.
    fn copy(&self, id: u64) -> Option<InFlight> {
        self.in_flight().find(|f| f.id == id).copied()
    }

    /// Takes the transmission named `id` out of flight.
    fn take(&mut self, id: u64) -> Option<InFlight> {
        self.copies
            .iter_mut()
            .find(|slot| slot.is_some_and(|f| f.id == id))
            .and_then(Option::take)
    }
}

/// The sizes probed together: up to [`MAX_SIZES`] distinct ones, largest
/// first, each with its transmissions. A size leaves the round when it is
/// acknowledged, fails or becomes moot; the round ends when none is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Round {
    attempts: [Attempt; MAX_SIZES],
    len: u8,
    /// A size of this round failed (counted once in `failed_sizes`).
    failed: bool,
}

impl Round {
    /// A round of `sizes` (distinct, largest first).
    fn of(sizes: &[u32]) -> Round {
        let mut round = Round {
            attempts: [Attempt::of(0); MAX_SIZES],
            len: 0,
            failed: false,
        };
        for &size in sizes {
            round.add(size);
        }
        round
    }

    /// The sizes being probed, largest first.
    fn attempts(&self) -> &[Attempt] {
        &self.attempts[..usize::from(self.len)]
    }

    fn attempts_mut(&mut self) -> &mut [Attempt] {
        &mut self.attempts[..usize::from(self.len)]
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The largest size of the round.
    fn largest(&self) -> Option<u32> {
        self.attempts().first().map(|a| a.size)
    }

    /// Every transmission in flight, of every size.
    fn in_flight(&self) -> impl Iterator<Item = &InFlight> + '_ {
        self.attempts().iter().flat_map(Attempt::in_flight)
    }

    /// The size holding transmission `id` in flight.
    fn holding(&self, id: u64) -> Option<&Attempt> {
        self.attempts().iter().find(|a| a.copy(id).is_some())
    }

    fn holding_mut(&mut self, id: u64) -> Option<&mut Attempt> {
        self.attempts_mut()
            .iter_mut()
            .find(|a| a.copy(id).is_some())
    }

    /// Adds `size` in its place (largest first) unless it is there or the
    /// round is full.
    fn add(&mut self, size: u32) {
        let len = usize::from(self.len);
        if len == MAX_SIZES || self.attempts().iter().any(|a| a.size == size) {
            return;
        }
        let at = self.attempts().iter().take_while(|a| a.size > size).count();
        self.attempts.copy_within(at..len, at + 1);
        self.attempts[at] = Attempt::of(size);
        self.len += 1;
    }

    /// Makes room for a size more in a round of `wanted` sizes by dropping
    /// the smallest one not sent yet (nothing in flight, nothing lost), if
    /// the round is full: a size a hint names goes before a planned one.
    fn make_room(&mut self, wanted: usize) {
        let len = usize::from(self.len);
        if len < wanted {
            return;
        }
        if let Some(i) = (0..len).rev().find(|&i| {
            self.attempts[i].losses == 0 && self.attempts[i].in_flight().next().is_none()
        }) {
            self.attempts.copy_within(i + 1..len, i);
            self.len -= 1;
        }
    }

    /// Keeps the sizes inside `(confirmed, limit]`: the others are moot
    /// (their transmissions are no longer waited for).
    fn keep_within(&mut self, confirmed: u32, limit: u32) {
        let mut kept = 0;
        for i in 0..usize::from(self.len) {
            let attempt = self.attempts[i];
            if attempt.size > confirmed && attempt.size <= limit {
                self.attempts[kept] = attempt;
                kept += 1;
            }
        }
        self.len = kept as u8;
    }
}

/// What a black-hole check returns to when the PLPMTU passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    Searching(Range),
    Complete { next_search_at_ms: u64 },
    Error { next_search_at_ms: u64 },
}

/// Why the PLPMTU itself is being probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Sizes kept failing: does probing work at all? Resume the search if so.
    Probing(Range),
    /// Full-size packets keep getting lost, or a Packet-Too-Big reported
    /// less than the PLPMTU: is the size in use (the attempt's) too big?
    /// Meanwhile the PLPMTU is the floor, so that data gets through; the
    /// probe's ack restores the size. If it is confirmed too big, the
    /// search below starts with `hint` (the size a PTB reported), if any.
    BlackHole { resume: Resume, hint: Option<u32> },
}

/// The prober's phase, each with its own data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Disabled,
    Searching { range: Range, round: Round },
    Checking { check: Check, round: Round },
    Complete { next_search_at_ms: u64 },
    Error { next_search_at_ms: u64 },
}

/// What the transport has reported of a recent probe's id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Reported {
    /// Nothing yet: its first loss report is the probe's.
    #[default]
    Nothing,
    /// An acknowledgement: any later loss of the id is another packet's.
    Ack,
    /// A loss: a later loss of the id is the probe's again only at its size.
    Loss,
}

/// A probe sent recently: what a PTB must quote to be believed, and what
/// the transport reported of its id (so that a resend or a reuse of the
/// id is told from the probe).
#[derive(Debug, Clone, Copy, Default)]
struct ProbeRecord {
    id: u64,
    /// Fingerprint of its first bytes (never 0), when the caller gave them.
    quote: Option<NonZeroU64>,
    size: u32,
    reported: Reported,
}

/// A [`MtuChange`] as stored: MTUs fit 16 bits (at most [`MAX_MTU`]).
#[derive(Debug, Clone, Copy, Default)]
struct StoredChange {
    at_ms: u64,
    old: u16,
    new: u16,
    reason: ChangeReason,
}

impl StoredChange {
    fn of(change: MtuChange) -> StoredChange {
        let narrow = |mtu: u32| u16::try_from(mtu.min(MAX_MTU)).unwrap_or(u16::MAX);
        StoredChange {
            at_ms: change.at_ms,
            old: narrow(change.old),
            new: narrow(change.new),
            reason: change.reason,
        }
    }

    fn change(self) -> MtuChange {
        MtuChange {
            at_ms: self.at_ms,
            old: u32::from(self.old),
            new: u32::from(self.new),
            reason: self.reason,
        }
    }
}

/// Adds one to a counter; counters stop at `u32::MAX` rather than wrap.
fn bump(counter: &mut u32) {
    *counter = counter.saturating_add(1);
}

/// The fingerprint of `bytes` as stored (0 is folded into 1).
fn quote_of(bytes: &[u8]) -> NonZeroU64 {
    NonZeroU64::new(fingerprint(bytes)).unwrap_or(NonZeroU64::MIN)
}

/// The PLPMTUD state machine for one path.
#[derive(Debug, Clone)]
pub struct Prober {
    config: Config,
    floor: u32,
    connected: bool,
    plpmtu: u32,
    phase: Phase,
    interval_ms: u64,
    rtt: RttEstimator,
    black_hole: BlackHoleDetector,
    recent_probes: Ring<ProbeRecord, RECENT_PROBES>,
    stats: Stats,
    history: Ring<StoredChange, HISTORY_LEN>,
}

impl Prober {
    /// A prober for one path; idle (`Disabled`) until [`Prober::connected`].
    pub fn new(config: Config) -> Result<Prober, ConfigError> {
        config.validate()?;
        let floor = config.effective_floor();
        let plpmtu = if config.enabled {
            config.effective_initial_mtu()
        } else {
            config.effective_disabled_mtu()
        };
        let mut history = Ring::default();
        history.push(StoredChange::of(MtuChange {
            at_ms: 0,
            old: 0,
            new: plpmtu,
            reason: ChangeReason::Initial,
        }));
        Ok(Prober {
            config,
            floor,
            connected: false,
            plpmtu,
            phase: Phase::Disabled,
            interval_ms: config.probe_interval_ms,
            rtt: RttEstimator::default(),
            black_hole: BlackHoleDetector::default(),
            recent_probes: Ring::default(),
            stats: Stats::default(),
            history,
        })
    }

    /// The connection is up: discovery starts (MTU-001). Repeated calls are
    /// ignored.
    ///
    /// `hint`: the path MTU of the destination when it is already known (a
    /// node-wide cache), in the prober's unit. Its size is the first and,
    /// if it is acknowledged, only probe; if it fails, the search goes on
    /// below it. A hint outside the floor..=ceiling range is ignored.
    pub fn connected(&mut self, now_ms: u64, hint: Option<u32>) -> Events {
        let hint = hint.map(|size| self.to_ip(size));
        self.answer(|p, out| p.connect(now_ms, hint, out))
    }

    /// The sizes to use now, in the prober's unit: the PLPMTU, the probe
    /// due (if any) and the floor.
    ///
    /// With `probe_copies` above 1 the same probe size is due again until
    /// that many transmissions of it are in flight (never more than the
    /// losses left before it is judged too big): send each under its own id.
    /// With `probe_sizes` above 1 the sizes of a round are due together:
    /// `probe` is the largest one due (its acknowledgement settles the most;
    /// [`Snapshot::due`] lists them all), and the next one is due once its
    /// copies left.
    pub fn sizes(&self) -> Sizes {
        Sizes {
            packet: self.to_unit(self.plpmtu),
            probe: self.due().map(|size| self.to_unit(size)),
            base: self.to_unit(self.floor),
        }
    }

    /// Padding to add to a data packet carrying `data` bytes (in the unit)
    /// so that it becomes the due probe: the padding's own bytes, after the
    /// `padding_overhead` of its header (a uTP extension). `None` when no
    /// probe is due or the packet does not fit under it. The transport
    /// sends `data + padding_overhead + padding` bytes, all of it counted
    /// by the probe's size; if the probe is lost, its data alone is resent,
    /// as it was, without the padding.
    pub fn padding_for(&self, data: u32) -> Option<u32> {
        let probe = self.to_unit(self.due()?);
        probe.checked_sub(data.checked_add(self.config.padding_overhead)?)
    }

    /// Packet `id` of `size` (in the unit) was sent at `now_ms`. Report
    /// every transmission, resends included. It is claimed as a probe, and
    /// `true` returned, iff a probe of exactly `size` is due (any size of
    /// the round, see [`Snapshot::due`]); otherwise it is noted: a resend of a probe in
    /// flight under its id, at any size, makes the probe unconfirmable (an
    /// acknowledgement of the id could be the resend's), and its
    /// acknowledgement then counts as a loss ([`LossReason::Resent`]).
    ///
    /// `quote`: the first bytes of the UDP payload (at least
    /// [`crate::quote::QUOTE_LEN`] when the packet has them). A
    /// Packet-Too-Big for a probe sent with them is believed only if it
    /// quotes the same bytes ([`Quote::Bytes`]), so a guessable id (a 16-bit
    /// sequence number) is not enough to forge one. Without them, a PTB
    /// must name the probe's id ([`Quote::Id`]): make ids unguessable.
    pub fn sent(&mut self, now_ms: u64, id: u64, size: u32, quote: Option<&[u8]>) -> bool {
        let size = self.to_ip(size);
        // An id already in flight, sent again as a probe of another size of
        // the round, or a recent probe's id (its copy lost or timed out, the
        // packet perhaps only late) sent again at another size: an ack of
        // the id could be the other packet's, so this copy cannot confirm
        // its size.
        // Checked only for a transmission that becomes a probe: every
        // other (data, resends) skips the scan of the ring.
        let due = self.is_due(size);
        let reused = due
            && (self.in_flight(id)
                || self
                    .recent_probes
                    .iter()
                    .any(|probe| probe.id == id && probe.size != size));
        self.note_transmission(id);
        due && self.record_probe(now_ms, id, size, quote.map(quote_of), reused)
    }

    /// Packet `id` was acknowledged; `size` (in the unit) is the size of
    /// the id's last transmission. One call per acknowledgement, for every
    /// packet. Only an acknowledgement of a probe in flight at the probe's
    /// own size, its id never sent again, confirms it (`ProbeAcked`): with
    /// another size (a resend of the probe's data under its id) the ack
    /// cannot tell which copy arrived, and the probe counts as lost
    /// ([`LossReason::Resent`]). Other ids are data packets: a full-size
    /// one shows the path carries the PLPMTU (black-hole detection).
    pub fn acked(&mut self, now_ms: u64, id: u64, size: u32) -> Events {
        let size = self.to_ip(size);
        let recent = self.report_ack(id);
        let in_flight = self
            .round()
            .and_then(|r| r.holding(id))
            .and_then(|a| Some((a.size, a.copy(id)?)));
        let Some((probe_size, f)) = in_flight else {
            // Data, or a probe resolved already (a late or repeated ack):
            // the hot path, which changes no size and answers nothing.
            if recent {
                bump(&mut self.stats.stale_events);
            }
            self.on_packet_acked(size);
            return Events::default();
        };
        self.answer(|p, out| {
            if size == probe_size && !f.resent {
                p.on_probe_acked(now_ms, id, out)
            } else {
                p.on_probe_lost(now_ms, id, LossReason::Resent, out)
            }
        })
    }

    /// Packets were lost, for `reason`: one call per batch (one SACK, one
    /// run of duplicate acknowledgements, a single timeout), each loss an
    /// id and its size in the unit (`None` when the caller does not know
    /// it: nothing then feeds black-hole detection). Answers the ids that
    /// were probes (the one in flight, or one resolved lately: keep them
    /// out of congestion control) and the events of the whole batch (see
    /// [`crate::events::EVENTS_MAX`]). Other losses feed black-hole
    /// detection.
    ///
    /// A transport that cannot renumber (uTP) resends a lost probe's data
    /// under the same id, at any size and before or after it learns of the
    /// loss. So the first loss reported for a recent probe's id is the
    /// probe's, whatever the size says; once the probe's loss was reported,
    /// a later loss of the id is the probe's only at the probe's size (the
    /// same loss reported twice), otherwise a resend's, which is data; and
    /// once the id was acknowledged, any later loss of it is data (a
    /// resend, or a sequence number reused after a wrap).
    pub fn lost(
        &mut self,
        now_ms: u64,
        reason: LossReason,
        losses: impl IntoIterator<Item = (u64, Option<u32>)>,
    ) -> (ProbeIds, Events) {
        let mut probes = ProbeIds::default();
        let events = self.answer(|p, out| {
            for (id, size) in losses {
                let size = size.map(|size| p.to_ip(size));
                let probe = p.report_loss(id, size) || p.in_flight(id);
                if probe {
                    probes.note(id);
                }
                match size {
                    _ if probe && p.in_flight(id) => p.on_probe_lost(now_ms, id, reason, out),
                    // A probe resolved already (a late or repeated report).
                    _ if probe => bump(&mut p.stats.stale_events),
                    Some(size) => p.on_packet_lost(now_ms, size, out),
                    None => {}
                }
            }
        });
        (probes, events)
    }

    /// An ICMP Packet-Too-Big (or Fragmentation Needed) reporting `ip_mtu`
    /// (IP bytes) about the packet `quote` describes. It is believed only
    /// for a probe of a size of the round (not moot), sent recently (RFC
    /// 8899 §4.6.1), reporting less than that probe's size, and never sets
    /// the PLPMTU by itself: a smaller size is probed first. At or above
    /// the PLPMTU, the sizes of the round above it leave the round and the
    /// smaller ones stay in flight; below the PLPMTU it starts a black-hole
    /// check of the size in use (the round ends, the floor is used
    /// meanwhile). The answer holds a `Hint` event with the verdict.
    pub fn ptb(&mut self, now_ms: u64, ip_mtu: u32, quote: Quote<'_>) -> Events {
        let quoted = match quote {
            Quote::None => None,
            Quote::Id(id) => Some(Quoted::Id(id)),
            Quote::Bytes(bytes) => Some(Quoted::Print(quote_of(bytes))),
        };
        self.answer(|p, out| p.on_ptb(now_ms, ip_mtu, quoted, out))
    }

    /// The local stack refused to send a packet of `size` (in the unit):
    /// EMSGSIZE. `kernel_ip_mtu`, the kernel's path MTU read from a
    /// connected socket, is then the limit: a connected socket also reports
    /// an earlier datagram's ICMP error as EMSGSIZE on the next send, and
    /// then the refused packet itself may fit. Without it, no size above
    /// the refused one can leave. The packet never crossed the network, so
    /// it needs no matching; the size is still confirmed by a probe before
    /// it is trusted, and a limit at or below the floor ends no search
    /// (`BelowFloor`: it may be the kernel's PMTU cache poisoned by ICMP).
    pub fn send_refused(&mut self, now_ms: u64, size: u32, kernel_ip_mtu: Option<u32>) -> Events {
        let limit = kernel_ip_mtu.unwrap_or_else(|| self.to_ip(size).saturating_sub(1));
        self.answer(|p, out| p.on_emsgsize(now_ms, limit, out))
    }

    /// An RTT sample measured by the transport, in milliseconds. The probes
    /// in flight, sent with the timeout in force then (1 s before any
    /// sample), time out by the new timeout if that is sooner: a first
    /// sample that arrives while the first probes are out shortens their
    /// wait (as a probe's own acknowledgement does for the rest of its
    /// round). See [`Prober::deadline`] afterwards.
    pub fn rtt_sample(&mut self, rtt_ms: u64) {
        self.rtt.sample(rtt_ms);
        self.shorten_timeouts();
    }

    /// The transmissions in flight time out by the timeout in force now if
    /// that is sooner than the one they left with.
    fn shorten_timeouts(&mut self) {
        let timeout = self.probe_timeout_ms();
        let timeout = u32::try_from(timeout).unwrap_or(u32::MAX);
        if let Some(round) = self.round_mut() {
            for attempt in round.attempts_mut() {
                for f in attempt.copies.iter_mut().flatten() {
                    f.timeout_ms = f.timeout_ms.min(timeout);
                }
            }
        }
    }

    /// Handles timers due at `now_ms`: the probe timeout and the next search.
    pub fn tick(&mut self, now_ms: u64) -> Events {
        if self.deadline().map_or(true, |deadline| now_ms < deadline) {
            return Events::default();
        }
        self.answer(|p, out| {
            let mut expired = [None; MAX_IN_FLIGHT];
            if let Some(round) = p.round() {
                let due = round.in_flight().filter(|f| now_ms >= f.deadline_ms());
                for (slot, f) in expired.iter_mut().zip(due) {
                    *slot = Some(f.id);
                }
            }
            // Each is lost while its size is still probed (not moot).
            for id in expired.into_iter().flatten() {
                if p.in_flight(id) {
                    p.on_probe_lost(now_ms, id, LossReason::Timeout, out);
                }
            }
            match p.phase {
                Phase::Complete { next_search_at_ms } if now_ms >= next_search_at_ms => {
                    p.research(now_ms, out);
                }
                Phase::Error { next_search_at_ms } if now_ms >= next_search_at_ms => {
                    p.start_search(now_ms, p.config.ceiling, out);
                }
                _ => {}
            }
        })
    }

    /// When [`Prober::tick`] must next be called, if ever.
    pub fn deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::Complete { next_search_at_ms } | Phase::Error { next_search_at_ms } => {
                Some(next_search_at_ms)
            }
            _ => self
                .round()
                .and_then(|r| r.in_flight().map(InFlight::deadline_ms).min()),
        }
    }

    /// Turns discovery on or off at run time. Off: the fixed `disabled_mtu`
    /// applies and no probes are due. On: a fresh search from the floor.
    pub fn set_enabled(&mut self, now_ms: u64, enabled: bool) -> Events {
        self.answer(|p, out| {
            if enabled == p.config.enabled {
                return;
            }
            p.config.enabled = enabled;
            p.phase = Phase::Disabled;
            if enabled {
                let initial = p.config.effective_initial_mtu();
                p.set_plpmtu(now_ms, initial, ChangeReason::Initial, out);
                if p.connected {
                    p.begin(now_ms, None, out);
                }
            } else {
                let mtu = p.config.effective_disabled_mtu();
                p.set_plpmtu(now_ms, mtu, ChangeReason::Disabled, out);
            }
        })
    }

    /// Starts a search now instead of at the next interval. Nothing happens
    /// (no `SearchStarted`) if discovery is disabled, not connected or
    /// already searching.
    pub fn probe_now(&mut self, now_ms: u64) -> Events {
        self.answer(|p, out| {
            if matches!(p.phase, Phase::Complete { .. } | Phase::Error { .. }) {
                p.start_search(now_ms, p.config.ceiling, out);
            }
        })
    }

    /// Everything about the prober now, copied out (bounded: no allocation).
    pub fn snapshot(&self) -> Snapshot {
        let c = &self.config;
        let ip_sizes = Sizes {
            packet: self.plpmtu,
            probe: self.due(),
            base: self.floor,
        };
        let (confirmed, limit) = match self.range() {
            Some(range) => (range.confirmed, range.limit),
            None => (self.plpmtu, self.plpmtu),
        };
        let history = self.history.iter().map(|stored| {
            let mut change = stored.change();
            change.old = self.to_unit(change.old);
            change.new = self.to_unit(change.new);
            change
        });
        Snapshot {
            state: self.state(),
            enabled: c.enabled,
            unit: c.size_unit,
            family: c.family,
            overhead: self.overhead_bytes(),
            sizes: self.sizes(),
            ip_sizes,
            probing: self
                .round()
                .and_then(Round::largest)
                .map(|s| self.to_unit(s)),
            ceiling_ip: c.ceiling,
            search_range: (self.to_unit(confirmed), self.to_unit(limit)),
            deadline: self.deadline(),
            probe_timeout_ms: self.probe_timeout_ms(),
            stats: self.stats,
            invariants: self.invariants(),
            in_flight: self
                .round()
                .map(|r| r.in_flight().map(|f| f.id).collect())
                .unwrap_or_default(),
            round: self
                .round()
                .map(|r| r.attempts().iter().map(|a| self.to_unit(a.size)).collect())
                .unwrap_or_default(),
            due: self.due_sizes().map(|s| self.to_unit(s)).collect(),
            history: history.collect(),
        }
    }

    /// Bytes of every packet that are not payload: IP header plus `packet_overhead`.
    fn overhead_bytes(&self) -> u32 {
        self.config.family.ip_header_bytes() + self.config.packet_overhead
    }

    /// `ip_size` IP bytes in the prober's unit.
    fn to_unit(&self, ip_size: u32) -> u32 {
        match self.config.size_unit {
            SizeUnit::Ip => ip_size,
            SizeUnit::Payload => {
                payload_for_mtu(ip_size, self.config.family, self.config.packet_overhead)
            }
        }
    }

    /// `size` in the prober's unit as IP bytes.
    fn to_ip(&self, size: u32) -> u32 {
        match self.config.size_unit {
            SizeUnit::Ip => size,
            SizeUnit::Payload => {
                mtu_for_payload(size, self.config.family, self.config.packet_overhead)
            }
        }
    }

    /// The IP size of the probe due now, if any: the largest due.
    fn due(&self) -> Option<u32> {
        self.due_sizes().next()
    }

    /// The IP sizes of the round due now, largest first.
    fn due_sizes(&self) -> impl Iterator<Item = u32> + '_ {
        self.round()
            .into_iter()
            .flat_map(Round::attempts)
            .filter(|a| a.in_flight().count() < self.copies_wanted(a))
            .map(|a| a.size)
    }

    /// The IP sizes due now, largest first, then zeros (no size is 0).
    fn due_set(&self) -> [u32; MAX_SIZES] {
        let mut set = [0; MAX_SIZES];
        for (slot, size) in set.iter_mut().zip(self.due_sizes()) {
            *slot = size;
        }
        set
    }

    /// True if a probe of `size` (IP bytes) is due.
    fn is_due(&self, size: u32) -> bool {
        self.due_sizes().any(|due| due == size)
    }

    /// The local stack knows the path MTU is `mtu` IP bytes (EMSGSIZE).
    fn on_emsgsize(&mut self, now_ms: u64, mtu: u32, out: &mut Events) {
        let verdict = self.judge_emsgsize(mtu);
        out.push(Event::Hint {
            source: HintSource::Emsgsize,
            ip_mtu: mtu,
            verdict,
        });
        if verdict != PtbVerdict::Accepted {
            return;
        }
        bump(&mut self.stats.emsgsize_limits);
        // The kernel's MTU may come from its PMTU cache, which any ICMP
        // quoting the flow lowers: below the PLPMTU it is checked like a
        // PTB. A check probe the kernel refuses itself lands here again, in
        // the check, and is searched.
        let checking = matches!(
            self.phase,
            Phase::Checking {
                check: Check::BlackHole { .. },
                ..
            }
        );
        if mtu < self.plpmtu && !checking {
            self.check_below(now_ms, mtu, None, out);
        } else {
            self.limit_size(now_ms, mtu, out);
        }
    }

    /// The current phase.
    fn state(&self) -> State {
        match self.phase {
            Phase::Disabled => State::Disabled,
            Phase::Searching { .. } => State::Searching,
            Phase::Checking { .. } => State::Base,
            Phase::Complete { .. } => State::SearchComplete,
            Phase::Error { .. } => State::Error,
        }
    }

    /// The probe timeout in force now.
    fn probe_timeout_ms(&self) -> u64 {
        let c = &self.config;
        match c.probe_timeout_mode {
            ProbeTimeoutMode::Fixed => c.probe_timeout_ms,
            ProbeTimeoutMode::Rtt => self
                .rtt
                .rto_ms(c.min_probe_timeout_ms, c.max_probe_timeout_ms)
                .unwrap_or(c.probe_timeout_ms),
        }
    }

    /// Checks the invariants that the phase's types cannot express; `Err`
    /// names the one broken.
    fn invariants(&self) -> Result<(), &'static str> {
        let c = &self.config;
        if self.plpmtu < self.floor || self.plpmtu > c.ceiling {
            return Err("plpmtu outside floor..=ceiling");
        }
        if (self.phase == Phase::Disabled) != (!c.enabled || !self.connected) {
            return Err("disabled exactly when not enabled or not connected");
        }
        if !c.enabled && self.plpmtu != c.effective_disabled_mtu() {
            return Err("disabled_mtu in use while disabled");
        }
        if let Some(range) = self.range() {
            if range.confirmed > range.limit {
                return Err("confirmed above limit");
            }
        }
        if let Some(round) = self.round() {
            let sizes = round.attempts();
            if sizes.is_empty() {
                return Err("a round with no size");
            }
            if sizes.len() > self.config.probe_sizes as usize {
                return Err("more sizes in a round than probe_sizes");
            }
            if sizes.windows(2).any(|w| w[0].size <= w[1].size) {
                return Err("a round's sizes not distinct, largest first");
            }
            if sizes
                .iter()
                .any(|a| a.size < self.floor || a.size > c.ceiling)
            {
                return Err("probe size out of range");
            }
            let copies = c.probe_copies as usize;
            if sizes.iter().any(|a| a.in_flight().count() > copies) {
                return Err("more transmissions of a size in flight than probe_copies");
            }
        }
        match self.phase {
            Phase::Searching { range, round }
                if round
                    .attempts()
                    .iter()
                    .any(|a| a.size <= range.confirmed || a.size > range.limit) =>
            {
                Err("a moot size left in the round")
            }
            Phase::Checking { round, .. } if round.len != 1 => Err("a check probes one size"),
            Phase::Checking {
                check: Check::Probing(_),
                round,
            } if round.largest() != Some(self.plpmtu) => {
                Err("a probing check probes something other than the PLPMTU")
            }
            Phase::Checking {
                check: Check::BlackHole { .. },
                round,
            } if round.largest() <= Some(self.plpmtu) => {
                Err("a black-hole check probes no more than the PLPMTU")
            }
            _ => Ok(()),
        }
    }

    /// Runs `f` with an empty event list and adds a `ProbeDue` for each
    /// size the call made due that was not due before, largest first.
    /// Inside, sizes are IP bytes; the answer is in the prober's unit.
    fn answer(&mut self, f: impl FnOnce(&mut Self, &mut Events)) -> Events {
        let due_before = self.due_set();
        let mut out = Events::default();
        f(self, &mut out);
        let due_before = &due_before[..];
        for size in self.due_set() {
            if size != 0 && !due_before.contains(&size) {
                out.push(Event::ProbeDue { size });
            }
        }
        if self.config.size_unit != SizeUnit::Ip {
            out.map_sizes(|size| self.to_unit(size));
        }
        out
    }

    /// The sizes probed now (a search's round, or a check's one size).
    fn round(&self) -> Option<&Round> {
        match &self.phase {
            Phase::Searching { round, .. } | Phase::Checking { round, .. } => Some(round),
            _ => None,
        }
    }

    fn round_mut(&mut self) -> Option<&mut Round> {
        match &mut self.phase {
            Phase::Searching { round, .. } | Phase::Checking { round, .. } => Some(round),
            _ => None,
        }
    }

    /// True if `id` names a transmission in flight of a size probed now.
    fn in_flight(&self, id: u64) -> bool {
        self.round().is_some_and(|r| r.holding(id).is_some())
    }

    /// Transmissions of `attempt` to have in flight together: `probe_copies`,
    /// never more than the losses left before the size is judged too big.
    fn copies_wanted(&self, attempt: &Attempt) -> usize {
        let left = self
            .config
            .effective_max_probes()
            .saturating_sub(attempt.losses);
        left.min(self.config.probe_copies) as usize
    }

    /// A transmission of `id`: any resend of the probe in flight makes it
    /// unconfirmable, whatever its size (a copy sent with DF off may arrive
    /// in fragments, and its ack then names the probe's id).
    fn note_transmission(&mut self, id: u64) {
        if let Some(round) = self.round_mut() {
            for attempt in round.attempts_mut() {
                for f in attempt.copies.iter_mut().flatten() {
                    if f.id == id {
                        f.resent = true;
                    }
                }
            }
        }
    }

    /// The newest recent probe named `id`.
    fn record_of(&mut self, id: u64) -> Option<&mut ProbeRecord> {
        let (older, newer) = self.recent_probes.as_mut_slices();
        newer
            .iter_mut()
            .rev()
            .chain(older.iter_mut().rev())
            .find(|probe| probe.id == id)
    }

    /// Notes an acknowledgement of `id` (see [`Reported`]); true if `id`
    /// names a recent probe.
    fn report_ack(&mut self, id: u64) -> bool {
        let record = self.record_of(id);
        let recent = record.is_some();
        if let Some(record) = record {
            record.reported = Reported::Ack;
        }
        recent
    }

    /// True when a loss of `id` at `size` is a recent probe's (see
    /// [`Prober::lost`]); notes it.
    fn report_loss(&mut self, id: u64, size: Option<u32>) -> bool {
        let Some(record) = self.record_of(id) else {
            return false;
        };
        let probe = match record.reported {
            Reported::Nothing => true,
            Reported::Loss => size.map_or(true, |given| given == record.size),
            Reported::Ack => false,
        };
        if probe {
            record.reported = Reported::Loss;
        }
        probe
    }

    /// The search range, while a search runs or waits for a check.
    fn range(&self) -> Option<Range> {
        match self.phase {
            Phase::Searching { range, .. }
            | Phase::Checking {
                check:
                    Check::Probing(range)
                    | Check::BlackHole {
                        resume: Resume::Searching(range),
                        ..
                    },
                ..
            } => Some(range),
            _ => None,
        }
    }

    fn connect(&mut self, now_ms: u64, hint: Option<u32>, out: &mut Events) {
        if self.connected {
            return;
        }
        self.connected = true;
        if self.config.enabled {
            self.begin(now_ms, hint, out);
        }
    }

    /// The first search of a connection. A cached `hint` is probed first
    /// and bounds the search; otherwise `mtu_initial`, in use but not yet
    /// confirmed, is probed first (when above the floor). Either way the
    /// floor is the only size confirmed so far, so a failure of that first
    /// probe continues the search below it, at the floor meanwhile. With
    /// `probe_sizes` above 1, `mtu_initial`'s round also splits the range
    /// above it (it is likely to pass: the others look further), so its
    /// acknowledgement leaves less to search; a hint's round is the hint.
    fn begin(&mut self, now_ms: u64, hint: Option<u32>, out: &mut Events) {
        self.start_search(now_ms, self.config.ceiling, out);
        let c = &self.config;
        let hint = hint.filter(|&h| h > self.floor && h <= c.ceiling);
        let initial = Some(self.plpmtu).filter(|&mtu| mtu > self.floor);
        let above = match (hint, initial) {
            (None, Some(initial)) if c.probe_sizes > 1 => round_sizes(
                c.strategy,
                initial,
                c.ceiling,
                c.search_threshold,
                true,
                c.probe_sizes as usize - 1,
            ),
            _ => ArrayVec::new(),
        };
        // A hint below the size in use (a cached MTU under `mtu_initial`):
        // the size in use is no more proven than the hint, so the hint is
        // used until its probe answers, never the larger unconfirmed size.
        if let Some(hint) = hint {
            if hint < self.plpmtu {
                self.set_plpmtu(now_ms, hint, ChangeReason::Initial, out);
            }
        }
        let first = hint.or(initial);
        if let (Some(first), Phase::Searching { range, round }) = (first, &mut self.phase) {
            range.confirmed = self.floor;
            if hint.is_some() {
                range.limit = first;
                range.untouched = false;
            }
            *round = Round::of(&[first]);
            for size in above {
                round.add(size);
            }
        }
    }

    /// Puts transmission `id` of the due size `size` in flight; false if
    /// every slot is taken (never, when a probe of `size` is due).
    fn record_probe(
        &mut self,
        now_ms: u64,
        id: u64,
        size: u32,
        quote: Option<NonZeroU64>,
        resent: bool,
    ) -> bool {
        let timeout = u32::try_from(self.probe_timeout_ms()).unwrap_or(u32::MAX);
        let Some(round) = self.round_mut() else {
            return false;
        };
        let Some(attempt) = round.attempts_mut().iter_mut().find(|a| a.size == size) else {
            return false;
        };
        let Some(slot) = attempt.copies.iter_mut().find(|slot| slot.is_none()) else {
            return false;
        };
        *slot = Some(InFlight {
            id,
            sent_at_ms: now_ms,
            timeout_ms: timeout,
            resent,
        });
        self.recent_probes.push(ProbeRecord {
            id,
            size,
            quote,
            reported: Reported::Nothing,
        });
        bump(&mut self.stats.probes_sent);
        true
    }

    /// Transmission `id` of a size probed now was acknowledged: the size
    /// passes (the other transmissions of it are no longer waited for, nor
    /// the smaller sizes of the round: they are moot).
    fn on_probe_acked(&mut self, now_ms: u64, id: u64, out: &mut Events) {
        let Some((size, in_flight)) = self
            .round()
            .and_then(|r| r.holding(id))
            .and_then(|a| Some((a.size, a.copy(id)?)))
        else {
            return;
        };
        let rtt_ms = now_ms.saturating_sub(in_flight.sent_at_ms);
        bump(&mut self.stats.probes_acked);
        self.rtt.sample(rtt_ms);
        // The other sizes of the round (sent before any sample, with the
        // 1 s timeout) wait no longer than the path's timeout now.
        self.shorten_timeouts();
        out.push(Event::ProbeAcked {
            id: in_flight.id,
            size,
            rtt_ms,
        });
        match self.phase {
            Phase::Searching { mut range, round } => {
                range.failed_sizes = 0;
                range.confirmed = range.confirmed.max(size);
                range.limit = range.limit.max(range.confirmed);
                if range.confirmed > self.plpmtu {
                    self.set_plpmtu(now_ms, range.confirmed, ChangeReason::ProbeAcked, out);
                }
                self.go_on(now_ms, range, round, out);
            }
            Phase::Checking {
                check: Check::Probing(mut range),
                ..
            } => {
                range.failed_sizes = 0;
                self.advance(now_ms, range, out);
            }
            Phase::Checking {
                check: Check::BlackHole { resume, .. },
                ..
            } => {
                self.set_plpmtu(now_ms, size, ChangeReason::ProbeAcked, out);
                self.resume(now_ms, resume, out);
            }
            Phase::Disabled | Phase::Complete { .. } | Phase::Error { .. } => {}
        }
    }

    /// Transmission `id` of a size probed now was lost: the size fails
    /// once `max_probes` transmissions of it are.
    fn on_probe_lost(&mut self, now_ms: u64, id: u64, reason: LossReason, out: &mut Events) {
        let max_probes = self.config.effective_max_probes();
        let Some(attempt) = self.round_mut().and_then(|r| r.holding_mut(id)) else {
            return;
        };
        let Some(in_flight) = attempt.take(id) else {
            return;
        };
        attempt.losses += 1;
        let (size, failed) = (attempt.size, attempt.losses >= max_probes);
        match reason {
            LossReason::Timeout => bump(&mut self.stats.probes_lost_timeout),
            LossReason::DupAck => bump(&mut self.stats.probes_lost_dup_ack),
            LossReason::Resent => bump(&mut self.stats.probes_lost_resent),
        }
        out.push(Event::ProbeLost {
            id: in_flight.id,
            size,
            reason,
        });
        if failed {
            self.size_failed(now_ms, size, out);
        }
    }

    /// Only a probe settles a black-hole check: data meanwhile is at the
    /// floor, and an older full-size packet's late ack proves nothing now.
    fn on_packet_acked(&mut self, size: u32) {
        if size < self.plpmtu {
            return;
        }
        self.black_hole.reset();
        if let Phase::Searching { range, .. } = &mut self.phase {
            range.failed_sizes = 0;
        }
    }

    fn on_packet_lost(&mut self, now_ms: u64, size: u32, out: &mut Events) {
        // Error is watched too: the aiutp fallback keeps a size above the floor.
        let resume = match self.phase {
            Phase::Searching { range, .. } => Resume::Searching(range),
            Phase::Complete { next_search_at_ms } => Resume::Complete { next_search_at_ms },
            Phase::Error { next_search_at_ms } => Resume::Error { next_search_at_ms },
            Phase::Disabled | Phase::Checking { .. } => return,
        };
        if size < self.plpmtu || self.plpmtu <= self.floor {
            return;
        }
        let window = self.probe_timeout_ms();
        if !self
            .black_hole
            .on_full_size_lost(now_ms, window, self.config.black_hole_threshold)
        {
            return;
        }
        self.check_plpmtu(now_ms, resume, None, out);
    }

    /// Suspects the PLPMTU: the floor is used while a probe of the
    /// PLPMTU checks it (a black-hole check); `hint` starts the search
    /// below if it is confirmed too big.
    fn check_plpmtu(&mut self, now_ms: u64, resume: Resume, hint: Option<u32>, out: &mut Events) {
        bump(&mut self.stats.black_hole_checks);
        let suspected = self.plpmtu;
        out.push(Event::BlackHoleSuspected { mtu: suspected });
        self.set_plpmtu(now_ms, self.floor, ChangeReason::BlackHole, out);
        self.phase = Phase::Checking {
            check: Check::BlackHole { resume, hint },
            round: Round::of(&[suspected]),
        };
    }

    fn on_ptb(&mut self, now_ms: u64, reported_mtu: u32, quoted: Option<Quoted>, out: &mut Events) {
        let (verdict, probe) = self.judge_ptb(reported_mtu, quoted);
        let probed = probe.map(|(_, size)| size);
        let probe = probe.map(|(id, _)| id);
        out.push(Event::Hint {
            source: HintSource::Ptb,
            ip_mtu: reported_mtu,
            verdict,
        });
        if verdict == PtbVerdict::Accepted {
            bump(&mut self.stats.ptb_accepted);
            match &mut self.phase {
                // The check probe's own fate decides; a PTB for it only
                // names the size to try first if the check fails, so a
                // forger cannot end the check at the floor.
                Phase::Checking {
                    check: Check::BlackHole { hint, .. },
                    ..
                } => *hint = Some(reported_mtu),
                _ if reported_mtu < self.plpmtu => {
                    self.check_below(now_ms, reported_mtu, probed, out)
                }
                // At the floor, a PTB naming the floor would end the search
                // there until the next interval: it only counts as a loss
                // of the probe it quotes.
                _ if reported_mtu <= self.floor => {
                    if let Some(id) = probe {
                        self.on_probe_lost(now_ms, id, LossReason::DupAck, out);
                    }
                }
                _ => self.limit_size(now_ms, reported_mtu, out),
            }
            return;
        }
        let s = &mut self.stats;
        match verdict {
            PtbVerdict::Accepted => {}
            PtbVerdict::Unmatched => bump(&mut s.ptb_unmatched),
            PtbVerdict::NotSmaller => bump(&mut s.ptb_not_smaller),
            PtbVerdict::BelowFloor => bump(&mut s.ptb_below_floor),
            PtbVerdict::NotProbing => bump(&mut s.ptb_not_probing),
        }
        bump(&mut s.ptb_ignored);
    }

    /// RFC 8899 §4.6.2: a PTB "MUST NOT be used directly to set the PLPMTU",
    /// and neither is the kernel's MTU behind an EMSGSIZE (its PMTU cache
    /// believes any ICMP quoting the flow). A hint of less than the PLPMTU
    /// starts a black-hole check of the PLPMTU (the floor meanwhile): the
    /// check probe's ack restores the PLPMTU, so a forged hint costs one
    /// probe; its loss confirms, and the search below starts by probing
    /// the hinted size.
    ///
    /// `probed`: the size the hint was about (a PTB's quoted probe); the
    /// round's largest size when it names none (EMSGSIZE).
    fn check_below(&mut self, now_ms: u64, hint: u32, probed: Option<u32>, out: &mut Events) {
        // If the check passes, a search goes on below the size the hint was
        // about (never below what is confirmed), so a forger on the path
        // cannot make it probe that size again and again.
        let probed = |round: Round| probed.or(round.largest()).unwrap_or(self.plpmtu);
        let narrowed = |mut range: Range, probed: u32| {
            range.limit = range
                .limit
                .min(probed.saturating_sub(1))
                .max(range.confirmed);
            range.untouched = false;
            Resume::Searching(range)
        };
        let resume = match self.phase {
            Phase::Searching { range, round } => narrowed(range, probed(round)),
            Phase::Checking {
                check: Check::Probing(range),
                round,
            } => narrowed(range, probed(round)),
            Phase::Complete { next_search_at_ms } => Resume::Complete { next_search_at_ms },
            Phase::Error { next_search_at_ms } => Resume::Error { next_search_at_ms },
            Phase::Disabled
            | Phase::Checking {
                check: Check::BlackHole { .. },
                ..
            } => return,
        };
        self.check_plpmtu(now_ms, resume, Some(hint), out);
    }

    /// The verdict on a PTB reporting `reported_mtu` about what `quoted`
    /// describes, and the id and size of the probe it matched: a probe of
    /// any size of the round (one in flight if any matches, else the latest
    /// recent one).
    fn judge_ptb(
        &self,
        reported_mtu: u32,
        quoted: Option<Quoted>,
    ) -> (PtbVerdict, Option<(u64, u32)>) {
        let Some(round) = self.round() else {
            return (PtbVerdict::NotProbing, None);
        };
        let matches = |probe: &&ProbeRecord| {
            round.attempts().iter().any(|a| a.size == probe.size)
                && match quoted {
                    Some(Quoted::Id(id)) => probe.id == id && probe.quote.is_none(),
                    Some(Quoted::Print(print)) => probe.quote == Some(print),
                    None => false,
                }
        };
        let probe = self
            .recent_probes
            .iter()
            .filter(matches)
            .max_by_key(|probe| self.in_flight(probe.id))
            .map(|probe| (probe.id, probe.size));
        let verdict = match probe {
            None => PtbVerdict::Unmatched,
            Some((_, target)) if reported_mtu >= target => PtbVerdict::NotSmaller,
            Some(_) if reported_mtu < self.floor => PtbVerdict::BelowFloor,
            Some(_) => PtbVerdict::Accepted,
        };
        (verdict, probe)
    }

    fn judge_emsgsize(&self, mtu: u32) -> PtbVerdict {
        let reference = match self.phase {
            Phase::Searching { range, .. } => range.limit.max(self.plpmtu),
            Phase::Checking { round, .. } => round.largest().unwrap_or(0).max(self.plpmtu),
            Phase::Complete { .. } => self.plpmtu,
            Phase::Disabled | Phase::Error { .. } => return PtbVerdict::NotProbing,
        };
        // At the floor it says nothing the floor does not, and it may be
        // the kernel's PMTU cache poisoned by ICMP to its minimum: it must
        // not end a search there.
        if mtu <= self.floor {
            PtbVerdict::BelowFloor
        } else if mtu >= reference {
            PtbVerdict::NotSmaller
        } else {
            PtbVerdict::Accepted
        }
    }

    /// A new search from the current PLPMTU up to `limit`.
    fn start_search(&mut self, now_ms: u64, limit: u32, out: &mut Events) {
        let limit = limit.max(self.plpmtu);
        self.black_hole.reset();
        out.push(Event::SearchStarted { limit });
        let range = Range {
            confirmed: self.plpmtu,
            limit,
            untouched: true,
            failed_sizes: 0,
        };
        self.advance(now_ms, range, out);
    }

    /// The periodic search after a completed one: its first probe is the
    /// smallest size worth having (`search_threshold + 1` above the PLPMTU,
    /// at most the ceiling), so that on a path that did not grow a
    /// re-search costs one size's losses, not a bisection's. If it passes,
    /// the search goes on above it as usual.
    fn research(&mut self, now_ms: u64, out: &mut Events) {
        let c = &self.config;
        let first = self
            .plpmtu
            .saturating_add(c.search_threshold)
            .saturating_add(1)
            .min(c.ceiling);
        let usual = next_probe_size(c.strategy, self.plpmtu, c.ceiling, c.search_threshold, true);
        if first <= self.plpmtu || usual.is_some_and(|size| size <= first) {
            self.start_search(now_ms, c.ceiling, out);
            return;
        }
        self.black_hole.reset();
        out.push(Event::SearchStarted { limit: c.ceiling });
        let range = Range {
            confirmed: self.plpmtu,
            limit: c.ceiling,
            untouched: true,
            failed_sizes: 0,
        };
        self.search(range, first);
    }

    /// Plans the next round of `range` (`probe_sizes` sizes at most), or
    /// completes the search.
    fn advance(&mut self, now_ms: u64, range: Range, out: &mut Events) {
        let sizes = self.plan(range);
        if sizes.is_empty() {
            self.complete_search(now_ms, out);
        } else {
            self.search_round(range, Round::of(&sizes));
        }
    }

    /// The sizes of the next round of `range` (none: the search is done).
    fn plan(&self, range: Range) -> ArrayVec<u32, MAX_SIZES> {
        let c = &self.config;
        round_sizes(
            c.strategy,
            range.confirmed,
            range.limit,
            c.search_threshold,
            range.untouched,
            c.probe_sizes as usize,
        )
    }

    /// A round of one size.
    fn search(&mut self, range: Range, size: u32) {
        self.search_round(range, Round::of(&[size]));
    }

    fn search_round(&mut self, range: Range, round: Round) {
        bump(&mut self.stats.rounds);
        self.phase = Phase::Searching { range, round };
    }

    /// The round goes on with what `range` leaves of it (the sizes inside
    /// it; the others are moot); once none is left, the next is planned.
    fn go_on(&mut self, now_ms: u64, range: Range, mut round: Round, out: &mut Events) {
        round.keep_within(range.confirmed, range.limit);
        if round.is_empty() {
            self.advance(now_ms, range, out);
        } else {
            self.phase = Phase::Searching { range, round };
        }
    }

    fn complete_search(&mut self, now_ms: u64, out: &mut Events) {
        self.interval_ms = self.config.probe_interval_ms;
        self.phase = Phase::Complete {
            next_search_at_ms: now_ms.saturating_add(self.interval_ms),
        };
        bump(&mut self.stats.searches_completed);
        out.push(Event::SearchComplete { mtu: self.plpmtu });
    }

    fn resume(&mut self, now_ms: u64, resume: Resume, out: &mut Events) {
        match resume {
            Resume::Searching(range) => self.advance(now_ms, range, out),
            Resume::Complete { next_search_at_ms } => {
                self.phase = Phase::Complete { next_search_at_ms }
            }
            Resume::Error { next_search_at_ms } => self.phase = Phase::Error { next_search_at_ms },
        }
    }

    /// `max_probes` transmissions of `size` were lost.
    fn size_failed(&mut self, now_ms: u64, size: u32, out: &mut Events) {
        match self.phase {
            Phase::Searching {
                mut range,
                mut round,
            } => {
                range.limit = size.saturating_sub(1).max(range.confirmed);
                range.untouched = false;
                // A round counts once however many of its sizes fail: the
                // rule is about attempts that found nothing, and a round
                // whose smallest size fails fails all of them at once.
                if !round.failed {
                    round.failed = true;
                    range.failed_sizes += 1;
                }
                if self.plpmtu > range.confirmed {
                    self.set_plpmtu(now_ms, range.confirmed, ChangeReason::ProbeFailed, out);
                }
                let tripped = range.failed_sizes >= self.config.failure_threshold;
                if tripped && self.config.aiutp_compat {
                    self.fall_back(now_ms, range.confirmed, out);
                    return;
                }
                round.keep_within(range.confirmed, range.limit);
                if !round.is_empty() {
                    // Smaller sizes of the round are still out: they decide.
                    self.phase = Phase::Searching { range, round };
                    return;
                }
                if tripped && !self.plan(range).is_empty() {
                    // Before the next round: does probing work at all?
                    bump(&mut self.stats.probing_checks);
                    self.phase = Phase::Checking {
                        check: Check::Probing(range),
                        round: Round::of(&[self.plpmtu]),
                    };
                } else {
                    self.advance(now_ms, range, out);
                }
            }
            Phase::Checking {
                check: Check::Probing(_),
                ..
            } => self.fall_back(now_ms, self.floor, out),
            Phase::Checking {
                check: Check::BlackHole { hint, .. },
                ..
            } => {
                bump(&mut self.stats.black_holes);
                out.push(Event::BlackHoleConfirmed { lost_mtu: size });
                self.set_plpmtu(now_ms, self.floor, ChangeReason::BlackHole, out);
                let limit = size.saturating_sub(1);
                match hint.filter(|&h| h > self.floor && h <= limit) {
                    Some(hint) => {
                        self.start_search(now_ms, hint, out);
                        if let Phase::Searching { range, round } = &mut self.phase {
                            range.untouched = false;
                            *round = Round::of(&[hint]);
                        }
                    }
                    None => self.start_search(now_ms, limit, out),
                }
            }
            Phase::Disabled | Phase::Complete { .. } | Phase::Error { .. } => {}
        }
    }

    /// Gives up probing until the (doubled) interval passes; `mtu` stays in use.
    fn fall_back(&mut self, now_ms: u64, mtu: u32, out: &mut Events) {
        bump(&mut self.stats.fallbacks);
        self.set_plpmtu(now_ms, mtu, ChangeReason::Fallback, out);
        self.interval_ms = self
            .interval_ms
            .saturating_mul(2)
            .min(self.config.max_probe_interval_ms);
        self.phase = Phase::Error {
            next_search_at_ms: now_ms.saturating_add(self.interval_ms),
        };
        out.push(Event::Fallback {
            mtu,
            next_search_in_ms: self.interval_ms,
        });
    }

    /// Sizes above `mtu` are known not to pass: search at most `mtu`, and
    /// probe `mtu` itself next (with the sizes of the round below it, which
    /// stay in flight). `mtu` is at least the PLPMTU: lower hints go
    /// through [`Prober::check_below`].
    fn limit_size(&mut self, now_ms: u64, mtu: u32, out: &mut Events) {
        let round = match self.phase {
            Phase::Searching { round, .. } => Some(round),
            _ => None,
        };
        let mut range = self.range().unwrap_or(Range {
            confirmed: self.plpmtu,
            limit: mtu,
            untouched: false,
            failed_sizes: 0,
        });
        // A black-hole check interrupted this range at the floor: what it
        // confirmed is in doubt too.
        range.confirmed = range.confirmed.min(self.plpmtu);
        range.limit = mtu;
        range.untouched = false;
        match round {
            Some(mut round) if mtu > range.confirmed => {
                round.keep_within(range.confirmed, mtu);
                let wanted = self.config.probe_sizes as usize;
                if !round.attempts().iter().any(|a| a.size == mtu) {
                    round.make_room(wanted);
                }
                if usize::from(round.len) < wanted {
                    round.add(mtu);
                }
                self.phase = Phase::Searching { range, round };
            }
            _ if mtu > range.confirmed => self.search(range, mtu),
            _ => self.advance(now_ms, range, out),
        }
    }

    fn set_plpmtu(&mut self, now_ms: u64, new: u32, reason: ChangeReason, out: &mut Events) {
        let old = self.plpmtu;
        if old == new {
            return;
        }
        self.plpmtu = new;
        self.black_hole.reset();
        self.history.push(StoredChange::of(MtuChange {
            at_ms: now_ms,
            old,
            new,
            reason,
        }));
        out.push(Event::MtuChanged { old, new, reason });
    }
}
