//! Search strategies: which size to probe next inside `(confirmed, limit]`.
//!
//! `confirmed` is the largest size known to pass; `limit` is the largest size
//! not yet known to be too big. Both are IP MTU bytes.

use crate::config::Strategy;
use arrayvec::ArrayVec;

/// Most sizes one search round probes at once (`probe_sizes`).
pub const MAX_SIZES: usize = 4;

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

/// The sizes of one search round of up to `k` sizes in flight together
/// (`probe_sizes`), largest first; empty when the search is complete.
///
/// With `k` 1 this is [`next_probe_size`]. Otherwise the round is a k-ary
/// split of `(confirmed, limit]`: `k` sizes evenly spaced so that the
/// answers leave one of `k + 1` equal intervals, or, while nothing has
/// failed (`untouched`), `k` intervals whose top is the limit itself (a
/// path as wide as the ceiling is then found in one round). The
/// common-values strategy takes table values inside the range first
/// (spread over the table, the largest one first while untouched) and
/// fills the remaining places with the byte split. A range of at most
/// `threshold` bytes ends the search as with one size.
///
/// ```
/// use plpmtud_core::{config::Strategy, search::round_sizes};
/// assert_eq!(round_sizes(Strategy::Binary, 576, 1500, 2, true, 1).as_slice(), [1038]);
/// assert_eq!(round_sizes(Strategy::Binary, 576, 1500, 2, true, 3).as_slice(), [1500, 1192, 884]);
/// assert_eq!(round_sizes(Strategy::Binary, 1192, 1499, 2, false, 3).as_slice(), [1422, 1345, 1268]);
/// assert_eq!(round_sizes(Strategy::Binary, 1349, 1353, 2, false, 3).as_slice(), [1352, 1351, 1350]);
/// assert!(round_sizes(Strategy::Binary, 1350, 1352, 2, false, 3).is_empty());
/// ```
pub fn round_sizes(
    strategy: Strategy,
    confirmed: u32,
    limit: u32,
    threshold: u32,
    untouched: bool,
    k: usize,
) -> ArrayVec<u32, MAX_SIZES> {
    let k = k.clamp(1, MAX_SIZES);
    let mut sizes = ArrayVec::new();
    if k == 1 {
        sizes.extend(next_probe_size(
            strategy, confirmed, limit, threshold, untouched,
        ));
        return sizes;
    }
    if limit <= confirmed {
        return sizes;
    }
    let add = |sizes: &mut ArrayVec<u32, MAX_SIZES>, size: u32| {
        if sizes.len() < k && size > confirmed && size <= limit && !sizes.contains(&size) {
            let _ = sizes.try_push(size);
        }
    };
    if strategy == Strategy::CommonValues {
        let candidates = common_candidates(confirmed, limit);
        let n = candidates.clone().count();
        let m = k.min(n);
        // The centres of m equal buckets of the table (its largest value
        // first while untouched, the rest spread over the others).
        let (first, rest) = if untouched && m > 0 {
            (1, m - 1)
        } else {
            (0, m)
        };
        if first == 1 {
            add(&mut sizes, candidates.clone().next().unwrap_or(limit));
        }
        let others = n - first;
        for j in 0..rest {
            let index = first + (2 * j + 1) * others / (2 * rest);
            if let Some(size) = candidates.clone().nth(index) {
                add(&mut sizes, size);
            }
        }
    }
    let span = u64::from(limit - confirmed);
    if span <= u64::from(threshold) {
        if untouched {
            add(&mut sizes, limit);
        }
    } else {
        let parts = if untouched { k } else { k + 1 } as u64;
        for i in (1..=k as u64).rev() {
            if sizes.len() == k {
                break;
            }
            let size = u64::from(confirmed) + span * i / parts;
            add(&mut sizes, size as u32);
        }
    }
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
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
    fn a_round_of_one_size_is_the_single_probe_exactly() {
        for (confirmed, limit, untouched) in
            [(576, 1500, true), (1038, 1500, false), (1484, 1500, true)]
        {
            for strategy in [Strategy::Binary, Strategy::CommonValues] {
                let one = next_probe_size(strategy, confirmed, limit, 16, untouched);
                let round = round_sizes(strategy, confirmed, limit, 16, untouched, 1);
                assert_eq!(round.first().copied(), one);
                assert!(round.len() <= 1);
            }
        }
    }

    #[test]
    fn a_k_ary_round_splits_the_range_into_equal_parts() {
        assert_eq!(
            round_sizes(Strategy::Binary, 576, 1500, 2, true, 4).as_slice(),
            [1500, 1269, 1038, 807]
        );
        assert_eq!(
            round_sizes(Strategy::Binary, 1269, 1499, 2, false, 4).as_slice(),
            [1453, 1407, 1361, 1315]
        );
        assert_eq!(
            round_sizes(Strategy::Binary, 1000, 1001, 2, false, 4).as_slice(),
            [] as [u32; 0]
        );
        // Too few bytes for four distinct sizes: the ones that exist.
        assert_eq!(
            round_sizes(Strategy::Binary, 1000, 1003, 2, false, 4).as_slice(),
            [1002, 1001]
        );
        assert_eq!(
            round_sizes(Strategy::Binary, 1000, 1002, 2, true, 4).as_slice(),
            [1002]
        );
    }

    #[test]
    fn a_k_ary_round_of_common_values_spreads_over_the_table_then_bytes() {
        // Untouched: the largest table value, then the others spread.
        assert_eq!(
            round_sizes(Strategy::CommonValues, 576, 1500, 16, true, 3).as_slice(),
            [1500, 1472, 1380]
        );
        // One table value left: it, and the byte split for the rest.
        assert_eq!(
            round_sizes(Strategy::CommonValues, 1350, 1390, 16, false, 3).as_slice(),
            [1380, 1370, 1360]
        );
        // Never more than k, whatever the table and the threshold leave.
        assert_eq!(
            round_sizes(Strategy::CommonValues, 576, 34430, 50_000, true, 3).as_slice(),
            [9001, 1480, 1380]
        );
        // Inside the threshold, only table values are probed.
        assert_eq!(
            round_sizes(Strategy::CommonValues, 1480, 1492, 16, false, 3).as_slice(),
            [1492]
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
