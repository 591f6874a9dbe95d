//! Don't-Fragment, the kernel's path MTU and DF-off sends, on a
//! `plpmtud_socket` socket or on the fd of a gen_udp socket:
//! one implementation, `plpmtud_udp::DfSocket`, for both. An fd (`{:fd, n}`) is
//! attached for the one call (never closed here) and shares the socket's
//! DF lock with every other handle on that socket.

use crate::atoms;
use crate::error::NifError;
use crate::socket::{decode_addr, decode_df, Handle};
use plpmtud_udp::{DfSocket, SocketError};
use rustler::{Binary, Encoder, Env, NifResult, Term};
use std::net::SocketAddr;

/// Runs `f` on `target`: a socket resource, or `{:fd, fd}`.
fn with_socket<T>(
    target: Term<'_>,
    f: impl FnOnce(&DfSocket) -> Result<T, SocketError>,
) -> NifResult<Result<T, SocketError>> {
    if let Ok(handle) = target.decode::<Handle>() {
        return Ok(handle.df_socket().and_then(|socket| f(&socket)));
    }
    let (tag, fd): (rustler::Atom, i32) = target.decode()?;
    if tag != atoms::fd() {
        return Err(rustler::Error::BadArg);
    }
    // SAFETY: the attached value lives for this call only and never closes
    // `fd`; a closed fd fails the calls with EBADF, a non-socket with ENOTSOCK.
    Ok(unsafe { DfSocket::attach(fd) }.and_then(|socket| f(&socket)))
}

fn decode_dest(dest: Option<(Term<'_>, Term<'_>)>) -> NifResult<Option<SocketAddr>> {
    dest.map(|(ip, port)| decode_addr(ip, port)).transpose()
}

fn answer<'a, T: Encoder>(env: Env<'a>, result: Result<T, SocketError>) -> Term<'a> {
    match result {
        Ok(value) => (atoms::ok(), value).encode(env),
        Err(e) => NifError::from(e).to_term(env),
    }
}

fn done(env: Env<'_>, result: Result<(), SocketError>) -> Term<'_> {
    match result {
        Ok(()) => atoms::ok().encode(env),
        Err(e) => NifError::from(e).to_term(env),
    }
}

/// The DF policy, read from the kernel: `{:ok, policy}` or `{:error, reason}`.
pub(crate) fn df<'a>(env: Env<'a>, target: Term<'a>) -> NifResult<Term<'a>> {
    let policy = with_socket(target, |socket| socket.df())?;
    Ok(answer(env, policy.map(|p| atoms::named(env, p.name()))))
}

/// Sets the DF policy every send uses and every DF-off send puts back.
pub(crate) fn set_df<'a>(env: Env<'a>, target: Term<'a>, df: Term<'a>) -> NifResult<Term<'a>> {
    let df = decode_df(df)?;
    Ok(done(env, with_socket(target, |socket| socket.set_df(df))?))
}

/// The kernel's path MTU to `dest` (`{ip, port}`), or to the connected
/// peer when `dest` is `nil`: `{:ok, mtu}` or `{:error, reason}`.
pub(crate) fn path_mtu<'a>(
    env: Env<'a>,
    target: Term<'a>,
    dest: Option<(Term<'a>, Term<'a>)>,
) -> NifResult<Term<'a>> {
    let dest = decode_dest(dest)?;
    let mtu = with_socket(target, |socket| match dest {
        Some(dest) => socket.path_mtu_to(dest),
        None => socket.path_mtu(),
    })?;
    Ok(answer(env, mtu))
}

/// Sends one datagram to `dest` (`{ip, port}`), or to the connected peer
/// when `dest` is `nil`, under the socket's DF lock: held shared, so that
/// it never leaves during another sender's DF-off send, or, with
/// `fragmentable`, exclusive with DF off for this datagram (see
/// `DfSocket::send_fragmentable`; `:enotsup` on IPv6). `:ok` or
/// `{:error, reason}`.
pub(crate) fn send<'a>(
    env: Env<'a>,
    target: Term<'a>,
    dest: Option<(Term<'a>, Term<'a>)>,
    data: Binary<'a>,
    fragmentable: bool,
) -> NifResult<Term<'a>> {
    let dest = decode_dest(dest)?;
    let sent = with_socket(target, |socket| match (fragmentable, dest) {
        (true, dest) => socket.send_fragmentable(&data, dest),
        (false, Some(dest)) => socket.send_to(&data, dest),
        (false, None) => socket.send(&data),
    })?;
    Ok(done(env, sent.map(|_| ())))
}
