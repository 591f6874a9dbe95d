//! Black-hole suspicion (RFC 8899 §4.3): full-size packets keep getting lost
//! while none is acknowledged.
//!
//! Losses are grouped into bursts: a loss within `burst_window_ms` of the
//! burst's first loss belongs to that burst, so a transport that reports a
//! whole window of losses at once counts once. Any acknowledged full-size
//! packet clears the suspicion. A suspicion is only a reason to check the
//! PLPMTU with a probe; the prober decides.

/// Counts loss bursts of full-size packets since the last full-size acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlackHoleDetector {
    bursts: u32,
    burst_started_at_ms: Option<u64>,
}

impl BlackHoleDetector {
    /// Records the loss of a full-size packet; true once `threshold` bursts are reached.
    pub fn on_full_size_lost(&mut self, now_ms: u64, burst_window_ms: u64, threshold: u32) -> bool {
        let new_burst = match self.burst_started_at_ms {
            None => true,
            Some(started) => now_ms >= started.saturating_add(burst_window_ms),
        };
        if new_burst {
            self.bursts = self.bursts.saturating_add(1);
            self.burst_started_at_ms = Some(now_ms);
        }
        self.bursts >= threshold
    }

    /// A full-size packet got through: the path carries the PLPMTU.
    pub fn reset(&mut self) {
        *self = BlackHoleDetector::default();
    }

    /// Loss bursts counted since the last reset.
    pub fn bursts(&self) -> u32 {
        self.bursts
    }
}

#[cfg(test)]
mod tests {
    use super::BlackHoleDetector;

    #[test]
    fn losses_inside_one_window_are_one_burst() {
        let mut d = BlackHoleDetector::default();
        for t in 0..10 {
            assert!(!d.on_full_size_lost(t * 10, 1000, 3));
        }
        assert_eq!(d.bursts(), 1);
        assert!(!d.on_full_size_lost(1000, 1000, 3));
        assert!(d.on_full_size_lost(2000, 1000, 3));
        assert_eq!(d.bursts(), 3);
    }

    #[test]
    fn a_full_size_ack_clears_the_count() {
        let mut d = BlackHoleDetector::default();
        d.on_full_size_lost(0, 100, 3);
        d.on_full_size_lost(200, 100, 3);
        d.reset();
        assert_eq!(d.bursts(), 0);
        assert!(!d.on_full_size_lost(400, 100, 3));
    }
}
