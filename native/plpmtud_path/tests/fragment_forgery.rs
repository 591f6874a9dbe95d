//! An off-path forger who knows the protocol and guesses the next message
//! id (ids are sequential) injects fragments under that id with any count,
//! checksum and length, before and during a real message. The real message
//! must still be delivered at once, and a flood must keep the reassembler
//! within its bounds. Also: one push stays cheap with 10^5 messages held.

use plpmtud_path::fragment::{crc32, split, Bounds, Reassembler, Reject, HEADER_LEN};
use std::time::Instant;

/// A fragment under `id` with the given index, count, checksum and payload,
/// as a forger writes it (the header layout is public).
fn forged(id: u32, index: u16, count: u16, crc: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(HEADER_LEN + payload.len());
    f.extend_from_slice(b"PF\x01\x00");
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&index.to_be_bytes());
    f.extend_from_slice(&count.to_be_bytes());
    f.extend_from_slice(&crc.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// xorshift64: the forger's choices, reproducible.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Forged fragments under `id`: the real count with wrong checksums, wrong
/// counts, a real-looking checksum of other content, every index, several
/// lengths.
fn forgeries(id: u32, real_count: u16, seed: u64) -> Vec<Vec<u8>> {
    let mut state = seed | 1;
    let mut out = Vec::new();
    for index in 0..real_count {
        let junk = vec![index as u8; 1 + (next(&mut state) % 1_000) as usize];
        out.push(forged(
            id,
            index,
            real_count,
            next(&mut state) as u32,
            &junk,
        ));
        out.push(forged(id, index, real_count + 1, crc32(&junk), &junk));
    }
    out.push(forged(id, 0, 1, 0xDEAD_BEEF, b"one fragment, bad checksum"));
    out.push(forged(id, 1, 2, next(&mut state) as u32, &[0; 1_000]));
    out.push(forged(
        id,
        0,
        u16::MAX,
        next(&mut state) as u32,
        &[0; 1_384],
    ));
    out
}

#[test]
fn forged_fragments_under_the_expected_id_do_not_block_the_real_message() {
    let mut r = Reassembler::new(Bounds::default());
    let mut state = 7u64;
    for id in 100..110u32 {
        let message: Vec<u8> = (0..12_000).map(|_| next(&mut state) as u8).collect();
        let real = split(&message, id, 1_000).unwrap();
        let count = real.len() as u16;
        let fakes = forgeries(id, count, u64::from(id));
        let (before, during) = fakes.split_at(fakes.len() / 2);
        for f in before {
            let _ = r.push(0, f);
        }
        let per_real = during.len().div_ceil(real.len());
        let mut fakes_during = during.chunks(per_real);
        for (k, f) in real.iter().enumerate() {
            let answer = r.push(0, f);
            if k + 1 < real.len() {
                assert_eq!(answer, Ok(None), "message {id}: real fragment {k} refused");
            } else {
                assert_eq!(
                    answer,
                    Ok(Some(message.clone())),
                    "message {id} not delivered"
                );
            }
            for fake in fakes_during.next().unwrap_or_default() {
                let _ = r.push(0, fake);
            }
        }
        assert!(r.bytes_held() <= Bounds::default().max_bytes);
    }
    assert_eq!(r.stats().completed, 10);
}

#[test]
fn a_forger_who_knows_the_checksum_costs_one_attempt_not_the_retransmission() {
    // On the path, the forger copies the real header and replaces one
    // fragment's payload: that attempt fails its checksum, and the sender's
    // retransmission of the same message is delivered, not refused as a
    // duplicate of it.
    let mut r = Reassembler::new(Bounds::default());
    let message: Vec<u8> = (0..5_000u32).map(|i| (i * 31) as u8).collect();
    let real = split(&message, 9, 1_000).unwrap();
    let mut fake = real[2].clone();
    fake[HEADER_LEN..].fill(0);
    assert_eq!(r.push(0, &fake), Ok(None));
    let first: Vec<_> = real.iter().map(|f| r.push(1, f)).collect();
    assert!(first.contains(&Err(Reject::BadChecksum)), "{first:?}");
    let mut again = None;
    for f in &real {
        again = r.push(2, f).expect("the retransmission is taken").or(again);
    }
    assert_eq!(again, Some(message));
    assert_eq!((r.messages_held(), r.bytes_held()), (0, 0));
}

#[test]
fn a_flood_of_forged_partials_stays_within_the_bounds_and_the_real_message_gets_through() {
    let bounds = Bounds {
        max_messages: 64,
        max_bytes: 256 * 1024,
        timeout_ms: 5_000,
    };
    let mut r = Reassembler::new(bounds);
    let message = vec![0xA5u8; 40 * 1_384];
    let real = split(&message, 77, 1_400).unwrap();
    let mut state = 11u64;
    let mut delivered = None;
    for f in &real {
        // Ten forged messages per real fragment, under the expected id and
        // its neighbours, each as large as a real fragment.
        for _ in 0..10 {
            let id = 76 + (next(&mut state) % 3) as u32;
            let count = real.len() as u16 + (next(&mut state) % 2) as u16;
            let fake = forged(id, 0, count, next(&mut state) as u32, &[1; 1_384]);
            let _ = r.push(0, &fake);
            assert!(r.bytes_held() <= bounds.max_bytes, "{}", r.bytes_held());
            assert!(r.messages_held() <= bounds.max_messages);
        }
        if let Some(m) = r.push(0, f).expect("a real fragment is never refused") {
            delivered = Some(m);
        }
    }
    assert_eq!(delivered, Some(message));
    assert!(r.stats().peak_bytes <= bounds.max_bytes);
    assert!(r.stats().evicted > 300, "{:?}", r.stats());
}

/// Mean ns per push of a fresh 2-fragment message's two fragments, with
/// `held` incomplete messages already held.
fn push_ns(held: u32, pairs: u32) -> f64 {
    let mut r = Reassembler::new(Bounds {
        max_messages: held as usize + 16,
        max_bytes: 1 << 34,
        timeout_ms: 1 << 40,
    });
    for id in 0..held {
        let first = &split(&id.to_be_bytes(), id, HEADER_LEN + 2).unwrap()[0];
        assert_eq!(r.push(0, first), Ok(None));
    }
    let messages: Vec<Vec<Vec<u8>>> = (held..held + pairs)
        .map(|id| split(&id.to_be_bytes(), id, HEADER_LEN + 2).unwrap())
        .collect();
    let started = Instant::now();
    for m in &messages {
        assert_eq!(r.push(1, &m[0]), Ok(None));
        assert!(r.push(1, &m[1]).unwrap().is_some());
    }
    started.elapsed().as_nanos() as f64 / f64::from(2 * pairs)
}

#[test]
fn a_push_costs_about_the_same_with_100_000_messages_held_as_with_one() {
    let one = push_ns(1, 2_000);
    let many = push_ns(100_000, 2_000);
    assert!(
        many < 20.0 * one,
        "push with 10^5 messages held: {many:.0} ns, with 1: {one:.0} ns"
    );
}

/// The review's attack on eviction by fragments held: with no guessing at
/// all, a forger keeps `max_messages` messages that claim 1000 fragments
/// and hold one, ahead of each fragment of a real 15-fragment message.
/// Eviction by the share held drops the forger's, never the real one.
#[test]
fn forged_messages_claiming_many_fragments_do_not_evict_a_real_one() {
    use plpmtud_path::fragment::{split, Bounds, Reassembler};
    let bounds = Bounds {
        max_messages: 64,
        max_bytes: 4 << 20,
        timeout_ms: 5_000,
    };
    let mut r = Reassembler::new(bounds);
    let message: Vec<u8> = (0..15 * 100).map(|i| (i % 251) as u8).collect();
    let real = split(&message, 7, 100 + plpmtud_path::fragment::HEADER_LEN).unwrap();
    assert_eq!(real.len(), 15);
    let mut forged_id = 1_000u32;
    let mut delivered = None;
    for fragment in &real {
        for _ in 0..66 {
            forged_id += 1;
            let fake = split(
                &vec![9u8; 2000 * 100],
                forged_id,
                100 + plpmtud_path::fragment::HEADER_LEN,
            )
            .unwrap();
            let _ = r.push(0, &fake[0]);
        }
        if let Ok(Some(whole)) = r.push(0, fragment) {
            delivered = Some(whole);
        }
    }
    assert_eq!(delivered.as_deref(), Some(&message[..]));
}
