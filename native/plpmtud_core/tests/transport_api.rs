//! The transport API in the handle's unit: sizes in payload bytes by
//! default, IP bytes on request; MTUs from the network in IP bytes; loss
//! batches; PTBs matched by their quoted bytes; one snapshot.

use plpmtud_core::events::EVENTS_MAX;
use plpmtud_core::{
    ChangeReason, Config, Event, Events, HintSource, IpFamily, LossReason, Prober, PtbVerdict,
    Quote, SizeUnit, State,
};

fn hint(events: &Events) -> (HintSource, u32, PtbVerdict) {
    events
        .iter()
        .find_map(|e| match *e {
            Event::Hint {
                source,
                ip_mtu,
                verdict,
            } => Some((source, ip_mtu, verdict)),
            _ => None,
        })
        .expect("a hint is always judged")
}

/// aiutp's overhead: UDP 8 + uTP 20 above the 20-byte IPv4 header.
fn aiutp() -> Config {
    Config {
        packet_overhead: 28,
        ..Config::default()
    }
}

#[test]
fn payload_bytes_are_the_default_unit_of_every_size() {
    let mut p = Prober::new(aiutp()).unwrap();
    let sizes = p.sizes();
    assert_eq!((sizes.packet, sizes.probe, sizes.base), (528, None, 528));
    let events = p.connected(0, None);
    assert_eq!(
        events.iter().copied().collect::<Vec<_>>(),
        vec![
            Event::SearchStarted { limit: 1452 },
            Event::ProbeDue { size: 990 }
        ]
    );
    assert!(!p.sent(0, 1, 1038, None), "an IP size is another size");
    assert!(p.sent(0, 2, 990, None));
    let events = p.acked(10, 2, 990);
    assert!(events.iter().any(|e| *e
        == Event::ProbeAcked {
            id: 2,
            size: 990,
            rtt_ms: 10
        }));
    assert_eq!(
        events.mtu_change(),
        Some((528, 990, ChangeReason::ProbeAcked))
    );
    let s = p.snapshot();
    assert_eq!(s.unit, SizeUnit::Payload);
    assert_eq!((s.sizes.packet, s.ip_sizes.packet), (990, 1038));
    assert_eq!((s.sizes.base, s.ip_sizes.base), (528, 576));
    assert_eq!(s.search_range, (990, 1452));
    assert_eq!(s.overhead, 48);
    assert_eq!(s.ceiling_ip, 1500);
    let last = s.history().last().unwrap();
    assert_eq!((last.old, last.new), (528, 990));
}

#[test]
fn mtus_from_the_network_and_the_kernel_stay_ip_bytes() {
    let mut p = Prober::new(aiutp()).unwrap();
    p.connected(0, None);
    let size = p.sizes().probe.unwrap();
    assert!(p.sent(0, 7, size, None));
    // A PTB reports an IP MTU: 1000 IP bytes are less than the 1038-byte probe.
    let events = p.ptb(1, 1000, Quote::Id(7));
    assert_eq!(hint(&events), (HintSource::Ptb, 1000, PtbVerdict::Accepted));
    assert_eq!(p.sizes().probe, Some(1000 - 48), "the hint is probed next");
    // EMSGSIZE of a 900-byte payload: nothing above 947 IP bytes leaves.
    let events = p.send_refused(2, 900, None);
    assert_eq!(
        hint(&events),
        (HintSource::Emsgsize, 947, PtbVerdict::Accepted)
    );
    assert_eq!(p.sizes().probe, Some(947 - 48));
    // With the kernel's MTU, that is the limit, in IP bytes.
    let events = p.send_refused(3, 900, Some(940));
    assert_eq!(
        hint(&events),
        (HintSource::Emsgsize, 940, PtbVerdict::Accepted)
    );
    assert_eq!(p.sizes().probe, Some(940 - 48));
}

#[test]
fn a_cached_hint_is_given_in_the_unit() {
    let mut payload = Prober::new(aiutp()).unwrap();
    payload.connected(0, Some(1296));
    assert_eq!(payload.sizes().probe, Some(1296));
    assert_eq!(payload.snapshot().ip_sizes.probe, Some(1344));
    let mut ip = Prober::new(Config {
        size_unit: SizeUnit::Ip,
        ..aiutp()
    })
    .unwrap();
    ip.connected(0, Some(1344));
    assert_eq!(ip.sizes().probe, Some(1344));
}

#[test]
fn ipv6_payload_sizes_leave_room_for_the_40_byte_header() {
    let mut p = Prober::new(Config {
        family: IpFamily::V6,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(p.sizes().base, 1280 - 48);
    p.connected(0, None);
    assert_eq!(p.sizes().probe, Some(1390 - 48));
    assert_eq!(p.snapshot().family, IpFamily::V6);
}

/// One call for a whole SACK: every probe copy's loss, the failed size
/// and a black-hole suspicion from a full-size data loss, all in one
/// answer (a late report of an older probe's id is a probe's, not data).
#[test]
fn a_loss_batch_answers_everything_the_batch_did() {
    let mut p = Prober::new(Config {
        size_unit: SizeUnit::Ip,
        probe_copies: 3,
        black_hole_threshold: 1,
        ..Config::default()
    })
    .unwrap();
    p.connected(0, None);
    for id in 1..=3 {
        assert!(p.sent(0, id, 1038, None));
    }
    p.acked(10, 2, 1038);
    let size = p.sizes().probe.unwrap();
    for id in 11..=13 {
        assert!(p.sent(20, id, size, None));
    }
    let (probes, events) = p.lost(
        30,
        LossReason::DupAck,
        [
            (11, Some(size)),
            (12, None),
            (1, Some(1038)),
            (13, Some(size)),
            (100, Some(1038)),
            (11, Some(size)),
        ],
    );
    assert_eq!(probes.as_slice(), &[11, 12, 1, 13], "each once");
    let lost: Vec<u64> = events
        .iter()
        .filter_map(|e| match *e {
            Event::ProbeLost { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(lost, [11, 12, 13]);
    assert!(events.contains_suspicion(1038), "{events:?}");
    assert!(events.len() < EVENTS_MAX, "{events:?}");
    assert_eq!(p.snapshot().state, State::Base);
    assert_eq!(p.snapshot().invariants, Ok(()));
}

trait Suspicion {
    fn contains_suspicion(&self, mtu: u32) -> bool;
}

impl Suspicion for Events {
    fn contains_suspicion(&self, mtu: u32) -> bool {
        self.iter().any(|e| *e == Event::BlackHoleSuspected { mtu })
    }
}

/// Copies of one size sent with their own bytes: a PTB quoting any copy's
/// bytes names that copy, with no id parsed by the caller.
#[test]
fn a_quote_names_the_copy_it_was_sent_with() {
    let mut p = Prober::new(Config {
        size_unit: SizeUnit::Ip,
        probe_copies: 3,
        ..Config::default()
    })
    .unwrap();
    p.connected(0, None);
    let payloads: Vec<[u8; 32]> = (1..=3u8).map(|i| [i; 32]).collect();
    for (id, payload) in (1..=3).zip(&payloads) {
        assert!(p.sent(0, id, 1038, Some(payload)));
    }
    assert_eq!(
        hint(&p.ptb(1, 1000, Quote::Bytes(&[9; 32]))).2,
        PtbVerdict::Unmatched
    );
    assert_eq!(
        hint(&p.ptb(1, 1000, Quote::Id(2))).2,
        PtbVerdict::Unmatched,
        "a probe sent with its bytes is not matched by id"
    );
    assert_eq!(
        hint(&p.ptb(1, 1000, Quote::Bytes(&payloads[1]))).2,
        PtbVerdict::Accepted
    );
    assert_eq!(p.snapshot().stats.ptb_accepted, 1);
    assert_eq!(p.snapshot().stats.ptb_unmatched, 2);
}

/// At the floor a matched PTB is the loss of the probe it quotes: the
/// quoted bytes find its id.
#[test]
fn a_quoted_ptb_at_the_floor_loses_the_quoted_copy() {
    let mut p = Prober::new(Config {
        size_unit: SizeUnit::Ip,
        ..Config::default()
    })
    .unwrap();
    p.connected(0, None);
    assert!(p.sent(0, 5, 1038, Some(b"probe five")));
    let events = p.ptb(1, 576, Quote::Bytes(b"probe five"));
    assert_eq!(hint(&events).2, PtbVerdict::Accepted);
    assert!(events.iter().any(|e| *e
        == Event::ProbeLost {
            id: 5,
            size: 1038,
            reason: LossReason::DupAck
        }));
}

#[test]
fn a_snapshot_copies_the_whole_prober_at_once() {
    let mut p = Prober::new(Config {
        probe_copies: 2,
        ..aiutp()
    })
    .unwrap();
    let s = p.snapshot();
    assert_eq!(
        (s.state, s.enabled, s.probing),
        (State::Disabled, true, None)
    );
    assert_eq!(s.invariants, Ok(()));
    p.connected(0, None);
    assert!(p.sent(5, 1, 990, None));
    let s = p.snapshot();
    assert_eq!(s.in_flight(), &[1]);
    assert_eq!((s.sizes.probe, s.probing), (Some(990), Some(990)));
    assert!(p.sent(6, 2, 990, None));
    let s = p.snapshot();
    assert_eq!(s.in_flight(), &[1, 2]);
    assert_eq!(
        (s.sizes.probe, s.probing),
        (None, Some(990)),
        "both copies in flight: none due, one size probed"
    );
    assert_eq!((s.deadline, s.probe_timeout_ms), (Some(1_005), 1_000));
    assert_eq!(s.stats.probes_sent, 2);
    assert_eq!(s.history().len(), 1);
}

/// A resend under a probe's id while its copy is in flight, claimed again
/// at the same size (probe_copies 2 leaves a slot free after a loss),
/// cannot be confirmed by an ack of that id: the ack may be either
/// transmission's. Found by an outside review of the one-API change.
#[test]
fn a_resend_under_a_probes_id_claimed_again_confirms_nothing() {
    for order in [false, true] {
        let mut p = Prober::new(Config {
            size_unit: SizeUnit::Ip,
            probe_copies: 2,
            ..Config::default()
        })
        .unwrap();
        p.connected(0, None);
        assert_eq!(p.sizes().probe, Some(1038));
        assert!(p.sent(1, 1, 1038, None));
        assert!(p.sent(2, 5, 1038, None));
        // One copy lost: a slot is free and the size is due again.
        let (probes, _) = p.lost(3, LossReason::DupAck, [(1, Some(1038))]);
        assert_eq!(probes.as_slice(), [1]);
        assert_eq!(p.sizes().probe, Some(1038));
        // The transport resends packet 5 at the same size, before its fate is known.
        p.sent(4, 5, 1038, None);
        let first = p.acked(5, 5, 1038);
        let second = if order {
            p.acked(6, 5, 1038)
        } else {
            Events::default()
        };
        for events in [&first, &second] {
            assert!(
                !events
                    .iter()
                    .any(|e| matches!(e, Event::ProbeAcked { .. } | Event::MtuChanged { .. })),
                "{events:?}"
            );
        }
        assert_eq!(
            p.sizes().packet,
            576,
            "an ack of a resent id raised the size"
        );
    }
}

/// A probe claimed under an id sent before at a smaller size (that copy
/// reported lost, the packet perhaps only late) cannot be confirmed by an
/// ack of the id: it may be the smaller packet's. Found by an outside
/// review of the rounds.
#[test]
fn a_probe_under_an_id_sent_before_at_a_smaller_size_confirms_nothing() {
    let mut p = Prober::new(Config {
        size_unit: SizeUnit::Ip,
        probe_sizes: 2,
        ..Config::default()
    })
    .unwrap();
    p.connected(0, None);
    assert_eq!(p.snapshot().due(), [1500, 1038]);
    assert!(p.sent(0, 5, 1038, None));
    p.lost(1, LossReason::DupAck, [(5, Some(1038))]);
    // Id 5 again, now as the 1500 probe; the late 1038 packet's ack comes.
    p.sent(11, 5, 1500, None);
    let events = p.acked(20, 5, 1500);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ProbeAcked { .. } | Event::MtuChanged { .. })),
        "{events:?}"
    );
    assert_eq!(p.sizes().packet, 576);
}

/// A cached hint below `mtu_initial`: the hint is the size in use until
/// its probe answers, and a search it completes never leaves the larger,
/// never probed `mtu_initial` in use. Found by an outside review.
#[test]
fn a_hint_below_mtu_initial_is_the_size_in_use() {
    for probe_sizes in [1, 3] {
        let mut p = Prober::new(Config {
            size_unit: SizeUnit::Ip,
            initial: Some(1400),
            probe_sizes,
            ..Config::default()
        })
        .unwrap();
        assert_eq!(p.sizes().packet, 1400);
        p.connected(0, Some(1200));
        assert_eq!(p.sizes().packet, 1200);
        assert_eq!(p.sizes().probe, Some(1200));
        assert!(p.sent(1, 1, 1200, None));
        p.acked(2, 1, 1200);
        assert_eq!(p.snapshot().state, State::SearchComplete);
        assert_eq!(p.sizes().packet, 1200, "probe_sizes {probe_sizes}");
    }
}
