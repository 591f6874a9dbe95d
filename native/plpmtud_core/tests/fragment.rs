//! Fragmentation round trips for random sizes, orders, losses and duplicates.

use plpmtud_core::fragment::{split, Bounds, Reassembler, Reject};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_order_with_duplicates_reassembles_the_message(
        message in proptest::collection::vec(any::<u8>(), 0..20_000),
        datagram in 17usize..1500,
        order in any::<u64>(),
        dup_every in 2usize..9,
    ) {
        let fragments = split(&message, 9, datagram).unwrap();
        let n = fragments.len();
        let mut indices: Vec<usize> = (0..n).collect();
        // A seeded shuffle.
        let mut state = order | 1;
        for i in (1..n).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            indices.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let mut r = Reassembler::new(Bounds { max_bytes: 64 << 20, ..Bounds::default() });
        let mut done = Vec::new();
        for (k, &i) in indices.iter().enumerate() {
            if let Ok(Some(m)) = r.push(0, &fragments[i]) {
                done.push(m);
            }
            // A duplicate right after the original: refused before the
            // message completes and after it alike.
            if k % dup_every == 0 {
                prop_assert!(r.push(0, &fragments[i]).is_err());
            }
        }
        prop_assert_eq!(done.len(), 1);
        prop_assert_eq!(&done[0], &message);
        prop_assert_eq!((r.messages_held(), r.bytes_held()), (0, 0));
        for f in &fragments {
            prop_assert_eq!(r.push(1, f), Err(Reject::DuplicateMessage));
        }
        prop_assert_eq!((r.messages_held(), r.bytes_held()), (0, 0));
    }

    #[test]
    fn a_lost_fragment_never_yields_a_message_and_expires(
        message in proptest::collection::vec(any::<u8>(), 2..5_000),
        lost in any::<usize>(),
    ) {
        let fragments = split(&message, 3, 100).unwrap();
        prop_assume!(fragments.len() > 1);
        let skip = lost % fragments.len();
        let mut r = Reassembler::new(Bounds::default());
        for (i, f) in fragments.iter().enumerate() {
            if i != skip {
                prop_assert_eq!(r.push(0, f), Ok(None));
            }
        }
        r.expire(Bounds::default().timeout_ms);
        prop_assert_eq!(r.bytes_held(), 0);
    }

    #[test]
    fn any_datagram_stream_keeps_the_reassembler_within_its_bounds(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        if let Err(broken) = plpmtud_core::fuzz::reassemble(&data) {
            prop_assert!(false, "{}", broken);
        }
    }
}
