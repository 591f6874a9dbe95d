//! Decoding a configuration map into a validated `plpmtud_core::Config`.

use crate::atoms;
use plpmtud_core::{Config, ConfigError, ConfigValue};
use rustler::types::map::MapIterator;
use rustler::{Encoder, Env, Term, TermType};

/// Why a configuration map was refused, ready to encode.
pub enum ConfigFailure<'a> {
    /// The map is not a map, or a key is not an atom.
    NotAMap,
    /// A key the core does not know.
    Unknown(Term<'a>),
    /// A value of the wrong kind: `{:bad_option, key, expected}`.
    BadOption(&'static str, &'static str),
    /// A value out of range or inconsistent: `{:invalid_config, key, message}`.
    Invalid(ConfigError),
}

impl<'a> ConfigFailure<'a> {
    /// `{:error, reason}` for the BEAM side.
    pub fn encode(&self, env: Env<'a>) -> Term<'a> {
        let reason = match self {
            ConfigFailure::NotAMap => atoms::bad_option().encode(env),
            ConfigFailure::Unknown(key) => (atoms::unknown_option(), *key).encode(env),
            ConfigFailure::BadOption(field, expected) => {
                (atoms::bad_option(), field_atom(env, field), *expected).encode(env)
            }
            ConfigFailure::Invalid(e) => (
                atoms::invalid_config(),
                field_atom(env, e.field()),
                e.to_string(),
            )
                .encode(env),
        };
        (atoms::error(), reason).encode(env)
    }
}

fn field_atom<'a>(env: Env<'a>, field: &str) -> Term<'a> {
    rustler::Atom::from_str(env, field)
        .map(|a| a.encode(env))
        .unwrap_or_else(|_| field.encode(env))
}

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

/// Applies every `key => value` of `map` over the defaults and validates.
pub fn decode(map: Term<'_>) -> Result<Config, ConfigFailure<'_>> {
    let entries = MapIterator::new(map).ok_or(ConfigFailure::NotAMap)?;
    let mut config = Config::default();
    for (key, value) in entries {
        let Ok(name) = key.atom_to_string() else {
            return Err(ConfigFailure::Unknown(key));
        };
        let mut atom_name = String::new();
        let value = value_of(value, &mut atom_name);
        match config.set(&name, value) {
            Ok(()) => {}
            Err(ConfigError::UnknownKey) => return Err(ConfigFailure::Unknown(key)),
            Err(ConfigError::WrongType { field, expected }) => {
                return Err(ConfigFailure::BadOption(field, expected))
            }
            Err(e) => return Err(ConfigFailure::Invalid(e)),
        }
    }
    config.validate().map_err(ConfigFailure::Invalid)?;
    Ok(config)
}
