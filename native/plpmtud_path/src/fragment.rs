//! Application-level fragmentation for datagram users: split a message into
//! datagrams that fit the PLPMTU payload, and reassemble them in any order,
//! with duplicates, under hard memory bounds.
//!
//! Every fragment starts with a 16-byte header, big-endian:
//!
//! ```text
//! magic "PF" (2) | version 1 (1) | reserved 0 (1) | message id (4) | index (2) | count (2) | CRC32 of the whole message (4)
//! ```
//!
//! Incomplete messages are keyed by [`MessageKey`]: id, count and checksum
//! together. A fragment whose count or checksum differs from a held message
//! with the same id starts a message of its own, so a forger who guesses the
//! next id (ids are usually sequential) but not the message's checksum
//! cannot block it. One who knows the checksum (who sees the fragments on
//! the path) can spoil one attempt: it fails its checksum and a
//! retransmission is taken.
//!
//! Duplicates are ignored: a second copy of a fragment still being held is
//! refused as [`Reject::Duplicate`], and any fragment of one of the last
//! [`RECENT_MESSAGES`] messages delivered (same key) is refused as
//! [`Reject::DuplicateMessage`], so a late copy neither delivers a message
//! twice nor starts a partial message that lingers until expiry.
//!
//! Memory: each incomplete message is charged [`PER_MESSAGE_COST`] bytes and
//! each fragment held its payload plus [`PER_FRAGMENT_COST`]; these charges
//! cover the heap the reassembler really uses for them, and their sum never
//! exceeds [`Bounds::max_bytes`] (nor the messages [`Bounds::max_messages`]).
//! To make room, the message least complete goes first (the smallest share
//! of its fragments held, then the least recently added to): a forger's
//! messages that claim many fragments and hold one go before a real message
//! that has received a few. A forger who spoofs the peer's source and opens
//! messages of two fragments faster than a real one completes can still
//! evict it: memory stays within the bounds, and the sender's retransmission
//! (or a smaller message) is the remedy.
//!
//! Cost: a push is O(log n) in the messages held (they are indexed by age
//! and by eviction rank), plus freeing what it evicts or expires. Joining a
//! completed message is O(message) and a separate step
//! ([`Reassembler::take`], [`Completed::join_into`], [`Reassembler::settle`])
//! that a caller on a latency-bound thread can run elsewhere.

use plpmtud_core::ring::Ring;
use std::collections::BTreeMap;
use thiserror::Error;

/// Bytes of the fragment header.
pub const HEADER_LEN: usize = 16;
const MAGIC: [u8; 2] = *b"PF";
const VERSION: u8 = 1;
/// Bytes charged per held fragment on top of its payload (its allocation's
/// overhead and its slot in the message's index).
pub const PER_FRAGMENT_COST: usize = 96;
/// Bytes charged per incomplete message (its entries in the reassembler's
/// three indices and its fragment index's first node).
pub const PER_MESSAGE_COST: usize = 768;
/// Delivered messages remembered so that their late duplicates are refused:
/// a fixed ring of [`MessageKey`]s, 12 bytes each, 1.5 KiB per reassembler
/// whatever the traffic. A duplicate arriving after this many newer
/// messages were delivered is taken as a new message again.
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
    /// Already held.
    #[error("duplicate fragment")]
    Duplicate,
    /// A fragment of a message delivered recently (see [`RECENT_MESSAGES`]).
    #[error("fragment of a message already delivered")]
    DuplicateMessage,
    /// The message would need more than the reassembler may hold (any
    /// message of several fragments when `max_messages` is 0).
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
    /// Fragments that started a message beside a held one with the same id
    /// but another count or checksum: a forgery, or an id reused.
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

/// What identifies a message: the id, count and checksum of its header.
/// (A count of zero never occurs in a fragment taken.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MessageKey {
    /// The sender's message id.
    pub id: u32,
    /// Fragments in the message.
    pub count: u16,
    /// CRC32 of the whole message.
    pub crc: u32,
}

/// A message whose fragments all arrived, not yet joined nor verified.
#[derive(Debug)]
pub struct Completed {
    key: MessageKey,
    fragments: BTreeMap<u16, Vec<u8>>,
    len: usize,
}

impl Completed {
    /// The message's key.
    pub fn key(&self) -> MessageKey {
        self.key
    }

    /// Bytes of the whole message.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty message.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fragments the message arrived in.
    pub fn fragments(&self) -> usize {
        self.fragments.len()
    }

    /// Copies the message into `out`, which must be exactly [`Self::len`]
    /// bytes, and checks its CRC: `Err(BadChecksum)` when it fails.
    ///
    /// # Panics
    /// When `out` is not [`Self::len`] bytes long.
    pub fn join_into(&self, out: &mut [u8]) -> Result<(), Reject> {
        assert_eq!(out.len(), self.len, "join_into needs the message's length");
        let mut hasher = crc32fast::Hasher::new();
        let mut at = 0;
        for piece in self.fragments.values() {
            let slot = &mut out[at..at + piece.len()];
            slot.copy_from_slice(piece);
            hasher.update(slot);
            at += piece.len();
        }
        if hasher.finalize() == self.key.crc {
            Ok(())
        } else {
            Err(Reject::BadChecksum)
        }
    }

    /// The message joined, or `Err(BadChecksum)`.
    pub fn join(&self) -> Result<Vec<u8>, Reject> {
        let mut out = vec![0; self.len];
        self.join_into(&mut out)?;
        Ok(out)
    }
}

#[derive(Debug)]
struct Partial {
    started_ms: u64,
    /// Push sequence number when started (the age index's tie-break).
    created: u64,
    /// Push sequence number of the latest fragment (the rank index's).
    touched: u64,
    /// Fragments in the message (its key's count).
    count: u16,
    fragments: BTreeMap<u16, Vec<u8>>,
    len: usize,
    bytes: usize,
}

impl Partial {
    fn age(&self) -> (u64, u64) {
        (self.started_ms, self.created)
    }

    /// Eviction order: the share of the fragments held (in 1/65536), then
    /// the latest push.
    fn rank(&self) -> (u64, u64) {
        let held = self.fragments.len() as u64;
        ((held << 16) / u64::from(self.count.max(1)), self.touched)
    }
}

/// Reassembles fragments from one peer.
#[derive(Debug)]
pub struct Reassembler {
    bounds: Bounds,
    partials: BTreeMap<MessageKey, Partial>,
    /// Incomplete messages, oldest first: expiry.
    by_age: BTreeMap<(u64, u64), MessageKey>,
    /// Incomplete messages, first to evict first.
    by_rank: BTreeMap<(u64, u64), MessageKey>,
    bytes_held: usize,
    pushes: u64,
    /// Keys of the latest messages completed (delivered or being verified).
    delivered: Ring<MessageKey, RECENT_MESSAGES>,
    stats: ReassemblyStats,
}

impl Reassembler {
    /// An empty reassembler with `bounds`.
    pub fn new(bounds: Bounds) -> Reassembler {
        Reassembler {
            bounds,
            partials: BTreeMap::new(),
            by_age: BTreeMap::new(),
            by_rank: BTreeMap::new(),
            bytes_held: 0,
            pushes: 0,
            delivered: Ring::default(),
            stats: ReassemblyStats::default(),
        }
    }

    /// Takes one fragment received at `now_ms`; returns the whole message
    /// once its last fragment arrived and its checksum holds.
    pub fn push(&mut self, now_ms: u64, datagram: &[u8]) -> Result<Option<Vec<u8>>, Reject> {
        let Some(done) = self.take(now_ms, datagram)? else {
            return Ok(None);
        };
        let joined = done.join();
        self.settle(done.key(), joined.is_ok())?;
        joined.map(Some)
    }

    /// Takes one fragment received at `now_ms`, like [`Self::push`], but
    /// returns a completed message unjoined: join it ([`Completed::join`],
    /// [`Completed::join_into`]) and report the outcome with
    /// [`Self::settle`].
    pub fn take(&mut self, now_ms: u64, datagram: &[u8]) -> Result<Option<Completed>, Reject> {
        self.expire(now_ms);
        let result = self.accept(now_ms, datagram);
        if let Err(reject) = result {
            self.count(reject);
        }
        result
    }

    /// Records whether a message [`Self::take`] completed passed its
    /// checksum: counted as completed, or `Err(BadChecksum)` and forgotten
    /// (so that a retransmission of it is taken).
    pub fn settle(&mut self, key: MessageKey, checksum_ok: bool) -> Result<(), Reject> {
        if checksum_ok {
            self.stats.completed += 1;
            return Ok(());
        }
        for done in self.delivered.iter_mut().filter(|done| **done == key) {
            *done = MessageKey::default();
        }
        self.count(Reject::BadChecksum);
        Err(Reject::BadChecksum)
    }

    fn count(&mut self, reject: Reject) {
        let counter = match reject {
            Reject::Malformed => &mut self.stats.malformed,
            Reject::OutOfRange => &mut self.stats.out_of_range,
            Reject::Duplicate => &mut self.stats.duplicates,
            Reject::DuplicateMessage => &mut self.stats.duplicate_messages,
            Reject::TooLarge => &mut self.stats.too_large,
            Reject::BadChecksum => &mut self.stats.bad_checksum,
        };
        *counter += 1;
    }

    fn accept(&mut self, now_ms: u64, datagram: &[u8]) -> Result<Option<Completed>, Reject> {
        let (key, index) = parse(datagram)?;
        if self.delivered.iter().any(|&done| done == key) {
            return Err(Reject::DuplicateMessage);
        }
        let payload = &datagram[HEADER_LEN..];
        if key.count == 1 {
            let fragments = BTreeMap::from([(0, payload.to_vec())]);
            return Ok(Some(self.complete(key, fragments, payload.len())));
        }
        let held = self.partials.get(&key);
        if held.is_some_and(|p| p.fragments.contains_key(&index)) {
            return Err(Reject::Duplicate);
        }
        let cost = payload.len() + PER_FRAGMENT_COST;
        let need = cost + if held.is_none() { PER_MESSAGE_COST } else { 0 };
        let too_large = held.map_or(0, |p| p.bytes) + need > self.bounds.max_bytes;
        if too_large || self.bounds.max_messages == 0 {
            self.drop_message(key);
            return Err(Reject::TooLarge);
        }
        if held.is_none() && self.has_other(key) {
            self.stats.inconsistent += 1;
        }
        self.make_room(key, need);
        self.pushes += 1;
        let mut partial = match self.partials.remove(&key) {
            Some(p) => {
                self.by_rank.remove(&p.rank());
                p
            }
            None => {
                let p = Partial {
                    started_ms: now_ms,
                    created: self.pushes,
                    touched: 0,
                    count: key.count,
                    fragments: BTreeMap::new(),
                    len: 0,
                    bytes: PER_MESSAGE_COST,
                };
                self.by_age.insert(p.age(), key);
                self.bytes_held += PER_MESSAGE_COST;
                p
            }
        };
        partial.fragments.insert(index, payload.to_vec());
        partial.touched = self.pushes;
        partial.len += payload.len();
        partial.bytes += cost;
        self.bytes_held += cost;
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.bytes_held);
        if partial.fragments.len() < usize::from(key.count) {
            self.by_rank.insert(partial.rank(), key);
            self.partials.insert(key, partial);
            return Ok(None);
        }
        self.by_age.remove(&partial.age());
        self.bytes_held -= partial.bytes;
        Ok(Some(self.complete(key, partial.fragments, partial.len)))
    }

    /// Remembers `key` as delivered (until [`Self::settle`] says otherwise).
    fn complete(
        &mut self,
        key: MessageKey,
        fragments: BTreeMap<u16, Vec<u8>>,
        len: usize,
    ) -> Completed {
        self.delivered.push(key);
        Completed {
            key,
            fragments,
            len,
        }
    }

    /// True when another message with `key`'s id is held.
    fn has_other(&self, key: MessageKey) -> bool {
        let first = MessageKey {
            id: key.id,
            count: 0,
            crc: 0,
        };
        let last = MessageKey {
            id: key.id,
            count: u16::MAX,
            crc: u32::MAX,
        };
        self.partials.range(first..=last).any(|(k, _)| *k != key)
    }

    /// Evicts other messages, least complete first, until `need` more
    /// bytes and (for a new message) one more message fit the bounds.
    fn make_room(&mut self, key: MessageKey, need: usize) {
        let is_new = !self.partials.contains_key(&key);
        loop {
            let over_bytes = self.bytes_held + need > self.bounds.max_bytes;
            let over_count = is_new && self.partials.len() >= self.bounds.max_messages;
            if !over_bytes && !over_count {
                return;
            }
            match self.by_rank.values().find(|&&other| other != key).copied() {
                Some(victim) => {
                    self.drop_message(victim);
                    self.stats.evicted += 1;
                }
                None => return,
            }
        }
    }

    fn drop_message(&mut self, key: MessageKey) {
        if let Some(partial) = self.partials.remove(&key) {
            self.by_age.remove(&partial.age());
            self.by_rank.remove(&partial.rank());
            self.bytes_held -= partial.bytes;
        }
    }

    /// Drops incomplete messages older than the timeout.
    pub fn expire(&mut self, now_ms: u64) {
        while let Some((&(started_ms, _), &key)) = self.by_age.first_key_value() {
            if now_ms.saturating_sub(started_ms) < self.bounds.timeout_ms {
                return;
            }
            self.drop_message(key);
            self.stats.expired += 1;
        }
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

/// The key and index of a fragment, or why it is refused.
fn parse(datagram: &[u8]) -> Result<(MessageKey, u16), Reject> {
    let head = datagram.get(..HEADER_LEN).ok_or(Reject::Malformed)?;
    if head[0..2] != MAGIC || head[2] != VERSION {
        return Err(Reject::Malformed);
    }
    let key = MessageKey {
        id: u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
        count: u16::from_be_bytes([head[10], head[11]]),
        crc: u32::from_be_bytes([head[12], head[13], head[14], head[15]]),
    };
    let index = u16::from_be_bytes([head[8], head[9]]);
    if key.count == 0 || index >= key.count {
        return Err(Reject::OutOfRange);
    }
    Ok((key, index))
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

    #[test]
    fn no_room_for_messages_refuses_all_but_single_fragments() {
        let mut r = Reassembler::new(Bounds {
            max_messages: 0,
            ..Bounds::default()
        });
        let f = split(&[1; 300], 4, 116).unwrap();
        assert_eq!(r.push(0, &f[0]), Err(Reject::TooLarge));
        assert_eq!(r.messages_held(), 0);
        assert_eq!(
            r.push(0, &split(b"x", 5, 100).unwrap()[0]),
            Ok(Some(b"x".to_vec()))
        );
    }

    #[test]
    fn eviction_takes_the_message_with_the_fewest_fragments_first() {
        let mut r = Reassembler::new(Bounds {
            max_messages: 2,
            ..Bounds::default()
        });
        let older = split(&[1; 300], 1, 116).unwrap();
        let newer = split(&[2; 300], 2, 116).unwrap();
        assert_eq!(r.push(0, &older[0]), Ok(None));
        assert_eq!(r.push(0, &older[1]), Ok(None));
        assert_eq!(r.push(1, &newer[0]), Ok(None));
        // A third message: the newer one (one fragment) goes, not the older (two).
        assert_eq!(r.push(2, &split(&[3; 300], 3, 116).unwrap()[0]), Ok(None));
        assert_eq!(r.stats().evicted, 1);
        assert_eq!(r.push(3, &older[2]), Ok(Some(vec![1; 300])));
    }
}
