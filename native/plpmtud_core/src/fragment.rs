//! Application-level fragmentation for datagram users: split a message into
//! datagrams that fit the PLPMTU payload, and reassemble them in any order,
//! with duplicates, under hard memory bounds.
//!
//! Duplicates are ignored: a second copy of a fragment still being held is
//! refused as [`Reject::Duplicate`], and any fragment of one of the last
//! [`RECENT_MESSAGES`] messages delivered (same id, count and checksum) is
//! refused as [`Reject::DuplicateMessage`], so a late copy neither delivers
//! a message twice nor starts a partial message that lingers until expiry.
//!
//! Every fragment starts with a 16-byte header, big-endian:
//!
//! ```text
//! magic "PF" (2) | version 1 (1) | reserved 0 (1) | message id (4) | index (2) | count (2) | CRC32 of the whole message (4)
//! ```

use crate::ring::Ring;
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

/// Bytes of the fragment header.
pub const HEADER_LEN: usize = 16;
const MAGIC: [u8; 2] = *b"PF";
const VERSION: u8 = 1;
/// Bookkeeping bytes charged per held fragment on top of its payload.
const PER_FRAGMENT_COST: usize = 64;
/// Delivered messages remembered so that their late duplicates are refused:
/// a fixed ring of (id, count, checksum), 12 bytes each, 1.5 KiB per
/// reassembler whatever the traffic. A duplicate arriving after this many
/// newer messages were delivered is taken as a new message again.
pub const RECENT_MESSAGES: usize = 128;

/// CRC-32 (IEEE 802.3, the zlib and Ethernet checksum), by `crc32fast`.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Why a message could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SplitError {
    /// The datagram size leaves no room for payload after the header.
    #[error("datagram size {0} leaves no room after the 16-byte header")]
    DatagramTooSmall(usize),
    /// More than 65 535 fragments would be needed.
    #[error("message needs more than 65535 fragments")]
    MessageTooLarge,
}

/// Splits `message` into fragments of at most `max_datagram` bytes each.
pub fn split(message: &[u8], id: u32, max_datagram: usize) -> Result<Vec<Vec<u8>>, SplitError> {
    let chunk = max_datagram
        .checked_sub(HEADER_LEN)
        .filter(|&c| c > 0)
        .ok_or(SplitError::DatagramTooSmall(max_datagram))?;
    let count = message.len().div_ceil(chunk).max(1);
    let count16 = u16::try_from(count).map_err(|_| SplitError::MessageTooLarge)?;
    let crc = crc32(message);
    let pieces: Vec<&[u8]> = if message.is_empty() {
        vec![&[][..]]
    } else {
        message.chunks(chunk).collect()
    };
    Ok(pieces
        .into_iter()
        .enumerate()
        .map(|(index, piece)| {
            let mut out = Vec::with_capacity(HEADER_LEN + piece.len());
            out.extend_from_slice(&MAGIC);
            out.extend_from_slice(&[VERSION, 0]);
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&(index as u16).to_be_bytes());
            out.extend_from_slice(&count16.to_be_bytes());
            out.extend_from_slice(&crc.to_be_bytes());
            out.extend_from_slice(piece);
            out
        })
        .collect())
}

/// Why a fragment was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Reject {
    /// Shorter than the header, wrong magic or version.
    #[error("malformed fragment")]
    Malformed,
    /// A count of zero, or an index not below the count.
    #[error("fragment index or count out of range")]
    OutOfRange,
    /// Count or CRC differ from the message's earlier fragments.
    #[error("fragment inconsistent with its message")]
    Inconsistent,
    /// Already held.
    #[error("duplicate fragment")]
    Duplicate,
    /// A fragment of a message delivered recently (see [`RECENT_MESSAGES`]).
    #[error("fragment of a message already delivered")]
    DuplicateMessage,
    /// The message would need more than the reassembler may hold.
    #[error("message larger than the reassembler's bound")]
    TooLarge,
    /// The reassembled message failed its CRC.
    #[error("message checksum mismatch")]
    BadChecksum,
}

/// Bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Incomplete messages held at once.
    pub max_messages: usize,
    /// Bytes held at once (payload plus bookkeeping), over all messages.
    pub max_bytes: usize,
    /// Incomplete messages older than this are dropped.
    pub timeout_ms: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_messages: 64,
            max_bytes: 4 << 20,
            timeout_ms: 5_000,
        }
    }
}

/// Counters of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReassemblyStats {
    /// Messages completed and verified.
    pub completed: u64,
    /// Fragments rejected as malformed.
    pub malformed: u64,
    /// Fragments rejected for index/count out of range.
    pub out_of_range: u64,
    /// Fragments inconsistent with their message.
    pub inconsistent: u64,
    /// Duplicate fragments ignored.
    pub duplicates: u64,
    /// Fragments of recently delivered messages ignored.
    pub duplicate_messages: u64,
    /// Messages refused as larger than the bound.
    pub too_large: u64,
    /// Messages that failed their checksum.
    pub bad_checksum: u64,
    /// Incomplete messages dropped on timeout.
    pub expired: u64,
    /// Incomplete messages dropped to stay within the bounds.
    pub evicted: u64,
    /// The most bytes ever held at once.
    pub peak_bytes: usize,
}

#[derive(Debug)]
struct Partial {
    count: u16,
    crc: u32,
    started_ms: u64,
    fragments: BTreeMap<u16, Vec<u8>>,
    bytes: usize,
}

/// Reassembles fragments from one peer.
#[derive(Debug)]
pub struct Reassembler {
    bounds: Bounds,
    partials: HashMap<u32, Partial>,
    bytes_held: usize,
    /// (id, count, checksum) of the latest messages delivered.
    delivered: Ring<(u32, u16, u32), RECENT_MESSAGES>,
    stats: ReassemblyStats,
}

impl Reassembler {
    /// An empty reassembler with `bounds`.
    pub fn new(bounds: Bounds) -> Reassembler {
        Reassembler {
            bounds,
            partials: HashMap::new(),
            bytes_held: 0,
            delivered: Ring::default(),
            stats: ReassemblyStats::default(),
        }
    }

    /// Takes one fragment received at `now_ms`; returns the whole message
    /// once its last fragment arrived and its checksum holds.
    pub fn push(&mut self, now_ms: u64, datagram: &[u8]) -> Result<Option<Vec<u8>>, Reject> {
        self.expire(now_ms);
        let result = self.take(now_ms, datagram);
        if let Ok(Some(_)) = result {
            self.stats.completed += 1;
        }
        if let Err(reject) = result {
            let counter = match reject {
                Reject::Malformed => &mut self.stats.malformed,
                Reject::OutOfRange => &mut self.stats.out_of_range,
                Reject::Inconsistent => &mut self.stats.inconsistent,
                Reject::Duplicate => &mut self.stats.duplicates,
                Reject::DuplicateMessage => &mut self.stats.duplicate_messages,
                Reject::TooLarge => &mut self.stats.too_large,
                Reject::BadChecksum => &mut self.stats.bad_checksum,
            };
            *counter += 1;
        }
        result
    }

    fn take(&mut self, now_ms: u64, datagram: &[u8]) -> Result<Option<Vec<u8>>, Reject> {
        let head = datagram.get(..HEADER_LEN).ok_or(Reject::Malformed)?;
        if head[0..2] != MAGIC || head[2] != VERSION {
            return Err(Reject::Malformed);
        }
        let id = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let index = u16::from_be_bytes([head[8], head[9]]);
        let count = u16::from_be_bytes([head[10], head[11]]);
        let crc = u32::from_be_bytes([head[12], head[13], head[14], head[15]]);
        if count == 0 || index >= count {
            return Err(Reject::OutOfRange);
        }
        if self.delivered.iter().any(|&done| done == (id, count, crc)) {
            return Err(Reject::DuplicateMessage);
        }
        let payload = &datagram[HEADER_LEN..];
        let cost = payload.len() + PER_FRAGMENT_COST;
        if count == 1 {
            return self.deliver(payload.to_vec(), id, count, crc);
        }
        if let Some(partial) = self.partials.get(&id) {
            if partial.count != count || partial.crc != crc {
                return Err(Reject::Inconsistent);
            }
            if partial.fragments.contains_key(&index) {
                return Err(Reject::Duplicate);
            }
        }
        let message_bytes = self.partials.get(&id).map_or(0, |p| p.bytes);
        if message_bytes + cost > self.bounds.max_bytes {
            self.drop_message(id);
            return Err(Reject::TooLarge);
        }
        self.make_room(id, cost);
        let partial = self.partials.entry(id).or_insert_with(|| Partial {
            count,
            crc,
            started_ms: now_ms,
            fragments: BTreeMap::new(),
            bytes: 0,
        });
        partial.fragments.insert(index, payload.to_vec());
        partial.bytes += cost;
        self.bytes_held += cost;
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.bytes_held);
        if partial.fragments.len() < usize::from(count) {
            return Ok(None);
        }
        let partial = self.partials.remove(&id).expect("present");
        self.bytes_held -= partial.bytes;
        let message: Vec<u8> = partial.fragments.into_values().flatten().collect();
        self.deliver(message, id, count, crc)
    }

    /// Verifies a whole message and remembers it as delivered.
    fn deliver(
        &mut self,
        message: Vec<u8>,
        id: u32,
        count: u16,
        crc: u32,
    ) -> Result<Option<Vec<u8>>, Reject> {
        if crc32(&message) != crc {
            return Err(Reject::BadChecksum);
        }
        self.delivered.push((id, count, crc));
        Ok(Some(message))
    }

    /// Evicts the oldest other messages until `cost` more bytes and (for a
    /// new message) one more message fit the bounds.
    fn make_room(&mut self, id: u32, cost: usize) {
        loop {
            let is_new = !self.partials.contains_key(&id);
            let over_bytes = self.bytes_held + cost > self.bounds.max_bytes;
            let over_count = is_new && self.partials.len() >= self.bounds.max_messages;
            if !over_bytes && !over_count {
                return;
            }
            let oldest = self
                .partials
                .iter()
                .filter(|(other, _)| **other != id)
                .min_by_key(|(_, p)| p.started_ms)
                .map(|(other, _)| *other);
            match oldest {
                Some(victim) => {
                    self.drop_message(victim);
                    self.stats.evicted += 1;
                }
                None => return,
            }
        }
    }

    fn drop_message(&mut self, id: u32) {
        if let Some(partial) = self.partials.remove(&id) {
            self.bytes_held -= partial.bytes;
        }
    }

    /// Drops incomplete messages older than the timeout.
    pub fn expire(&mut self, now_ms: u64) {
        let timeout = self.bounds.timeout_ms;
        let before = self.partials.len();
        let mut freed = 0;
        self.partials.retain(|_, p| {
            let keep = now_ms.saturating_sub(p.started_ms) < timeout;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.bytes_held -= freed;
        self.stats.expired += (before - self.partials.len()) as u64;
    }

    /// Bytes held now.
    pub fn bytes_held(&self) -> usize {
        self.bytes_held
    }

    /// Incomplete messages held now.
    pub fn messages_held(&self) -> usize {
        self.partials.len()
    }

    /// Counters since creation.
    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn split_sizes_and_counts() {
        let message: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let fragments = split(&message, 7, 1016).unwrap();
        assert_eq!(fragments.len(), 3);
        assert!(fragments.iter().all(|f| f.len() <= 1016));
        assert_eq!(split(&[], 1, 100).unwrap().len(), 1);
        assert_eq!(
            split(&message, 1, 16),
            Err(SplitError::DatagramTooSmall(16))
        );
        assert_eq!(
            split(&vec![0; 70_000], 1, 17),
            Err(SplitError::MessageTooLarge)
        );
    }

    #[test]
    fn reassembles_in_any_order_with_duplicates() {
        let message: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let mut fragments = split(&message, 42, 500).unwrap();
        fragments.reverse();
        let mut r = Reassembler::new(Bounds::default());
        let dup = fragments[3].clone();
        let mut out = None;
        for (i, f) in fragments.iter().enumerate() {
            if i == 5 {
                assert_eq!(r.push(0, &dup), Err(Reject::Duplicate));
            }
            if let Some(m) = r.push(0, f).unwrap() {
                out = Some(m);
            }
        }
        assert_eq!(out, Some(message));
        assert_eq!(r.bytes_held(), 0);
        assert_eq!(r.stats().duplicates, 1);
    }

    #[test]
    fn a_duplicate_of_a_one_fragment_message_is_not_delivered_twice() {
        let mut r = Reassembler::new(Bounds::default());
        let f = split(b"ping", 5, 100).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(r.push(0, &f[0]), Ok(Some(b"ping".to_vec())));
        assert_eq!(r.push(1, &f[0]), Err(Reject::DuplicateMessage));
        assert_eq!(r.stats().duplicate_messages, 1);
        assert_eq!(r.stats().completed, 1);
        // The same id with other content is another message.
        let g = split(b"pong", 5, 100).unwrap();
        assert_eq!(r.push(2, &g[0]), Ok(Some(b"pong".to_vec())));
        assert_eq!(r.stats().completed, 2);
    }

    #[test]
    fn a_late_duplicate_of_a_finished_message_leaves_nothing_behind() {
        let mut r = Reassembler::new(Bounds::default());
        let message = vec![9u8; 3000];
        let fragments = split(&message, 77, 1000).unwrap();
        let mut out = None;
        for f in &fragments {
            out = r.push(0, f).unwrap().or(out);
        }
        assert_eq!(out, Some(message));
        for f in &fragments {
            assert_eq!(r.push(10, f), Err(Reject::DuplicateMessage));
        }
        assert_eq!((r.messages_held(), r.bytes_held()), (0, 0));
        assert_eq!(r.stats().duplicate_messages, fragments.len() as u64);
        assert_eq!(r.stats().expired + r.stats().evicted, 0);
    }

    #[test]
    fn only_the_latest_delivered_messages_are_remembered() {
        let mut r = Reassembler::new(Bounds::default());
        let first = split(b"first", 0, 100).unwrap();
        assert!(r.push(0, &first[0]).unwrap().is_some());
        for id in 1..RECENT_MESSAGES as u32 {
            assert!(r
                .push(0, &split(b"x", id, 100).unwrap()[0])
                .unwrap()
                .is_some());
        }
        assert_eq!(r.push(0, &first[0]), Err(Reject::DuplicateMessage));
        assert!(r
            .push(0, &split(b"x", 1000, 100).unwrap()[0])
            .unwrap()
            .is_some());
        assert_eq!(
            r.push(0, &first[0]),
            Ok(Some(b"first".to_vec())),
            "forgotten after RECENT_MESSAGES newer deliveries"
        );
    }

    #[test]
    fn corrupt_hostile_and_stale_fragments_are_refused_and_counted() {
        let mut r = Reassembler::new(Bounds {
            max_messages: 2,
            max_bytes: 10_000,
            timeout_ms: 100,
        });
        assert_eq!(r.push(0, b"short"), Err(Reject::Malformed));
        let mut f = split(b"hello world", 1, 20).unwrap();
        f[0][11] = 0;
        assert_eq!(r.push(0, &f[0]), Err(Reject::OutOfRange));
        let mut g = split(b"hello", 2, 100).unwrap();
        g[0][20] ^= 1;
        assert_eq!(r.push(0, &g[0]), Err(Reject::BadChecksum));
        let big = split(&vec![1u8; 50_000], 3, 1000).unwrap();
        let rejected = big
            .iter()
            .filter(|f| r.push(0, f) == Err(Reject::TooLarge))
            .count();
        assert!(rejected > 0);
        assert!(r.bytes_held() <= 10_000);
        let a = split(&[5u8; 300], 10, 116).unwrap();
        assert_eq!(r.push(50, &a[0]), Ok(None));
        assert!(r.messages_held() <= 2);
        r.expire(149);
        assert_eq!(r.messages_held(), 1, "only the fresh message is left");
        r.expire(150);
        assert_eq!((r.messages_held(), r.bytes_held()), (0, 0));
        assert!(r.stats().expired >= 1);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_partial_messages() {
        let bounds = Bounds {
            max_messages: 16,
            max_bytes: 64 * 1024,
            timeout_ms: 60_000,
        };
        let mut r = Reassembler::new(bounds);
        for id in 0..10_000u32 {
            let fragments = split(&[id as u8; 4000], id, 1000).unwrap();
            let _ = r.push(u64::from(id), &fragments[0]);
            assert!(r.bytes_held() <= bounds.max_bytes);
            assert!(r.messages_held() <= bounds.max_messages);
        }
        assert!(r.stats().peak_bytes <= bounds.max_bytes);
        assert!(r.stats().evicted > 9_000);
    }
}
