//! The one error type of the NIF: every failure the BEAM sees is a
//! [`NifError`], and each encodes itself as the reason of `{:error, reason}`
//! (or, for [`NifError::BadArg`], raises `badarg`).

use crate::atoms;
use plpmtud_core::ConfigError;
use plpmtud_udp::{errno_name, SocketError};
use rustler::{Encoder, Env, Term};

/// Every way a NIF call can fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NifError {
    /// An argument of the wrong type or out of range: raises `badarg`.
    BadArg,
    /// A configuration key of the wrong kind or unknown: `{:badarg, key, message}`
    /// (the Elixir API raises `ArgumentError` with the message).
    ConfigArg {
        /// The key as given (an atom's name, else a description of the term).
        key: String,
        /// What is wrong, in words.
        message: String,
    },
    /// A configuration value out of range or inconsistent:
    /// `{:invalid_config, key, message}`.
    Config(ConfigError),
    /// A socket call failed, with gen_udp's reasons: a POSIX atom,
    /// `:closed` or `{:emsgsize, mtu}`. What the platform lacks is
    /// `:enotsup` and an argument the kernel would refuse `:einval`, as
    /// gen_udp and `socket` say.
    Socket(SocketError),
}

impl From<ConfigError> for NifError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::WrongType { field, .. } => NifError::ConfigArg {
                key: field.to_owned(),
                message: e.to_string(),
            },
            e => NifError::Config(e),
        }
    }
}

impl From<SocketError> for NifError {
    fn from(e: SocketError) -> Self {
        NifError::Socket(e)
    }
}

impl From<NifError> for rustler::Error {
    fn from(e: NifError) -> Self {
        match e {
            NifError::BadArg => rustler::Error::BadArg,
            e => rustler::Error::Term(Box::new(e)),
        }
    }
}

impl Encoder for NifError {
    fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        match self {
            NifError::BadArg => atoms::badarg().encode(env),
            NifError::ConfigArg { key, message } => {
                (atoms::badarg(), atoms::named(env, key), message.as_str()).encode(env)
            }
            NifError::Config(e) => (
                atoms::invalid_config(),
                atoms::named(env, e.field()),
                e.to_string(),
            )
                .encode(env),
            NifError::Socket(e) => match *e {
                SocketError::MessageTooBig { mtu } => (atoms::emsgsize(), mtu).encode(env),
                SocketError::WouldBlock => atoms::eagain().encode(env),
                SocketError::Closed => atoms::closed().encode(env),
                SocketError::Unsupported(_) => atoms::enotsup().encode(env),
                SocketError::Invalid(_) => atoms::einval().encode(env),
                SocketError::Os(errno) => atoms::named(env, errno_name(errno)),
            },
        }
    }
}

impl NifError {
    /// `{:error, reason}`.
    pub fn to_term<'a>(&self, env: Env<'a>) -> Term<'a> {
        (atoms::error(), self).encode(env)
    }
}
