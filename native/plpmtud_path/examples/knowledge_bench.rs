//! Path-knowledge throughput: cache lookups per second from 2 threads, and
//! reassembly throughput and peak memory under a hostile flood.
//!
//! `cargo run --release -p plpmtud_path --example knowledge_bench`

use plpmtud_path::cache::{CacheReason, PathCache};
use plpmtud_path::fragment::{split, Bounds, Reassembler};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

/// Lookups per second with `threads` threads over 10 000 cached peers.
fn cache_lookups(threads: u32) -> f64 {
    let cache = Arc::new(PathCache::new(10_000, 600_000));
    for n in 0..10_000u32 {
        cache.record(
            0,
            IpAddr::V4(Ipv4Addr::from(n)),
            1400,
            CacheReason::ProbeSuccess,
        );
    }
    let per_thread = 5_000_000u32;
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                let mut hits = 0u32;
                for i in 0..per_thread {
                    let ip = IpAddr::V4(Ipv4Addr::from((i.wrapping_mul(7919) + t) % 10_000));
                    hits += u32::from(cache.lookup(1, ip).is_some());
                }
                hits
            })
        })
        .collect();
    let hits: u32 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(hits, per_thread * threads);
    f64::from(per_thread * threads) / started.elapsed().as_secs_f64()
}

fn main() {
    println!("command: cargo run --release -p plpmtud_path --example knowledge_bench");
    for threads in [1, 2] {
        println!(
            "cache lookups/s, {threads} thread(s): {:.1} M",
            cache_lookups(threads) / 1e6
        );
    }
    let message = vec![7u8; 64 * 1024];
    let fragments = split(&message, 1, 1400).expect("split");
    let mut r = Reassembler::new(Bounds::default());
    let started = Instant::now();
    let rounds = 20_000u32;
    for round in 0..rounds {
        let mut fragments = fragments.clone();
        for f in &mut fragments {
            f[4..8].copy_from_slice(&round.to_be_bytes());
        }
        for f in fragments.iter().rev() {
            let _ = r.push(0, f);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "reassembly: {:.0} MB/s of messages ({} x 64 KiB, {} fragments each, reverse order)",
        f64::from(rounds) * 65_536.0 / secs / 1e6,
        rounds,
        fragments.len()
    );
    let bounds = Bounds {
        max_messages: 64,
        max_bytes: 1 << 20,
        timeout_ms: 5_000,
    };
    let mut flood = Reassembler::new(bounds);
    for id in 0..1_000_000u32 {
        let mut f = fragments[0].clone();
        f[4..8].copy_from_slice(&id.to_be_bytes());
        let _ = flood.push(u64::from(id), &f);
    }
    let s = flood.stats();
    println!(
        "flood of 1 000 000 first fragments: peak {} bytes held (bound {}), {} evicted",
        s.peak_bytes, bounds.max_bytes, s.evicted
    );
}
