//! A per-source token bucket with a fixed table, for the probe responder: a
//! source gets at most `burst` answers at once and `per_second` after that.
//!
//! Sources hash into a fixed number of buckets (so memory is bounded whatever
//! the traffic); sources that share a bucket share its budget, which only
//! ever makes the limit stricter.

use std::net::IpAddr;

/// Buckets in the table.
pub const BUCKETS: usize = 1024;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Tokens times 1000, so refill needs no floating point.
    milli_tokens: u64,
    updated_ms: u64,
}

/// Token buckets keyed by source address.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: u64,
    burst: u64,
    buckets: Box<[Bucket; BUCKETS]>,
    refused: u64,
}

impl RateLimiter {
    /// `per_second` answers per source and second, at most `burst` at once.
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        let burst = u64::from(burst.max(1));
        let full = Bucket {
            milli_tokens: burst * 1000,
            updated_ms: 0,
        };
        RateLimiter {
            per_second: u64::from(per_second),
            burst,
            buckets: Box::new([full; BUCKETS]),
            refused: 0,
        }
    }

    /// True if `source` may get an answer at `now_ms` (and spends a token).
    pub fn allow(&mut self, now_ms: u64, source: IpAddr) -> bool {
        let bucket = &mut self.buckets[bucket_of(source)];
        let elapsed = now_ms.saturating_sub(bucket.updated_ms);
        bucket.updated_ms = bucket.updated_ms.max(now_ms);
        let refill = elapsed.saturating_mul(self.per_second);
        bucket.milli_tokens = bucket
            .milli_tokens
            .saturating_add(refill)
            .min(self.burst * 1000);
        if bucket.milli_tokens >= 1000 {
            bucket.milli_tokens -= 1000;
            true
        } else {
            self.refused += 1;
            false
        }
    }

    /// Answers refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

/// FNV-1a over the address bytes.
fn bucket_of(source: IpAddr) -> usize {
    let fnv = |bytes: &[u8]| {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let hash = match source {
        IpAddr::V4(v4) => fnv(&v4.octets()),
        IpAddr::V6(v6) => fnv(&v6.octets()),
    };
    (hash % BUCKETS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut limiter = RateLimiter::new(10, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let answered = (0..10).filter(|_| limiter.allow(1_000, a)).count();
        assert_eq!(answered, 3);
        assert_eq!(limiter.refused(), 7);
        // 10 per second: one token every 100 ms.
        assert!(!limiter.allow(1_050, a));
        assert!(limiter.allow(1_150, a));
    }

    #[test]
    fn sources_in_different_buckets_do_not_share_a_budget() {
        let mut limiter = RateLimiter::new(1, 1);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "fd00::2".parse().unwrap();
        assert_ne!(bucket_of(a), bucket_of(b));
        assert!(limiter.allow(0, a));
        assert!(!limiter.allow(0, a));
        assert!(limiter.allow(0, b));
    }
}
