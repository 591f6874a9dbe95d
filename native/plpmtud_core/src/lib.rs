//! plpmtud core: sans-IO packetization-layer path MTU discovery (RFC 4821 / RFC 8899).
//!
//! The [`prober::Prober`] is one state machine per path: the caller passes
//! monotonic time in (milliseconds) with each event and gets back the
//! [`Events`] it produced. It never reads a clock, never sleeps, never
//! allocates after construction and never panics. There are no sockets,
//! threads, locks or libc here: the DF socket is the `plpmtud_udp` crate,
//! and what a node knows about its paths beside the prober (the MTU cache,
//! fragmentation, header overheads, the probe wire format, rate limiting)
//! is the `plpmtud_path` crate. The path simulator and the fuzzing harness
//! are the `plpmtud_sim` crate (not published).

pub mod black_hole;
pub mod config;
pub mod events;
pub mod prober;
pub mod quote;
pub mod ring;
pub mod rtt;
pub mod search;
pub mod units;

pub use config::{Config, ConfigError, ConfigValue, ProbeTimeoutMode, Strategy, CONFIG_KEYS};
pub use events::{ChangeReason, Event, Events, HintSource, LossReason, PtbVerdict};
pub use prober::{MtuChange, ProbeIds, Prober, Quote, Sizes, Snapshot, State, Stats};
pub use units::{IpFamily, SizeUnit};
