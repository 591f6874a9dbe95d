//! Criterion benchmarks of the prober's hot events.
//!
//! `cargo bench -p plpmtud_core --bench prober`
#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use plpmtud_core::{Config, LossReason, Prober};
use std::hint::black_box;

/// A prober whose search completed at 1500 (common values, one probe).
fn settled() -> Prober {
    let config = Config {
        strategy: plpmtud_core::Strategy::CommonValues,
        ..Config::default()
    };
    let mut p = Prober::new(config).expect("valid config");
    p.connected(0);
    let size = p.next_probe().expect("a probe is due");
    p.probe_sent(0, 1, size).expect("probe accepted");
    p.probe_acked(1, 1);
    p
}

/// Each event on its own, one element per iteration.
fn events(c: &mut Criterion) {
    let mut group = c.benchmark_group("prober");
    group.throughput(Throughput::Elements(1));
    let mut p = settled();
    let mut now = 10u64;
    group.bench_function("packet_acked", |b| {
        b.iter(|| {
            now += 1;
            p.packet_acked(black_box(now), black_box(1500));
        })
    });
    group.bench_function("packet_lost", |b| {
        b.iter(|| {
            now += 1;
            p.packet_lost(black_box(now), black_box(1400));
        })
    });
    group.bench_function("probe_acked_stale", |b| {
        b.iter(|| p.probe_acked(black_box(now), black_box(99)))
    });
    group.bench_function("tick", |b| b.iter(|| p.tick(black_box(now))));
    group.bench_function("probe_cycle", |b| {
        let mut q = Prober::new(Config::default()).expect("valid config");
        q.connected(0);
        let mut id = 0u64;
        b.iter(|| {
            id += 1;
            match q.next_probe() {
                Some(size) => {
                    let _ = q.probe_sent(id, id, size);
                    if size <= 1400 {
                        q.probe_acked(id, id);
                    } else {
                        q.probe_lost(id, id, LossReason::Timeout);
                    }
                }
                None => {
                    black_box(q.probe_now(id));
                }
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = events
}
criterion_main!(benches);
