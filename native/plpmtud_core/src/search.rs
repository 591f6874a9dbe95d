//! Search strategies: which size to probe next inside `(confirmed, limit]`.
//!
//! `confirmed` is the largest size known to pass; `limit` is the largest size
//! not yet known to be too big. Both are IP MTU bytes.

use crate::config::Strategy;

/// Path MTUs seen often enough to try first (RFC 8899 §5.3.2), largest first:
/// jumbo (AWS 9001, 9000), Ethernet, PPPoE, tunnels, WireGuard, the IPv6 minimum.
pub const COMMON_MTUS: [u32; 13] = [
    9001, 9000, 1500, 1492, 1480, 1472, 1460, 1450, 1420, 1400, 1380, 1350, 1280,
];

/// Common MTUs strictly above `confirmed` and at most `limit`, largest first.
fn common_candidates(confirmed: u32, limit: u32) -> impl DoubleEndedIterator<Item = u32> + Clone {
    COMMON_MTUS
        .into_iter()
        .filter(move |&mtu| mtu > confirmed && mtu <= limit)
}

/// The next size to probe, or `None` when the search is complete.
///
/// `untouched` is true while nothing above `confirmed` has failed in this
/// search; the common-values strategy then tries the largest candidate first.
///
/// ```
/// use plpmtud_core::{config::Strategy, search::next_probe_size};
/// assert_eq!(next_probe_size(Strategy::Binary, 576, 1500, 16, true), Some(1038));
/// assert_eq!(next_probe_size(Strategy::Binary, 1038, 1500, 16, true), Some(1269));
/// assert_eq!(next_probe_size(Strategy::Binary, 1484, 1500, 16, true), Some(1500));
/// assert_eq!(next_probe_size(Strategy::Binary, 1484, 1500, 16, false), None);
/// assert_eq!(next_probe_size(Strategy::CommonValues, 576, 1500, 16, true), Some(1500));
/// ```
pub fn next_probe_size(
    strategy: Strategy,
    confirmed: u32,
    limit: u32,
    threshold: u32,
    untouched: bool,
) -> Option<u32> {
    if limit <= confirmed {
        return None;
    }
    if strategy == Strategy::CommonValues {
        let candidates = common_candidates(confirmed, limit);
        let count = candidates.clone().count();
        if count > 0 {
            let index = if untouched { 0 } else { count / 2 };
            return candidates.clone().nth(index);
        }
    }
    if limit - confirmed <= threshold {
        // A search that met no loss ends by probing its limit (the
        // ceiling) itself: one probe more finds a path as wide as the
        // ceiling exactly, not up to `threshold` bytes short.
        return untouched.then_some(limit);
    }
    Some(confirmed + (limit - confirmed) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_halves_the_range_as_aiutp_specifies() {
        assert_eq!(
            next_probe_size(Strategy::Binary, 576, 1500, 16, true),
            Some(1038)
        );
        assert_eq!(
            next_probe_size(Strategy::Binary, 1038, 1500, 16, false),
            Some(1269)
        );
        assert_eq!(
            next_probe_size(Strategy::Binary, 576, 1037, 16, false),
            Some(806)
        );
    }

    #[test]
    fn binary_stops_at_the_threshold() {
        assert_eq!(
            next_probe_size(Strategy::Binary, 1000, 1016, 16, false),
            None
        );
        assert_eq!(
            next_probe_size(Strategy::Binary, 1000, 1017, 16, false),
            Some(1008)
        );
        assert_eq!(
            next_probe_size(Strategy::Binary, 1500, 1500, 16, false),
            None
        );
        assert_eq!(
            next_probe_size(Strategy::Binary, 1500, 1400, 16, false),
            None
        );
    }

    #[test]
    fn common_values_try_the_largest_first_then_bisect_the_table() {
        assert_eq!(
            next_probe_size(Strategy::CommonValues, 576, 1500, 16, true),
            Some(1500)
        );
        // 1500 failed: ten candidates from 1492 to 1280 remain; the middle one is next.
        assert_eq!(
            next_probe_size(Strategy::CommonValues, 576, 1499, 16, false),
            Some(1420)
        );
        assert_eq!(
            next_probe_size(Strategy::CommonValues, 576, 9000, 16, true),
            Some(9000)
        );
    }

    #[test]
    fn common_values_probe_a_table_value_even_inside_the_threshold() {
        assert_eq!(
            next_probe_size(Strategy::CommonValues, 1480, 1492, 16, false),
            Some(1492)
        );
        assert_eq!(
            next_probe_size(Strategy::CommonValues, 1492, 1499, 16, false),
            None
        );
    }

    #[test]
    fn common_values_fall_back_to_bytes_between_table_values() {
        // 1350 confirmed, 1380 failed: no table value left, 29 bytes to split.
        assert_eq!(
            next_probe_size(Strategy::CommonValues, 1350, 1379, 16, false),
            Some(1364)
        );
        assert_eq!(
            next_probe_size(Strategy::CommonValues, 1350, 1363, 16, false),
            None
        );
    }
}
