//! Core speed and size: events per second through one prober on one core,
//! and the bytes a prober occupies.
//!
//! `cargo run --release -p plpmtud_core --example core_speed [EVENTS] [REPS]`
//!
//! The event mix is a transport's: for every probe cycle (next_probe,
//! probe_sent, probe_acked or probe_lost), 30 data packets acknowledged, one
//! lost, and a tick; the prober re-searches whenever its search completes.

use plpmtud_core::{Config, LossReason, Prober};
use std::hint::black_box;
use std::time::Instant;

/// Runs `events` events through a fresh prober; returns the events run.
fn drive(events: u64) -> u64 {
    let mut p = Prober::new(Config::default()).expect("default config");
    p.connected(0);
    let mut now = 0u64;
    let mut id = 0u64;
    let mut done = 0u64;
    while done < events {
        now += 1;
        if let Some(size) = black_box(p.next_probe()) {
            id += 1;
            let _ = p.probe_sent(now, id, size);
            if size <= 1400 {
                p.probe_acked(now, id);
            } else {
                p.probe_lost(now, id, LossReason::Timeout);
            }
            done += 3;
        }
        let mtu = p.plpmtu();
        for _ in 0..30 {
            p.packet_acked(now, black_box(mtu));
        }
        p.packet_lost(now, black_box(mtu));
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
