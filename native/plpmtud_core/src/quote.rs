//! What an ICMP error quotes of a probe, reduced to a fingerprint the prober
//! can keep and compare (RFC 8899 §4.6.1: a PTB is used only when the quoted
//! packet is one the sender can show it sent).
//!
//! The fingerprint covers the first [`QUOTE_LEN`] bytes of the probe's UDP
//! payload: what routers quote after the IP and UDP headers (IPv4 routers
//! quote at least 576 bytes in all per RFC 1812, IPv6 up to 1280). An
//! off-path attacker who knows the 5-tuple must still guess those bytes; the
//! check is as strong as the unpredictable bytes they hold (plpmtud's own
//! probes: a random 64-bit nonce; uTP: timestamps and sequence numbers).

/// Bytes of the UDP payload that the fingerprint covers.
pub const QUOTE_LEN: usize = 32;

/// The fingerprint of the first [`QUOTE_LEN`] bytes of `payload` (all of
/// it when shorter): of a probe's UDP payload when it is sent, or of the
/// quoted copy in an ICMP error. A quote cut shorter than what the probe
/// had gives a different fingerprint, so it is refused.
pub fn fingerprint(payload: &[u8]) -> u64 {
    let prefix = &payload[..payload.len().min(QUOTE_LEN)];
    // FNV-1a 64 of the prefix and its length: a match requires the same
    // bytes, barring a collision the attacker cannot aim at without them.
    let seed = 0xcbf2_9ce4_8422_2325u64 ^ prefix.len() as u64;
    prefix.iter().fold(seed, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_prefixes_match_and_any_changed_byte_does_not() {
        let sent: Vec<u8> = (0..200u8).collect();
        let quoted = &sent[..QUOTE_LEN + 5];
        assert_eq!(fingerprint(&sent), fingerprint(quoted));
        for i in 0..QUOTE_LEN {
            let mut forged = quoted.to_vec();
            forged[i] ^= 1;
            assert_ne!(fingerprint(&sent), fingerprint(&forged), "byte {i}");
        }
    }

    #[test]
    fn a_quote_cut_short_does_not_match() {
        let sent = [7u8; 100];
        assert_ne!(fingerprint(&sent), fingerprint(&sent[..QUOTE_LEN - 1]));
        assert_ne!(fingerprint(&sent), fingerprint(&sent[..8]));
        assert_eq!(fingerprint(&sent[..10]), fingerprint(&sent[..10]));
    }
}
