//! Units: IP MTU bytes (the whole IP packet) versus payload bytes (what one
//! datagram carries for the caller), and the address family that links them.

/// The smallest MTU every IPv4 link must carry (RFC 791).
pub const IPV4_MIN_MTU: u32 = 68;
/// The smallest MTU every IPv6 link must carry (RFC 8200).
pub const IPV6_MIN_MTU: u32 = 1280;
/// The largest IP packet size a 16-bit total-length field can express.
pub const MAX_MTU: u32 = 65_535;

/// The IP version of a path; it decides the IP header size and the minimum MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpFamily {
    /// IPv4: 20-byte header (no options), minimum MTU 68.
    #[default]
    V4,
    /// IPv6: 40-byte fixed header, minimum MTU 1280.
    V6,
}

impl IpFamily {
    /// Bytes of IP header in every packet of this family (no options or extension headers).
    pub const fn ip_header_bytes(self) -> u32 {
        match self {
            IpFamily::V4 => 20,
            IpFamily::V6 => 40,
        }
    }

    /// The smallest MTU a link of this family must carry.
    pub const fn min_mtu(self) -> u32 {
        match self {
            IpFamily::V4 => IPV4_MIN_MTU,
            IpFamily::V6 => IPV6_MIN_MTU,
        }
    }
}

/// The unit of every size a prober's API takes or returns (config key
/// `size_unit`): the transport's payload bytes, or whole IP packets. MTUs
/// reported by the network or the kernel (`ptb`, `send_refused`'s kernel
/// MTU, a hint's `ip_mtu`) and the `mtu_*` configuration keys are IP bytes
/// whatever the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SizeUnit {
    /// Payload bytes: what one datagram carries for the caller, after the IP
    /// header and `packet_overhead`.
    #[default]
    Payload,
    /// IP bytes: the whole IP packet.
    Ip,
}

/// Payload bytes that fit one packet of `mtu` IP bytes after the IP header and
/// `overhead` further bytes per packet (UDP 8, plus the transport's own header).
///
/// Saturates at zero when the headers alone do not fit.
///
/// ```
/// use plpmtud_core::units::{payload_for_mtu, IpFamily};
/// // aiutp: UDP 8 + uTP 20 on IPv4; an IP MTU of 1344 carries 1296 payload bytes.
/// assert_eq!(payload_for_mtu(1344, IpFamily::V4, 28), 1296);
/// assert_eq!(payload_for_mtu(1500, IpFamily::V6, 8), 1452);
/// ```
pub const fn payload_for_mtu(mtu: u32, family: IpFamily, overhead: u32) -> u32 {
    mtu.saturating_sub(family.ip_header_bytes() + overhead)
}

/// The IP MTU needed to carry `payload` bytes with `overhead` further bytes per packet.
///
/// ```
/// use plpmtud_core::units::{mtu_for_payload, IpFamily};
/// assert_eq!(mtu_for_payload(1296, IpFamily::V4, 28), 1344);
/// ```
pub const fn mtu_for_payload(payload: u32, family: IpFamily, overhead: u32) -> u32 {
    payload.saturating_add(family.ip_header_bytes() + overhead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_and_mtu_are_inverse_for_both_families() {
        for family in [IpFamily::V4, IpFamily::V6] {
            for mtu in [576, 1280, 1344, 1500, 9000] {
                let payload = payload_for_mtu(mtu, family, 28);
                assert_eq!(mtu_for_payload(payload, family, 28), mtu);
            }
        }
        assert_eq!(payload_for_mtu(1500, IpFamily::V4, 8), 1472);
        assert_eq!(payload_for_mtu(1280, IpFamily::V6, 8), 1232);
    }

    #[test]
    fn payload_saturates_when_headers_do_not_fit() {
        assert_eq!(payload_for_mtu(30, IpFamily::V4, 28), 0);
        assert_eq!(payload_for_mtu(0, IpFamily::V6, 0), 0);
    }
}
