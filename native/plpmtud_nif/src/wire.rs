//! The probe/ack datagram format, for the BEAM side of the autonomous prober
//! and the responder.

use crate::atoms;
use plpmtud_path::wire::{self, Kind};
use rustler::{Binary, Encoder, Env, NewBinary, NifResult, Term};

/// The largest UDP payload: no probe is larger.
const MAX_PAYLOAD: u32 = 65_535;

/// A probe datagram of `payload_len` bytes (at most 65 535) for `nonce`, sent at `ip_size`.
#[rustler::nif]
fn wire_probe<'a>(
    env: Env<'a>,
    nonce: u64,
    ip_size: u32,
    payload_len: u32,
) -> NifResult<Binary<'a>> {
    if payload_len > MAX_PAYLOAD {
        return Err(rustler::Error::BadArg);
    }
    let bytes = wire::probe(nonce, ip_size, payload_len as usize);
    let mut out = NewBinary::new(env, bytes.len());
    out.as_mut_slice().copy_from_slice(&bytes);
    Ok(out.into())
}

/// The ack of a probe with `nonce` of which `received_len` bytes arrived.
#[rustler::nif]
fn wire_ack<'a>(env: Env<'a>, nonce: u64, received_len: u32) -> Binary<'a> {
    let bytes = wire::ack(nonce, received_len as usize);
    let mut out = NewBinary::new(env, bytes.len());
    out.as_mut_slice().copy_from_slice(&bytes);
    out.into()
}

/// `{:probe | :ack, nonce, size}` or `{:error, reason}`.
#[rustler::nif]
fn wire_parse<'a>(env: Env<'a>, datagram: Binary<'a>) -> Term<'a> {
    match wire::parse(&datagram) {
        Ok(h) => {
            let kind = match h.kind {
                Kind::Probe => atoms::probe(),
                Kind::Ack => atoms::ack(),
            };
            (kind, h.nonce, h.size).encode(env)
        }
        Err(e) => (atoms::error(), atoms::named(env, e.name())).encode(env),
    }
}
