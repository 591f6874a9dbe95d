//! Protocol overheads and standard MTUs for the BEAM. Conversion and error
//! mapping only.

use crate::atoms::named as atom;
use crate::list;
use plpmtud_path::overhead::{self, Layer};
use rustler::{Atom, Env, NifResult, Term};

/// Bytes a stack of layer names adds; `ArgumentError` for an unknown name.
#[rustler::nif]
fn overhead_of<'a>(env: Env<'a>, layers: Term<'a>) -> NifResult<u32> {
    let stack = list::decode_all::<Atom>(layers)?
        .into_iter()
        .map(|a| {
            a.to_term(env)
                .atom_to_string()
                .ok()
                .and_then(|n| Layer::from_name(&n))
        })
        .collect::<Option<Vec<Layer>>>()
        .ok_or(rustler::Error::BadArg)?;
    Ok(overhead::overhead(&stack))
}

#[rustler::nif]
fn standard_mtus(env: Env<'_>) -> Vec<(Term<'_>, u32)> {
    overhead::STANDARD_MTUS
        .iter()
        .map(|(name, mtu)| (atom(env, name), *mtu))
        .collect()
}
