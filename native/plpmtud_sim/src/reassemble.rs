//! The reassembler's fuzzing oracle: arbitrary bytes become a stream of
//! junk and real fragments of `plpmtud_path`'s reassembler, so any
//! byte-level fuzzer (and proptest) can drive it.

use crate::fuzz::Bytes;
use plpmtud_path::fragment::{crc32, split, Bounds, Reassembler, Reject, HEADER_LEN};

/// Feeds the datagrams of `data` to a [`Reassembler`] whose bounds come from
/// its first bytes, checking after every datagram that the bounds hold and
/// that any delivered message matches the checksum in its header. Datagrams
/// are raw bytes (any header: forgeries under a real message's id among
/// them) or the fragments of a message split from the input (in a scrambled
/// order, some repeated), so both junk and real fragments reach it. A real
/// message whose fragments all arrived must be delivered unless the bounds
/// (too large, expired) or an earlier copy (a recent duplicate, a held
/// fragment with its key but other bytes) explain why not: junk never
/// blocks it. Fragments at odd times go through [`Reassembler::take`],
/// [`crate::fragment::Completed::join`] and [`Reassembler::settle`], the
/// others through [`Reassembler::push`]. `Err` names what broke.
pub fn reassemble(data: &[u8]) -> Result<usize, String> {
    let mut bytes = Bytes(data);
    let bounds = Bounds {
        max_messages: usize::from(bytes.u8() % 16) + 1,
        max_bytes: usize::from(bytes.u16()) + 1,
        timeout_ms: u64::from(bytes.u16()),
    };
    let mut r = Reassembler::new(bounds);
    let mut now = 0u64;
    let mut pushed = 0;
    while !bytes.0.is_empty() && pushed < 4096 {
        now += u64::from(bytes.u8());
        let len = usize::from(bytes.u16() % 2048).min(bytes.0.len());
        let (body, rest) = bytes.0.split_at(len);
        bytes.0 = rest;
        let (datagrams, real) = match body.split_first() {
            Some((&kind, message)) if kind % 2 == 1 => {
                let id = u32::from(kind >> 5);
                let size = HEADER_LEN + 1 + usize::from(kind >> 1);
                let mut fragments = split(message, id, size).map_err(|e| e.to_string())?;
                let n = fragments.len();
                for i in 0..n {
                    fragments.swap(i, (i * 7 + usize::from(kind)) % n);
                }
                let repeated: Vec<Vec<u8>> = fragments.iter().step_by(3).cloned().collect();
                fragments.extend(repeated);
                (fragments, Some(message))
            }
            _ => (vec![body.to_vec()], None),
        };
        let before = *r.stats();
        let mut delivered = false;
        for datagram in &datagrams {
            pushed += 1;
            if let Ok(Some(message)) = push(&mut r, now, datagram) {
                let crc =
                    u32::from_be_bytes([datagram[12], datagram[13], datagram[14], datagram[15]]);
                if crc32(&message) != crc {
                    return Err(format!("delivered a message whose CRC is not {crc:#x}"));
                }
                delivered |= real == Some(message.as_slice());
            }
            if r.bytes_held() > bounds.max_bytes || r.stats().peak_bytes > bounds.max_bytes {
                return Err(format!("{} bytes held over {:?}", r.bytes_held(), bounds));
            }
            if r.messages_held() > bounds.max_messages {
                return Err(format!(
                    "{} messages held over {:?}",
                    r.messages_held(),
                    bounds
                ));
            }
        }
        let after = r.stats();
        let explained = after.too_large > before.too_large
            || after.expired > before.expired
            || after.duplicate_messages > before.duplicate_messages
            || after.bad_checksum > before.bad_checksum;
        if real.is_some() && !delivered && !explained {
            return Err(format!(
                "a real message was not delivered: {before:?} -> {after:?}"
            ));
        }
    }
    Ok(pushed)
}

/// One fragment in: by [`Reassembler::push`] at even times, by take, join
/// and settle at odd ones.
fn push(r: &mut Reassembler, now: u64, datagram: &[u8]) -> Result<Option<Vec<u8>>, Reject> {
    if now % 2 == 0 {
        return r.push(now, datagram);
    }
    let Some(done) = r.take(now, datagram)? else {
        return Ok(None);
    };
    let joined = done.join();
    r.settle(done.key(), joined.is_ok())?;
    joined.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reassembler_seeds_run_within_bounds() {
        let seeds: [&[u8]; 3] = [
            include_bytes!("../../../fuzz/seeds/fragment_reassemble/split_twice"),
            include_bytes!("../../../fuzz/seeds/fragment_reassemble/one_fragment_and_junk"),
            include_bytes!("../../../fuzz/seeds/fragment_reassemble/tight_bounds"),
        ];
        let pushed: Vec<usize> = seeds.iter().map(|s| reassemble(s).unwrap()).collect();
        assert!(pushed.iter().all(|&n| n > 2), "{pushed:?}");
    }
}
