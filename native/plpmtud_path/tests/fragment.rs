//! Fragmentation round trips for random sizes, orders, losses and duplicates.

use plpmtud_path::fragment::{crc32, split, Bounds, Reassembler, Reject, HEADER_LEN};
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
    fn forged_fragments_under_the_real_id_never_stop_the_real_message(
        message in proptest::collection::vec(any::<u8>(), 1..6_000),
        datagram in 17usize..1500,
        forgeries in proptest::collection::vec(
            (any::<u16>(), any::<u16>(), any::<u32>(), 0usize..1500, any::<usize>()),
            1..40,
        ),
    ) {
        let real = split(&message, 5, datagram).unwrap();
        let mut stream: Vec<Vec<u8>> = real.clone();
        for &(index, count, crc, len, at) in &forgeries {
            prop_assume!(crc != crc32(&message));
            let count = count.max(1);
            let mut f = real[0][..8].to_vec();
            f.extend_from_slice(&(index % count).to_be_bytes());
            f.extend_from_slice(&count.to_be_bytes());
            f.extend_from_slice(&crc.to_be_bytes());
            f.resize(HEADER_LEN + len, 0xEE);
            stream.insert(at % (stream.len() + 1), f);
        }
        let mut r = Reassembler::new(Bounds::default());
        let mut done = Vec::new();
        for f in &stream {
            if let Ok(Some(m)) = r.push(0, f) {
                done.push(m);
            }
        }
        prop_assert!(done.contains(&message));
        prop_assert!(r.bytes_held() <= Bounds::default().max_bytes);
    }
}
