//! Configuration decoding: any key and value either sets a field or is
//! refused with an error; a validated config always makes a prober.
#![no_main]

use plpmtud_core::config::{Config, ConfigValue, CONFIG_KEYS};
use plpmtud_core::Prober;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut config = Config::default();
    for chunk in data.chunks(18) {
        let key = match chunk.first() {
            Some(&k) if usize::from(k) < CONFIG_KEYS.len() => CONFIG_KEYS[usize::from(k)],
            _ => "not_a_key",
        };
        let raw = chunk.get(2..).unwrap_or(&[]);
        let mut n = [0u8; 16];
        n[..raw.len().min(16)].copy_from_slice(&raw[..raw.len().min(16)]);
        let value = match chunk.get(1).copied().unwrap_or(0) % 4 {
            0 => ConfigValue::Int(i128::from_le_bytes(n)),
            1 => ConfigValue::Bool(n[0] % 2 == 0),
            2 => ConfigValue::Name(std::str::from_utf8(raw).unwrap_or("")),
            _ => ConfigValue::Nil,
        };
        let _ = config.set(key, value);
    }
    if config.validate().is_ok() {
        let mut prober = Prober::new(config).expect("a validated config makes a prober");
        prober.connected(0, None);
        assert_eq!(prober.snapshot().invariants, Ok(()));
    }
});
