//! One test per rule of the prober, with exact values.

use plpmtud_core::{
    ChangeReason, Config, Event, Events, IpFamily, LossReason, ProbeTimeoutMode, Prober,
    PtbVerdict, Quote, SizeUnit, State, Strategy,
};

/// What a test reads from an answer.
trait Answer {
    /// A probe was acknowledged.
    fn acked(&self) -> bool;
    /// A probe was lost.
    fn lost(&self) -> bool;
    /// The verdict on a PTB or EMSGSIZE.
    fn verdict(&self) -> PtbVerdict;
    /// A search started.
    fn started(&self) -> bool;
}

impl Answer for Events {
    fn acked(&self) -> bool {
        self.iter().any(|e| matches!(e, Event::ProbeAcked { .. }))
    }

    fn lost(&self) -> bool {
        self.iter().any(|e| matches!(e, Event::ProbeLost { .. }))
    }

    fn verdict(&self) -> PtbVerdict {
        self.iter()
            .find_map(|e| match *e {
                Event::Hint { verdict, .. } => Some(verdict),
                _ => None,
            })
            .expect("a hint is always judged")
    }

    fn started(&self) -> bool {
        self.iter()
            .any(|e| matches!(e, Event::SearchStarted { .. }))
    }
}

/// Calls a test makes of the transport API, in words.
trait Transport {
    /// The probe `id` in flight is acknowledged, at the size being probed.
    fn ack(&mut self, now: u64, id: u64) -> Events;
    /// A data packet of `size` is acknowledged.
    fn data_acked(&mut self, now: u64, size: u32) -> Events;
    /// A data packet of `size` is lost (by timeout).
    fn data_lost(&mut self, now: u64, size: u32) -> Events;
}

/// The id of data packets: never a probe's.
const DATA: u64 = u64::MAX;

impl Transport for Prober {
    fn ack(&mut self, now: u64, id: u64) -> Events {
        let size = self.snapshot().probing.expect("a size is being probed");
        self.acked(now, id, size)
    }

    fn data_acked(&mut self, now: u64, size: u32) -> Events {
        self.acked(now, DATA, size)
    }

    fn data_lost(&mut self, now: u64, size: u32) -> Events {
        self.lost(now, LossReason::Timeout, [(DATA, Some(size))]).1
    }
}

const MIN: u64 = 60_000;

/// A prober for `config` whose sizes are IP bytes (as the rules are written).
fn prober(config: Config) -> Prober {
    Prober::new(Config {
        size_unit: SizeUnit::Ip,
        ..config
    })
    .expect("valid config")
}

fn fixed_timeout() -> Config {
    Config {
        probe_timeout_mode: ProbeTimeoutMode::Fixed,
        ..Config::default()
    }
}

/// Sends the probe that is due, with id `id`; returns its size.
fn send(p: &mut Prober, now: u64, id: u64) -> u32 {
    let size = p.sizes().probe.expect("a probe is due");
    assert!(p.sent(now, id, size, None), "probe accepted");
    size
}

/// Runs the search at `now` to its end: a probe of a size that `fits` is
/// acknowledged, any other is lost by timeout (ids from 1).
fn search_path(p: &mut Prober, now: u64, fits: impl Fn(u32) -> bool) {
    let mut id = 0;
    while p.snapshot().state == State::Searching {
        id += 1;
        let size = send(p, now, id);
        if fits(size) {
            p.ack(now, id).acked();
        } else {
            p.lost(now, LossReason::Timeout, [(id, None)]).1.lost();
        }
    }
}

/// Sends and loses `times` transmissions of the due size (ids from `first_id`).
fn lose(p: &mut Prober, now: u64, first_id: u64, times: u64) -> u32 {
    let mut size = 0;
    for id in first_id..first_id + times {
        size = send(p, now, id);
        assert!(p.lost(now, LossReason::Timeout, [(id, None)]).1.lost());
    }
    size
}

/// Like [`lose`], returning every event the losses produced.
fn lose_events(p: &mut Prober, now: u64, first_id: u64, times: u64) -> Vec<Event> {
    let mut events = Vec::new();
    for id in first_id..first_id + times {
        let size = p.sizes().probe.expect("a probe is due");
        assert!(p.sent(now, id, size, None), "probe accepted");
        events.extend(p.lost(now, LossReason::Timeout, [(id, None)]).1.iter());
    }
    events
}

#[test]
fn discovery_waits_for_connected_then_starts_at_1038() {
    let mut p = prober(Config::default());
    assert_eq!(p.snapshot().state, State::Disabled);
    assert_eq!(p.sizes().probe, None);
    assert_eq!(p.deadline(), None);
    assert_eq!(p.sizes().packet, 576);
    p.connected(0, None);
    assert_eq!(p.snapshot().state, State::Searching);
    assert_eq!(p.sizes().probe, Some(1038));
    p.connected(5, None);
    assert_eq!(
        p.sizes().probe,
        Some(1038),
        "a second connected changes nothing"
    );
}

#[test]
fn ack_raises_the_floor_and_the_next_probe_bisects() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    assert_eq!(send(&mut p, 0, 1), 1038);
    assert_eq!(p.deadline(), Some(1000));
    assert!(p.ack(30, 1).acked());
    assert_eq!(p.sizes().packet, 1038);
    assert_eq!(p.snapshot().search_range, (1038, 1500));
    assert_eq!(p.sizes().probe, Some(1269));
}

#[test]
fn search_completes_within_the_threshold_and_keeps_the_result() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    let mut id = 0;
    while p.snapshot().state == State::Searching {
        id += 1;
        send(&mut p, 0, id);
        assert!(p.ack(10, id).acked());
    }
    assert_eq!(p.snapshot().state, State::SearchComplete);
    assert_eq!(
        p.sizes().packet,
        1500,
        "a loss-free search ends by probing the ceiling"
    );
    assert_eq!(
        p.snapshot().search_range,
        (1500, 1500),
        "no search runs once it completed"
    );
    assert_eq!(id, 7, "6 halvings down to 1485, then the ceiling");
    assert_eq!(p.sizes().probe, None);
    assert_eq!(p.deadline(), Some(10 + 30 * MIN));
    let s = p.snapshot();
    assert_eq!(s.sizes.packet - s.overhead, 1500 - 28);
}

#[test]
fn one_loss_is_not_proof_three_losses_lower_the_ceiling() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    let size = lose(&mut p, 0, 1, 1);
    assert_eq!(size, 1038);
    assert_eq!(p.snapshot().search_range, (576, 1500));
    assert_eq!(
        p.sizes().probe,
        Some(1038),
        "the same size is retransmitted"
    );
    lose(&mut p, 0, 2, 1);
    send(&mut p, 0, 3);
    assert!(p.lost(0, LossReason::DupAck, [(3, None)]).1.lost());
    assert_eq!(p.snapshot().search_range, (576, 1037));
    assert_eq!(p.sizes().probe, Some(806));
    assert_eq!(p.snapshot().stats.probes_lost_timeout, 2);
    assert_eq!(p.snapshot().stats.probes_lost_dup_ack, 1);
}

#[test]
fn aiutp_compat_lowers_the_ceiling_on_one_loss() {
    let mut p = prober(Config {
        aiutp_compat: true,
        ..Config::default()
    });
    p.connected(0, None);
    lose(&mut p, 0, 1, 1);
    assert_eq!(p.snapshot().search_range, (576, 1037));
}

#[test]
fn aiutp_compat_stops_at_the_confirmed_floor_after_three_failures() {
    let mut p = prober(Config {
        aiutp_compat: true,
        ..Config::default()
    });
    p.connected(0, None);
    send(&mut p, 0, 1);
    p.ack(0, 1).acked();
    lose(&mut p, 0, 2, 1); // 1269
    lose(&mut p, 0, 3, 1); // 1153
    lose(&mut p, 0, 4, 1); // 1095
    assert_eq!(p.snapshot().state, State::Error);
    assert_eq!(p.sizes().packet, 1038);
    assert_eq!(p.snapshot().stats.fallbacks, 1);
}

#[test]
fn aiutp_compat_fallback_above_the_floor_still_watches_for_black_holes() {
    // Regression (simulation oracle): the aiutp fallback keeps the confirmed
    // size, above the floor; when the path then shrank below it, losses were
    // ignored in the Error state and the PLPMTU stayed above the path for good.
    let mut p = prober(Config {
        aiutp_compat: true,
        ..fixed_timeout()
    });
    p.connected(0, None);
    send(&mut p, 0, 1);
    p.ack(0, 1).acked();
    lose(&mut p, 0, 2, 1);
    lose(&mut p, 0, 3, 1);
    lose(&mut p, 0, 4, 1);
    assert_eq!((p.snapshot().state, p.sizes().packet), (State::Error, 1038));
    for burst in 0..3u64 {
        p.data_lost(1_000 + burst * 1_000, 1038);
    }
    assert_eq!(p.snapshot().stats.black_hole_checks, 1);
    assert_eq!(p.sizes().probe, Some(1038));
    assert_eq!(lose(&mut p, 3_100, 10, 1), 1038);
    assert_eq!(p.snapshot().stats.black_holes, 1);
    assert_eq!(p.sizes().packet, 576);
    assert_eq!(p.snapshot().state, State::Searching);
}

#[test]
fn an_acked_black_hole_check_from_the_error_state_returns_to_it() {
    let mut p = prober(Config {
        aiutp_compat: true,
        ..fixed_timeout()
    });
    p.connected(0, None);
    send(&mut p, 0, 1);
    p.ack(0, 1).acked();
    lose(&mut p, 0, 2, 3);
    let next_search = p.deadline();
    for burst in 0..3u64 {
        p.data_lost(1_000 + burst * 1_000, 1038);
    }
    send(&mut p, 3_100, 10);
    assert!(p.ack(3_150, 10).acked());
    assert_eq!((p.snapshot().state, p.sizes().packet), (State::Error, 1038));
    assert_eq!(p.deadline(), next_search);
    assert!(p.snapshot().invariants.is_ok());
}

#[test]
fn timeout_comes_from_tick_at_the_deadline() {
    let mut p = prober(fixed_timeout());
    p.connected(0, None);
    send(&mut p, 100, 1);
    assert_eq!(p.deadline(), Some(1100));
    p.tick(1099);
    assert_eq!(p.sizes().probe, None, "still in flight");
    p.tick(1100);
    assert_eq!(p.snapshot().stats.probes_lost_timeout, 1);
    assert_eq!(p.sizes().probe, Some(1038));
}

#[test]
fn reprobe_after_the_interval_keeps_the_plpmtu_until_a_larger_one_is_confirmed() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    search_path(&mut p, 0, |size| size != 1384);
    assert_eq!(p.sizes().packet, 1368);
    let due = p.deadline().unwrap();
    assert_eq!(due, 30 * MIN);
    p.tick(due - 1);
    assert_eq!(p.snapshot().state, State::SearchComplete);
    p.tick(due);
    assert_eq!(p.snapshot().state, State::Searching);
    assert_eq!(p.snapshot().search_range, (1368, 1500));
    assert_eq!(
        send(&mut p, due, 100),
        1385,
        "first the smallest size worth having"
    );
    p.ack(due, 100).acked();
    assert_eq!(p.sizes().packet, 1385);
    assert_eq!(lose(&mut p, due, 101, 3), 1442);
    assert_eq!(p.sizes().packet, 1385, "kept while the new search runs");
    assert_eq!(send(&mut p, due, 200), 1413);
    p.ack(due + 1, 200).acked();
    assert_eq!(p.sizes().packet, 1413);
}

#[test]
fn a_reprobe_of_a_path_that_did_not_grow_costs_one_size() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    search_path(&mut p, 0, |size| size <= 1350);
    let found = p.sizes().packet;
    assert!(found <= 1350 && found + 16 >= 1350);
    let sent_before = p.snapshot().stats.probes_sent;
    let due = p.deadline().unwrap();
    p.tick(due);
    assert_eq!(p.snapshot().state, State::Searching);
    assert_eq!(lose(&mut p, due, 100, 3), found + 17);
    assert_eq!(p.snapshot().state, State::SearchComplete);
    assert_eq!(p.sizes().packet, found);
    assert_eq!(p.snapshot().stats.probes_sent - sent_before, 3);
    assert_eq!(p.snapshot().stats.fallbacks, 0);
}

#[test]
fn a_reprobe_just_below_the_ceiling_tries_the_ceiling() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    let mut id = 0;
    while p.snapshot().state == State::Searching {
        id += 1;
        let size = send(&mut p, 0, id);
        // The ceiling is lost once (a burst): the search settles below it.
        if size == 1500 {
            p.lost(0, LossReason::Timeout, [(id, None)]);
            lose(&mut p, 0, 50, 2);
        } else {
            p.ack(0, id).acked();
        }
    }
    assert!(p.sizes().packet < 1500 && p.sizes().packet + 16 >= 1500);
    let due = p.deadline().unwrap();
    p.tick(due);
    assert_eq!(send(&mut p, due, 100), 1500);
    p.ack(due, 100).acked();
    assert_eq!(p.sizes().packet, 1500);
    assert_eq!(p.snapshot().state, State::SearchComplete);
}

#[test]
fn repeated_failures_trigger_a_check_of_the_plpmtu_that_falls_back_when_it_fails() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    assert_eq!(lose(&mut p, 0, 1, 3), 1038);
    assert_eq!(lose(&mut p, 0, 4, 3), 806);
    assert_eq!(lose(&mut p, 0, 7, 3), 690);
    assert_eq!(
        p.snapshot().state,
        State::Base,
        "checking that probing works at all"
    );
    assert_eq!(p.sizes().probe, Some(576));
    let events = lose_events(&mut p, 10, 10, 3);
    assert_eq!(p.snapshot().state, State::Error);
    assert_eq!(p.sizes().packet, 576);
    assert_eq!(p.snapshot().stats.fallbacks, 1);
    assert_eq!(
        events.last(),
        Some(&Event::Fallback {
            mtu: 576,
            next_search_in_ms: 60 * MIN
        })
    );
    assert_eq!(p.deadline(), Some(10 + 60 * MIN), "the interval doubles");
    // The next search fails the same way: the interval doubles again, up to the cap.
    p.tick(10 + 60 * MIN);
    assert_eq!(p.snapshot().state, State::Searching);
    let mut id = 100;
    while p.snapshot().state != State::Error {
        id += 1;
        send(&mut p, 0, id);
        p.lost(0, LossReason::Timeout, [(id, None)]).1.lost();
    }
    assert_eq!(p.deadline(), Some(120 * MIN));
}

#[test]
fn interval_after_fallbacks_is_capped() {
    let config = Config {
        max_probe_interval_ms: 90 * MIN,
        ..Config::default()
    };
    let mut p = prober(config);
    p.connected(0, None);
    let mut id = 0;
    for round in 0..3 {
        while p.snapshot().state != State::Error {
            id += 1;
            send(&mut p, 0, id);
            p.lost(0, LossReason::Timeout, [(id, None)]).1.lost();
        }
        let expected = [60 * MIN, 90 * MIN, 90 * MIN][round];
        assert_eq!(p.deadline(), Some(expected));
        p.tick(expected);
    }
}

#[test]
fn a_successful_check_means_only_the_sizes_were_too_big() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    lose(&mut p, 0, 1, 3);
    lose(&mut p, 0, 4, 3);
    lose(&mut p, 0, 7, 3);
    assert_eq!(send(&mut p, 0, 10), 576);
    assert!(p.ack(0, 10).acked());
    assert_eq!(p.snapshot().state, State::Searching);
    assert_eq!(p.sizes().probe, Some(632));
    assert_eq!(p.snapshot().search_range, (576, 689));
}

#[test]
fn full_size_data_acks_prove_the_path_and_avoid_the_check() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    lose(&mut p, 0, 1, 3);
    lose(&mut p, 0, 4, 3);
    p.data_acked(0, 576);
    lose(&mut p, 0, 7, 3);
    assert_eq!(p.snapshot().state, State::Searching);
    assert_eq!(p.sizes().probe, Some(632));
}

#[test]
fn disabled_means_a_fixed_size_and_no_probes() {
    let config = Config {
        enabled: false,
        disabled_mtu: Some(1344),
        ..Config::default()
    };
    let mut p = prober(config);
    p.connected(0, None);
    assert_eq!(p.snapshot().state, State::Disabled);
    assert_eq!(p.sizes().packet, 1344);
    assert_eq!(p.sizes().probe, None);
    assert_eq!(p.deadline(), None);
    p.tick(u64::MAX);
    assert_eq!(p.sizes().probe, None);
    p.set_enabled(5, true);
    assert_eq!(p.sizes().packet, 576);
    assert_eq!(p.sizes().probe, Some(1038));
    p.set_enabled(6, false);
    assert_eq!(p.sizes().packet, 1344);
    let s = p.snapshot();
    assert_eq!(s.history().last().unwrap().reason, ChangeReason::Disabled);
}

#[test]
fn invalid_config_is_refused_and_ipv6_floor_is_1280() {
    let err = Prober::new(Config {
        floor: 1600,
        ..Config::default()
    })
    .unwrap_err();
    assert_eq!(err.field(), "mtu_floor");
    let mut p = prober(Config {
        family: IpFamily::V6,
        ..Config::default()
    });
    assert_eq!(p.sizes().packet, 1280);
    p.connected(0, None);
    assert_eq!(p.sizes().probe, Some(1390));
    let s = p.snapshot();
    assert_eq!(s.sizes.packet - s.overhead, 1280 - 48);
}

#[test]
fn one_probe_in_flight_and_exact_sizes() {
    let mut p = prober(Config::default());
    assert!(
        !p.sent(0, 1, 1038, None),
        "no probe is due before connected"
    );
    p.connected(0, None);
    assert!(
        !p.sent(0, 1, 1000, None),
        "a packet of another size is data"
    );
    assert_eq!(p.sizes().probe, Some(1038));
    assert_eq!(p.snapshot().in_flight(), &[] as &[u64]);
    send(&mut p, 0, 1);
    assert!(!p.sent(0, 2, 1038, None), "probe 1 is in flight");
    assert_eq!(p.snapshot().in_flight(), &[1]);
    assert_eq!(p.snapshot().stats.probes_sent, 1);
    // Ids that were never probes are data: no probe event, not stale.
    assert!(!p.ack(0, 99).acked());
    let (probes, events) = p.lost(0, LossReason::DupAck, [(98, None)]);
    assert!(probes.is_empty() && !events.lost());
    assert_eq!(p.snapshot().stats.stale_events, 0);
    assert!(p.ack(0, 1).acked());
    assert!(
        !p.acked(0, 1, 1038).acked(),
        "a second ack of the same probe is stale"
    );
    assert_eq!(p.snapshot().stats.stale_events, 1);
}

#[test]
fn the_prober_says_which_ids_were_probes() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    send(&mut p, 0, 41);
    let (probes, events) = p.lost(0, LossReason::DupAck, [(40, Some(1038)), (41, None)]);
    assert!(probes.contains(41));
    assert!(!probes.contains(40));
    assert_eq!(probes.as_slice(), &[41]);
    assert!(events.lost());
    let (probes, events) = p.lost(0, LossReason::DupAck, [(41, Some(1038))]);
    assert!(
        probes.contains(41),
        "a lost probe is still known as a probe"
    );
    assert!(!events.lost(), "and is not lost twice");
}

#[test]
fn probe_timeout_follows_rtt_samples_within_bounds() {
    let mut p = prober(Config::default());
    assert_eq!(p.snapshot().probe_timeout_ms, 1000);
    p.rtt_sample(200);
    assert_eq!(p.snapshot().probe_timeout_ms, 600);
    p.connected(0, None);
    send(&mut p, 0, 1);
    assert_eq!(p.deadline(), Some(600));
    p.ack(20, 1).acked();
    let mut fixed = prober(fixed_timeout());
    fixed.rtt_sample(200);
    assert_eq!(fixed.snapshot().probe_timeout_ms, 1000);
    let mut tiny = prober(Config::default());
    tiny.rtt_sample(1);
    assert_eq!(
        tiny.snapshot().probe_timeout_ms,
        100,
        "bounded by min_probe_timeout"
    );
}

/// A prober that completed a search at 1500 (common values, one probe).
fn complete_at_1500() -> Prober {
    let mut p = prober(Config {
        strategy: Strategy::CommonValues,
        ..fixed_timeout()
    });
    p.connected(0, None);
    assert_eq!(send(&mut p, 0, 1), 1500);
    p.ack(0, 1).acked();
    assert_eq!(p.snapshot().state, State::SearchComplete);
    p
}

#[test]
fn black_hole_is_checked_by_a_probe_and_confirmed_by_its_loss() {
    let mut p = complete_at_1500();
    p.data_acked(10, 600);
    // Three bursts of full-size losses, one probe timeout (1000 ms) apart.
    let mut suspicion = Vec::new();
    for burst in 0..3u64 {
        for i in 0..5 {
            suspicion.extend(p.data_lost(1_000 + burst * 1_000 + i, 1500).iter().copied());
        }
    }
    assert_eq!(
        suspicion,
        vec![
            Event::BlackHoleSuspected { mtu: 1500 },
            Event::MtuChanged {
                old: 1500,
                new: 576,
                reason: ChangeReason::BlackHole
            },
            Event::ProbeDue { size: 1500 },
        ],
        "data goes at the floor while a probe checks the lost size"
    );
    assert_eq!(p.snapshot().state, State::Base);
    assert_eq!(p.snapshot().stats.black_hole_checks, 1);
    p.data_acked(3_050, 1500);
    assert_eq!(
        (p.snapshot().state, p.sizes().packet),
        (State::Base, 576),
        "a late data ack settles nothing: only the probe does"
    );
    let events = lose_events(&mut p, 3_100, 10, 3);
    assert_eq!(p.snapshot().stats.black_holes, 1);
    assert_eq!(p.sizes().packet, 576);
    assert_eq!(p.snapshot().state, State::Searching);
    assert_eq!(p.snapshot().search_range, (576, 1499));
    assert_eq!(
        p.sizes().probe,
        Some(1492),
        "common values restart below the lost size"
    );
    let tail: Vec<Event> = events
        .into_iter()
        .skip_while(|e| !matches!(e, Event::BlackHoleConfirmed { .. }))
        .collect();
    assert_eq!(
        tail,
        vec![
            Event::BlackHoleConfirmed { lost_mtu: 1500 },
            Event::SearchStarted { limit: 1499 },
            Event::ProbeDue { size: 1492 },
        ]
    );
}

#[test]
fn losses_inside_one_burst_or_cleared_by_a_full_size_ack_are_not_a_black_hole() {
    let mut p = complete_at_1500();
    for i in 0..100 {
        p.data_lost(1_000 + i, 1500);
    }
    assert_eq!(p.snapshot().state, State::SearchComplete, "one burst only");
    p.data_lost(2_500, 1500);
    p.data_acked(2_600, 1500);
    p.data_lost(4_000, 1500);
    assert_eq!(p.snapshot().state, State::SearchComplete);
    assert_eq!(p.snapshot().stats.black_hole_checks, 0);
}

#[test]
fn a_black_hole_check_that_is_acked_resumes_the_completed_search() {
    let mut p = complete_at_1500();
    for burst in 0..3u64 {
        p.data_lost(burst * 1_000, 1500);
    }
    assert_eq!(p.snapshot().state, State::Base);
    assert_eq!(p.sizes().packet, 576, "the floor while the check runs");
    lose(&mut p, 2_000, 20, 2);
    send(&mut p, 2_000, 22);
    let events = p.ack(2_010, 22);
    assert!(events.acked());
    assert!(events.iter().any(|e| *e
        == Event::MtuChanged {
            old: 576,
            new: 1500,
            reason: ChangeReason::ProbeAcked
        }));
    assert_eq!(p.snapshot().state, State::SearchComplete);
    assert_eq!(p.sizes().packet, 1500);
    assert_eq!(p.deadline(), Some(30 * MIN));
    assert_eq!(p.snapshot().stats.black_holes, 0);
}

#[test]
fn ptb_matching_the_probe_is_accepted_and_confirmed_by_a_probe() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    send(&mut p, 0, 1);
    p.ack(0, 1).acked();
    assert_eq!(send(&mut p, 0, 2), 1269);
    assert_eq!(p.ptb(5, 1200, Quote::Id(2)).verdict(), PtbVerdict::Accepted);
    assert_eq!(p.sizes().probe, Some(1200));
    send(&mut p, 5, 3);
    p.ack(10, 3).acked();
    assert_eq!(p.sizes().packet, 1200);
    assert_eq!(p.snapshot().state, State::SearchComplete);
    assert_eq!(p.snapshot().stats.ptb_accepted, 1);
}

/// The first size, 1038, confirmed, probing above it: a PTB quoting the probe
/// in flight reports 900, less than the PLPMTU.
fn ptb_below_the_plpmtu() -> (Prober, Events) {
    let mut p = prober(Config::default());
    p.connected(0, None);
    assert_eq!(send(&mut p, 0, 1), 1038);
    p.ack(0, 1).acked();
    assert_eq!(p.sizes().packet, 1038);
    send(&mut p, 0, 2);
    let events = p.ptb(1, 900, Quote::Id(2));
    (p, events)
}

#[test]
fn a_ptb_below_the_plpmtu_never_sets_it_a_probe_of_the_plpmtu_decides() {
    let (mut p, events) = ptb_below_the_plpmtu();
    assert_eq!(events.verdict(), PtbVerdict::Accepted);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::MtuChanged { new: 900, .. })),
        "RFC 8899 4.6.2: a PTB must not set the PLPMTU: {events:?}"
    );
    assert_eq!(
        p.sizes().packet,
        576,
        "the floor while the PLPMTU is checked"
    );
    assert_eq!(p.snapshot().state, State::Base);
    assert_eq!(p.sizes().probe, Some(1038), "the PLPMTU itself is probed");
    send(&mut p, 2, 3);
    let events = p.ack(3, 3);
    assert!(events.iter().any(|e| *e
        == Event::MtuChanged {
            old: 576,
            new: 1038,
            reason: ChangeReason::ProbeAcked
        }));
    assert_eq!(p.sizes().packet, 1038, "a forged PTB costs one probe");
    assert_eq!(p.snapshot().state, State::Searching, "the search goes on");
    assert!(p.snapshot().history().iter().all(|c| c.new != 900));
}

#[test]
fn a_ptb_below_the_plpmtu_confirmed_by_the_check_starts_the_search_at_its_size() {
    let (mut p, _) = ptb_below_the_plpmtu();
    assert_eq!(lose(&mut p, 2, 3, 3), 1038);
    assert_eq!(p.snapshot().stats.black_holes, 1);
    assert_eq!(p.sizes().packet, 576, "nothing is confirmed but the floor");
    assert_eq!(
        p.sizes().probe,
        Some(900),
        "the reported size is probed first"
    );
    assert_eq!(p.snapshot().search_range, (576, 900));
    send(&mut p, 3, 6);
    p.ack(4, 6).acked();
    assert_eq!(p.sizes().packet, 900);
    assert_eq!(p.snapshot().state, State::SearchComplete);
}

#[test]
fn unmatched_oversized_or_too_small_ptbs_are_ignored_and_counted() {
    let mut p = prober(Config::default());
    assert_eq!(
        p.ptb(0, 1000, Quote::Id(1)).verdict(),
        PtbVerdict::NotProbing
    );
    p.connected(0, None);
    send(&mut p, 0, 7);
    assert_eq!(p.ptb(0, 1000, Quote::None).verdict(), PtbVerdict::Unmatched);
    assert_eq!(
        p.ptb(0, 1000, Quote::Id(8)).verdict(),
        PtbVerdict::Unmatched
    );
    assert_eq!(
        p.ptb(0, 1038, Quote::Id(7)).verdict(),
        PtbVerdict::NotSmaller
    );
    assert_eq!(
        p.ptb(0, 4000, Quote::Id(7)).verdict(),
        PtbVerdict::NotSmaller
    );
    assert_eq!(p.ptb(0, 68, Quote::Id(7)).verdict(), PtbVerdict::BelowFloor);
    assert_eq!(p.snapshot().stats.ptb_ignored, 6);
    assert_eq!(p.sizes().packet, 576);
    assert_eq!(p.snapshot().search_range, (576, 1500));
    assert!(p.ack(1, 7).acked(), "the probe is still in flight");
}

#[test]
fn common_values_find_1500_in_one_probe_and_1492_in_two() {
    let mut p = prober(Config {
        strategy: Strategy::CommonValues,
        ..Config::default()
    });
    p.connected(0, None);
    assert_eq!(send(&mut p, 0, 1), 1500);
    p.ack(0, 1).acked();
    assert_eq!(p.sizes().packet, 1500);
    assert_eq!(p.snapshot().state, State::SearchComplete);
}

#[test]
fn probe_now_restarts_a_completed_search_only() {
    let mut p = complete_at_1500();
    assert!(p.probe_now(5).started());
    assert_eq!(
        p.snapshot().state,
        State::SearchComplete,
        "nothing left above 1500"
    );
    let mut q = prober(Config::default());
    assert!(!q.probe_now(0).started(), "not connected");
    q.connected(0, None);
    assert!(!q.probe_now(0).started(), "already searching");
}

#[test]
fn history_and_stats_record_changes_with_reasons() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    send(&mut p, 0, 1);
    p.ack(7, 1).acked();
    let snapshot = p.snapshot();
    let history = snapshot.history();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[0].new, history[0].reason),
        (576, ChangeReason::Initial)
    );
    assert_eq!(
        (
            history[1].at_ms,
            history[1].old,
            history[1].new,
            history[1].reason
        ),
        (7, 576, 1038, ChangeReason::ProbeAcked)
    );
    assert_eq!(
        (
            p.snapshot().stats.probes_sent,
            p.snapshot().stats.probes_acked
        ),
        (1, 1)
    );
}

#[test]
fn history_is_bounded() {
    let mut p = prober(Config {
        disabled_mtu: Some(1344),
        ..Config::default()
    });
    p.connected(0, None);
    for i in 0..40u64 {
        p.set_enabled(i, i % 2 == 1);
    }
    assert_eq!(
        p.snapshot().history().len(),
        plpmtud_core::prober::HISTORY_LEN
    );
}

/// The kernel's MTU behind an EMSGSIZE may come from its PMTU cache, which
/// any ICMP quoting the flow lowers: below the PLPMTU it never sets it.
/// The PLPMTU is checked (the floor meanwhile); a real local limit refuses
/// the check probe too, and that second EMSGSIZE starts the search there.
#[test]
fn emsgsize_below_the_plpmtu_is_checked_and_a_refused_check_searches_it() {
    let mut p = complete_at_1500();
    assert_eq!(
        p.send_refused(10, 1600 + 1, None).verdict(),
        PtbVerdict::NotSmaller
    );
    assert_eq!(
        p.send_refused(10, 100 + 1, None).verdict(),
        PtbVerdict::BelowFloor
    );
    let events = p.send_refused(10, 1400 + 1, None);
    assert_eq!(events.verdict(), PtbVerdict::Accepted);
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::MtuChanged { new: 1400, .. })));
    assert_eq!((p.sizes().packet, p.snapshot().state), (576, State::Base));
    assert_eq!(p.sizes().probe, Some(1500), "the PLPMTU is checked");
    assert_eq!(
        p.send_refused(11, 1400 + 1, None).verdict(),
        PtbVerdict::Accepted
    );
    assert_eq!(p.sizes().probe, Some(1400), "refused again: searched there");
    send(&mut p, 11, 5);
    p.ack(20, 5).acked();
    assert_eq!(p.snapshot().state, State::SearchComplete);
    assert_eq!(p.sizes().packet, 1400);
    assert_eq!(p.snapshot().stats.emsgsize_limits, 2);
}

/// A poisoned kernel cache (a forged ICMP) on a socket whose probes still
/// leave: the check probe of the PLPMTU is acknowledged and restores it.
#[test]
fn a_forged_emsgsize_below_the_plpmtu_costs_one_probe() {
    let mut p = complete_at_1500();
    p.send_refused(10, 1500, Some(600));
    assert_eq!(p.sizes().packet, 576);
    send(&mut p, 10, 6);
    assert!(p.ack(11, 6).acked());
    assert_eq!(
        (p.sizes().packet, p.snapshot().state),
        (1500, State::SearchComplete)
    );
    assert!(p.snapshot().history().iter().all(|c| c.new != 600));
}

#[test]
fn sent_makes_a_packet_of_the_due_size_the_probe() {
    let mut p = prober(Config {
        packet_overhead: 28,
        ..Config::default()
    });
    assert!(!p.sent(0, 1, 1038, None), "not connected");
    p.connected(0, None);
    assert_eq!(p.snapshot().overhead, 48);
    assert!(!p.sent(0, 1, 1000, None), "wrong size");
    assert!(p.sent(0, 2, 1038, None));
    assert!(!p.sent(0, 3, 1038, None), "one probe in flight");
    let (probes, _) = p.lost(1, LossReason::DupAck, [(2, None), (1, Some(1000))]);
    assert!(probes.contains(2));
    assert!(!probes.contains(1));
}

/// Found by the event-sequence fuzzer: disabling discovery during a
/// black-hole check left the check armed, and a later full-size ack
/// "resumed" a completed search while disabled.
#[test]
fn disabling_during_a_black_hole_check_cancels_it() {
    let mut p = complete_at_1500();
    for burst in 0..3u64 {
        p.data_lost(burst * 1_000, 1500);
    }
    assert_eq!(p.snapshot().state, State::Base);
    assert_eq!(send(&mut p, 3_000, 9), 1500);
    p.set_enabled(3_001, false);
    assert!(
        !p.acked(3_002, 9, 1500).acked(),
        "the check's probe is stale"
    );
    assert_eq!(p.snapshot().state, State::Disabled);
    assert_eq!(p.sizes().packet, Config::default().effective_disabled_mtu());
    assert_eq!(p.snapshot().invariants, Ok(()));
}

#[test]
fn a_hint_during_a_black_hole_check_that_interrupted_a_search_is_probed() {
    let mut p = prober(fixed_timeout());
    p.connected(0, None);
    let mut id = 1;
    // A path of 1400: stop once more than 1300 is confirmed mid-search.
    while p.sizes().packet <= 1300 || p.snapshot().state != State::Searching {
        let size = send(&mut p, 0, id);
        if size <= 1400 {
            p.ack(1, id);
        } else {
            lose(&mut p, 1, id + 100, 3);
        }
        id += 1;
        assert!(id < 50, "the search never confirmed more than 1300");
    }
    p.data_lost(2, p.sizes().packet);
    p.data_lost(2_000, p.sizes().packet);
    p.data_lost(4_000, p.sizes().packet);
    assert_eq!((p.snapshot().state, p.sizes().packet), (State::Base, 576));
    assert_eq!(
        p.send_refused(4_001, 1300 + 1, None).verdict(),
        PtbVerdict::Accepted
    );
    assert_eq!(
        (p.snapshot().state, p.sizes().probe),
        (State::Searching, Some(1300)),
        "the hint's size is probed, not a search completed at the floor"
    );
    assert_eq!(p.snapshot().invariants, Ok(()));
}

#[test]
fn a_cached_hint_is_confirmed_by_one_probe() {
    let mut p = prober(Config::default());
    p.connected(0, Some(1350));
    assert_eq!(send(&mut p, 0, 1), 1350);
    p.ack(1, 1).acked();
    assert_eq!(p.snapshot().state, State::SearchComplete);
    assert_eq!(p.sizes().packet, 1350);
    assert_eq!(p.snapshot().stats.probes_sent, 1);
}

#[test]
fn a_stale_hint_that_fails_falls_back_to_the_search_below_it() {
    let mut p = prober(Config::default());
    p.connected(0, Some(1400));
    assert_eq!(lose(&mut p, 0, 1, 3), 1400);
    assert_eq!(p.snapshot().search_range, (576, 1399));
    assert_eq!(p.sizes().probe, Some(987));
    let mut q = prober(Config::default());
    q.connected(0, Some(9000));
    assert_eq!(
        q.sizes().probe,
        Some(1038),
        "a hint above the ceiling is ignored"
    );
}

/// An attacker who knows the transport numbers its packets (uTP: 16-bit
/// sequence numbers) and the 5-tuple forges PTBs naming every id; only the
/// quoted bytes of the real probe make one believed.
#[test]
fn ptb_for_a_quoted_probe_needs_the_bytes_it_was_sent_with() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    let size = p.sizes().probe.unwrap();
    let mut sent = vec![0u8; 1000];
    sent[..20].copy_from_slice(b"uTP header 1234 5678");
    sent[20..28].copy_from_slice(&0x1f2e_3d4c_5b6a_7988u64.to_be_bytes());
    assert!(p.sent(0, 41, size, Some(&sent)));
    for guessed_id in 0..=u64::from(u16::MAX) {
        assert_ne!(
            p.ptb(1, 600, Quote::Id(guessed_id)).verdict(),
            PtbVerdict::Accepted
        );
        let mut forged = sent[..64].to_vec();
        forged[20..28].copy_from_slice(&guessed_id.to_be_bytes());
        assert_ne!(
            p.ptb(1, 600, Quote::Bytes(&forged)).verdict(),
            PtbVerdict::Accepted
        );
    }
    assert_eq!(
        p.ptb(1, 600, Quote::Bytes(&sent[..8])).verdict(),
        PtbVerdict::Unmatched,
        "quote cut short"
    );
    assert_eq!(p.snapshot().stats.ptb_accepted, 0);
    assert_eq!(p.snapshot().stats.ptb_unmatched, 2 * 65_536 + 1);
    assert_eq!(
        p.ptb(1, 600, Quote::Bytes(&sent[..40])).verdict(),
        PtbVerdict::Accepted
    );
    assert_eq!(p.sizes().probe, Some(600));
}

#[test]
fn a_probe_sent_without_its_bytes_is_matched_by_id() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    let size = send(&mut p, 0, 0xDEAD_BEEF_CAFE_F00D);
    assert_eq!(
        p.ptb(1, size - 1, Quote::Id(0xDEAD_BEEF_CAFE_F00E))
            .verdict(),
        PtbVerdict::Unmatched
    );
    assert_eq!(
        p.ptb(1, size - 1, Quote::Id(0xDEAD_BEEF_CAFE_F00D))
            .verdict(),
        PtbVerdict::Accepted
    );
}

/// aiutp's fixed size (IP 1344, payload 1296) is in use from the start;
/// the first probe confirms it and the search goes on above it.
#[test]
fn mtu_initial_is_used_at_once_and_probed_first() {
    let config = Config {
        initial: Some(1344),
        packet_overhead: 28,
        ..Config::default()
    };
    let mut p = prober(config);
    assert_eq!(p.sizes().packet, 1344);
    let s = p.snapshot();
    assert_eq!(s.sizes.packet - s.overhead, 1296);
    let events = p.connected(0, None);
    assert_eq!(
        events.iter().copied().collect::<Vec<_>>(),
        vec![
            Event::SearchStarted { limit: 1500 },
            Event::ProbeDue { size: 1344 }
        ]
    );
    assert_eq!(
        p.snapshot().search_range,
        (576, 1500),
        "nothing above the floor is confirmed yet"
    );
    send(&mut p, 0, 1);
    assert!(p.ack(10, 1).acked());
    assert_eq!(p.sizes().packet, 1344);
    assert_eq!(p.snapshot().search_range, (1344, 1500));
    assert_eq!(p.sizes().probe, Some(1422));
}

/// On a path narrower than `mtu_initial` the first probe fails: the floor
/// is used while the search continues below the failed size.
#[test]
fn a_failed_mtu_initial_falls_to_the_floor_and_searches_below_it() {
    let config = Config {
        initial: Some(1344),
        ..fixed_timeout()
    };
    let mut p = prober(config);
    p.connected(0, None);
    let events = lose_events(&mut p, 0, 1, 3);
    assert!(events.contains(&Event::MtuChanged {
        old: 1344,
        new: 576,
        reason: ChangeReason::ProbeFailed
    }));
    assert_eq!(p.snapshot().search_range, (576, 1343));
    assert_eq!(p.sizes().probe, Some(959));
}

#[test]
fn mtu_initial_outside_floor_and_ceiling_is_refused() {
    for initial in [500, 1600] {
        let config = Config {
            initial: Some(initial),
            ..Config::default()
        };
        let err = Prober::new(config).unwrap_err();
        assert_eq!(err.field(), "mtu_initial");
    }
}

/// A data packet padded up to the due probe: data + the padding header +
/// the padding is exactly the probe's payload.
#[test]
fn padding_fills_a_data_packet_up_to_the_probe() {
    let config = Config {
        packet_overhead: 28,
        padding_overhead: 2,
        ..Config::default()
    };
    // Payload bytes, the default unit.
    let mut p = Prober::new(config).unwrap();
    assert_eq!(p.padding_for(500), None, "no probe is due before connected");
    p.connected(0, None);
    let probe_payload = p.sizes().probe.unwrap();
    assert_eq!(probe_payload, 990);
    assert_eq!(p.padding_for(500), Some(488));
    assert_eq!(p.padding_for(988), Some(0));
    assert_eq!(p.padding_for(989), None, "the padding header does not fit");
    assert_eq!(p.padding_for(u32::MAX), None);
    assert!(p.sent(0, 7, 500 + 2 + 488, None));
    assert_eq!(p.padding_for(500), None, "a probe is in flight");
    // In IP bytes, the data packet's IP size gets the same padding.
    let mut ip = prober(config);
    ip.connected(0, None);
    assert_eq!(ip.padding_for(500 + 48), Some(488));
    assert!(ip.sent(0, 7, 500 + 48 + 2 + 488, None));
}

/// The first probe leaves before any RTT sample (timeout 1 s); a sample
/// that arrives meanwhile (the transport's handshake, a base exchange)
/// brings its deadline in, never out.
#[test]
fn an_rtt_sample_shortens_the_wait_of_the_probe_in_flight() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    send(&mut p, 0, 1);
    assert_eq!(p.deadline(), Some(1_000));
    p.rtt_sample(2);
    assert_eq!(p.deadline(), Some(100), "min_probe_timeout");
    p.rtt_sample(5_000);
    assert_eq!(
        p.deadline(),
        Some(100),
        "a later, larger sample never extends it"
    );
    assert!(p.tick(100).lost());
}

/// uTP cannot renumber: a lost probe's data goes again under the same
/// sequence number at its normal size. A loss of that resend is data.
#[test]
fn a_resend_of_a_lost_probes_data_under_its_id_is_data() {
    let mut p = prober(Config {
        max_probes: 1,
        ..Config::default()
    });
    p.connected(0, None);
    let size = send(&mut p, 0, 9);
    let (probes, events) = p.lost(1, LossReason::DupAck, [(9, Some(size))]);
    assert!(probes.contains(9) && events.lost());
    let (probes, events) = p.lost(2, LossReason::DupAck, [(9, Some(600))]);
    assert!(probes.is_empty(), "the resend of its data is no probe");
    assert!(!events.lost());
    assert!(
        p.lost(3, LossReason::DupAck, [(9, None)]).0.contains(9),
        "by id alone, when the size is unknown"
    );
}

/// aiutp's case (issue 21 item 0): a padded probe (seq 2) is lost on a
/// path that carries less; its data goes again under seq 2 unpadded before
/// the prober hears of the loss, and the peer acknowledges seq 2. Whatever
/// size the ack is reported with, it cannot confirm the probe.
#[test]
fn an_ack_of_a_resend_under_the_probes_id_never_confirms_the_probe() {
    let resend = 1296 + 48;
    for (told_of_resend, acked_size) in [(true, resend), (true, 1374 + 48), (false, resend)] {
        let mut p = prober(Config::default());
        p.connected(0, None);
        let size = p.sizes().probe.unwrap();
        assert!(p.sent(0, 2, size, None));
        if told_of_resend {
            assert!(!p.sent(5, 2, resend, None), "a resend is no new probe");
        }
        let events = p.acked(10, 2, acked_size);
        assert!(
            !events.acked(),
            "told of the resend {told_of_resend}, ack at {acked_size}: {events:?}"
        );
        assert!(events.iter().any(|e| *e
            == Event::ProbeLost {
                id: 2,
                size,
                reason: LossReason::Resent
            }));
        assert_eq!(
            p.sizes().packet,
            576,
            "nothing above the floor is confirmed"
        );
        assert_eq!(p.snapshot().stats.probes_lost_resent, 1);
    }
}

#[test]
fn an_ack_of_unknown_size_never_confirms_a_probe() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    let size = send(&mut p, 0, 4);
    assert!(!p.acked(1, 4, 0).acked());
    assert_eq!(p.sizes().packet, 576);
    assert_eq!(p.sizes().probe, Some(size), "tried again");
}

#[test]
fn an_ack_at_the_probes_own_size_confirms_it_unless_its_id_went_again() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    let size = p.sizes().probe.unwrap();
    assert!(p.sent(0, 2, size, None));
    assert!(p.acked(10, 2, size).acked());
    assert_eq!(p.sizes().packet, size);
    // A copy at the same size (sent with DF off, it may arrive in
    // fragments): the ack could be the copy's.
    let next = p.sizes().probe.unwrap();
    assert!(p.sent(20, 3, next, None));
    assert!(!p.sent(21, 3, next, None), "a resend is no new probe");
    assert!(!p.acked(30, 3, next).acked());
    assert_eq!(p.sizes().packet, size);
}

/// The probe timed out in the prober; the transport, which resent its data
/// unpadded meanwhile, reports the loss of seq 9 later with the resend's
/// size: that first report is the probe's (kept out of congestion
/// control), a second one is the resend's (data).
#[test]
fn the_first_loss_reported_for_a_probes_id_is_the_probes_at_any_size() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    send(&mut p, 0, 9);
    assert!(p.tick(1_000).lost());
    let (probes, events) = p.lost(1_001, LossReason::DupAck, [(9, Some(600))]);
    assert!(
        probes.contains(9),
        "the probe's loss, reported with the resend's size"
    );
    assert!(events.is_empty(), "already resolved: {events:?}");
    assert!(p
        .lost(1_002, LossReason::DupAck, [(9, Some(600))])
        .0
        .is_empty());
}

/// Issue 21 item 16: after a 16-bit wrap, a data packet reuses a recent
/// probe's sequence number and size; its loss is data.
#[test]
fn a_loss_of_an_acknowledged_probes_id_is_data() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    let size = send(&mut p, 0, 7);
    assert!(p.acked(1, 7, size).acked());
    let (probes, _) = p.lost(70_000, LossReason::DupAck, [(7, Some(size))]);
    assert!(
        probes.is_empty(),
        "the probe was acknowledged: this is another packet"
    );
}

/// An on-path forger PTBs every large packet, the check probe included:
/// a PTB for the check probe must not end the check at the floor. The
/// check probe's ack still restores the PLPMTU.
#[test]
fn a_ptb_for_the_check_probe_does_not_end_the_check() {
    let (mut p, _) = ptb_below_the_plpmtu();
    assert_eq!(send(&mut p, 2, 3), 1038);
    assert_eq!(p.ptb(3, 600, Quote::Id(3)).verdict(), PtbVerdict::Accepted);
    assert_eq!(p.snapshot().state, State::Base, "the check goes on");
    assert!(p.ack(4, 3).acked(), "its probe is still in flight");
    assert_eq!(p.sizes().packet, 1038);
}

/// If the check fails, the newest PTB's size is probed first.
#[test]
fn a_ptb_for_a_check_probe_that_fails_is_probed_first() {
    let (mut p, _) = ptb_below_the_plpmtu();
    assert_eq!(send(&mut p, 2, 3), 1038);
    p.ptb(3, 800, Quote::Id(3));
    p.lost(4, LossReason::Timeout, [(3, None)]);
    assert_eq!(lose(&mut p, 5, 4, 2), 1038);
    assert_eq!(p.sizes().probe, Some(800));
}

/// At the floor (a black hole was confirmed), a PTB naming the floor must
/// not end the search there for a whole interval: it counts as one loss
/// of the probe it quotes.
#[test]
fn a_ptb_naming_the_floor_at_the_floor_does_not_end_the_search() {
    let (mut p, _) = ptb_below_the_plpmtu();
    assert_eq!(lose(&mut p, 2, 3, 3), 1038);
    assert_eq!(p.sizes().packet, 576);
    let size = send(&mut p, 3, 10);
    assert!(p.ptb(4, 576, Quote::Id(10)).lost());
    assert_eq!(p.snapshot().state, State::Searching);
    assert_eq!(p.sizes().probe, Some(size), "the same size is tried again");
}

/// The same rule through the id-only acknowledgement (the Elixir API): a
/// transport that reported the resend of the probe's id cannot confirm it.
#[test]
fn an_id_only_ack_after_a_reported_resend_does_not_confirm_the_probe() {
    let mut p = prober(Config::default());
    p.connected(0, None);
    let size = p.sizes().probe.unwrap();
    assert!(p.sent(0, 5, size, None));
    assert!(!p.sent(1, 5, 600, None));
    let events = p.ack(2, 5);
    assert!(!events.acked(), "{events:?}");
    assert_eq!(p.sizes().packet, 576);
}

fn with_copies(copies: u32) -> Prober {
    let mut p = prober(Config {
        probe_copies: copies,
        ..Config::default()
    });
    p.connected(0, None);
    p
}

/// `probe_copies`: the same size is due until that many transmissions of
/// it are in flight, each a probe with its own id; any one's ack confirms
/// the size, and the others' acks are then stale.
#[test]
fn copies_of_one_size_fly_together_and_any_ack_confirms_it() {
    let mut p = with_copies(3);
    let size = send(&mut p, 0, 1);
    assert_eq!(send(&mut p, 0, 2), size);
    assert_eq!(send(&mut p, 0, 3), size);
    assert_eq!(p.sizes().probe, None, "three in flight");
    assert!(!p.sent(0, 4, size, None), "a fourth is data");
    assert_eq!(p.snapshot().in_flight(), &[1, 2, 3]);
    assert!(p.ack(5, 2).acked());
    assert_eq!(p.sizes().packet, size);
    assert!(!p.ack(5, 1).acked(), "stale once the size passed");
    assert!(!p.ack(5, 3).acked());
}

/// A size whose copies are all lost fails at once: one round trip, not
/// `max_probes` probe timeouts one after the other.
#[test]
fn a_size_whose_copies_are_all_lost_fails_in_one_round() {
    let mut p = with_copies(3);
    let size = send(&mut p, 0, 1);
    send(&mut p, 0, 2);
    send(&mut p, 0, 3);
    assert!(p.lost(1, LossReason::DupAck, [(1, None)]).1.lost());
    assert_eq!(p.sizes().probe, None, "two left in flight, two losses left");
    assert!(p.lost(1, LossReason::DupAck, [(2, None)]).1.lost());
    p.lost(1, LossReason::DupAck, [(3, None)]);
    assert_eq!(p.snapshot().search_range, (576, size - 1));
    assert_ne!(p.sizes().probe, Some(size));
}

/// One copy lost, the next answered: the size passes.
#[test]
fn one_lost_copy_among_answered_ones_does_not_fail_the_size() {
    let mut p = with_copies(3);
    let size = send(&mut p, 0, 1);
    send(&mut p, 0, 2);
    send(&mut p, 0, 3);
    p.lost(1, LossReason::DupAck, [(1, None)]);
    assert!(p.ack(2, 3).acked());
    assert_eq!(p.sizes().packet, size);
}

/// Copies never exceed the losses left: after two lost one at a time (as
/// a transport sends them), one more copy is due, not three.
#[test]
fn copies_never_exceed_the_losses_left_before_a_size_fails() {
    let mut p = with_copies(3);
    let size = send(&mut p, 0, 1);
    p.lost(1, LossReason::DupAck, [(1, None)]);
    send(&mut p, 1, 2);
    send(&mut p, 1, 3);
    assert_eq!(p.sizes().probe, None);
    p.lost(2, LossReason::DupAck, [(2, None)]);
    assert_eq!(p.sizes().probe, None, "one loss left, one copy in flight");
    p.lost(2, LossReason::Timeout, [(3, None)]);
    assert_eq!(p.snapshot().search_range, (576, size - 1));
}

/// Every copy times out at its own deadline: one tick fails the size.
#[test]
fn copies_that_time_out_together_fail_the_size_in_one_tick() {
    let mut p = with_copies(3);
    let size = send(&mut p, 0, 1);
    send(&mut p, 0, 2);
    send(&mut p, 0, 3);
    let deadline = p.deadline().unwrap();
    let events = p.tick(deadline);
    let lost = events
        .iter()
        .filter(|e| matches!(e, Event::ProbeLost { .. }))
        .count();
    assert_eq!(lost, 3, "{events:?}");
    assert_eq!(p.snapshot().search_range, (576, size - 1));
}

/// The second review's case: with 3 copies, a copy of a size that passed
/// is reported lost after the next size's copies left; it is still a
/// probe's loss (kept out of congestion control), not a full-size data
/// loss that starts a black-hole check.
#[test]
fn a_late_loss_of_an_earlier_sizes_copy_is_still_a_probes() {
    let mut p = prober(Config {
        probe_copies: 3,
        black_hole_threshold: 1,
        ..Config::default()
    });
    p.connected(0, None);
    let size = p.sizes().probe.unwrap();
    for id in 1..=3 {
        assert!(p.sent(0, id, size, None));
    }
    assert!(p.acked(1, 1, size).acked());
    let next = p.sizes().probe.unwrap();
    for id in 11..=13 {
        assert!(p.sent(2, id, next, None));
    }
    let (probes, events) = p.lost(3, LossReason::DupAck, [(2, Some(size))]);
    assert!(probes.contains(2), "{events:?}");
    assert_eq!(p.sizes().packet, size, "no black-hole check: {events:?}");
}

/// A flood of forged ICMP quoting the flow poisons the kernel's PMTU cache
/// to its minimum and makes two sends in a row fail with EMSGSIZE: during
/// the black-hole check that the first hint started, the kernel's word of
/// the floor must not end the search at the floor.
#[test]
fn an_emsgsize_of_the_floor_during_a_check_does_not_end_the_search_there() {
    let mut p = complete_at_1500();
    assert_eq!(
        p.send_refused(10, 1000 + 1, None).verdict(),
        PtbVerdict::Accepted
    );
    assert_eq!(p.snapshot().state, State::Base);
    assert_eq!(
        p.send_refused(11, 576 + 1, None).verdict(),
        PtbVerdict::BelowFloor
    );
    assert_eq!(p.snapshot().state, State::Base, "the check goes on");
    send(&mut p, 12, 7);
    assert!(p.ack(13, 7).acked());
    assert_eq!(
        (p.sizes().packet, p.snapshot().state),
        (1500, State::SearchComplete)
    );
}
