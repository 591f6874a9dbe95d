//! Criterion benchmarks of the prober's hot events.
//!
//! `cargo bench -p plpmtud_core --bench prober`
#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use plpmtud_core::{Config, LossReason, Prober, SizeUnit};

/// The id of data packets: never a probe's.
const DATA: u64 = u64::MAX;
use std::hint::black_box;

/// A prober whose search completed at 1500 (common values, one probe).
fn settled() -> Prober {
    let config = Config {
        strategy: plpmtud_core::Strategy::CommonValues,
        size_unit: SizeUnit::Ip,
        ..Config::default()
    };
    let mut p = Prober::new(config).expect("valid config");
    p.connected(0, None);
    let size = p.sizes().probe.expect("a probe is due");
    assert!(p.sent(0, 1, size, None), "probe accepted");
    p.acked(1, 1, size);
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
            p.acked(black_box(now), DATA, black_box(1500));
        })
    });
    group.bench_function("packet_lost", |b| {
        b.iter(|| {
            now += 1;
            p.lost(
                black_box(now),
                LossReason::Timeout,
                [(DATA, Some(black_box(1400)))],
            );
        })
    });
    group.bench_function("acked_stale_probe", |b| {
        b.iter(|| p.acked(black_box(now), black_box(1), black_box(1500)))
    });
    group.bench_function("tick", |b| b.iter(|| p.tick(black_box(now))));
    group.bench_function("probe_cycle", |b| {
        let config = Config {
            size_unit: SizeUnit::Ip,
            ..Config::default()
        };
        let mut q = Prober::new(config).expect("valid config");
        q.connected(0, None);
        let mut id = 0u64;
        b.iter(|| {
            id += 1;
            match q.sizes().probe {
                Some(size) => {
                    q.sent(id, id, size, None);
                    if size <= 1400 {
                        q.acked(id, id, size);
                    } else {
                        q.lost(id, LossReason::Timeout, [(id, Some(size))]);
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
