//! plpmtud core: sans-IO packetization-layer path MTU discovery (RFC 4821 / RFC 8899).
//!
//! The [`prober::Prober`] is one state machine per path: the caller passes
//! monotonic time in (milliseconds) with each event and gets back the
//! [`Events`] it produced. It never reads a clock, never sleeps, never
//! allocates after construction and never panics. There are no sockets,
//! threads or libc here: the DF socket is the `plpmtud_udp` crate. The
//! path simulator and the fuzzing harness are the `plpmtud_sim` crate (not
//! published).

pub mod black_hole;
pub mod cache;
pub mod config;
pub mod events;
pub mod fragment;
pub mod overhead;
pub mod prober;
pub mod quote;
pub mod rate_limit;
pub mod ring;
pub mod rtt;
pub mod search;
pub mod units;
pub mod wire;

pub use config::{Config, ConfigError, ConfigValue, ProbeTimeoutMode, Strategy, CONFIG_KEYS};
pub use events::{ChangeReason, Event, Events, HintSource, LossReason, PtbVerdict};
pub use prober::{MtuChange, ProbeIds, Prober, Quote, Sizes, Snapshot, State, Stats};
pub use units::{IpFamily, SizeUnit};
