//! The probe and acknowledgement datagrams of plpmtud's own probing (the
//! autonomous prober and its responder), as UDP payloads.
//!
//! Both start with the same 20-byte header, big-endian:
//!
//! ```text
//! magic "PLPD" (4) | version 1 (1) | kind (1) | reserved 0 (2) | nonce (8) | size (4)
//! ```
//!
//! A probe's `size` is the IP size it was sent at; zero padding fills it to
//! that size. An ack echoes the nonce and carries in `size` the number of UDP
//! payload bytes that arrived, and is never longer than the header, so a
//! responder can never amplify.

/// Bytes of the header (and of every ack).
pub const HEADER_LEN: usize = 20;
/// The magic that starts every datagram.
pub const MAGIC: [u8; 4] = *b"PLPD";
/// The format version.
pub const VERSION: u8 = 1;

/// What a datagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A probe, padded to its size.
    Probe,
    /// An acknowledgement of a probe.
    Ack,
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Probe or ack.
    pub kind: Kind,
    /// The probe's nonce (echoed by its ack).
    pub nonce: u64,
    /// Probe: the IP size it was sent at. Ack: UDP payload bytes received.
    pub size: u32,
}

/// Why a datagram is not one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the header.
    TooShort,
    /// The magic is wrong: not a plpmtud datagram.
    BadMagic,
    /// A version this code does not speak.
    BadVersion,
    /// A kind byte that is neither probe nor ack.
    BadKind,
    /// An ack longer than its header (acks never carry padding).
    AckTooLong,
}

impl WireError {
    /// A short snake_case name for counters and logs.
    pub fn name(self) -> &'static str {
        match self {
            WireError::TooShort => "too_short",
            WireError::BadMagic => "bad_magic",
            WireError::BadVersion => "bad_version",
            WireError::BadKind => "bad_kind",
            WireError::AckTooLong => "ack_too_long",
        }
    }
}

/// Writes `header` into the first [`HEADER_LEN`] bytes of `out`; the rest is
/// left as is (zeros for a padded probe). Returns false if `out` is too short.
pub fn write_header(header: &Header, out: &mut [u8]) -> bool {
    let Some(out) = out.get_mut(..HEADER_LEN) else {
        return false;
    };
    out[0..4].copy_from_slice(&MAGIC);
    out[4] = VERSION;
    out[5] = match header.kind {
        Kind::Probe => 1,
        Kind::Ack => 2,
    };
    out[6..8].copy_from_slice(&[0, 0]);
    out[8..16].copy_from_slice(&header.nonce.to_be_bytes());
    out[16..20].copy_from_slice(&header.size.to_be_bytes());
    true
}

/// A probe datagram of `payload_len` bytes (at least the header) for `nonce`
/// sent at IP size `ip_size`.
pub fn probe(nonce: u64, ip_size: u32, payload_len: usize) -> Vec<u8> {
    let mut out = vec![0u8; payload_len.max(HEADER_LEN)];
    write_header(
        &Header {
            kind: Kind::Probe,
            nonce,
            size: ip_size,
        },
        &mut out,
    );
    out
}

/// The ack for a probe of `received_len` payload bytes with `nonce`.
pub fn ack(nonce: u64, received_len: usize) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    let size = u32::try_from(received_len).unwrap_or(u32::MAX);
    write_header(
        &Header {
            kind: Kind::Ack,
            nonce,
            size,
        },
        &mut out,
    );
    out
}

/// Decodes the header of `datagram`.
pub fn parse(datagram: &[u8]) -> Result<Header, WireError> {
    let head = datagram.get(..HEADER_LEN).ok_or(WireError::TooShort)?;
    if head[0..4] != MAGIC {
        return Err(WireError::BadMagic);
    }
    if head[4] != VERSION {
        return Err(WireError::BadVersion);
    }
    let kind = match head[5] {
        1 => Kind::Probe,
        2 => Kind::Ack,
        _ => return Err(WireError::BadKind),
    };
    if kind == Kind::Ack && datagram.len() > HEADER_LEN {
        return Err(WireError::AckTooLong);
    }
    let nonce = u64::from_be_bytes(head[8..16].try_into().map_err(|_| WireError::TooShort)?);
    let size = u32::from_be_bytes(head[16..20].try_into().map_err(|_| WireError::TooShort)?);
    Ok(Header { kind, nonce, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_and_ack_round_trip() {
        let p = probe(0xDEAD_BEEF_0102_0304, 1400, 1372);
        assert_eq!(p.len(), 1372);
        assert!(p[HEADER_LEN..].iter().all(|&b| b == 0));
        let h = parse(&p).unwrap();
        assert_eq!(
            h,
            Header {
                kind: Kind::Probe,
                nonce: 0xDEAD_BEEF_0102_0304,
                size: 1400
            }
        );
        let a = ack(h.nonce, p.len());
        assert_eq!(
            parse(&a).unwrap(),
            Header {
                kind: Kind::Ack,
                nonce: h.nonce,
                size: 1372
            }
        );
    }

    #[test]
    fn foreign_or_damaged_datagrams_are_refused() {
        let p = probe(7, 600, 100);
        assert_eq!(parse(&p[..19]), Err(WireError::TooShort));
        let mut bad = p.clone();
        bad[0] = b'X';
        assert_eq!(parse(&bad), Err(WireError::BadMagic));
        let mut bad = p.clone();
        bad[4] = 2;
        assert_eq!(parse(&bad), Err(WireError::BadVersion));
        let mut bad = p.clone();
        bad[5] = 9;
        assert_eq!(parse(&bad), Err(WireError::BadKind));
        let mut long_ack = ack(7, 100).to_vec();
        long_ack.push(0);
        assert_eq!(parse(&long_ack), Err(WireError::AckTooLong));
        assert_eq!(WireError::AckTooLong.name(), "ack_too_long");
    }

    #[test]
    fn a_tiny_probe_is_never_shorter_than_its_header() {
        assert_eq!(probe(1, 68, 3).len(), HEADER_LEN);
        assert!(!write_header(
            &Header {
                kind: Kind::Ack,
                nonce: 1,
                size: 1
            },
            &mut [0u8; 4]
        ));
    }
}
