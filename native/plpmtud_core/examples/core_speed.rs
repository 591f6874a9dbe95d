//! Core speed and size: events per second through one prober on one core,
//! and the bytes a prober occupies.
//!
//! `cargo run --release -p plpmtud_core --example core_speed [EVENTS] [REPS]`
//!
//! The event mix is a transport's: for every probe cycle (sizes, sent,
//! acked or lost), 30 data packets acknowledged, one lost, and a tick; the
//! prober re-searches whenever its search completes.

use plpmtud_core::{Config, LossReason, Prober, SizeUnit};
use std::hint::black_box;
use std::time::Instant;

/// Runs `events` events through a fresh prober; returns the events run.
fn drive(events: u64) -> u64 {
    let config = Config {
        size_unit: SizeUnit::Ip,
        ..Config::default()
    };
    let mut p = Prober::new(config).expect("default config");
    p.connected(0, None);
    let mut now = 0u64;
    let mut id = 0u64;
    let mut done = 0u64;
    while done < events {
        now += 1;
        if let Some(size) = black_box(p.sizes().probe) {
            id += 1;
            p.sent(now, id, size, None);
            if size <= 1400 {
                p.acked(now, id, size);
            } else {
                p.lost(now, LossReason::Timeout, [(id, Some(size))]);
            }
            done += 3;
        }
        let mtu = p.sizes().packet;
        for _ in 0..30 {
            id += 1;
            p.acked(now, id, black_box(mtu));
        }
        id += 1;
        p.lost(now, LossReason::Timeout, [(id, Some(black_box(mtu)))]);
        p.tick(now);
        if black_box(p.probe_now(now)).is_empty() {
            p.rtt_sample(black_box(20));
        }
        done += 34;
    }
    done
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().ok());
    let events = args.next().flatten().unwrap_or(20_000_000);
    let reps = args.next().flatten().unwrap_or(7);
    let mut ns_per_event: Vec<f64> = (0..reps)
        .map(|_| {
            let started = Instant::now();
            let done = drive(events);
            started.elapsed().as_nanos() as f64 / done as f64
        })
        .collect();
    ns_per_event.sort_by(|a, b| a.total_cmp(b));
    let median = ns_per_event[ns_per_event.len() / 2];
    println!("command: cargo run --release -p plpmtud_core --example core_speed {events} {reps}");
    println!(
        "ns per event: median {median:.2}, min {:.2}, max {:.2} ({reps} reps of {events} events)",
        ns_per_event[0],
        ns_per_event[ns_per_event.len() - 1]
    );
    println!("events per second (median): {:.1} M", 1_000.0 / median);
    println!("bytes per prober: {}", std::mem::size_of::<Prober>());
}
