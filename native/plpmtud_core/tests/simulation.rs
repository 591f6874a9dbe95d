//! The prober over the deterministic path simulator: accuracy on every path
//! MTU, probe counts, loss robustness and property tests.

use plpmtud_core::{Config, ProbeTimeoutMode, State, Strategy as Search};
use plpmtud_sim::sim::{settle_ms, simulate, SimPath, SimResult, StopWhen, Trace};
use proptest::prelude::*;

const STRATEGIES: [Search; 2] = [Search::Binary, Search::CommonValues];

fn settle(config: Config, path: &SimPath) -> plpmtud_sim::sim::SimResult {
    let run = simulate(config, path, StopWhen::Settled);
    assert!(run.settled, "run did not settle: {path:?}");
    assert_eq!(run.violations, Vec::<String>::new(), "{path:?}");
    run
}

/// A config whose probe intervals and timeouts keep [`settle_ms`] short.
fn quick(config: Config) -> Config {
    Config {
        probe_interval_ms: 10_000,
        max_probe_interval_ms: 80_000,
        max_probe_timeout_ms: 2_000,
        ..config
    }
}

/// Runs until the oracle's part (b) has applied for a while after the last
/// path MTU change, and checks the oracle held throughout.
fn run_past_settling(config: Config, path: &SimPath) -> SimResult {
    let last = path.mtu_changes.last().map_or(0, |&(at, _)| at);
    let run = simulate(
        config,
        path,
        StopWhen::At(last + settle_ms(&config) + 5_000),
    );
    assert_eq!(run.violations, Vec::<String>::new(), "{config:?} {path:?}");
    run
}

fn changed_while_searching(run: &SimResult) -> bool {
    run.trace.iter().any(|t| {
        matches!(
            t,
            Trace::PathMtu {
                state: State::Searching,
                ..
            }
        )
    })
}

#[test]
fn every_path_mtu_from_576_to_1500_is_found_within_16_bytes_and_never_above() {
    let mut checked = 0;
    for strategy in STRATEGIES {
        for data in [None, Some(20)] {
            for mtu in 576..=1500u32 {
                let path = SimPath {
                    data_interval_ms: data,
                    ..SimPath::clean(mtu)
                };
                let run = settle(
                    Config {
                        strategy,
                        ..Config::default()
                    },
                    &path,
                );
                let found = run.prober.sizes().packet;
                assert_eq!(
                    run.prober.snapshot().state,
                    State::SearchComplete,
                    "{strategy:?} {mtu}"
                );
                assert!(
                    found <= mtu,
                    "{strategy:?} data {data:?}: {found} above {mtu}"
                );
                assert!(
                    mtu - found <= 16,
                    "{strategy:?} data {data:?}: {found} for {mtu}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 925 * 4);
}

/// Six halvings at most, plus one check of the floor on the narrowest
/// paths, or, on paths that lost nothing up to 16 bytes below the ceiling,
/// one probe of the ceiling itself (1500 is then found exactly).
#[test]
fn binary_search_uses_at_most_six_sizes_plus_one_check_or_the_ceiling() {
    for mtu in 576..=1500u32 {
        let run = settle(Config::default(), &SimPath::clean(mtu));
        let checks = u64::from(run.prober.snapshot().stats.probing_checks);
        assert!(checks <= 1, "mtu {mtu}: {checks} checks");
        let ceiling = u64::from(run.probe_sizes.last() == Some(&1500));
        assert!(
            checks + ceiling <= 1,
            "mtu {mtu}: sizes {:?}",
            run.probe_sizes
        );
        let search_sizes = run.probe_sizes.len() as u64 - checks - ceiling;
        assert!(search_sizes <= 6, "mtu {mtu}: sizes {:?}", run.probe_sizes);
        if mtu == 1500 {
            assert_eq!(run.prober.sizes().packet, 1500);
        }
    }
}

#[test]
fn common_values_find_common_path_mtus_exactly() {
    for mtu in [
        1500, 1492, 1480, 1472, 1460, 1450, 1420, 1400, 1380, 1350, 1280,
    ] {
        let config = Config {
            strategy: Search::CommonValues,
            ..Config::default()
        };
        let run = settle(config, &SimPath::clean(mtu));
        assert_eq!(run.prober.sizes().packet, mtu);
    }
    let config = Config {
        strategy: Search::CommonValues,
        ..Config::default()
    };
    assert_eq!(
        settle(config, &SimPath::clean(1500)).probe_sizes,
        vec![1500]
    );
}

#[test]
fn aiutp_literal_rule_leaves_paths_short_where_plpmtud_leaves_none() {
    let compat = Config {
        aiutp_compat: true,
        ..Config::default()
    };
    let short = (576..=1500u32)
        .filter(|&mtu| {
            let run = simulate(compat, &SimPath::clean(mtu), StopWhen::Settled);
            mtu - run.prober.sizes().packet > 16
        })
        .count();
    assert!(
        short > 100,
        "aiutp's rule should misfire on many limits, got {short}"
    );
}

#[test]
fn five_percent_loss_ends_within_16_bytes_in_99_percent_of_runs() {
    let mut good = 0;
    for seed in 0..1000u64 {
        let mtu = 576 + (seed * 7919 % 925) as u32;
        let path = SimPath {
            loss: 0.05,
            seed,
            ..SimPath::clean(mtu)
        };
        let run = settle(Config::default(), &path);
        let found = run.prober.sizes().packet;
        assert!(found <= mtu, "seed {seed}: {found} above {mtu}");
        if mtu - found <= 16 {
            good += 1;
        }
    }
    assert!(good >= 990, "only {good} of 1000 runs within 16 bytes");
}

/// Copies in flight together (plpmtud's own driver sends 3) trade no
/// robustness for speed: at 15 % random loss a size still fails only when
/// all three of its transmissions are lost, so a search ends as close to
/// the path, in far less time than three transmissions one after another.
#[test]
fn copies_in_flight_keep_the_search_as_exact_under_loss_and_make_it_faster() {
    let (mut good, mut time_copies, mut time_one) = (0, 0, 0);
    for seed in 0..500u64 {
        let mtu = 576 + (seed * 7919 % 925) as u32;
        let path = SimPath {
            loss: 0.15,
            seed,
            ..SimPath::clean(mtu)
        };
        let copies = settle(
            Config {
                probe_copies: 3,
                ..Config::default()
            },
            &path,
        );
        let found = copies.prober.sizes().packet;
        assert!(found <= mtu, "seed {seed}: {found} above {mtu}");
        if mtu - found <= 16 {
            good += 1;
        }
        time_copies += copies.now_ms;
        time_one += settle(Config::default(), &path).now_ms;
    }
    assert!(good >= 490, "only {good} of 500 runs within 16 bytes");
    assert!(
        time_copies * 2 < time_one,
        "copies {time_copies} ms in all, one at a time {time_one} ms"
    );
}

/// Issue 23's bar for the driver's settings (3 copies, a 2-byte search):
/// at 15 % random loss a search ends within 2 bytes of the path in at
/// least 98 % of runs, and never above it.
#[test]
fn the_drivers_search_ends_within_2_bytes_in_98_percent_of_runs_at_15_percent_loss() {
    let config = Config {
        probe_copies: 3,
        search_threshold: 2,
        ..Config::default()
    };
    let mut good = 0;
    for seed in 0..1000u64 {
        let mtu = 576 + (seed * 7919 % 925) as u32;
        let path = SimPath {
            loss: 0.15,
            seed,
            ..SimPath::clean(mtu)
        };
        let found = settle(config, &path).prober.sizes().packet;
        assert!(found <= mtu, "seed {seed}: {found} above {mtu}");
        if mtu - found <= 2 {
            good += 1;
        }
    }
    println!("within 2 bytes: {good} of 1000");
    assert!(good >= 980, "only {good} of 1000 runs within 2 bytes");
}

#[test]
fn ptb_from_the_path_is_confirmed_and_used() {
    let path = SimPath {
        ptb: true,
        ..SimPath::clean(1350)
    };
    let run = settle(Config::default(), &path);
    assert_eq!(run.prober.sizes().packet, 1350);
    assert_eq!(run.prober.snapshot().stats.ptb_accepted, 1);
}

#[test]
fn a_path_that_shrinks_is_detected_as_a_black_hole_and_searched_again() {
    let config = Config {
        strategy: Search::CommonValues,
        ..Config::default()
    };
    let path = SimPath {
        mtu_changes: vec![(60_000, 1350)],
        data_interval_ms: Some(10),
        ..SimPath::clean(1500)
    };
    let run = simulate(config, &path, StopWhen::At(120_000));
    assert_eq!(run.prober.snapshot().stats.black_holes, 1);
    assert_eq!(run.prober.sizes().packet, 1350);
    assert_eq!(run.prober.snapshot().state, State::SearchComplete);
}

#[test]
fn fifteen_percent_random_loss_is_not_a_black_hole() {
    for seed in 0..20u64 {
        let path = SimPath {
            loss: 0.15,
            seed,
            data_interval_ms: Some(20),
            ..SimPath::clean(1500)
        };
        let config = Config {
            strategy: Search::CommonValues,
            ..Config::default()
        };
        let run = simulate(config, &path, StopWhen::At(3_600_000));
        assert_eq!(run.now_ms, 3_600_000, "seed {seed}: the hour was simulated");
        assert_eq!(run.prober.snapshot().stats.black_holes, 0, "seed {seed}");
        assert_eq!(run.prober.sizes().packet, 1500, "seed {seed}");
    }
}

#[test]
fn the_oracle_reports_a_plpmtu_it_cannot_justify() {
    // The path drops below the floor: nothing the prober does can fit it,
    // and the oracle must say so.
    let path = SimPath {
        mtu_changes: vec![(2_000, 500)],
        data_interval_ms: Some(25),
        ..SimPath::clean(1500)
    };
    let config = quick(Config::default());
    let last = 2_000 + settle_ms(&config) + 1_000;
    let run = simulate(config, &path, StopWhen::At(last));
    assert!(
        run.violations
            .iter()
            .any(|v| v.contains("above the path MTU 500")),
        "{:?}",
        run.violations
    );
}

#[test]
fn a_path_that_shrinks_during_a_search_is_followed_down() {
    for strategy in STRATEGIES {
        let path = SimPath {
            // The first probe (1038 or 1500) is on its way at 20 ms.
            mtu_changes: vec![(20, 1300)],
            data_interval_ms: Some(25),
            ..SimPath::clean(1500)
        };
        let run = run_past_settling(
            quick(Config {
                strategy,
                ..Config::default()
            }),
            &path,
        );
        assert!(changed_while_searching(&run), "{strategy:?}");
        let found = run.prober.sizes().packet;
        assert!(found <= 1300 && 1300 - found <= 16, "{strategy:?}: {found}");
    }
}

#[test]
fn a_path_that_grows_during_a_search_is_found_by_the_next_search() {
    for strategy in STRATEGIES {
        let path = SimPath {
            mtu_changes: vec![(120, 1450)],
            data_interval_ms: Some(25),
            ..SimPath::clean(1200)
        };
        let run = run_past_settling(
            quick(Config {
                strategy,
                ..Config::default()
            }),
            &path,
        );
        assert!(changed_while_searching(&run), "{strategy:?}");
        let found = run.prober.sizes().packet;
        assert!(found <= 1450 && 1450 - found <= 16, "{strategy:?}: {found}");
    }
}

#[test]
fn late_acknowledgements_are_stale_and_raise_nothing() {
    let path = SimPath {
        late_ack: 0.5,
        late_ack_ms: 3_000,
        data_interval_ms: Some(25),
        seed: 7,
        ..SimPath::clean(1400)
    };
    let config = Config {
        probe_timeout_mode: ProbeTimeoutMode::Fixed,
        ..quick(Config::default())
    };
    let run = run_past_settling(config, &path);
    assert!(run.prober.snapshot().stats.stale_events > 0);
    assert!(run.prober.sizes().packet <= 1400);
}

#[test]
fn duplicated_and_reordered_acknowledgements_change_nothing() {
    for mtu in [1000, 1280, 1400, 1500] {
        let clean = settle(Config::default(), &SimPath::clean(mtu));
        let path = SimPath {
            dup_ack: 1.0,
            reorder: 1.0,
            reorder_ms: 30,
            ..SimPath::clean(mtu)
        };
        let run = settle(Config::default(), &path);
        assert!(run.prober.snapshot().stats.stale_events > 0, "{mtu}");
        assert_eq!(
            run.prober.sizes().packet,
            clean.prober.sizes().packet,
            "{mtu}"
        );
    }
}

/// Issue 21 item 0: every probe's data is resent under its id at the
/// PLPMTU before the probe is resolved, and the resend is acknowledged. No
/// such acknowledgement may raise the PLPMTU: the search still ends at or
/// below the path, and every rise is by a probe of its own size.
#[test]
fn acknowledged_resends_under_a_probes_id_never_confirm_it() {
    for mtu in [600, 900, 1280, 1350, 1499] {
        let path = SimPath {
            resend: 1.0,
            data_interval_ms: Some(50),
            ..SimPath::clean(mtu)
        };
        let run = run_past_settling(quick(Config::default()), &path);
        assert!(run.violations.is_empty(), "{mtu}: {:?}", run.violations);
        assert!(
            run.prober.sizes().packet <= mtu,
            "{mtu}: {}",
            run.prober.sizes().packet
        );
        assert!(run.prober.snapshot().stats.probes_lost_resent > 0, "{mtu}");
    }
}

fn arb_config() -> impl Strategy<Value = Config> {
    (
        576u32..=1400,
        0u32..=8000,
        1u32..=64,
        any::<bool>(),
        any::<bool>(),
        1u32..=5,
        1u32..=4,
        1u32..=4,
    )
        .prop_map(
            |(floor, span, threshold, common, compat, max_probes, copies, sizes)| Config {
                floor,
                ceiling: (floor + span).min(9000),
                search_threshold: threshold,
                strategy: if common {
                    Search::CommonValues
                } else {
                    Search::Binary
                },
                aiutp_compat: compat,
                max_probes,
                probe_copies: copies,
                probe_sizes: sizes,
                probe_timeout_mode: ProbeTimeoutMode::Rtt,
                ..Config::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn search_never_ends_above_the_path_and_without_loss_ends_within_the_threshold(
        config in arb_config(),
        mtu_offset in 0u32..9000,
        loss in prop_oneof![Just(0.0), 0.0f64..0.3],
        seed in any::<u64>(),
        data in prop_oneof![Just(None), Just(Some(25u64))],
    ) {
        let mtu = config.floor + mtu_offset % (config.ceiling - config.floor + 1);
        let path = SimPath { loss, seed, data_interval_ms: data, ..SimPath::clean(mtu) };
        let run = simulate(config, &path, StopWhen::Settled);
        prop_assert!(run.settled);
        let found = run.prober.sizes().packet;
        prop_assert!(found <= mtu, "{} above {}", found, mtu);
        prop_assert!(found >= config.floor);
        if loss == 0.0 && !config.aiutp_compat {
            prop_assert!(mtu - found <= config.search_threshold, "{} for {}", found, mtu);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_oracle_holds_under_late_duplicated_reordered_acks_and_mtu_changes(
        config in arb_config(),
        fixed_timeout in any::<bool>(),
        mtus in proptest::collection::vec(0u32..9000, 1..4),
        first_change in 0u64..500,
        gaps in proptest::collection::vec(1u64..20_000, 2),
        loss in prop_oneof![Just(0.0), 0.0f64..0.1],
        late in prop_oneof![Just(0.0), 0.0f64..0.3],
        dup in 0.0f64..0.5,
        reorder in (0.0f64..0.5, 0u64..40),
        ptb in any::<bool>(),
        resend in prop_oneof![Just(0.0), 0.0f64..0.5],
        seed in any::<u64>(),
    ) {
        let config = Config {
            probe_timeout_mode: if fixed_timeout { ProbeTimeoutMode::Fixed } else { ProbeTimeoutMode::Rtt },
            ..quick(config)
        };
        let span = config.ceiling - config.floor + 1;
        let mtu_of = |offset: u32| config.floor + offset % span;
        let mut at = first_change;
        let mut mtu_changes = Vec::new();
        for (i, &offset) in mtus[1..].iter().enumerate() {
            mtu_changes.push((at, mtu_of(offset)));
            at += gaps[i];
        }
        let path = SimPath {
            mtu: mtu_of(mtus[0]),
            mtu_changes,
            loss,
            late_ack: late,
            late_ack_ms: 2_500,
            dup_ack: dup,
            reorder: reorder.0,
            reorder_ms: reorder.1,
            ptb,
            resend,
            data_interval_ms: Some(50),
            seed,
            ..SimPath::clean(0)
        };
        let last = path.mtu_changes.last().map_or(0, |&(at, _)| at);
        let run = simulate(config, &path, StopWhen::At(last + settle_ms(&config) + 1_000));
        prop_assert!(run.violations.is_empty(), "{:?}", run.violations);
        let found = run.prober.sizes().packet;
        let path_mtu = path.mtu_at(run.now_ms);
        prop_assert!(found <= path_mtu, "{} above {}", found, path_mtu);
        if path.benign(&config) {
            prop_assert!(path_mtu - found <= config.search_threshold, "{} for {}", found, path_mtu);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_event_sequence_keeps_the_invariants_and_the_ack_oracle(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Err(broken) = plpmtud_sim::fuzz::run(&data) {
            prop_assert!(false, "{}", broken);
        }
    }
}
