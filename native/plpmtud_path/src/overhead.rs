//! Header overheads of protocol stacks and the standard MTUs, for budgeting
//! payload: how many bytes of a packet of a given MTU are left for data.

/// One protocol layer and the bytes it adds to every packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Ethernet II header (without FCS): 14.
    Ethernet,
    /// An 802.1Q VLAN tag: 4.
    Dot1Q,
    /// One MPLS label: 4.
    Mpls,
    /// PPPoE with its PPP protocol field: 8.
    Pppoe,
    /// IPv4 without options: 20.
    Ipv4,
    /// IPv6 fixed header: 40.
    Ipv6,
    /// UDP: 8.
    Udp,
    /// TCP without options: 20.
    Tcp,
    /// GRE without key or sequence: 4.
    Gre,
    /// GRE with a key: 8.
    GreKey,
    /// IPsec ESP in tunnel mode with AES-GCM: SPI, sequence, IV, padding and ICV, up to 36 (worst case).
    Esp,
    /// WireGuard data message (header 16 + tag 16) over its outer UDP: 32 plus UDP 8 outside it.
    WireGuard,
    /// VXLAN including its outer Ethernet, IPv4 and UDP: 50.
    Vxlan,
    /// uTP (BEP 29): 20.
    Utp,
    /// QUIC short header, typical: 1 + 8-byte connection id + 4-byte packet number + 16-byte tag = 29.
    QuicShort,
}

impl Layer {
    /// Bytes this layer adds.
    pub const fn bytes(self) -> u32 {
        match self {
            Layer::Ethernet => 14,
            Layer::Dot1Q | Layer::Mpls | Layer::Gre => 4,
            Layer::Pppoe | Layer::GreKey | Layer::Udp => 8,
            Layer::Ipv4 | Layer::Tcp | Layer::Utp => 20,
            Layer::Ipv6 => 40,
            Layer::Esp => 36,
            Layer::WireGuard => 32,
            Layer::Vxlan => 50,
            Layer::QuicShort => 29,
        }
    }

    /// The layer's snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Ethernet => "ethernet",
            Layer::Dot1Q => "dot1q",
            Layer::Mpls => "mpls",
            Layer::Pppoe => "pppoe",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Udp => "udp",
            Layer::Tcp => "tcp",
            Layer::Gre => "gre",
            Layer::GreKey => "gre_key",
            Layer::Esp => "esp",
            Layer::WireGuard => "wireguard",
            Layer::Vxlan => "vxlan",
            Layer::Utp => "utp",
            Layer::QuicShort => "quic_short",
        }
    }

    /// Every layer.
    pub const ALL: [Layer; 15] = [
        Layer::Ethernet,
        Layer::Dot1Q,
        Layer::Mpls,
        Layer::Pppoe,
        Layer::Ipv4,
        Layer::Ipv6,
        Layer::Udp,
        Layer::Tcp,
        Layer::Gre,
        Layer::GreKey,
        Layer::Esp,
        Layer::WireGuard,
        Layer::Vxlan,
        Layer::Utp,
        Layer::QuicShort,
    ];

    /// The layer named `name` (see [`Layer::name`]).
    pub fn from_name(name: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// Total bytes a stack of layers adds to every packet.
///
/// ```
/// use plpmtud_path::overhead::{overhead, Layer};
/// assert_eq!(overhead(&[Layer::Ipv4, Layer::Udp, Layer::Utp]), 48);
/// ```
pub fn overhead(stack: &[Layer]) -> u32 {
    stack.iter().map(|l| l.bytes()).sum()
}

/// Payload bytes left in a packet of `mtu` bytes under `stack` (zero if the
/// headers do not fit).
///
/// ```
/// use plpmtud_path::overhead::{payload_budget, Layer};
/// assert_eq!(payload_budget(1500, &[Layer::Ipv6, Layer::Udp]), 1452);
/// ```
pub fn payload_budget(mtu: u32, stack: &[Layer]) -> u32 {
    mtu.saturating_sub(overhead(stack))
}

/// Well-known MTUs in IP bytes: (name, MTU).
pub const STANDARD_MTUS: [(&str, u32); 12] = [
    ("jumbo_aws", 9001),
    ("jumbo", 9000),
    ("ethernet", 1500),
    ("pppoe", 1492),
    ("ds_lite", 1460),
    ("vxlan", 1450),
    ("wireguard_ipv4", 1440),
    ("wireguard", 1420),
    ("gre_over_ethernet", 1476),
    ("ipv6_minimum", 1280),
    ("ipv4_classic", 576),
    ("ipv4_minimum", 68),
];

/// The TCP maximum segment size for a path MTU: MTU minus the IP header (20
/// or 40) and the TCP header (20), without options.
///
/// ```
/// use plpmtud_path::overhead::mss_for_mtu;
/// use plpmtud_core::IpFamily;
/// assert_eq!(mss_for_mtu(1500, IpFamily::V4), 1460);
/// assert_eq!(mss_for_mtu(1280, IpFamily::V6), 1220);
/// ```
pub fn mss_for_mtu(mtu: u32, family: plpmtud_core::IpFamily) -> u32 {
    mtu.saturating_sub(family.ip_header_bytes() + Layer::Tcp.bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_stacks_add_up() {
        assert_eq!(overhead(&[Layer::Ethernet, Layer::Ipv4, Layer::Tcp]), 54);
        assert_eq!(
            payload_budget(1500, &[Layer::Pppoe, Layer::Ipv4, Layer::Udp]),
            1464
        );
        assert_eq!(
            payload_budget(1420, &[Layer::Ipv4, Layer::Udp, Layer::Utp]),
            1372
        );
        assert_eq!(payload_budget(40, &[Layer::Ipv6, Layer::Udp]), 0);
        for layer in Layer::ALL {
            assert_eq!(Layer::from_name(layer.name()), Some(layer));
        }
        assert_eq!(Layer::from_name("carrier_pigeon"), None);
    }
}
