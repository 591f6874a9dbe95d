//! Discovery over simulated paths: prints each probe and the result.
//!
//! `cargo run --release -p plpmtud_core --example discover [PATH_MTU ...]`

use plpmtud_core::{Config, Event, IpFamily, Strategy};
use plpmtud_sim::sim::{simulate, SimPath, StopWhen, Trace};

fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mtus = if args.is_empty() {
        vec![1500, 1420, 1350, 1000]
    } else {
        args
    };
    for strategy in [Strategy::Binary, Strategy::CommonValues] {
        for &mtu in &mtus {
            discover(strategy, mtu);
        }
    }
}

fn discover(strategy: Strategy, path_mtu: u32) {
    let config = Config {
        strategy,
        packet_overhead: 28,
        ..Config::default()
    };
    let path = SimPath {
        rtt_ms: 40,
        ..SimPath::clean(path_mtu)
    };
    println!(
        "== simulated IPv4 path MTU {path_mtu}, strategy {strategy:?}, range {}..{}",
        config.floor, config.ceiling
    );
    let run = simulate(config, &path, StopWhen::Settled);
    for line in &run.trace {
        match *line {
            Trace::ProbeSent { at_ms, id, size } => {
                println!("{at_ms:>7} ms  probe #{id:<3} {size:>5} bytes sent")
            }
            Trace::Prober {
                at_ms,
                event: Event::ProbeAcked { id, size, rtt_ms },
            } => {
                println!("{at_ms:>7} ms  probe #{id:<3} {size:>5} bytes acked (rtt {rtt_ms} ms)")
            }
            Trace::Prober {
                at_ms,
                event: Event::ProbeLost { id, size, reason },
            } => {
                println!("{at_ms:>7} ms  probe #{id:<3} {size:>5} bytes lost ({reason:?})")
            }
            Trace::Ptb { at_ms, mtu } => println!("{at_ms:>7} ms  packet too big: mtu {mtu}"),
            Trace::PathMtu { at_ms, mtu, state } => {
                println!("{at_ms:>7} ms  path mtu now {mtu} (prober {state:?})")
            }
            Trace::Prober {
                at_ms,
                event: Event::MtuChanged { old, new, reason },
            } => {
                println!("{at_ms:>7} ms  plpmtu {old} -> {new} ({reason:?})")
            }
            Trace::Prober { .. } => {}
        }
    }
    let p = &run.prober;
    let payload = plpmtud_core::units::payload_for_mtu(p.sizes().packet, IpFamily::V4, 28);
    println!(
        "result: plpmtu {} bytes (uTP payload {payload}), {} unused; {} probe sizes, {} probes, {} ms\n",
        p.sizes().packet,
        path_mtu - p.sizes().packet,
        run.probe_sizes.len(),
        run.probes_sent,
        run.now_ms
    );
}
