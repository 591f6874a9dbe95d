//! The reassembler's oracle (`plpmtud_sim::reassemble`) over random byte
//! streams and over the committed fuzz seeds.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_datagram_stream_keeps_the_reassembler_within_its_bounds(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        if let Err(broken) = plpmtud_sim::reassemble::reassemble(&data) {
            prop_assert!(false, "{}", broken);
        }
    }
}

#[test]
fn the_committed_fuzz_seeds_hold_the_oracles() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/seeds/fragment_reassemble"
    );
    let mut seeds = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(broken) = plpmtud_sim::reassemble::reassemble(&data) {
            panic!("{}: {broken}", path.display());
        }
        seeds += 1;
    }
    assert!(seeds >= 4);
}
