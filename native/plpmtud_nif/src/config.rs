//! Decoding a configuration map into a validated `plpmtud_core::Config`,
//! and the configuration table for the BEAM's documentation.

use crate::atoms;
use crate::error::NifError;
use plpmtud_core::config::config_table;
use plpmtud_core::{Config, ConfigError, ConfigValue};
use rustler::types::map::MapIterator;
use rustler::{Encoder, Env, Term, TermType};

fn value_of<'s>(term: Term<'_>, atom_name: &'s mut String) -> ConfigValue<'s> {
    match term.get_type() {
        TermType::Integer => match term.decode::<i128>() {
            Ok(n) => ConfigValue::Int(n),
            Err(_) if term > 0i64.encode(term.get_env()) => ConfigValue::Int(i128::MAX),
            Err(_) => ConfigValue::Int(i128::MIN),
        },
        TermType::Atom => {
            *atom_name = term.atom_to_string().unwrap_or_default();
            match atom_name.as_str() {
                "true" => ConfigValue::Bool(true),
                "false" => ConfigValue::Bool(false),
                "nil" | "undefined" => ConfigValue::Nil,
                name => ConfigValue::Name(name),
            }
        }
        _ => ConfigValue::Name(""),
    }
}

fn config_arg(key: &str, message: &str) -> NifError {
    NifError::ConfigArg {
        key: key.to_owned(),
        message: message.to_owned(),
    }
}

/// Applies every `key => value` of `map` over the defaults and validates;
/// an inconsistency between two keys names the one the map holds.
pub fn decode(map: Term<'_>) -> Result<Config, NifError> {
    let entries =
        MapIterator::new(map).ok_or_else(|| config_arg("config", "config must be a map"))?;
    let mut config = Config::default();
    let mut given = Vec::new();
    for (key, value) in entries {
        let Ok(name) = key.atom_to_string() else {
            return Err(config_arg(
                "config",
                "unknown plpmtud option: keys are atoms",
            ));
        };
        let mut atom_name = String::new();
        let value = value_of(value, &mut atom_name);
        match config.set(&name, value) {
            Ok(()) => given.push(name),
            Err(ConfigError::UnknownKey) => {
                return Err(config_arg(&name, &format!("unknown plpmtud option {name}")))
            }
            Err(e) => return Err(e.into()),
        }
    }
    config.validate_given(&|key| given.iter().any(|name| name == key))?;
    Ok(config)
}

fn value_term<'a>(env: Env<'a>, value: ConfigValue) -> Term<'a> {
    match value {
        ConfigValue::Int(n) => n.encode(env),
        ConfigValue::Bool(b) => b.encode(env),
        ConfigValue::Name(name) => atoms::named(env, name),
        ConfigValue::Nil => atoms::nil().encode(env),
    }
}

/// `[{key, expected, default, {min, max}, doc}]`: the core's configuration table.
#[rustler::nif]
fn config_table_entries(env: Env<'_>) -> Vec<Term<'_>> {
    config_table()
        .map(|spec| {
            (
                atoms::named(env, spec.key),
                spec.expected,
                value_term(env, spec.default),
                (spec.min, spec.max),
                spec.doc,
            )
                .encode(env)
        })
        .collect()
}
