//! Decoding list arguments. rustler's `Vec<T>` and `ListIterator` decoders
//! panic on an improper list (`[a | b]`) once they reach its tail, so every
//! list argument goes through here instead: an improper list or an element
//! of the wrong type is `ArgumentError` (`rustler::Error::BadArg`).

use rustler::types::list::ListIterator;
use rustler::{Decoder, NifResult, Term};

/// An iterator over `term`, which must be a proper list. The check is
/// `enif_get_list_length`, which fails on an improper list; it walks the
/// list once without decoding the elements.
pub fn proper(term: Term<'_>) -> NifResult<ListIterator<'_>> {
    term.list_length()?;
    term.into_list_iterator()
}

/// Every element of the proper list `term` decoded as `T`, if it has at
/// most `max` elements (else `ArgumentError`): walks at most `max + 1`
/// cells, so a huge list costs no more than a refused one.
pub fn decode_at_most<'a, T: Decoder<'a>>(term: Term<'a>, max: usize) -> NifResult<Vec<T>> {
    let mut items = Vec::new();
    let mut rest = term;
    while !rest.is_empty_list() {
        if items.len() == max {
            return Err(rustler::Error::BadArg);
        }
        let (head, tail) = rest.list_get_cell()?;
        items.push(head.decode::<T>()?);
        rest = tail;
    }
    Ok(items)
}

/// Every element of the proper list `term` decoded as `T`.
pub fn decode_all<'a, T: Decoder<'a>>(term: Term<'a>) -> NifResult<Vec<T>> {
    proper(term)?.map(|element| element.decode::<T>()).collect()
}
