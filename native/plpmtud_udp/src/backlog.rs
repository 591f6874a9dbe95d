//! Flow control towards a consumer whose queue cannot be read, only
//! measured: the BEAM process that owns a socket. [`Backlog`] keeps an upper
//! bound, in bytes, on what the socket sent that the consumer may not have
//! taken yet; [`Reports`] holds error-queue reports while there is no room,
//! the latest per destination, in a table of fixed size.

use crate::ErrorEntry;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

/// Reports [`Reports`] holds at most.
pub const REPORT_SLOTS: usize = 16;

/// An upper bound on the bytes of sent messages still queued at the
/// consumer, and the room left under a limit.
///
/// Sound as long as every message is charged when sent and every
/// observation of the consumer's queue length is made after the sends it
/// should cover (on the BEAM: by the process that sends, as signals from
/// one process arrive in order). Since the last time the queue was seen
/// empty, at most `queue_len` of the messages sent since are still queued,
/// each at most the largest one charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    limit: usize,
    outstanding: usize,
    largest: usize,
}

impl Backlog {
    /// Nothing outstanding, at most `limit` bytes.
    pub fn new(limit: usize) -> Backlog {
        Backlog {
            limit,
            outstanding: 0,
            largest: 0,
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the limit.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// The bound on bytes still queued at the consumer.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Bytes that may still be sent.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.outstanding)
    }

    /// Counts a message of `bytes` just sent.
    pub fn charge(&mut self, bytes: usize) {
        self.outstanding = self.outstanding.saturating_add(bytes);
        self.largest = self.largest.max(bytes);
    }

    /// Tightens the bound with the consumer's queue length, seen now.
    pub fn observe(&mut self, queue_len: usize) {
        if queue_len == 0 {
            self.forget();
        } else {
            self.outstanding = self.outstanding.min(queue_len.saturating_mul(self.largest));
        }
    }

    /// A new consumer, which holds nothing of ours.
    pub fn forget(&mut self) {
        self.outstanding = 0;
        self.largest = 0;
    }
}

/// An error-queue entry to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// ICMP Packet-Too-Big / Fragmentation Needed.
    TooBig {
        /// The MTU it reports.
        mtu: u32,
        /// The router that sent it, when known.
        offender: Option<IpAddr>,
        /// The entry (destination and quoted bytes).
        entry: ErrorEntry,
    },
    /// Any other ICMP error, as an errno.
    Icmp {
        /// The errno (`ECONNREFUSED` for port unreachable, ...).
        errno: i32,
        /// The entry (destination and quoted bytes).
        entry: ErrorEntry,
    },
}

impl Report {
    fn key(&self) -> (bool, Option<SocketAddr>) {
        match self {
            Report::TooBig { entry, .. } => (true, entry.dest),
            Report::Icmp { entry, .. } => (false, entry.dest),
        }
    }
}

/// Reports waiting for room, oldest first: at most [`REPORT_SLOTS`], one
/// per destination and kind (a newer report replaces the older in place).
#[derive(Debug, Default)]
pub struct Reports {
    queue: VecDeque<Report>,
    dropped: u64,
}

impl Reports {
    /// Adds `report`, replacing a waiting one for the same destination and
    /// kind; when the table is full of other destinations the oldest goes
    /// (the newest word on a path is the one worth keeping, and forgeries
    /// for other destinations cannot lock a real peer's report out).
    pub fn push(&mut self, report: Report) {
        let key = report.key();
        if let Some(old) = self.queue.iter_mut().find(|r| r.key() == key) {
            *old = report;
            self.dropped += 1;
            return;
        }
        if self.queue.len() >= REPORT_SLOTS {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back(report);
    }

    /// The oldest waiting report.
    pub fn front(&self) -> Option<&Report> {
        self.queue.front()
    }

    /// Takes the oldest waiting report.
    pub fn pop(&mut self) -> Option<Report> {
        self.queue.pop_front()
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Reports replaced or refused so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn too_big(port: u16, mtu: u32) -> Report {
        Report::TooBig {
            mtu,
            offender: None,
            entry: ErrorEntry {
                error: Err(crate::errqueue::ParseError::Truncated),
                dest: Some(SocketAddr::from(([10, 0, 0, 1], port))),
                quoted: vec![0; 256],
            },
        }
    }

    #[test]
    fn the_bound_covers_every_message_sent_since_the_queue_was_seen_empty() {
        let mut b = Backlog::new(1000);
        b.charge(300);
        b.charge(500);
        assert_eq!(b.room(), 200);
        // Two messages queued, each at most 500: 800 still possible.
        b.observe(2);
        assert_eq!(b.outstanding(), 800);
        // One queued: at most the largest.
        b.observe(1);
        assert_eq!(b.outstanding(), 500);
        b.charge(100);
        assert_eq!(b.outstanding(), 600);
        b.observe(0);
        assert_eq!((b.outstanding(), b.room()), (0, 1000));
        b.charge(2000);
        assert_eq!(b.room(), 0);
        // A long queue of others' messages never raises the bound.
        b.observe(1_000_000);
        assert_eq!(b.outstanding(), 2000);
    }

    #[test]
    fn reports_keep_the_latest_per_destination_in_a_fixed_table() {
        let mut r = Reports::default();
        for i in 0..100_000u32 {
            r.push(too_big(1, 1000 + i % 7));
        }
        assert_eq!(r.queue.len(), 1);
        assert!(matches!(r.front(), Some(Report::TooBig { mtu: 1004, .. })));
        for port in 0..1000 {
            r.push(too_big(port, 1200));
        }
        assert_eq!(r.queue.len(), REPORT_SLOTS);
        assert_eq!(r.dropped(), 99_999 + 1 + (1000 - REPORT_SLOTS as u64));
        // Full of forged destinations: a real peer's report still gets in.
        r.push(too_big(5000, 1280));
        assert_eq!(r.queue.len(), REPORT_SLOTS);
        assert!(r.queue.iter().any(|q| q.key() == too_big(5000, 1).key()));
        assert!(r.pop().is_some());
        assert_eq!(r.queue.len(), REPORT_SLOTS - 1);
    }
}
