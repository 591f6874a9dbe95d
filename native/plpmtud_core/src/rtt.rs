//! RFC 6298 round-trip estimation, used to derive the probe timeout.
//!
//! One change to RFC 6298's start: the first [`WARMUP_SAMPLES`] samples are
//! folded as their minimum (RTTVAR half of it), not as the first one. The
//! first exchange of a fresh VM or path often takes tens of milliseconds
//! more than every later one (code loading, ARP/ND, a cold cache), and with
//! RFC 6298's gains that one sample would inflate every timeout for dozens
//! of samples; the minimum of a few is what the path itself costs.

/// Samples folded as their minimum before the RFC 6298 averages apply.
pub const WARMUP_SAMPLES: u8 = 4;

/// Smoothed RTT and its variation, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RttEstimator {
    srtt_ms: Option<u64>,
    rttvar_ms: u64,
    samples: u8,
}

impl RttEstimator {
    /// Folds one RTT sample in: the minimum so far during the warm-up,
    /// then alpha 1/8, beta 1/4.
    pub fn sample(&mut self, rtt_ms: u64) {
        let rtt_ms = rtt_ms.min(u64::from(u32::MAX));
        let warming = self.samples < WARMUP_SAMPLES;
        self.samples = self.samples.saturating_add(1);
        match self.srtt_ms {
            None => {
                self.srtt_ms = Some(rtt_ms);
                self.rttvar_ms = rtt_ms / 2;
            }
            Some(srtt) if warming => {
                let least = srtt.min(rtt_ms);
                self.srtt_ms = Some(least);
                self.rttvar_ms = least / 2;
            }
            Some(srtt) => {
                self.rttvar_ms = (3 * self.rttvar_ms + srtt.abs_diff(rtt_ms)) / 4;
                self.srtt_ms = Some((7 * srtt + rtt_ms) / 8);
            }
        }
    }

    /// The smoothed RTT, once a sample has been seen.
    pub fn srtt_ms(&self) -> Option<u64> {
        self.srtt_ms
    }

    /// RTO = SRTT + max(1 ms, 4 RTTVAR), clamped to `[min_ms, max_ms]`; `None` before any sample.
    pub fn rto_ms(&self, min_ms: u64, max_ms: u64) -> Option<u64> {
        self.srtt_ms
            .map(|srtt| (srtt + (4 * self.rttvar_ms).max(1)).clamp(min_ms, max_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::RttEstimator;

    #[test]
    fn first_sample_sets_rto_to_three_rtts() {
        let mut rtt = RttEstimator::default();
        assert_eq!(rtt.rto_ms(100, 10_000), None);
        rtt.sample(200);
        assert_eq!(rtt.srtt_ms(), Some(200));
        assert_eq!(rtt.rto_ms(100, 10_000), Some(600));
    }

    /// A cold first exchange (45 ms) on a 1 ms path: with RFC 6298 alone
    /// the RTO stays above 20 ms for more than 20 samples.
    #[test]
    fn a_slow_first_sample_does_not_set_later_timeouts() {
        let mut rtt = RttEstimator::default();
        rtt.sample(45);
        assert_eq!(rtt.rto_ms(1, 10_000), Some(133));
        rtt.sample(1);
        assert_eq!(rtt.srtt_ms(), Some(1));
        assert_eq!(rtt.rto_ms(1, 10_000), Some(2));
        for _ in 0..3 {
            rtt.sample(1);
        }
        assert_eq!(rtt.rto_ms(1, 10_000), Some(2));
    }

    /// After the warm-up, a path that got slower is followed as RFC 6298 does.
    #[test]
    fn after_the_warm_up_samples_are_averaged() {
        let mut rtt = RttEstimator::default();
        for _ in 0..super::WARMUP_SAMPLES {
            rtt.sample(10);
        }
        rtt.sample(90);
        assert_eq!(rtt.srtt_ms(), Some(20));
    }

    #[test]
    fn steady_samples_shrink_the_variance_and_the_bounds_apply() {
        let mut rtt = RttEstimator::default();
        for _ in 0..50 {
            rtt.sample(40);
        }
        assert_eq!(rtt.srtt_ms(), Some(40));
        assert_eq!(rtt.rto_ms(1, 10_000), Some(41));
        assert_eq!(rtt.rto_ms(100, 10_000), Some(100));
        rtt.sample(100_000);
        assert_eq!(rtt.rto_ms(100, 10_000), Some(10_000));
    }
}
