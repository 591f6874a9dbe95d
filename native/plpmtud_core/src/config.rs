//! Prober configuration: one table of keys (name, kind, default, static
//! range, one-line doc) from which the defaults, [`Config::set`], the key
//! list and the BEAM's documentation all derive, and [`Config::validate`]
//! for the rules that tie keys together.
//!
//! Key names are the ones the BEAM side uses (`mtu_floor`, `mtu_ceiling`,
//! ...), so an error names what the user wrote.

use crate::units::{IpFamily, SizeUnit, MAX_MTU};
use thiserror::Error;

/// One minute in milliseconds.
const MINUTE_MS: u64 = 60_000;
const U32: u64 = u32::MAX as u64;

/// The largest time value (ms) of any key: 2^32-1 ms (49.7 days), the
/// largest timeout every BEAM timer takes (`erlang:send_after/3`, `receive
/// ... after`, `gen_server` timeouts), so a prober's timer always fits.
pub const MAX_TIME_MS: u64 = U32;

/// How the next probe size is chosen inside the search range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Bisect the bytes between the confirmed size and the ceiling.
    #[default]
    Binary,
    /// Try common path MTUs first (bisecting over the table), then bisect bytes.
    CommonValues,
}

/// Where the probe timeout comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProbeTimeoutMode {
    /// Always `probe_timeout`.
    Fixed,
    /// RFC 6298 RTO from reported RTT samples, bounded by `min_probe_timeout`
    /// and `max_probe_timeout`; `probe_timeout` until the first sample.
    #[default]
    Rtt,
}

/// Why a configuration was refused. `field` is the configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A value below its lower bound.
    #[error("{field} must be at least {min}, got {value}")]
    TooSmall {
        /// Configuration key.
        field: &'static str,
        /// Smallest accepted value.
        min: u64,
        /// The value given.
        value: i128,
    },
    /// A value above its upper bound.
    #[error("{field} must be at most {max}, got {value}")]
    TooLarge {
        /// Configuration key.
        field: &'static str,
        /// Largest accepted value.
        max: u64,
        /// The value given.
        value: i128,
    },
    /// A value of the wrong kind (for example a string where an integer belongs).
    #[error("{field} must be {expected}")]
    WrongType {
        /// Configuration key.
        field: &'static str,
        /// What the key accepts, in words.
        expected: &'static str,
    },
    /// A key that is not a configuration key.
    #[error("unknown configuration key")]
    UnknownKey,
}

impl ConfigError {
    /// The configuration key at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::TooSmall { field, .. }
            | ConfigError::TooLarge { field, .. }
            | ConfigError::WrongType { field, .. } => field,
            ConfigError::UnknownKey => "",
        }
    }
}

fn at_least(field: &'static str, value: u64, min: u64) -> Result<(), ConfigError> {
    if value < min {
        let value = i128::from(value);
        return Err(ConfigError::TooSmall { field, min, value });
    }
    Ok(())
}

fn at_most(field: &'static str, value: u64, max: u64) -> Result<(), ConfigError> {
    if value > max {
        let value = i128::from(value);
        return Err(ConfigError::TooLarge { field, max, value });
    }
    Ok(())
}

/// A key and its value, one side of a rule between two keys.
type Side = (&'static str, u64);

/// The rule `low <= high` between two keys. A violation names the key the
/// caller gave when only one of the two was given (`mtu_ceiling: 68` is
/// "mtu_ceiling must be at least 576", not "mtu_floor must be at most
/// 68"), else `high` if `name_high`, else `low`.
fn ordered(
    low: Side,
    high: Side,
    name_high: bool,
    given: &dyn Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    let name_high = match (given(low.0), given(high.0)) {
        (true, false) => false,
        (false, true) => true,
        _ => name_high,
    };
    if name_high {
        at_least(high.0, high.1, low.1)
    } else {
        at_most(low.0, low.1, high.1)
    }
}

/// A configuration value as it arrives from outside (the BEAM, a command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigValue<'a> {
    /// An integer; wide enough to carry any out-of-range value for the error.
    Int(i128),
    /// A boolean.
    Bool(bool),
    /// A symbolic name (an atom on the BEAM).
    Name(&'a str),
    /// No value (`nil`, `undefined`): the default where the key allows it.
    Nil,
}

/// A Rust type a configuration key holds: how it is read from a
/// [`ConfigValue`] and shown back as one.
trait Setting: Sized + Copy {
    /// What the key accepts, in words (for errors and docs).
    const EXPECTED: &'static str;
    /// Reads `value` for `key`, within `min..=max` for integers.
    fn read(key: &'static str, value: ConfigValue, min: u64, max: u64)
        -> Result<Self, ConfigError>;
    /// The value, as the outside writes it.
    fn shown(self) -> ConfigValue<'static>;
}

fn int_in(key: &'static str, value: ConfigValue, min: u64, max: u64) -> Result<u64, ConfigError> {
    let ConfigValue::Int(n) = value else {
        return Err(ConfigError::WrongType {
            field: key,
            expected: "a non-negative integer",
        });
    };
    if n < i128::from(min) {
        return Err(ConfigError::TooSmall {
            field: key,
            min,
            value: n,
        });
    }
    if n > i128::from(max) {
        return Err(ConfigError::TooLarge {
            field: key,
            max,
            value: n,
        });
    }
    Ok(n as u64)
}

impl Setting for u32 {
    const EXPECTED: &'static str = "a non-negative integer";
    fn read(key: &'static str, value: ConfigValue, min: u64, max: u64) -> Result<u32, ConfigError> {
        int_in(key, value, min, max.min(U32)).map(|n| n as u32)
    }
    fn shown(self) -> ConfigValue<'static> {
        ConfigValue::Int(i128::from(self))
    }
}

impl Setting for u64 {
    const EXPECTED: &'static str = "a non-negative integer";
    fn read(key: &'static str, value: ConfigValue, min: u64, max: u64) -> Result<u64, ConfigError> {
        int_in(key, value, min, max)
    }
    fn shown(self) -> ConfigValue<'static> {
        ConfigValue::Int(i128::from(self))
    }
}

impl Setting for Option<u32> {
    const EXPECTED: &'static str = "a non-negative integer or nil";
    fn read(
        key: &'static str,
        value: ConfigValue,
        min: u64,
        max: u64,
    ) -> Result<Self, ConfigError> {
        match value {
            ConfigValue::Nil => Ok(None),
            value => u32::read(key, value, min, max).map(Some),
        }
    }
    fn shown(self) -> ConfigValue<'static> {
        self.map_or(ConfigValue::Nil, u32::shown)
    }
}

impl Setting for bool {
    const EXPECTED: &'static str = "true or false";
    fn read(key: &'static str, value: ConfigValue, _: u64, _: u64) -> Result<bool, ConfigError> {
        match value {
            ConfigValue::Bool(b) => Ok(b),
            _ => Err(ConfigError::WrongType {
                field: key,
                expected: Self::EXPECTED,
            }),
        }
    }
    fn shown(self) -> ConfigValue<'static> {
        ConfigValue::Bool(self)
    }
}

/// Settings that are one of a few names.
macro_rules! named_setting {
    ($ty:ty, $expected:literal, $($name:literal => $variant:expr),+) => {
        impl Setting for $ty {
            const EXPECTED: &'static str = $expected;
            fn read(key: &'static str, value: ConfigValue, _: u64, _: u64) -> Result<Self, ConfigError> {
                match value {
                    $(ConfigValue::Name($name) => Ok($variant),)+
                    _ => Err(ConfigError::WrongType { field: key, expected: $expected }),
                }
            }
            fn shown(self) -> ConfigValue<'static> {
                $(if self == $variant { return ConfigValue::Name($name); })+
                unreachable!("every variant has a name")
            }
        }
    };
}

named_setting!(IpFamily, ":inet or :inet6", "inet" => IpFamily::V4, "inet6" => IpFamily::V6);
named_setting!(SizeUnit, ":payload or :ip", "payload" => SizeUnit::Payload, "ip" => SizeUnit::Ip);
named_setting!(Strategy, ":binary or :common_values",
    "binary" => Strategy::Binary, "common_values" => Strategy::CommonValues);
named_setting!(ProbeTimeoutMode, ":rtt or :fixed",
    "rtt" => ProbeTimeoutMode::Rtt, "fixed" => ProbeTimeoutMode::Fixed);

/// One configuration key, as the table writes it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// The key (`mtu_floor`).
    pub key: &'static str,
    /// What it accepts, in words.
    pub expected: &'static str,
    /// Its default.
    pub default: ConfigValue<'static>,
    /// Smallest integer accepted (0 for other kinds).
    pub min: u64,
    /// Largest integer accepted.
    pub max: u64,
    /// One line of documentation.
    pub doc: &'static str,
}

/// The configuration table: `key => field: Type = default, min..=max, "doc"`.
/// Everything about a key is written here once; `Config`'s fields, its
/// defaults, [`Config::set`], [`CONFIG_KEYS`] and [`CONFIG_TABLE`] follow.
macro_rules! config_table {
    ($($(#[$attr:meta])* $key:literal => $field:ident: $ty:ty = $default:expr, $min:literal..=$max:expr, $doc:literal;)+) => {
        /// Validated settings of one prober. Sizes are IP MTU bytes, times milliseconds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Config {
            $(#[doc = concat!("`", $key, "`: ", $doc)] $(#[$attr])* pub $field: $ty,)+
        }

        impl Default for Config {
            fn default() -> Self {
                Config { $($field: $default,)+ }
            }
        }

        /// Every configuration key [`Config::set`] accepts, in table order.
        pub const CONFIG_KEYS: &[&str] = &[$($key,)+];

        /// The configuration table: each key's kind, default, range and doc.
        pub const CONFIG_TABLE: &[KeySpec] = &[$(KeySpec {
            key: $key,
            expected: <$ty as Setting>::EXPECTED,
            default: ConfigValue::Nil,
            min: $min,
            max: $max,
            doc: $doc,
        },)+];

        impl Config {
            /// Sets one field by its configuration key. Checks the value's
            /// kind and static range only; [`Config::validate`] checks the whole.
            ///
            /// ```
            /// use plpmtud_core::config::{Config, ConfigValue};
            /// let mut c = Config::default();
            /// c.set("mtu_floor", ConfigValue::Int(1200)).unwrap();
            /// assert_eq!(c.floor, 1200);
            /// assert!(c.set("mtu_flor", ConfigValue::Int(1200)).is_err());
            /// ```
            pub fn set(&mut self, key: &str, value: ConfigValue) -> Result<(), ConfigError> {
                match key {
                    $($key => self.$field = <$ty as Setting>::read($key, value, $min, $max)?,)+
                    _ => return Err(ConfigError::UnknownKey),
                }
                Ok(())
            }

            /// The value of one key, as the outside writes it; `None` for an unknown key.
            pub fn get(&self, key: &str) -> Option<ConfigValue<'static>> {
                match key {
                    $($key => Some(self.$field.shown()),)+
                    _ => None,
                }
            }

            /// Checks every key's static range (the table's `min..=max`).
            fn check_ranges(&self) -> Result<(), ConfigError> {
                $(<$ty as Setting>::read($key, self.$field.shown(), $min, $max)?;)+
                Ok(())
            }
        }
    };
}

config_table! {
    "mtu_discovery_enabled" => enabled: bool = true, 0..=1,
        "probe at all; when false the PLPMTU is `disabled_mtu` and no probe is ever due";
    "family" => family: IpFamily = IpFamily::V4, 0..=0,
        "the IP family of the path: `inet` or `inet6` (decides the IP header size)";
    "packet_overhead" => packet_overhead: u32 = 8, 0..=U32,
        "bytes per packet above the IP header: UDP 8 plus the transport's header (aiutp: 28)";
    "size_unit" => size_unit: SizeUnit = SizeUnit::Payload, 0..=0,
        "the unit of every size the prober takes and returns: `payload` (the transport's payload bytes) or `ip` (whole IP packets); the `mtu_*` keys and MTUs from the network are IP bytes either way";
    "mtu_floor" => floor: u32 = 576, 68..=65_535,
        "the smallest PLPMTU, used without a probe (on IPv6 never below 1280)";
    "mtu_ceiling" => ceiling: u32 = 1500, 68..=65_535,
        "the largest size ever probed";
    "mtu_initial" => initial: Option<u32> = None, 68..=65_535,
        "the PLPMTU before any probe confirmed one (nil: the floor; aiutp's adapter: 1280); probed first, and if it fails the search goes on below it from the floor";
    "disabled_mtu" => disabled_mtu: Option<u32> = None, 68..=65_535,
        "the PLPMTU while discovery is disabled (nil: the floor; aiutp's 1296-byte payload is 1344)";
    "padding_overhead" => padding_overhead: u32 = 0, 0..=65_535,
        "bytes a padding extension adds by itself when a data packet is padded up to a probe (uTP: 2 for the extension header)";
    "search_threshold" => search_threshold: u32 = 16, 1..=U32,
        "the search ends when the range is at most this many bytes";
    "strategy" => strategy: Strategy = Strategy::Binary, 0..=0,
        "how probe sizes are chosen: `binary` or `common_values`";
    "max_probes" => max_probes: u32 = 3, 1..=255,
        "lost transmissions of one size before it is judged too big (RFC 8899 MAX_PROBES)";
    "probe_copies" => probe_copies: u32 = 1, 1..=4,
        "transmissions of one size in flight together, each a probe with its own id: a size that fails costs one round trip, not `max_probes` (plpmtud's own driver: 3)";
    "probe_sizes" => probe_sizes: u32 = 1, 1..=4,
        "distinct sizes a search round probes at once, each as `probe_copies` transmissions: a k-ary split of the search range, so a search takes about 1/log2(k+1) of the rounds of one size at a time (1: one size at a time; 4: the fewest rounds, about twice the probe bytes)";
    "failure_threshold" => failure_threshold: u32 = 3, 1..=255,
        "sizes failed in a row before the prober checks that probing works at all";
    "probe_timeout" => probe_timeout_ms: u64 = 1_000, 1..=MAX_TIME_MS,
        "probe timeout (ms) before RTT samples, or always when `probe_timeout_mode` is `fixed`";
    "probe_timeout_mode" => probe_timeout_mode: ProbeTimeoutMode = ProbeTimeoutMode::Rtt, 0..=0,
        "`rtt` (RFC 6298 from RTT samples) or `fixed`";
    "min_probe_timeout" => min_probe_timeout_ms: u64 = 100, 1..=MAX_TIME_MS,
        "lower bound (ms) of an RTT-derived probe timeout";
    "max_probe_timeout" => max_probe_timeout_ms: u64 = 10_000, 1..=MAX_TIME_MS,
        "upper bound (ms) of an RTT-derived probe timeout";
    "mtu_probe_interval" => probe_interval_ms: u64 = 30 * MINUTE_MS, 1..=MAX_TIME_MS,
        "time (ms) from a completed search to the next one";
    "max_probe_interval" => max_probe_interval_ms: u64 = 8 * 30 * MINUTE_MS, 1..=MAX_TIME_MS,
        "cap (ms) of the interval after fallbacks double it";
    "black_hole_threshold" => black_hole_threshold: u32 = 3, 1..=255,
        "loss bursts of full-size packets, none acknowledged, before a probe checks the PLPMTU";
    "aiutp_compat" => aiutp_compat: bool = false, 0..=1,
        "aiutp's literal rules (one loss fails a size; three failed sizes end the search), for comparison only";
}

/// The table with each key's default filled in from [`Config::default`].
pub fn config_table() -> impl Iterator<Item = KeySpec> {
    let defaults = Config::default();
    CONFIG_TABLE.iter().map(move |spec| KeySpec {
        default: defaults.get(spec.key).unwrap_or(ConfigValue::Nil),
        ..*spec
    })
}

impl Config {
    /// The floor in effect: never below the family's minimum MTU (1280 on IPv6).
    pub fn effective_floor(&self) -> u32 {
        self.floor.max(self.family.min_mtu())
    }

    /// The PLPMTU from the start of discovery until a probe confirms one.
    pub fn effective_initial_mtu(&self) -> u32 {
        self.initial.unwrap_or_else(|| self.effective_floor())
    }

    /// The PLPMTU while discovery is disabled.
    pub fn effective_disabled_mtu(&self) -> u32 {
        self.disabled_mtu.unwrap_or_else(|| self.effective_floor())
    }

    /// Lost transmissions that fail a size: one under `aiutp_compat`.
    pub fn effective_max_probes(&self) -> u32 {
        if self.aiutp_compat {
            1
        } else {
            self.max_probes
        }
    }

    /// Checks every key's range and the rules that tie keys together; the
    /// first violation is returned, never clamped. See [`Config::validate_given`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_given(&|_| true)
    }

    /// [`Config::validate`], where `given` tells which keys the caller set
    /// (the others hold their defaults): a violated rule between two keys
    /// names the one that was given.
    ///
    /// ```
    /// use plpmtud_core::config::{Config, ConfigValue};
    /// let mut c = Config::default();
    /// c.set("mtu_ceiling", ConfigValue::Int(68)).unwrap();
    /// let err = c.validate_given(&|key| key == "mtu_ceiling").unwrap_err();
    /// assert_eq!(err.to_string(), "mtu_ceiling must be at least 576, got 68");
    /// ```
    pub fn validate_given(&self, given: &dyn Fn(&str) -> bool) -> Result<(), ConfigError> {
        self.check_ranges()?;
        let ceiling = u64::from(self.ceiling);
        at_least("mtu_ceiling", ceiling, u64::from(self.family.min_mtu()))?;
        let floor = u64::from(self.floor);
        ordered(("mtu_floor", floor), ("mtu_ceiling", ceiling), false, given)?;
        let effective_floor = u64::from(self.effective_floor());
        let max_overhead = effective_floor - 1 - u64::from(self.family.ip_header_bytes());
        at_most(
            "packet_overhead",
            u64::from(self.packet_overhead),
            max_overhead,
        )?;
        for (key, mtu) in [
            ("disabled_mtu", self.disabled_mtu),
            ("mtu_initial", self.initial),
        ] {
            if let Some(mtu) = mtu {
                let mtu = (key, u64::from(mtu));
                ordered(("mtu_floor", effective_floor), mtu, true, given)?;
                ordered(mtu, ("mtu_ceiling", ceiling), false, given)?;
            }
        }
        let min_timeout = ("min_probe_timeout", self.min_probe_timeout_ms);
        let max_timeout = ("max_probe_timeout", self.max_probe_timeout_ms);
        ordered(min_timeout, max_timeout, true, given)?;
        if self.probe_timeout_mode == ProbeTimeoutMode::Rtt {
            let timeout = ("probe_timeout", self.probe_timeout_ms);
            ordered(min_timeout, timeout, true, given)?;
            ordered(timeout, max_timeout, false, given)?;
        }
        let interval = ("mtu_probe_interval", self.probe_interval_ms);
        let max_interval = ("max_probe_interval", self.max_probe_interval_ms);
        ordered(interval, max_interval, true, given)
    }
}

const _: () = assert!(
    MAX_MTU == 65_535,
    "the table's MTU ranges assume 16-bit MTUs"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn check(config: Config) -> Result<(), ConfigError> {
        config.validate()
    }

    #[test]
    fn defaults_match_aiutp_requirements_and_validate() {
        let c = Config::default();
        assert!(c.enabled);
        assert_eq!((c.floor, c.ceiling, c.search_threshold), (576, 1500, 16));
        assert_eq!(c.probe_interval_ms, 1_800_000);
        assert_eq!((c.max_probes, c.failure_threshold), (3, 3));
        assert_eq!(check(c), Ok(()));
    }

    #[test]
    fn floor_above_ceiling_is_refused_naming_the_floor() {
        let err = check(Config {
            floor: 1600,
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::TooLarge {
                field: "mtu_floor",
                max: 1500,
                value: 1600
            }
        );
        assert_eq!(err.to_string(), "mtu_floor must be at most 1500, got 1600");
    }

    #[test]
    fn floor_below_ipv4_minimum_is_refused() {
        let err = check(Config {
            floor: 67,
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::TooSmall {
                field: "mtu_floor",
                min: 68,
                value: 67
            }
        );
    }

    #[test]
    fn ipv6_ceiling_below_1280_is_refused_and_floor_is_raised_to_1280() {
        let v6 = Config {
            family: IpFamily::V6,
            ..Config::default()
        };
        assert_eq!(check(v6), Ok(()));
        assert_eq!(v6.effective_floor(), 1280);
        let err = check(Config {
            ceiling: 1279,
            ..v6
        })
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::TooSmall {
                field: "mtu_ceiling",
                min: 1280,
                value: 1279
            }
        );
    }

    #[test]
    fn zero_values_are_refused_by_name() {
        let zeroed: [(Config, &str); 6] = [
            (
                Config {
                    search_threshold: 0,
                    ..Config::default()
                },
                "search_threshold",
            ),
            (
                Config {
                    probe_interval_ms: 0,
                    ..Config::default()
                },
                "mtu_probe_interval",
            ),
            (
                Config {
                    failure_threshold: 0,
                    ..Config::default()
                },
                "failure_threshold",
            ),
            (
                Config {
                    max_probes: 0,
                    ..Config::default()
                },
                "max_probes",
            ),
            (
                Config {
                    black_hole_threshold: 0,
                    ..Config::default()
                },
                "black_hole_threshold",
            ),
            (
                Config {
                    probe_timeout_ms: 0,
                    probe_timeout_mode: ProbeTimeoutMode::Fixed,
                    ..Config::default()
                },
                "probe_timeout",
            ),
        ];
        for (config, field) in zeroed {
            assert_eq!(check(config).unwrap_err().field(), field);
        }
    }

    #[test]
    fn ceiling_above_16_bit_is_refused() {
        let err = check(Config {
            ceiling: 70_000,
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::TooLarge {
                field: "mtu_ceiling",
                max: 65_535,
                value: 70_000
            }
        );
    }

    #[test]
    fn overhead_that_leaves_no_payload_at_the_floor_is_refused() {
        let err = check(Config {
            floor: 100,
            packet_overhead: 80,
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::TooLarge {
                field: "packet_overhead",
                max: 79,
                value: 80
            }
        );
        assert_eq!(
            check(Config {
                floor: 100,
                packet_overhead: 79,
                ..Config::default()
            }),
            Ok(())
        );
    }

    #[test]
    fn disabled_mtu_outside_the_range_is_refused() {
        let err = check(Config {
            disabled_mtu: Some(9000),
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(err.field(), "disabled_mtu");
        let aiutp = Config {
            disabled_mtu: Some(1344),
            ..Config::default()
        };
        assert_eq!(check(aiutp), Ok(()));
        assert_eq!(aiutp.effective_disabled_mtu(), 1344);
        assert_eq!(Config::default().effective_disabled_mtu(), 576);
    }

    #[test]
    fn set_accepts_every_listed_key_and_refuses_others() {
        let mut c = Config::default();
        let table: Vec<KeySpec> = config_table().collect();
        assert_eq!(table.len(), CONFIG_KEYS.len());
        for spec in &table {
            assert_eq!(c.set(spec.key, spec.default), Ok(()), "{}", spec.key);
            assert_eq!(c.get(spec.key), Some(spec.default), "{}", spec.key);
            assert!(!spec.doc.is_empty() && !spec.expected.is_empty());
        }
        assert_eq!(c, Config::default());
        assert_eq!(table[4].default, ConfigValue::Int(576));
        assert_eq!(table[1].default, ConfigValue::Name("inet"));
        assert_eq!(table[3].default, ConfigValue::Name("payload"));
        assert_eq!(table[6].default, ConfigValue::Nil);
        assert_eq!(
            c.set("mtu_flor", ConfigValue::Int(1)),
            Err(ConfigError::UnknownKey)
        );
    }

    #[test]
    fn set_checks_kind_and_range() {
        let mut c = Config::default();
        let err = c.set("mtu_floor", ConfigValue::Name("big")).unwrap_err();
        assert_eq!(err.to_string(), "mtu_floor must be a non-negative integer");
        let err = c.set("mtu_floor", ConfigValue::Int(-5)).unwrap_err();
        assert_eq!(
            err,
            ConfigError::TooSmall {
                field: "mtu_floor",
                min: 68,
                value: -5
            }
        );
        let err = c.set("mtu_ceiling", ConfigValue::Int(1 << 40)).unwrap_err();
        assert_eq!(err.field(), "mtu_ceiling");
        let err = c.set("family", ConfigValue::Name("inet7")).unwrap_err();
        assert_eq!(err.to_string(), "family must be :inet or :inet6");
        let err = c.set("size_unit", ConfigValue::Name("bytes")).unwrap_err();
        assert_eq!(err.to_string(), "size_unit must be :payload or :ip");
        c.set("size_unit", ConfigValue::Name("ip")).unwrap();
        assert_eq!(c.size_unit, SizeUnit::Ip);
        c.set("family", ConfigValue::Name("inet6")).unwrap();
        c.set("strategy", ConfigValue::Name("common_values"))
            .unwrap();
        c.set("disabled_mtu", ConfigValue::Int(1344)).unwrap();
        c.set("disabled_mtu", ConfigValue::Nil).unwrap();
        c.set("mtu_discovery_enabled", ConfigValue::Bool(false))
            .unwrap();
        assert_eq!(c.family, IpFamily::V6);
        assert_eq!(c.strategy, Strategy::CommonValues);
        assert_eq!(c.disabled_mtu, None);
        assert!(!c.enabled);
    }

    #[test]
    fn a_rule_between_two_keys_names_the_one_given() {
        let cases: [(&str, i128, &str); 6] = [
            (
                "mtu_ceiling",
                68,
                "mtu_ceiling must be at least 576, got 68",
            ),
            (
                "min_probe_timeout",
                20_000,
                "min_probe_timeout must be at most 10000, got 20000",
            ),
            (
                "min_probe_timeout",
                5_000,
                "min_probe_timeout must be at most 1000, got 5000",
            ),
            (
                "max_probe_timeout",
                500,
                "max_probe_timeout must be at least 1000, got 500",
            ),
            (
                "mtu_probe_interval",
                MINUTE_MS as i128 * 300,
                "mtu_probe_interval must be at most 14400000, got 18000000",
            ),
            (
                "mtu_floor",
                1600,
                "mtu_floor must be at most 1500, got 1600",
            ),
        ];
        for (key, value, message) in cases {
            let mut c = Config::default();
            c.set(key, ConfigValue::Int(value)).unwrap();
            let err = c.validate_given(&|k| k == key).unwrap_err();
            assert_eq!(err.field(), key);
            assert_eq!(err.to_string(), message);
        }
        // Both keys given: the rule's own key.
        let c = Config {
            floor: 1400,
            ceiling: 1300,
            ..Config::default()
        };
        let err = c.validate_given(&|_| true).unwrap_err();
        assert_eq!(err.field(), "mtu_floor");
        // An initial or disabled size set before, and a bound given now:
        // the error names the bound (the review's case).
        for (size_key, bound_key, bound) in [
            ("mtu_initial", "mtu_ceiling", 1300),
            ("disabled_mtu", "mtu_floor", 1400),
        ] {
            let mut c = Config::default();
            c.set(size_key, ConfigValue::Int(1344)).unwrap();
            c.set(bound_key, ConfigValue::Int(bound)).unwrap();
            let err = c.validate_given(&|k| k == bound_key).unwrap_err();
            assert_eq!(err.field(), bound_key, "{err}");
        }
    }

    #[test]
    fn time_values_stop_at_the_beams_timer_limit() {
        for key in [
            "probe_timeout",
            "min_probe_timeout",
            "max_probe_timeout",
            "mtu_probe_interval",
            "max_probe_interval",
        ] {
            let mut c = Config::default();
            for value in [1 << 44, i128::from(u64::MAX), i128::from(MAX_TIME_MS) + 1] {
                let err = c.set(key, ConfigValue::Int(value)).unwrap_err();
                assert_eq!(
                    err,
                    ConfigError::TooLarge {
                        field: key,
                        max: MAX_TIME_MS,
                        value
                    }
                );
            }
            assert_eq!(c.set(key, ConfigValue::Int(MAX_TIME_MS.into())), Ok(()));
        }
    }

    #[test]
    fn interval_cap_below_interval_and_timeout_bounds_are_refused() {
        let err = check(Config {
            max_probe_interval_ms: 1,
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(err.field(), "max_probe_interval");
        let err = check(Config {
            min_probe_timeout_ms: 20_000,
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(err.field(), "max_probe_timeout");
        let err = check(Config {
            probe_timeout_ms: 50,
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::TooSmall {
                field: "probe_timeout",
                min: 100,
                value: 50
            }
        );
    }
}
