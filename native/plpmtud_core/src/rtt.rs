//! RFC 6298 round-trip estimation, used to derive the probe timeout.

/// Smoothed RTT and its variation, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RttEstimator {
    srtt_ms: Option<u64>,
    rttvar_ms: u64,
}

impl RttEstimator {
    /// Folds one RTT sample in (alpha 1/8, beta 1/4).
    pub fn sample(&mut self, rtt_ms: u64) {
        let rtt_ms = rtt_ms.min(u64::from(u32::MAX));
        match self.srtt_ms {
            None => {
                self.srtt_ms = Some(rtt_ms);
                self.rttvar_ms = rtt_ms / 2;
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
