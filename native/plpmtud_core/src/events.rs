//! What one call into the prober produced: every event method answers with
//! an [`Events`] list, so no caller ever compares snapshots to learn what
//! happened. The list lives inline (no allocation on the hot path).

use arrayvec::ArrayVec;

/// Why the PLPMTU changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChangeReason {
    /// Set when the prober was created or discovery was re-enabled.
    #[default]
    Initial,
    /// A probe of the new size was acknowledged.
    ProbeAcked,
    /// A probe of the unconfirmed size failed; back to the confirmed size.
    ProbeFailed,
    /// Full-size packets are lost as in a black hole, or a Packet-Too-Big
    /// or EMSGSIZE reported less: the floor while a probe checks the size
    /// in use (and until a search finds one if it fails).
    BlackHole,
    /// Probing failed even at the current PLPMTU; back to the floor.
    Fallback,
    /// Discovery was disabled; the fixed size applies.
    Disabled,
}

/// Why a probe was declared lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// No acknowledgement before the probe timeout.
    Timeout,
    /// The transport inferred the loss (duplicate acknowledgements, SACK).
    DupAck,
    /// The transport sent the probe's id again in another form (its data
    /// unpadded, a resend) before the probe was resolved: an
    /// acknowledgement of that id cannot tell which copy arrived (Karn), so
    /// the probe proves nothing and counts as lost.
    Resent,
}

/// Where a size limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HintSource {
    /// An ICMP Packet-Too-Big / Fragmentation Needed from the path.
    Ptb,
    /// The local stack refused a send (EMSGSIZE): it knows a smaller MTU.
    Emsgsize,
}

/// How a Packet-Too-Big or EMSGSIZE hint was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtbVerdict {
    /// Accepted: the reported size will be probed to confirm it.
    Accepted,
    /// The quoted packet is not a probe being resolved now (or its quoted
    /// bytes differ from what was sent).
    Unmatched,
    /// The reported MTU is not smaller than the quoted probe.
    NotSmaller,
    /// The reported MTU is below the floor.
    BelowFloor,
    /// Discovery is not running.
    NotProbing,
}

/// One thing that happened inside the prober. Sizes are in the prober's
/// unit (`size_unit`), except a hint's `ip_mtu`, which is what the network
/// or the kernel reported: IP bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A probe of `size` is due now: send it (or claim a packet of that size).
    ProbeDue {
        /// IP bytes of the probe.
        size: u32,
    },
    /// The probe `id` of `size` was acknowledged `rtt_ms` after it was sent.
    ProbeAcked {
        /// The probe's id.
        id: u64,
        /// Its IP size.
        size: u32,
        /// Time from send to acknowledgement.
        rtt_ms: u64,
    },
    /// The probe `id` of `size` was lost. Never congestion: keep it out of
    /// the congestion window.
    ProbeLost {
        /// The probe's id.
        id: u64,
        /// Its IP size.
        size: u32,
        /// How the loss was learned.
        reason: LossReason,
    },
    /// The PLPMTU changed.
    MtuChanged {
        /// Before.
        old: u32,
        /// After.
        new: u32,
        /// Why.
        reason: ChangeReason,
    },
    /// A search began (at connection, after the probe interval, on request).
    SearchStarted {
        /// The largest size it may probe.
        limit: u32,
    },
    /// A search ended with this PLPMTU.
    SearchComplete {
        /// The PLPMTU found.
        mtu: u32,
    },
    /// Probing failed even at the current PLPMTU: `mtu` (the floor) is used
    /// and the next search waits `next_search_in_ms`.
    Fallback {
        /// The PLPMTU now in use.
        mtu: u32,
        /// Time until the next search.
        next_search_in_ms: u64,
    },
    /// Full-size packets keep getting lost: the PLPMTU falls to the floor
    /// (an `MtuChanged` with reason `BlackHole`) while a probe of `mtu`
    /// checks the path; its ack restores `mtu`.
    BlackHoleSuspected {
        /// The PLPMTU being checked (the one in use before).
        mtu: u32,
    },
    /// The check failed: `lost_mtu` no longer passes; the search restarts
    /// from the floor below it.
    BlackHoleConfirmed {
        /// The PLPMTU that stopped working.
        lost_mtu: u32,
    },
    /// A Packet-Too-Big or EMSGSIZE hint of `ip_mtu` was judged.
    Hint {
        /// Where it came from.
        source: HintSource,
        /// The MTU it reported (IP bytes, whatever the unit).
        ip_mtu: u32,
        /// What the prober made of it.
        verdict: PtbVerdict,
    },
}

impl Event {
    fn map_sizes(&mut self, f: impl Fn(u32) -> u32) {
        match self {
            Event::ProbeDue { size }
            | Event::ProbeAcked { size, .. }
            | Event::ProbeLost { size, .. } => *size = f(*size),
            Event::MtuChanged { old, new, .. } => {
                *old = f(*old);
                *new = f(*new);
            }
            Event::SearchStarted { limit } => *limit = f(*limit),
            Event::SearchComplete { mtu }
            | Event::Fallback { mtu, .. }
            | Event::BlackHoleSuspected { mtu } => *mtu = f(*mtu),
            Event::BlackHoleConfirmed { lost_mtu } => *lost_mtu = f(*lost_mtu),
            Event::Hint { .. } => {}
        }
    }
}

/// Most events one call can produce. A single event produces at most 8 (a
/// failed black-hole check: the lost probe, the confirmation, the change,
/// the new search and the sizes of its first round due); a batch of losses
/// at most 28: a `ProbeLost` for each of the [`crate::prober::MAX_IN_FLIGHT`]
/// transmissions in flight (16), one PLPMTU change back to what the search
/// confirmed, what the end of the round leads to (at most 3: a fallback and
/// its change, or a completed search), one black-hole suspicion (2) and the
/// sizes of the next round due (4). No later loss of the batch can add
/// more: the next round's sizes are not in flight until sent.
pub const EVENTS_MAX: usize = 32;

/// The events of one call, oldest first, held inline (no allocation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Events {
    items: ArrayVec<Event, EVENTS_MAX>,
}

impl Events {
    /// Appends `event`. The prober never produces more than [`EVENTS_MAX`]
    /// per call (the fuzz oracle checks it); a further one is dropped.
    pub(crate) fn push(&mut self, event: Event) {
        let _ = self.items.try_push(event);
    }

    /// Rewrites every size of every event with `f` (a hint's `ip_mtu` is
    /// left as reported).
    pub(crate) fn map_sizes(&mut self, f: impl Fn(u32) -> u32) {
        for event in &mut self.items {
            event.map_sizes(&f);
        }
    }

    /// The events, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Event> + '_ {
        self.items.iter()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the call changed nothing worth telling.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The last `MtuChanged` of the call, if any: (old, new, reason).
    pub fn mtu_change(&self) -> Option<(u32, u32, ChangeReason)> {
        self.iter()
            .filter_map(|e| match *e {
                Event::MtuChanged { old, new, reason } => Some((old, new, reason)),
                _ => None,
            })
            .next_back()
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_events_in_order_and_finds_the_last_change() {
        let mut events = Events::default();
        assert!(events.is_empty());
        events.push(Event::MtuChanged {
            old: 576,
            new: 1000,
            reason: ChangeReason::ProbeAcked,
        });
        events.push(Event::ProbeDue { size: 1200 });
        events.push(Event::MtuChanged {
            old: 1000,
            new: 900,
            reason: ChangeReason::ProbeFailed,
        });
        assert_eq!(events.len(), 3);
        assert_eq!(
            events.mtu_change(),
            Some((1000, 900, ChangeReason::ProbeFailed))
        );
        assert_eq!(events.iter().nth(1), Some(&Event::ProbeDue { size: 1200 }));
    }

    #[test]
    fn a_full_list_drops_what_does_not_fit() {
        let mut events = Events::default();
        for size in 0..EVENTS_MAX as u32 + 3 {
            events.push(Event::ProbeDue { size });
        }
        assert_eq!(events.len(), EVENTS_MAX);
        assert_eq!(
            events.iter().last(),
            Some(&Event::ProbeDue {
                size: EVENTS_MAX as u32 - 1
            })
        );
    }
}
