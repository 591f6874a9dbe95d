//! Several sizes in flight (`probe_sizes` 1 to 4) under the settings of
//! plpmtud's own driver, over seeded simulated paths with random loss:
//! rounds and simulated time to settle, probe bytes per search, and how
//! often the search ends within 2 bytes of the path MTU or above it.
//!
//! `cargo run --release -p plpmtud_core --example search_parallel > bench/results/search_parallel.md`
//! (then the hand-written "Reading" section is added back at the end).

use plpmtud_core::{Config, IpFamily};
use plpmtud_sim::sim::{simulate, Outcomes, SimPath, SimResult, StopWhen, Trace};
use std::ops::Range;

/// The command that produces this output.
const COMMAND: &str =
    "cargo run --release -p plpmtud_core --example search_parallel > bench/results/search_parallel.md";
/// Seeded runs per row.
const SEEDS: u64 = 1000;
/// Loss rates, in percent.
const LOSS_PERCENT: [u32; 4] = [0, 5, 10, 15];
/// The values of `probe_sizes` compared.
const SIZES: [u32; 4] = [1, 2, 3, 4];
/// Bytes below the path MTU that still count as exact.
const EXACT_BYTES: u32 = 2;

/// The driver's prober settings (`PLPMTUD.Driver.prober_config/2`): IP
/// sizes with 8 bytes above IP, a 20 ms floor under RTT-derived probe
/// timeouts, 3 copies of each size, a 2-byte search threshold; and
/// `probe_sizes` sizes per round.
fn driver_config(probe_sizes: u32) -> Config {
    Config {
        packet_overhead: 8,
        min_probe_timeout_ms: 20,
        probe_copies: 3,
        search_threshold: 2,
        probe_sizes,
        ..Config::default()
    }
}

/// Outcome of many runs of one row.
#[derive(Debug, Default)]
struct Tally {
    outcomes: Outcomes,
    rounds: u64,
    probe_bytes: u64,
    times: Vec<u64>,
}

impl Tally {
    /// Adds one settled run over a path of `mtu` bytes.
    fn add(&mut self, run: &SimResult, mtu: u32) {
        self.outcomes.add(run, mtu, EXACT_BYTES);
        self.rounds += u64::from(run.prober.snapshot().stats.rounds);
        self.probe_bytes += run
            .trace
            .iter()
            .map(|t| match *t {
                Trace::ProbeSent { size, .. } => u64::from(size),
                _ => 0,
            })
            .sum::<u64>();
        self.times.push(run.now_ms);
    }

    fn mean(&self, total: u64) -> f64 {
        self.outcomes.mean(total)
    }

    /// The `q` quantile of the times to settle (ms).
    fn time_quantile(&mut self, q: f64) -> u64 {
        self.times.sort_unstable();
        let index = ((self.times.len() - 1) as f64 * q).round() as usize;
        self.times[index]
    }
}

/// `part` of `whole` as a percentage with one decimal.
fn percent(part: u64, whole: u64) -> String {
    format!("{:.1} %", 100.0 * part as f64 / whole as f64)
}

/// Runs `SEEDS` seeded paths for `probe_sizes` at `loss` percent; with
/// `evidence`, data packets every 10 ms report a lost probe one round trip
/// after it left (loss by evidence, as the driver's sentinel does), else
/// only the probe timeout finds it.
fn tally(probe_sizes: u32, loss: u32, evidence: bool, seeds: Range<u64>) -> Tally {
    let config = driver_config(probe_sizes);
    let mut tally = Tally::default();
    for seed in seeds {
        let mtu = 576 + (seed * 7919 % 925) as u32;
        let path = SimPath {
            loss: f64::from(loss) / 100.0,
            seed,
            data_interval_ms: evidence.then_some(10),
            ..SimPath::clean(mtu)
        };
        let run = simulate(config, &path, StopWhen::Settled);
        assert!(run.settled, "did not settle: {config:?} {path:?}");
        assert!(run.violations.is_empty(), "{:?}", run.violations);
        tally.add(&run, mtu);
    }
    tally
}

/// Prints one table: a row per loss rate of `losses` and `probe_sizes`,
/// over the runs of `seeds`.
fn table(evidence: bool, losses: &[u32], seeds: Range<u64>) {
    println!(
        "| loss | probe_sizes | within {EXACT_BYTES} bytes | above the path MTU | more than {EXACT_BYTES} bytes short | ended in fallback | mean rounds | mean time to settle (ms) | median | 95th percentile | mean probe transmissions | mean probe bytes per search |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &loss in losses {
        for k in SIZES {
            let mut t = tally(k, loss, evidence, seeds.clone());
            let (median, p95) = (t.time_quantile(0.5), t.time_quantile(0.95));
            println!(
                "| {loss} % | {k} | {} | {} | {} | {} | {:.2} | {:.0} | {median} | {p95} | {:.1} | {:.0} |",
                percent(t.outcomes.within, t.outcomes.runs),
                percent(t.outcomes.above, t.outcomes.runs),
                percent(t.outcomes.short, t.outcomes.runs),
                percent(t.outcomes.fallbacks, t.outcomes.runs),
                t.mean(t.rounds),
                t.mean(t.times.iter().sum()),
                t.mean(t.outcomes.probes),
                t.mean(t.probe_bytes),
            );
        }
    }
    println!();
}

/// Prints, for a lab-like path (RTT 1 ms, losses by evidence), the time to
/// settle on IPv4 (576..1500) and IPv6 (1280..1500) for each `probe_sizes`.
fn lab_like() {
    println!("| family | loss | probe_sizes | within {EXACT_BYTES} bytes | above | mean rounds | mean time to settle (ms) | median | 95th percentile | max |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (family, floor) in [(IpFamily::V4, 576u32), (IpFamily::V6, 1280)] {
        for loss in [0u32, 15] {
            for k in SIZES {
                let config = Config {
                    family,
                    ..driver_config(k)
                };
                let span = u64::from(config.ceiling - floor + 1);
                let mut t = Tally::default();
                for seed in 0..SEEDS {
                    let mtu = floor + (seed * 7919 % span) as u32;
                    let path = SimPath {
                        loss: f64::from(loss) / 100.0,
                        seed,
                        rtt_ms: 1,
                        data_interval_ms: Some(1),
                        ..SimPath::clean(mtu)
                    };
                    let run = simulate(config, &path, StopWhen::Settled);
                    assert!(run.settled && run.violations.is_empty(), "{path:?}");
                    t.add(&run, mtu);
                }
                let (median, p95, max) = (
                    t.time_quantile(0.5),
                    t.time_quantile(0.95),
                    t.time_quantile(1.0),
                );
                println!(
                    "| {family:?} | {loss} % | {k} | {} | {} | {:.2} | {:.1} | {median} | {p95} | {max} |",
                    percent(t.outcomes.within, t.outcomes.runs),
                    percent(t.outcomes.above, t.outcomes.runs),
                    t.mean(t.rounds),
                    t.mean(t.times.iter().sum()),
                );
            }
        }
    }
    println!();
}

/// Prints the rounds of one clean search for each `probe_sizes`.
fn sequences() {
    println!("| path MTU | probe_sizes | rounds | time to settle (ms) | PLPMTU found | probe sizes in order first sent |");
    println!("|---|---|---|---|---|---|");
    for mtu in [1350, 1500, 1280, 1000] {
        for k in SIZES {
            let run = simulate(driver_config(k), &SimPath::clean(mtu), StopWhen::Settled);
            let sizes: Vec<String> = run.probe_sizes.iter().map(u32::to_string).collect();
            println!(
                "| {mtu} | {k} | {} | {} | {} | {} |",
                run.prober.snapshot().stats.rounds,
                run.now_ms,
                run.prober.sizes().packet,
                sizes.join(", ")
            );
        }
    }
    println!();
}

fn main() {
    let c = driver_config(1);
    println!("# Several sizes in flight: the search with `probe_sizes` 1 to 4 (simulated)");
    println!();
    println!("- command: `{COMMAND}`");
    println!(
        "- config: the driver's (`PLPMTUD.Driver.prober_config/2`): floor {}, ceiling {}, IPv4, \
         `packet_overhead` 8, `probe_copies` {}, `max_probes` {}, `search_threshold` {}, \
         `min_probe_timeout` {} ms (RTT-derived timeouts, 1 s before the first sample), \
         `failure_threshold` {}, binary strategy; `probe_sizes` as given",
        c.floor,
        c.ceiling,
        c.probe_copies,
        c.max_probes,
        c.search_threshold,
        c.min_probe_timeout_ms,
        c.failure_threshold
    );
    println!(
        "- simulator: `plpmtud_sim::sim`, RTT 50 ms, no PTB; run `s` (0..{SEEDS}) has seed `s` and \
         path MTU `576 + (s * 7919 % 925)`; each probe that fits the path, or its \
         acknowledgement, is lost with the given chance; stopped at the first completed search \
         or fallback. Every run is checked by the simulator's oracle (no rise without an \
         acknowledged probe of that size that fit the path): no violation in any row."
    );
    println!(
        "- \"rounds\": search rounds planned (`Stats::rounds`: one per set of sizes probed \
         together; a PTB or EMSGSIZE that adds a size to a round does not count); probe bytes: \
         every probe transmission of the search, lost ones included (IP bytes)."
    );
    println!(
        "- memory: {} bytes per prober (`size_of::<Prober>()`, any `probe_sizes`: the round's \
         storage is inline for 4 sizes of 4 copies)",
        std::mem::size_of::<plpmtud_core::Prober>()
    );
    println!();
    println!("## 1. One clean search (no loss)");
    println!();
    sequences();
    println!("## 2. Random loss, losses found by the probe timeout only");
    println!();
    table(false, &LOSS_PERCENT, 0..SEEDS);
    println!("## 3. Random loss, losses found by evidence");
    println!();
    println!(
        "As 2, with a data packet every 10 ms (at the PLPMTU, lost at the same rate): a lost \
         probe is reported lost (`dup_ack`) one round trip after it left, as the driver's \
         sentinel does; the timeout is the last resort."
    );
    println!();
    table(true, &LOSS_PERCENT, 0..SEEDS);
    println!("## 4. A lab-like path: RTT 1 ms, losses by evidence");
    println!();
    println!(
        "As 3 with a 1 ms round trip and a data packet every 1 ms (a lost probe is reported \
         2 ms after it left); IPv6 paths are `1280 + (s * 7919 % 221)` (the IPv6 floor is \
         1280). The simulator's clock has 1 ms steps."
    );
    println!();
    lab_like();
    println!("## 5. The 15 % rows again over 4000 other seeds");
    println!();
    println!(
        "Runs `s` in {SEEDS}..{}: the within-{EXACT_BYTES}-bytes rate of 1000 runs varies by \
         about ±0.4 % (one standard error) from seed block to seed block.",
        SEEDS + 4 * SEEDS
    );
    println!();
    println!("Timeout only:");
    println!();
    table(false, &[15], SEEDS..5 * SEEDS);
    println!("By evidence:");
    println!();
    table(true, &[15], SEEDS..5 * SEEDS);
}
