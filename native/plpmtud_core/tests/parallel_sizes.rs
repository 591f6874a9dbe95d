//! Several sizes in flight (`probe_sizes`): the rules of a round, tested
//! the way an attacker or a bad network would break them. Sizes are IP
//! bytes; the default range is 576..=1500, so a first round of four sizes
//! is 1500, 1269, 1038, 807 (a split into four whose top is the ceiling).

use plpmtud_core::events::EVENTS_MAX;
use plpmtud_core::{Config, Event, Events, LossReason, Prober, PtbVerdict, Quote, SizeUnit, State};
use plpmtud_sim::sim::{simulate, SimPath, StopWhen};

/// A connected prober of `sizes` sizes per round, `copies` copies each.
fn prober(sizes: u32, copies: u32) -> Prober {
    let mut p = Prober::new(Config {
        size_unit: SizeUnit::Ip,
        probe_sizes: sizes,
        probe_copies: copies,
        ..Config::default()
    })
    .expect("valid config");
    p.connected(0, None);
    p
}

/// Sends every due transmission of the round at `now`, ids from `first`,
/// largest size first; returns `(id, size)` of each.
fn send_round(p: &mut Prober, now: u64, first: u64) -> Vec<(u64, u32)> {
    let mut sent = Vec::new();
    let mut id = first;
    while let Some(size) = p.sizes().probe {
        assert!(p.sent(now, id, size, None), "the due size is claimed");
        sent.push((id, size));
        id += 1;
    }
    sent
}

/// The ids sent at `size`.
fn ids_of(sent: &[(u64, u32)], size: u32) -> Vec<u64> {
    sent.iter()
        .filter(|&&(_, s)| s == size)
        .map(|&(id, _)| id)
        .collect()
}

/// Loses every transmission of `size` (one batch).
fn fail(p: &mut Prober, now: u64, sent: &[(u64, u32)], size: u32) -> Events {
    let losses: Vec<(u64, Option<u32>)> = ids_of(sent, size)
        .into_iter()
        .map(|id| (id, Some(size)))
        .collect();
    p.lost(now, LossReason::DupAck, losses).1
}

fn acked(events: &Events) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::ProbeAcked { size, .. } => Some(size),
            _ => None,
        })
        .collect()
}

fn lost(events: &Events) -> Vec<(u64, LossReason)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::ProbeLost { id, reason, .. } => Some((id, reason)),
            _ => None,
        })
        .collect()
}

fn due_events(events: &Events) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::ProbeDue { size } => Some(size),
            _ => None,
        })
        .collect()
}

fn verdict(events: &Events) -> PtbVerdict {
    events
        .iter()
        .find_map(|e| match *e {
            Event::Hint { verdict, .. } => Some(verdict),
            _ => None,
        })
        .expect("a hint is always judged")
}

/// A round of four sizes is announced size by size, largest first; each
/// size is due until its copies are out, and any due size is claimed (the
/// caller may send them in any order), never a fifth transmission.
#[test]
fn a_round_announces_every_size_and_claims_any_due_one() {
    let mut p = Prober::new(Config {
        size_unit: SizeUnit::Ip,
        probe_sizes: 4,
        probe_copies: 2,
        ..Config::default()
    })
    .unwrap();
    let events = p.connected(0, None);
    assert_eq!(due_events(&events), [1500, 1269, 1038, 807]);
    assert_eq!(p.snapshot().round(), [1500, 1269, 1038, 807]);
    assert_eq!(p.snapshot().due(), [1500, 1269, 1038, 807]);
    assert_eq!(p.sizes().probe, Some(1500), "the largest due first");
    // A smaller size first: claimed, the largest still the one named.
    assert!(p.sent(0, 1, 807, None));
    assert!(p.sent(0, 2, 807, None));
    assert!(!p.sent(0, 3, 807, None), "its copies are out: data");
    assert_eq!(p.snapshot().due(), [1500, 1269, 1038]);
    assert_eq!(p.sizes().probe, Some(1500));
    assert!(!p.sent(0, 4, 1400, None), "not a size of the round: data");
    let rest = send_round(&mut p, 0, 10);
    assert_eq!(rest.len(), 6);
    assert_eq!(p.snapshot().in_flight().len(), 8);
    assert_eq!(p.snapshot().stats.rounds, 1);
}

/// Acks out of order, smaller first: each one raises the PLPMTU at once
/// to its size, the sizes below it become moot, and the round goes on
/// until the larger sizes are resolved; then the next round is planned.
#[test]
fn acks_smallest_first_raise_the_plpmtu_step_by_step_within_the_round() {
    let mut p = prober(4, 3);
    let sent = send_round(&mut p, 0, 1);
    let e = p.acked(5, ids_of(&sent, 807)[0], 807);
    assert_eq!((acked(&e), p.sizes().packet), (vec![807], 807));
    assert_eq!(p.snapshot().round(), [1500, 1269, 1038]);
    assert!(due_events(&e).is_empty(), "nothing new to send: {e:?}");
    let e = p.acked(6, ids_of(&sent, 1038)[2], 1038);
    assert_eq!((acked(&e), p.sizes().packet), (vec![1038], 1038));
    let e = p.acked(7, ids_of(&sent, 1269)[1], 1269);
    assert_eq!((acked(&e), p.sizes().packet), (vec![1269], 1269));
    assert_eq!(p.snapshot().round(), [1500], "the round waits for 1500");
    assert_eq!(p.snapshot().search_range, (1269, 1500));
    let e = fail(&mut p, 8, &sent, 1500);
    assert_eq!(lost(&e).len(), 3);
    assert_eq!(p.snapshot().search_range, (1269, 1499));
    assert_eq!(due_events(&e), [1453, 1407, 1361, 1315], "the next round");
    assert_eq!(p.snapshot().stats.rounds, 2);
}

/// Acks out of order, larger first: the smaller sizes are moot at once,
/// and their late acks are stale: they neither raise nor lower anything.
#[test]
fn an_ack_of_the_larger_size_first_makes_the_smaller_ones_moot() {
    let mut p = prober(4, 3);
    let sent = send_round(&mut p, 0, 1);
    let e = p.acked(5, ids_of(&sent, 1269)[0], 1269);
    assert_eq!(p.sizes().packet, 1269, "{e:?}");
    assert_eq!(p.snapshot().round(), [1500]);
    let stale = p.snapshot().stats.stale_events;
    for (id, size) in sent.iter().filter(|&&(_, s)| s < 1269) {
        let e = p.acked(6, *id, *size);
        assert!(acked(&e).is_empty() && lost(&e).is_empty(), "{e:?}");
        assert_eq!(p.sizes().packet, 1269);
    }
    assert_eq!(p.snapshot().stats.stale_events, stale + 6);
    assert_eq!(p.snapshot().invariants, Ok(()));
}

/// A late ack of a moot larger size: the size below it failed (all its
/// copies lost), so the larger one left the round; its ack arriving later
/// does not raise the PLPMTU above what the round concluded.
#[test]
fn a_late_ack_of_a_moot_larger_size_raises_nothing() {
    let mut p = prober(4, 3);
    let sent = send_round(&mut p, 0, 1);
    p.acked(5, ids_of(&sent, 807)[0], 807);
    fail(&mut p, 6, &sent, 1038);
    assert_eq!(p.snapshot().search_range, (807, 1037));
    // 1269 and 1500 are moot: the round ended, the next is inside the range.
    let next = p.snapshot().due().to_vec();
    assert_eq!(next, [991, 945, 899, 853]);
    assert_eq!(p.snapshot().in_flight(), [] as [u64; 0]);
    for size in [1500, 1269] {
        let e = p.acked(7, ids_of(&sent, size)[0], size);
        assert!(acked(&e).is_empty(), "{e:?}");
        assert_eq!(p.sizes().packet, 807);
    }
    assert_eq!(p.snapshot().due(), next, "the new round is untouched");
}

/// A loss of a moot size is still a probe's loss (kept out of congestion
/// control and of black-hole detection), and changes nothing: the round's
/// remaining size keeps all its losses left.
#[test]
fn a_loss_of_a_moot_size_is_a_probes_and_changes_nothing() {
    let mut p = Prober::new(Config {
        size_unit: SizeUnit::Ip,
        probe_sizes: 4,
        probe_copies: 3,
        black_hole_threshold: 1,
        ..Config::default()
    })
    .unwrap();
    p.connected(0, None);
    let sent = send_round(&mut p, 0, 1);
    p.acked(5, ids_of(&sent, 1269)[0], 1269);
    let moot: Vec<(u64, Option<u32>)> = sent
        .iter()
        .filter(|&&(_, s)| s < 1269)
        .map(|&(id, s)| (id, Some(s)))
        .collect();
    let (probes, e) = p.lost(6, LossReason::Timeout, moot.clone());
    assert_eq!(probes.as_slice().len(), moot.len(), "every one a probe's");
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(p.snapshot().state, State::Searching, "no black-hole check");
    assert_eq!(p.snapshot().round(), [1500]);
    // 1500 still needs three losses: two are not enough.
    let ids = ids_of(&sent, 1500);
    p.lost(7, LossReason::DupAck, [(ids[0], None), (ids[1], None)]);
    assert_eq!(p.snapshot().round(), [1500]);
    assert_eq!(p.snapshot().search_range, (1269, 1500));
}

/// A resend under one probe's id (uTP resends a lost packet's data under
/// its sequence number) makes that transmission unconfirmable: its ack is
/// a loss (`Resent`), and the other copies and sizes still confirm.
#[test]
fn a_resend_under_a_probes_id_spoils_that_transmission_only() {
    let mut p = prober(3, 2);
    let sent = send_round(&mut p, 0, 1);
    assert_eq!(p.snapshot().round(), [1500, 1192, 884]);
    let spoiled = ids_of(&sent, 1192)[0];
    assert!(!p.sent(1, spoiled, 576, None), "a resend is data");
    let e = p.acked(2, spoiled, 576);
    assert_eq!(lost(&e), [(spoiled, LossReason::Resent)]);
    assert_eq!(p.sizes().packet, 576, "no rise from the resend's ack");
    // The same id acknowledged at the probe's size: still unconfirmable.
    assert!(acked(&p.acked(3, spoiled, 1192)).is_empty());
    assert_eq!(p.sizes().packet, 576);
    let e = p.acked(4, ids_of(&sent, 1192)[1], 1192);
    assert_eq!((acked(&e), p.sizes().packet), (vec![1192], 1192));
}

/// An id already in flight as one size, sent again as a probe of another
/// size of the round: an ack of the id could be either packet's (the
/// smaller one's ack would "confirm" the larger size), so neither confirms.
#[test]
fn an_id_reused_for_another_size_of_the_round_confirms_neither() {
    let mut p = prober(4, 1);
    assert!(p.sent(0, 7, 1038, None));
    assert!(p.sent(0, 7, 1500, None), "due, so claimed");
    for size in [1500, 1038] {
        let e = p.acked(1, 7, size);
        assert!(acked(&e).is_empty(), "{size}: {e:?}");
        assert_eq!(p.sizes().packet, 576);
    }
    assert_eq!(p.snapshot().invariants, Ok(()));
}

/// A PTB quoting one size of the round (by the probe's bytes): the sizes
/// above the reported MTU leave the round, the reported MTU is probed next,
/// and the smaller sizes stay in flight and still confirm.
#[test]
fn a_ptb_for_one_size_limits_the_round_and_keeps_the_smaller_sizes() {
    let mut p = prober(4, 1);
    let payload = |size: u32| [size as u8; 32];
    for size in [1500, 1269, 1038, 807] {
        assert!(p.sent(0, u64::from(size), size, Some(&payload(size))));
    }
    let e = p.ptb(1, 1200, Quote::Bytes(&payload(1269)));
    assert_eq!(verdict(&e), PtbVerdict::Accepted);
    assert_eq!(due_events(&e), [1200]);
    assert_eq!(p.snapshot().round(), [1200, 1038, 807]);
    assert_eq!(p.snapshot().in_flight(), [1038, 807], "still waited for");
    assert_eq!(p.snapshot().search_range, (576, 1200));
    assert_eq!(acked(&p.acked(2, 1038, 1038)), [1038]);
    assert_eq!(p.snapshot().round(), [1200]);
    // A PTB quoting a size that left the round is not believed.
    let e = p.ptb(3, 1100, Quote::Bytes(&payload(807)));
    assert_eq!(verdict(&e), PtbVerdict::Unmatched);
    let e = p.ptb(3, 1100, Quote::Id(1500));
    assert_eq!(verdict(&e), PtbVerdict::Unmatched, "sent with its bytes");
    assert_eq!(p.snapshot().invariants, Ok(()));
}

/// A PTB must report less than the size it quotes: 1100 about a 1038
/// probe says nothing, even though it is less than other sizes in flight.
#[test]
fn a_ptb_is_judged_against_the_size_it_quotes() {
    let mut p = prober(4, 1);
    send_round(&mut p, 0, 1);
    let id_1038 = 3;
    assert_eq!(p.snapshot().in_flight()[2], id_1038);
    let e = p.ptb(1, 1100, Quote::Id(id_1038));
    assert_eq!(verdict(&e), PtbVerdict::NotSmaller);
    assert_eq!(p.snapshot().round(), [1500, 1269, 1038, 807]);
}

/// EMSGSIZE with the kernel's MTU: every size above it leaves the round
/// (it cannot leave the host), the kernel's MTU is probed, the rest stay.
#[test]
fn emsgsize_drops_the_sizes_above_the_kernel_mtu() {
    let mut p = prober(4, 1);
    assert!(p.sent(0, 1, 807, None));
    let e = p.send_refused(0, 1500, Some(1100));
    assert_eq!(verdict(&e), PtbVerdict::Accepted);
    assert_eq!(p.snapshot().round(), [1100, 1038, 807]);
    assert_eq!(p.snapshot().due(), [1100, 1038]);
    assert_eq!(p.snapshot().in_flight(), [1]);
    // Without the kernel's MTU: below the refused size.
    let e = p.send_refused(0, 1100, None);
    assert_eq!(verdict(&e), PtbVerdict::Accepted);
    assert_eq!(p.snapshot().round(), [1099, 1038, 807]);
}

/// A round with no ack counts once toward `failure_threshold`, however
/// many of its sizes failed: on a path below every size of three rounds,
/// the probing check comes after the third round, not the first.
#[test]
fn a_round_without_an_ack_counts_once_toward_the_failure_threshold() {
    let mut p = Prober::new(Config {
        size_unit: SizeUnit::Ip,
        probe_sizes: 4,
        probe_copies: 3,
        search_threshold: 2,
        ..Config::default()
    })
    .unwrap();
    p.connected(0, None);
    for round in 1..=3u64 {
        assert_eq!(p.snapshot().state, State::Searching, "round {round}");
        let sent = send_round(&mut p, 0, round * 10);
        let losses: Vec<(u64, Option<u32>)> = sent.iter().map(|&(id, _)| (id, None)).collect();
        let e = p.lost(1, LossReason::Timeout, losses);
        assert!(e.1.len() < EVENTS_MAX);
    }
    assert_eq!(p.snapshot().state, State::Base, "the probing check");
    assert_eq!(p.snapshot().stats.probing_checks, 1);
    assert_eq!(p.snapshot().stats.rounds, 3, "the check is no round");
    assert_eq!(p.snapshot().round(), [576]);
    // It passes: the search goes on below the sizes that failed.
    let id = 100;
    assert!(p.sent(2, id, 576, None));
    p.acked(3, id, 576);
    assert_eq!(p.snapshot().state, State::Searching);
    assert_eq!(p.snapshot().search_range, (576, 584));
    assert_eq!(p.snapshot().stats.rounds, 4);
}

/// The most a call can produce: four sizes of four copies in flight, every
/// transmission lost in one batch with a full-size data loss among them,
/// and every one timing out in one tick. The answer never fills.
#[test]
fn a_batch_losing_a_whole_round_fits_in_one_answer() {
    for at_once in [false, true] {
        let mut p = Prober::new(Config {
            size_unit: SizeUnit::Ip,
            probe_sizes: 4,
            probe_copies: 4,
            max_probes: 4,
            black_hole_threshold: 1,
            ..Config::default()
        })
        .unwrap();
        p.connected(0, None);
        let sent = send_round(&mut p, 0, 1);
        assert_eq!(sent.len(), 16);
        let e = if at_once {
            p.tick(p.deadline().unwrap())
        } else {
            let mut losses: Vec<(u64, Option<u32>)> =
                sent.iter().map(|&(id, s)| (id, Some(s))).collect();
            losses.insert(8, (1000, Some(576)));
            p.lost(5, LossReason::DupAck, losses).1
        };
        assert_eq!(lost(&e).len(), 16, "{e:?}");
        assert!(e.len() < EVENTS_MAX, "{} events: {e:?}", e.len());
        assert_eq!(p.snapshot().invariants, Ok(()));
    }
}

/// Without loss, every `probe_sizes` ends within the threshold of every
/// path MTU from the floor to the ceiling, never above, the PLPMTU only
/// rising by acknowledged probes; more sizes take fewer rounds.
#[test]
fn every_path_is_found_within_the_threshold_by_every_k() {
    let mut rounds = [0u32; 4];
    for k in 1..=4u32 {
        for mtu in (576..=1500).step_by(7) {
            let mut p = Prober::new(Config {
                size_unit: SizeUnit::Ip,
                probe_sizes: k,
                search_threshold: 2,
                ..Config::default()
            })
            .unwrap();
            p.connected(0, None);
            let mut id = 0;
            // A probing check (three failed rounds in a row) probes the
            // PLPMTU, which fits.
            while matches!(p.snapshot().state, State::Searching | State::Base) {
                let sent = send_round(&mut p, 0, id + 1);
                id += sent.len() as u64;
                for (id, size) in sent {
                    let before = p.sizes().packet;
                    let e = if size <= mtu {
                        p.acked(1, id, size)
                    } else {
                        p.lost(1, LossReason::DupAck, [(id, Some(size))]).1
                    };
                    assert!(p.sizes().packet <= before.max(size), "{e:?}");
                    if p.sizes().packet > before {
                        assert_eq!(p.sizes().packet, size);
                    }
                }
            }
            let found = p.sizes().packet;
            assert!(found <= mtu && mtu - found <= 2, "k {k}: {found} for {mtu}");
            rounds[k as usize - 1] += p.snapshot().stats.rounds;
        }
    }
    assert!(rounds.windows(2).all(|w| w[1] < w[0]), "{rounds:?}");
}

/// The path MTU changes in the middle of a round (data traffic shows a
/// drop): the simulator's oracle holds (no rise without an acknowledged
/// probe of that size that fit the path when sent), and the PLPMTU ends at
/// most at the new path MTU. (A drop that makes three rounds in a row fail
/// above a size confirmed before it ends in a fallback to the floor, as
/// with one size at a time; a rise waits for the next search.)
#[test]
fn a_path_mtu_change_mid_round_never_leaves_the_plpmtu_above_the_path() {
    for k in 2..=4u32 {
        for (first, later) in [(1500, 1350), (1400, 1492), (1280, 900)] {
            for at in [10, 49, 50, 120] {
                let config = Config {
                    probe_sizes: k,
                    probe_copies: 3,
                    search_threshold: 2,
                    min_probe_timeout_ms: 20,
                    ..Config::default()
                };
                let path = SimPath {
                    mtu_changes: vec![(at, later)],
                    data_interval_ms: Some(10),
                    ..SimPath::clean(first)
                };
                let run = simulate(config, &path, StopWhen::At(120_000));
                assert!(run.violations.is_empty(), "{k} {at}: {:?}", run.violations);
                let found = run.prober.sizes().packet;
                assert!(found <= later, "k {k}, {first}->{later} at {at}: {found}");
                assert!(found >= 576);
            }
        }
    }
}

/// `probe_sizes` 1 is one size at a time: the rounds are the sizes.
#[test]
fn one_size_per_round_is_one_size_at_a_time() {
    let mut p = prober(1, 3);
    let sent = send_round(&mut p, 0, 1);
    assert_eq!(ids_of(&sent, 1038).len(), 3);
    assert_eq!(p.snapshot().round(), [1038]);
    p.acked(1, 2, 1038);
    assert_eq!(p.snapshot().due(), [1269]);
}

/// Issue 23's bar for the recommended `probe_sizes` 4 under the driver's
/// settings (3 copies, a 2-byte search, 20 ms timeout floor): at 15 %
/// random loss a search ends within 2 bytes of the path in at least 98 %
/// of runs and never above it, whether losses are found by the timeout or
/// by evidence; and it settles in fewer rounds and less time than one size
/// at a time.
#[test]
fn four_sizes_end_within_2_bytes_in_98_percent_of_runs_at_15_percent_loss() {
    let config = |k| Config {
        probe_sizes: k,
        probe_copies: 3,
        search_threshold: 2,
        min_probe_timeout_ms: 20,
        ..Config::default()
    };
    for evidence in [None, Some(10)] {
        let (mut good, mut time, mut rounds) = ([0u32; 2], [0u64; 2], [0u32; 2]);
        for seed in 0..1000u64 {
            let mtu = 576 + (seed * 7919 % 925) as u32;
            let path = SimPath {
                loss: 0.15,
                seed,
                data_interval_ms: evidence,
                ..SimPath::clean(mtu)
            };
            for (i, k) in [1, 4].into_iter().enumerate() {
                let run = simulate(config(k), &path, StopWhen::Settled);
                assert!(run.settled && run.violations.is_empty(), "{seed}");
                let found = run.prober.sizes().packet;
                assert!(found <= mtu, "k {k} seed {seed}: {found} above {mtu}");
                good[i] += u32::from(mtu - found <= 2);
                time[i] += run.now_ms;
                rounds[i] += run.prober.snapshot().stats.rounds;
            }
        }
        assert!(good[1] >= 980, "{evidence:?}: only {} of 1000", good[1]);
        assert!(rounds[1] * 2 < rounds[0], "{evidence:?}: rounds {rounds:?}");
        assert!(time[1] * 3 < time[0] * 2, "{evidence:?}: time {time:?}");
    }
}

/// `mtu_initial` (aiutp's 1344) with four sizes: its round also splits the
/// range above it, so on a 1350 path the first round leaves (1344, 1395]
/// to search, not (1344, 1500]; a cached hint's round is the hint alone.
#[test]
fn mtu_initials_round_splits_the_range_above_it() {
    let config = Config {
        size_unit: SizeUnit::Ip,
        probe_sizes: 4,
        probe_copies: 3,
        initial: Some(1344),
        ..Config::default()
    };
    let mut p = Prober::new(config).unwrap();
    let e = p.connected(0, None);
    assert_eq!(due_events(&e), [1500, 1448, 1396, 1344]);
    assert_eq!(p.snapshot().search_range, (576, 1500));
    let sent = send_round(&mut p, 0, 1);
    p.acked(1, ids_of(&sent, 1344)[0], 1344);
    for size in [1500, 1448, 1396] {
        fail(&mut p, 2, &sent, size);
    }
    assert_eq!(p.snapshot().search_range, (1344, 1395));
    let mut hinted = Prober::new(config).unwrap();
    hinted.connected(0, Some(1400));
    assert_eq!(hinted.snapshot().round(), [1400]);
    // If mtu_initial fails, the larger sizes are moot and the search goes
    // on below it, at the floor meanwhile.
    let mut p = Prober::new(config).unwrap();
    p.connected(0, None);
    let sent = send_round(&mut p, 0, 1);
    fail(&mut p, 1, &sent, 1344);
    assert_eq!(p.sizes().packet, 576);
    assert_eq!(p.snapshot().search_range, (576, 1343));
    assert!(p.snapshot().in_flight().is_empty());
}
