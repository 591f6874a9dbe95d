//! Prober configuration: defaults from aiutp's requirements (MTU-006) and
//! RFC 8899, and validation that names the offending field.
//!
//! Field names in errors are the configuration keys the BEAM side uses
//! (`mtu_floor`, `mtu_ceiling`, ...), so an error can be acted on as is.

use crate::units::{IpFamily, MAX_MTU};
use thiserror::Error;

/// One minute in milliseconds.
const MINUTE_MS: u64 = 60_000;

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

/// Validated settings of one prober. Sizes are IP MTU bytes, times milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `mtu_discovery_enabled`: probe at all; when false the PLPMTU is `disabled_mtu`.
    pub enabled: bool,
    /// `family`: IPv4 or IPv6 path.
    pub family: IpFamily,
    /// `packet_overhead`: bytes per packet above the IP header (UDP 8, plus the transport's header).
    pub packet_overhead: u32,
    /// `mtu_floor`: the smallest PLPMTU; assumed to work without a probe.
    pub floor: u32,
    /// `mtu_ceiling`: the largest size ever probed.
    pub ceiling: u32,
    /// `disabled_mtu`: the PLPMTU while discovery is disabled (default: the floor).
    pub disabled_mtu: Option<u32>,
    /// `search_threshold`: the search completes when `ceiling - floor` is at most this.
    pub search_threshold: u32,
    /// `strategy`: how probe sizes are chosen.
    pub strategy: Strategy,
    /// `max_probes`: lost transmissions of one size before it is judged too big (RFC 8899 MAX_PROBES).
    pub max_probes: u32,
    /// `failure_threshold`: consecutive failed sizes before the prober checks that probing works.
    pub failure_threshold: u32,
    /// `probe_timeout`: probe timeout before RTT samples (or always, in fixed mode).
    pub probe_timeout_ms: u64,
    /// `probe_timeout_mode`: fixed or RTT-derived.
    pub probe_timeout_mode: ProbeTimeoutMode,
    /// `min_probe_timeout`: lower bound of an RTT-derived probe timeout.
    pub min_probe_timeout_ms: u64,
    /// `max_probe_timeout`: upper bound of an RTT-derived probe timeout.
    pub max_probe_timeout_ms: u64,
    /// `mtu_probe_interval`: time from a completed search to the next one.
    pub probe_interval_ms: u64,
    /// `max_probe_interval`: cap of the interval after it is doubled by fallbacks.
    pub max_probe_interval_ms: u64,
    /// `black_hole_threshold`: loss bursts of full-size packets, with no full-size
    /// packet acknowledged, before the PLPMTU is checked by a probe.
    pub black_hole_threshold: u32,
    /// `aiutp_compat`: aiutp's literal rules (one loss fails a size; three failed
    /// sizes in a row end the search). For comparison only.
    pub aiutp_compat: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            family: IpFamily::V4,
            packet_overhead: 8,
            floor: 576,
            ceiling: 1500,
            disabled_mtu: None,
            search_threshold: 16,
            strategy: Strategy::Binary,
            max_probes: 3,
            failure_threshold: 3,
            probe_timeout_ms: 1_000,
            probe_timeout_mode: ProbeTimeoutMode::Rtt,
            min_probe_timeout_ms: 100,
            max_probe_timeout_ms: 10_000,
            probe_interval_ms: 30 * MINUTE_MS,
            max_probe_interval_ms: 8 * 30 * MINUTE_MS,
            black_hole_threshold: 3,
            aiutp_compat: false,
        }
    }
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

/// Every configuration key [`Config::set`] accepts.
pub const CONFIG_KEYS: [&str; 18] = [
    "mtu_discovery_enabled",
    "family",
    "packet_overhead",
    "mtu_floor",
    "mtu_ceiling",
    "disabled_mtu",
    "search_threshold",
    "strategy",
    "max_probes",
    "failure_threshold",
    "probe_timeout",
    "probe_timeout_mode",
    "min_probe_timeout",
    "max_probe_timeout",
    "mtu_probe_interval",
    "max_probe_interval",
    "black_hole_threshold",
    "aiutp_compat",
];

fn int_in<T: TryFrom<i128>>(
    field: &'static str,
    value: ConfigValue,
    max: u64,
) -> Result<T, ConfigError> {
    let ConfigValue::Int(n) = value else {
        return Err(ConfigError::WrongType {
            field,
            expected: "a non-negative integer",
        });
    };
    if n < 0 {
        return Err(ConfigError::TooSmall {
            field,
            min: 0,
            value: n,
        });
    }
    if n > i128::from(max) {
        return Err(ConfigError::TooLarge {
            field,
            max,
            value: n,
        });
    }
    T::try_from(n).map_err(|_| ConfigError::TooLarge {
        field,
        max,
        value: n,
    })
}

fn flag(field: &'static str, value: ConfigValue) -> Result<bool, ConfigError> {
    match value {
        ConfigValue::Bool(b) => Ok(b),
        _ => Err(ConfigError::WrongType {
            field,
            expected: "true or false",
        }),
    }
}

fn name<T>(
    field: &'static str,
    value: ConfigValue,
    expected: &'static str,
    choices: &[(&str, T)],
) -> Result<T, ConfigError>
where
    T: Copy,
{
    if let ConfigValue::Name(given) = value {
        if let Some(&(_, choice)) = choices.iter().find(|(n, _)| *n == given) {
            return Ok(choice);
        }
    }
    Err(ConfigError::WrongType { field, expected })
}

impl Config {
    /// Sets one field by its configuration key. Checks the value's kind and
    /// range only; [`Config::validate`] checks the whole.
    ///
    /// ```
    /// use plpmtud_core::config::{Config, ConfigValue};
    /// let mut c = Config::default();
    /// c.set("mtu_floor", ConfigValue::Int(1200)).unwrap();
    /// assert_eq!(c.floor, 1200);
    /// assert!(c.set("mtu_flor", ConfigValue::Int(1200)).is_err());
    /// ```
    pub fn set(&mut self, key: &str, value: ConfigValue) -> Result<(), ConfigError> {
        const U32: u64 = u32::MAX as u64;
        const U64: u64 = u64::MAX;
        match key {
            "mtu_discovery_enabled" => self.enabled = flag("mtu_discovery_enabled", value)?,
            "aiutp_compat" => self.aiutp_compat = flag("aiutp_compat", value)?,
            "family" => {
                let choices = [("inet", IpFamily::V4), ("inet6", IpFamily::V6)];
                self.family = name("family", value, ":inet or :inet6", &choices)?;
            }
            "strategy" => {
                let choices = [
                    ("binary", Strategy::Binary),
                    ("common_values", Strategy::CommonValues),
                ];
                self.strategy = name("strategy", value, ":binary or :common_values", &choices)?;
            }
            "probe_timeout_mode" => {
                let choices = [
                    ("rtt", ProbeTimeoutMode::Rtt),
                    ("fixed", ProbeTimeoutMode::Fixed),
                ];
                self.probe_timeout_mode =
                    name("probe_timeout_mode", value, ":rtt or :fixed", &choices)?;
            }
            "disabled_mtu" => {
                self.disabled_mtu = match value {
                    ConfigValue::Nil => None,
                    _ => Some(int_in("disabled_mtu", value, U32)?),
                }
            }
            "packet_overhead" => self.packet_overhead = int_in("packet_overhead", value, U32)?,
            "mtu_floor" => self.floor = int_in("mtu_floor", value, U32)?,
            "mtu_ceiling" => self.ceiling = int_in("mtu_ceiling", value, U32)?,
            "search_threshold" => self.search_threshold = int_in("search_threshold", value, U32)?,
            "max_probes" => self.max_probes = int_in("max_probes", value, U32)?,
            "failure_threshold" => {
                self.failure_threshold = int_in("failure_threshold", value, U32)?
            }
            "black_hole_threshold" => {
                self.black_hole_threshold = int_in("black_hole_threshold", value, U32)?
            }
            "probe_timeout" => self.probe_timeout_ms = int_in("probe_timeout", value, U64)?,
            "min_probe_timeout" => {
                self.min_probe_timeout_ms = int_in("min_probe_timeout", value, U64)?
            }
            "max_probe_timeout" => {
                self.max_probe_timeout_ms = int_in("max_probe_timeout", value, U64)?
            }
            "mtu_probe_interval" => {
                self.probe_interval_ms = int_in("mtu_probe_interval", value, U64)?
            }
            "max_probe_interval" => {
                self.max_probe_interval_ms = int_in("max_probe_interval", value, U64)?
            }
            _ => return Err(ConfigError::UnknownKey),
        }
        Ok(())
    }

    /// The floor in effect: never below the family's minimum MTU (1280 on IPv6).
    pub fn effective_floor(&self) -> u32 {
        self.floor.max(self.family.min_mtu())
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

    /// Checks every field; the first violation is returned, never clamped.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let min_mtu = u64::from(self.family.min_mtu());
        let floor = u64::from(self.floor);
        let ceiling = u64::from(self.ceiling);
        at_least("mtu_floor", floor, u64::from(crate::units::IPV4_MIN_MTU))?;
        at_most("mtu_floor", floor, u64::from(MAX_MTU))?;
        at_least("mtu_ceiling", ceiling, min_mtu)?;
        at_most("mtu_ceiling", ceiling, u64::from(MAX_MTU))?;
        let effective_floor = u64::from(self.effective_floor());
        at_most("mtu_floor", floor, ceiling)?;
        let max_overhead = effective_floor - 1 - u64::from(self.family.ip_header_bytes());
        at_most(
            "packet_overhead",
            u64::from(self.packet_overhead),
            max_overhead,
        )?;
        if let Some(mtu) = self.disabled_mtu {
            at_least("disabled_mtu", u64::from(mtu), effective_floor)?;
            at_most("disabled_mtu", u64::from(mtu), ceiling)?;
        }
        at_least("search_threshold", u64::from(self.search_threshold), 1)?;
        at_least("max_probes", u64::from(self.max_probes), 1)?;
        at_most("max_probes", u64::from(self.max_probes), 255)?;
        at_least("failure_threshold", u64::from(self.failure_threshold), 1)?;
        at_most("failure_threshold", u64::from(self.failure_threshold), 255)?;
        at_least("min_probe_timeout", self.min_probe_timeout_ms, 1)?;
        at_least(
            "max_probe_timeout",
            self.max_probe_timeout_ms,
            self.min_probe_timeout_ms,
        )?;
        at_least("probe_timeout", self.probe_timeout_ms, 1)?;
        if self.probe_timeout_mode == ProbeTimeoutMode::Rtt {
            at_least(
                "probe_timeout",
                self.probe_timeout_ms,
                self.min_probe_timeout_ms,
            )?;
            at_most(
                "probe_timeout",
                self.probe_timeout_ms,
                self.max_probe_timeout_ms,
            )?;
        }
        at_least("mtu_probe_interval", self.probe_interval_ms, 1)?;
        at_least(
            "max_probe_interval",
            self.max_probe_interval_ms,
            self.probe_interval_ms,
        )?;
        at_least(
            "black_hole_threshold",
            u64::from(self.black_hole_threshold),
            1,
        )?;
        at_most(
            "black_hole_threshold",
            u64::from(self.black_hole_threshold),
            255,
        )?;
        Ok(())
    }
}

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
        for key in CONFIG_KEYS {
            let result = c.set(key, ConfigValue::Int(1));
            let ok_or_typed = matches!(result, Ok(()) | Err(ConfigError::WrongType { .. }));
            assert!(ok_or_typed, "{key}: {result:?}");
        }
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
                min: 0,
                value: -5
            }
        );
        let err = c.set("mtu_ceiling", ConfigValue::Int(1 << 40)).unwrap_err();
        assert_eq!(err.field(), "mtu_ceiling");
        let err = c.set("family", ConfigValue::Name("inet7")).unwrap_err();
        assert_eq!(err.to_string(), "family must be :inet or :inet6");
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
