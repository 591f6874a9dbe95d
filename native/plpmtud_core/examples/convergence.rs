//! Convergence of the search over simulated paths, printed as markdown tables:
//! probes and time to settle without loss, robustness under random loss, and
//! accuracy over every path MTU from 576 to 1500.
//!
//! `cargo run --release -p plpmtud_core --example convergence > bench/results/convergence.md`

use plpmtud_core::{Config, State, Strategy};
use plpmtud_sim::sim::{simulate, Outcomes, SimPath, SimResult, StopWhen};
use std::time::{SystemTime, UNIX_EPOCH};

/// The command that produces this output.
const COMMAND: &str = "cargo run --release -p plpmtud_core --example convergence";
/// Path MTUs of the loss-free convergence table (default range 576..=1500).
const PATH_MTUS: [u32; 12] = [
    576, 600, 1000, 1280, 1350, 1380, 1400, 1420, 1450, 1480, 1492, 1500,
];
/// Path MTUs of the loss-free table with a 9000-byte ceiling.
const JUMBO_PATH_MTUS: [u32; 2] = [1500, 9000];
/// Ceiling of the jumbo table.
const JUMBO_CEILING: u32 = 9000;
/// Seeds (runs) per loss rate in the loss table.
const SEEDS: u64 = 1000;
/// Loss rates of the loss table, in percent.
const LOSS_PERCENT: [u32; 6] = [0, 1, 2, 5, 10, 15];

/// One prober configuration under comparison.
#[derive(Debug, Clone, Copy)]
enum Variant {
    /// Default configuration: binary search.
    Binary,
    /// Default configuration with the common-values strategy.
    CommonValues,
    /// Binary search with `aiutp_compat: true`.
    AiutpCompat,
}

/// Every variant, in table order.
const VARIANTS: [Variant; 3] = [Variant::Binary, Variant::CommonValues, Variant::AiutpCompat];

impl Variant {
    /// The label used in the tables.
    fn name(self) -> &'static str {
        match self {
            Variant::Binary => "Binary",
            Variant::CommonValues => "CommonValues",
            Variant::AiutpCompat => "aiutp_compat (Binary)",
        }
    }

    /// The variant's configuration on top of `base`.
    fn config(self, base: Config) -> Config {
        match self {
            Variant::Binary => Config {
                strategy: Strategy::Binary,
                ..base
            },
            Variant::CommonValues => Config {
                strategy: Strategy::CommonValues,
                ..base
            },
            Variant::AiutpCompat => Config {
                strategy: Strategy::Binary,
                aiutp_compat: true,
                ..base
            },
        }
    }
}

/// Runs `config` over `path` until the first completed search or fallback.
fn settle(config: Config, path: &SimPath) -> SimResult {
    let run = simulate(config, path, StopWhen::Settled);
    assert!(run.settled, "run did not settle: {config:?} {path:?}");
    run
}

/// Fewest probes any search needs to tell every size in `floor..=ceiling`
/// apart to within `threshold` bytes: the smallest k with `threshold * 2^k >=
/// ceiling - floor`, i.e. ceil(log2((ceiling - floor) / threshold)).
fn min_probes(floor: u32, ceiling: u32, threshold: u32) -> u32 {
    let span = u64::from(ceiling - floor);
    let mut k = 0;
    while u64::from(threshold) << k < span {
        k += 1;
    }
    k
}

/// The civil date (year, month, day) of `days` since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The current UTC time as ISO 8601, with the unix time in seconds.
fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    let (hh, mm, ss) = (t / 3600, t % 3600 / 60, t % 60);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z (unix {secs})")
}

/// Host name and available parallelism of this machine.
fn machine() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown host".to_string());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{host}, {cpus} CPUs available")
}

/// `part` of `whole` as a percentage with one decimal.
fn percent(part: u64, whole: u64) -> String {
    format!("{:.1} %", 100.0 * part as f64 / whole as f64)
}

/// The end state's name: where the run settled.
fn end_state(run: &SimResult) -> &'static str {
    match run.prober.snapshot().state {
        State::SearchComplete => "search complete",
        State::Error => "fallback",
        State::Searching => "searching",
        State::Base => "base",
        State::Disabled => "disabled",
    }
}

/// Prints the loss-free convergence table for paths `mtus` under `base`.
fn convergence_table(base: Config, mtus: &[u32]) {
    println!("| path MTU | strategy | distinct probe sizes | probing checks | probe transmissions | time to settle (ms) | PLPMTU found | bytes unused | ended in |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let minimum = min_probes(base.floor, base.ceiling, base.search_threshold);
    println!(
        "| {}..{} | information-theoretic minimum at {} bytes | {minimum} | | | | | | |",
        base.floor, base.ceiling, base.search_threshold
    );
    for variant in VARIANTS {
        for &mtu in mtus {
            let run = settle(variant.config(base), &SimPath::clean(mtu));
            let found = run.prober.sizes().packet;
            println!(
                "| {mtu} | {} | {} | {} | {} | {} | {found} | {} | {} |",
                variant.name(),
                run.probe_sizes.len(),
                run.prober.snapshot().stats.probing_checks,
                run.probes_sent,
                run.now_ms,
                i64::from(mtu) - i64::from(found),
                end_state(&run),
            );
        }
    }
    println!();
}

/// Prints the probe sizes, in the order first sent, for each variant and path.
fn probe_sequences(base: Config, mtus: &[u32]) {
    println!("| path MTU | strategy | probe sizes in order first sent |");
    println!("|---|---|---|");
    for variant in VARIANTS {
        for &mtu in mtus {
            let run = settle(variant.config(base), &SimPath::clean(mtu));
            let sizes: Vec<String> = run.probe_sizes.iter().map(u32::to_string).collect();
            println!("| {mtu} | {} | {} |", variant.name(), sizes.join(", "));
        }
    }
    println!();
}

/// Outcome counts of many runs of one variant.
#[derive(Debug, Default)]
struct Tally {
    /// Where the runs ended.
    outcomes: Outcomes,
    /// Distinct probe sizes, summed.
    sizes: u64,
    /// Largest distinct probe sizes of one run.
    max_sizes: usize,
    /// Largest shortfall (path MTU - PLPMTU) of one run.
    max_unused: u32,
}

impl Tally {
    /// Adds one settled run over a path of `mtu` bytes.
    fn add(&mut self, run: &SimResult, mtu: u32, threshold: u32) {
        self.outcomes.add(run, mtu, threshold);
        let found = run.prober.sizes().packet;
        self.max_unused = self.max_unused.max(mtu.saturating_sub(found));
        self.sizes += run.probe_sizes.len() as u64;
        self.max_sizes = self.max_sizes.max(run.probe_sizes.len());
    }

    /// Mean of `total` over the runs, with two decimals.
    fn mean(&self, total: u64) -> String {
        format!("{:.2}", self.outcomes.mean(total))
    }
}

/// Prints the loss table: seeded random paths at each loss rate.
fn loss_table() {
    let variants = [Variant::Binary, Variant::AiutpCompat];
    println!("| loss | config | within 16 bytes below | above the path MTU | more than 16 bytes short | ended in fallback | mean probes sent |");
    println!("|---|---|---|---|---|---|---|");
    for loss in LOSS_PERCENT {
        for variant in variants {
            let config = variant.config(Config::default());
            let mut tally = Tally::default();
            for seed in 0..SEEDS {
                let mtu = 576 + (seed * 7919 % 925) as u32;
                let path = SimPath {
                    loss: f64::from(loss) / 100.0,
                    seed,
                    ..SimPath::clean(mtu)
                };
                tally.add(&settle(config, &path), mtu, config.search_threshold);
            }
            let label = match variant {
                Variant::Binary => "default (Binary)",
                _ => variant.name(),
            };
            println!(
                "| {loss} % | {label} | {} | {} | {} | {} | {} |",
                percent(tally.outcomes.within, tally.outcomes.runs),
                percent(tally.outcomes.above, tally.outcomes.runs),
                percent(tally.outcomes.short, tally.outcomes.runs),
                percent(tally.outcomes.fallbacks, tally.outcomes.runs),
                tally.mean(tally.outcomes.probes),
            );
        }
    }
    println!();
}

/// Prints the sweep over every path MTU from the default floor to the default ceiling.
fn sweep_table() -> Vec<(Variant, Vec<u32>)> {
    let base = Config::default();
    let mut short_paths = Vec::new();
    println!("| strategy | paths | more than 16 bytes short | above the path MTU | ended in fallback | largest shortfall (bytes) | mean distinct probe sizes | most distinct probe sizes | mean probe transmissions |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for variant in VARIANTS {
        let config = variant.config(base);
        let mut tally = Tally::default();
        let mut short = Vec::new();
        for mtu in base.floor..=base.ceiling {
            let run = settle(config, &SimPath::clean(mtu));
            tally.add(&run, mtu, config.search_threshold);
            if mtu.saturating_sub(run.prober.sizes().packet) > config.search_threshold {
                short.push(mtu);
            }
        }
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            variant.name(),
            tally.outcomes.runs,
            tally.outcomes.short,
            tally.outcomes.above,
            tally.outcomes.fallbacks,
            tally.max_unused,
            tally.mean(tally.sizes),
            tally.max_sizes,
            tally.mean(tally.outcomes.probes),
        );
        short_paths.push((variant, short));
    }
    println!();
    short_paths
}

/// Prints the path MTUs a variant left more than 16 bytes short, as ranges.
fn short_ranges(short_paths: &[(Variant, Vec<u32>)]) {
    for (variant, mtus) in short_paths {
        if mtus.is_empty() {
            continue;
        }
        let mut ranges: Vec<String> = Vec::new();
        let mut start = mtus[0];
        for pair in mtus.windows(2) {
            if pair[1] != pair[0] + 1 {
                ranges.push(format!("{start}–{}", pair[0]));
                start = pair[1];
            }
        }
        ranges.push(format!("{start}–{}", mtus[mtus.len() - 1]));
        println!(
            "- {}: {} path MTUs short, in {}",
            variant.name(),
            mtus.len(),
            ranges.join(", ")
        );
    }
    println!();
}

/// Prints the report.
fn main() {
    let base = Config::default();
    let jumbo = Config {
        ceiling: JUMBO_CEILING,
        ..base
    };
    println!("# Convergence of the PLPMTUD search (simulated)");
    println!();
    println!("- command: `{COMMAND}`");
    println!("- date: {}", now_utc());
    println!("- machine: {}", machine());
    println!(
        "- simulator: `plpmtud_sim::sim`, `SimPath::clean` (RTT 50 ms, no PTB, no data traffic), \
         stopped at the first completed search or fallback (`StopWhen::Settled`)"
    );
    println!(
        "- config: `Config::default()` (floor {}, ceiling {}, search threshold {}, max_probes {}, \
         failure_threshold {}, RTT-derived probe timeout) unless stated",
        base.floor, base.ceiling, base.search_threshold, base.max_probes, base.failure_threshold
    );
    println!(
        "- \"distinct probe sizes\" counts each size probed once; \"probing checks\" counts the \
         re-probes of the current PLPMTU after {} failed sizes in a row, which add a distinct \
         size only when the PLPMTU is the (never probed) floor",
        base.failure_threshold
    );
    println!();
    println!("## 1. Convergence without loss");
    println!();
    println!("Ceiling {} (default):", base.ceiling);
    println!();
    convergence_table(base, &PATH_MTUS);
    println!("Ceiling {JUMBO_CEILING}:");
    println!();
    convergence_table(jumbo, &JUMBO_PATH_MTUS);
    println!("Probe sizes, ceiling {}:", base.ceiling);
    println!();
    probe_sequences(base, &PATH_MTUS);
    println!("Probe sizes, ceiling {JUMBO_CEILING}:");
    println!();
    probe_sequences(jumbo, &JUMBO_PATH_MTUS);
    println!("## 2. Loss robustness");
    println!();
    println!(
        "{SEEDS} runs per row: run `s` (0..{SEEDS}) has seed `s` and path MTU \
         `576 + (s * 7919 % 925)`; each probe that fits the path, or its acknowledgement, is \
         lost with the given chance. Default range 576..1500, Binary search."
    );
    println!();
    loss_table();
    println!(
        "## 3. Every path MTU from {} to {}, no loss",
        base.floor, base.ceiling
    );
    println!();
    let short_paths = sweep_table();
    short_ranges(&short_paths);
    println!("## 4. False black holes over a simulated hour at 15 % loss");
    println!();
    false_black_holes();
    println!("## 5. Goodput: payload per packet at the discovered MTU (aiutp's overheads)");
    println!();
    goodput_table();
}

/// Seeds of the hour-long runs.
const HOUR_SEEDS: u64 = 1000;
/// One simulated hour.
const HOUR_MS: u64 = 3_600_000;
/// Data packets at the PLPMTU every this many ms during the hour (50 per second).
const DATA_INTERVAL_MS: u64 = 20;

/// Runs every variant for an hour of data at 15 % loss on a 1500 path and
/// counts black holes declared after the first search, which are all false.
fn false_black_holes() {
    println!(
        "{HOUR_SEEDS} runs per row: path MTU 1500, RTT 50 ms, 15 % random loss on every packet, a \
         data packet at the PLPMTU every {DATA_INTERVAL_MS} ms (acknowledged or lost after one RTT) \
         for one simulated hour; re-probe interval 30 min."
    );
    println!();
    println!("| variant | runs with a false black hole | false black holes in all | black-hole checks (probe sent, path fine) | runs ending within 16 bytes of 1500 |");
    println!("|---|---|---|---|---|");
    for variant in VARIANTS {
        let (mut runs_with, mut total, mut checks, mut good) = (0u64, 0u64, 0u64, 0u64);
        for seed in 0..HOUR_SEEDS {
            let path = SimPath {
                loss: 0.15,
                seed,
                data_interval_ms: Some(DATA_INTERVAL_MS),
                ..SimPath::clean(1500)
            };
            let run = simulate(
                variant.config(Config::default()),
                &path,
                StopWhen::At(HOUR_MS),
            );
            let stats = run.prober.snapshot().stats;
            total += u64::from(stats.black_holes);
            checks += u64::from(stats.black_hole_checks);
            runs_with += u64::from(stats.black_holes > 0);
            good += u64::from(1500 - run.prober.sizes().packet.min(1500) <= 16);
        }
        println!(
            "| {} | {runs_with} | {total} | {checks} | {} |",
            variant.name(),
            percent(good, HOUR_SEEDS)
        );
    }
    println!();
}

/// Bytes moved in the goodput comparison.
const TRANSFER_BYTES: u64 = 100_000_000;
/// aiutp's bytes per packet that are not payload on IPv4: IP 20 + UDP 8 + uTP 20.
const AIUTP_OVERHEAD: u32 = 48;
/// aiutp's fixed payload today.
const AIUTP_PAYLOAD: u32 = 1296;

/// Payload per packet and packets for 100 MB at the MTU binary search and
/// common values find, against aiutp's fixed 1296 bytes; and the probe bytes
/// of one search as a share of such a transfer.
fn goodput_table() {
    println!(
        "100 MB of payload; payload per packet = PLPMTU − {AIUTP_OVERHEAD} (IPv4 20 + UDP 8 + uTP 20). \
         Probe bytes are every probe transmission of the first search (lost ones included); a \
         transfer shorter than the 30-minute re-probe interval pays them once."
    );
    println!();
    println!("| path MTU | strategy | PLPMTU found | payload per packet | packets for 100 MB | vs aiutp's 1296 (packets) | probe bytes | probe share of all bytes |");
    println!("|---|---|---|---|---|---|---|---|");
    let fixed_packets = TRANSFER_BYTES.div_ceil(u64::from(AIUTP_PAYLOAD));
    for mtu in [1500, 1492, 1420, 1350] {
        println!(
            "| {mtu} | aiutp fixed | - | {AIUTP_PAYLOAD} | {fixed_packets} | 1.000 | 0 | 0 % |"
        );
        for variant in [Variant::Binary, Variant::CommonValues] {
            let config = Config {
                packet_overhead: AIUTP_OVERHEAD - 20,
                ..variant.config(Config::default())
            };
            let run = settle(config, &SimPath::clean(mtu));
            let snapshot = run.prober.snapshot();
            let payload = snapshot.sizes.packet - snapshot.overhead;
            let packets = TRANSFER_BYTES.div_ceil(u64::from(payload));
            let probe_bytes: u64 = run
                .trace
                .iter()
                .map(|t| match t {
                    plpmtud_sim::sim::Trace::ProbeSent { size, .. } => u64::from(*size),
                    _ => 0,
                })
                .sum();
            let all_bytes = packets * u64::from(payload + AIUTP_OVERHEAD) + probe_bytes;
            println!(
                "| {mtu} | {} | {} | {payload} | {packets} | {:.3} | {probe_bytes} | {:.4} % |",
                variant.name(),
                run.prober.sizes().packet,
                packets as f64 / fixed_packets as f64,
                probe_bytes as f64 * 100.0 / all_bytes as f64
            );
        }
    }
    println!();
}
