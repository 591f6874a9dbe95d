//! A node-wide path-MTU cache, like the kernel's route cache: per peer
//! address, the MTU, when it was last confirmed, a confidence that grows with
//! confirmations and shrinks with losses, and a bounded history of changes.
//! Entries expire after a TTL; the cache has a hard size bound (least
//! recently used out first). Thread-safe: 16 shards behind mutexes.

use parking_lot::Mutex;
use plpmtud_core::ring::Ring;
use std::collections::HashMap;
use std::net::IpAddr;

const SHARDS: usize = 16;
/// Changes kept per entry.
pub const ENTRY_HISTORY: usize = 8;

/// Why a cached MTU was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheReason {
    /// A probe of this size was acknowledged (a confirmation).
    #[default]
    ProbeSuccess,
    /// A validated Packet-Too-Big.
    Ptb,
    /// Packets of this size were lost.
    Loss,
    /// Probes timed out.
    Timeout,
    /// A black hole was detected.
    BlackHole,
    /// Set by hand.
    Manual,
}

impl CacheReason {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            CacheReason::ProbeSuccess => "probe_success",
            CacheReason::Ptb => "ptb",
            CacheReason::Loss => "loss",
            CacheReason::Timeout => "timeout",
            CacheReason::BlackHole => "black_hole",
            CacheReason::Manual => "manual",
        }
    }

    /// The reason named `name`.
    pub fn from_name(name: &str) -> Option<CacheReason> {
        [
            CacheReason::ProbeSuccess,
            CacheReason::Ptb,
            CacheReason::Loss,
            CacheReason::Timeout,
            CacheReason::BlackHole,
            CacheReason::Manual,
        ]
        .into_iter()
        .find(|r| r.name() == name)
    }
}

/// One change of a cached MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheChange {
    /// When (ms).
    pub at_ms: u64,
    /// The MTU recorded.
    pub mtu: u32,
    /// Why.
    pub reason: CacheReason,
}

/// What the cache knows about one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathEntry {
    /// The path MTU in IP bytes.
    pub mtu: u32,
    /// When it was last confirmed or set (ms); the TTL runs from here.
    pub confirmed_at_ms: u64,
    /// 0..=100: grows with confirmations, shrinks with losses.
    pub confidence: u8,
    /// The latest changes, oldest first.
    pub history: Ring<CacheChange, ENTRY_HISTORY>,
    last_used_ms: u64,
}

/// Counters of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups that found a live entry.
    pub hits: u64,
    /// Lookups that found none (or an expired one).
    pub misses: u64,
    /// Entries dropped to stay within the size bound.
    pub evictions: u64,
    /// Entries dropped because their TTL passed.
    pub expirations: u64,
}

/// One lock's worth of entries, with its own counters (no shared cache line).
#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<IpAddr, PathEntry>,
    stats: CacheStats,
}

/// The cache.
#[derive(Debug)]
pub struct PathCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    ttl_ms: u64,
}

fn shard_of(ip: &IpAddr) -> usize {
    let fold = |bytes: &[u8]| {
        bytes.iter().fold(0usize, |h, &b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        })
    };
    match ip {
        IpAddr::V4(v4) => fold(&v4.octets()) % SHARDS,
        IpAddr::V6(v6) => fold(&v6.octets()) % SHARDS,
    }
}

impl PathCache {
    /// A cache of at most `capacity` entries (at least 16) living `ttl_ms` each.
    pub fn new(capacity: usize, ttl_ms: u64) -> PathCache {
        PathCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            ttl_ms,
        }
    }

    /// The live entry for `ip` at `now_ms`, if any.
    pub fn lookup(&self, now_ms: u64, ip: IpAddr) -> Option<PathEntry> {
        let mut guard = self.shards[shard_of(&ip)].lock();
        let shard = &mut *guard;
        let found = match shard.entries.get_mut(&ip) {
            Some(entry) if now_ms.saturating_sub(entry.confirmed_at_ms) < self.ttl_ms => {
                entry.last_used_ms = now_ms;
                Some(*entry)
            }
            Some(_) => {
                shard.entries.remove(&ip);
                shard.stats.expirations += 1;
                None
            }
            None => None,
        };
        if found.is_some() {
            shard.stats.hits += 1;
        } else {
            shard.stats.misses += 1;
        }
        found
    }

    /// Records what was learnt about `ip`: a confirmation raises confidence
    /// (+20), a loss or timeout lowers it (−25), a PTB or black hole resets it
    /// to 50; any new MTU is added to the history.
    pub fn record(&self, now_ms: u64, ip: IpAddr, mtu: u32, reason: CacheReason) {
        let mut guard = self.shards[shard_of(&ip)].lock();
        let shard = &mut *guard;
        if !shard.entries.contains_key(&ip) && shard.entries.len() >= self.per_shard {
            let lru = shard
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used_ms)
                .map(|(k, _)| *k);
            if let Some(lru) = lru {
                shard.entries.remove(&lru);
                shard.stats.evictions += 1;
            }
        }
        let entry = shard.entries.entry(ip).or_insert_with(|| PathEntry {
            mtu,
            confirmed_at_ms: now_ms,
            confidence: 50,
            history: Ring::default(),
            last_used_ms: now_ms,
        });
        let changed = entry.mtu != mtu || entry.history.is_empty();
        entry.mtu = mtu;
        entry.last_used_ms = now_ms;
        match reason {
            CacheReason::ProbeSuccess | CacheReason::Manual => {
                entry.confidence = entry.confidence.saturating_add(20).min(100);
                entry.confirmed_at_ms = now_ms;
            }
            CacheReason::Loss | CacheReason::Timeout => {
                entry.confidence = entry.confidence.saturating_sub(25);
            }
            CacheReason::Ptb | CacheReason::BlackHole => {
                entry.confidence = 50;
                entry.confirmed_at_ms = now_ms;
            }
        }
        if changed {
            entry.history.push(CacheChange {
                at_ms: now_ms,
                mtu,
                reason,
            });
        }
    }

    /// Forgets `ip`.
    pub fn remove(&self, ip: IpAddr) -> bool {
        self.shards[shard_of(&ip)]
            .lock()
            .entries
            .remove(&ip)
            .is_some()
    }

    /// Every live entry at `now_ms`.
    pub fn entries(&self, now_ms: u64) -> Vec<(IpAddr, PathEntry)> {
        self.shards
            .iter()
            .flat_map(|shard| {
                shard
                    .lock()
                    .entries
                    .iter()
                    .filter(|(_, e)| now_ms.saturating_sub(e.confirmed_at_ms) < self.ttl_ms)
                    .map(|(k, e)| (*k, *e))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The smallest live MTU among `peers` (to send one size to all of
    /// them), or `None` if none of them is known.
    pub fn group_mtu(&self, now_ms: u64, peers: &[IpAddr]) -> Option<u32> {
        peers
            .iter()
            .filter_map(|&ip| self.lookup(now_ms, ip))
            .map(|e| e.mtu)
            .min()
    }

    /// Entries held (expired ones included until touched).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().entries.len()).sum()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters since creation.
    pub fn stats(&self) -> CacheStats {
        self.shards
            .iter()
            .fold(CacheStats::default(), |sum, shard| {
                let s = shard.lock().stats;
                CacheStats {
                    hits: sum.hits + s.hits,
                    misses: sum.misses + s.misses,
                    evictions: sum.evictions + s.evictions,
                    expirations: sum.expirations + s.expirations,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + n))
    }

    #[test]
    fn confirmations_and_losses_move_confidence_and_history_keeps_changes() {
        let cache = PathCache::new(100, 600_000);
        cache.record(0, ip(1), 1400, CacheReason::ProbeSuccess);
        cache.record(10, ip(1), 1400, CacheReason::ProbeSuccess);
        let e = cache.lookup(20, ip(1)).unwrap();
        assert_eq!((e.mtu, e.confidence, e.confirmed_at_ms), (1400, 90, 10));
        cache.record(30, ip(1), 1400, CacheReason::Loss);
        cache.record(40, ip(1), 1280, CacheReason::BlackHole);
        let e = cache.lookup(50, ip(1)).unwrap();
        assert_eq!((e.mtu, e.confidence), (1280, 50));
        let reasons: Vec<_> = e.history.iter().map(|c| (c.mtu, c.reason)).collect();
        assert_eq!(
            reasons,
            vec![
                (1400, CacheReason::ProbeSuccess),
                (1280, CacheReason::BlackHole)
            ]
        );
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = PathCache::new(100, 1_000);
        cache.record(0, ip(1), 1400, CacheReason::ProbeSuccess);
        assert!(cache.lookup(999, ip(1)).is_some());
        assert!(cache.lookup(1_000, ip(1)).is_none());
        assert_eq!(cache.stats().expirations, 1);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_size_bound_evicts_the_least_recently_used() {
        let cache = PathCache::new(16, 600_000);
        for n in 0..10_000 {
            cache.record(u64::from(n), ip(n), 1400, CacheReason::ProbeSuccess);
            assert!(cache.len() <= 16);
        }
        assert!(cache.stats().evictions >= 10_000 - 16);
        assert!(
            cache.lookup(10_000, ip(9_999)).is_some(),
            "the newest stays"
        );
    }

    #[test]
    fn group_mtu_is_the_smallest_known() {
        let cache = PathCache::new(100, 600_000);
        cache.record(0, ip(1), 1500, CacheReason::ProbeSuccess);
        cache.record(0, ip(2), 1420, CacheReason::ProbeSuccess);
        assert_eq!(cache.group_mtu(1, &[ip(1), ip(2), ip(3)]), Some(1420));
        assert_eq!(cache.group_mtu(1, &[ip(3)]), None);
        assert!(cache.remove(ip(2)));
        assert_eq!(cache.group_mtu(1, &[ip(1), ip(2)]), Some(1500));
    }
}
