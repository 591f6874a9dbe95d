//! Parsing the socket error queue (`IP_RECVERR` / `IPV6_RECVERR`): the
//! control messages of a `recvmsg(MSG_ERRQUEUE)`, as plain bytes, so the
//! parser is testable and fuzzable without a socket.
//!
//! Layout (Linux, `<linux/errqueue.h>`): a `cmsghdr` (`len: usize, level:
//! i32, type: i32`), then `struct sock_extended_err` (`errno: u32, origin:
//! u8, type: u8, code: u8, pad: u8, info: u32, data: u32`), then the
//! offender's `sockaddr` (`SO_EE_OFFENDER`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `SO_EE_ORIGIN_LOCAL`: the local stack.
pub const ORIGIN_LOCAL: u8 = 1;
/// `SO_EE_ORIGIN_ICMP`: an ICMPv4 message.
pub const ORIGIN_ICMP: u8 = 2;
/// `SO_EE_ORIGIN_ICMP6`: an ICMPv6 message.
pub const ORIGIN_ICMP6: u8 = 3;

const SOL_IP: i32 = 0;
const SOL_IPV6: i32 = 41;
const IP_RECVERR: i32 = 11;
const IPV6_RECVERR: i32 = 25;
const EXTENDED_ERR_LEN: usize = 16;
const CMSG_HEADER_LEN: usize = std::mem::size_of::<usize>() + 8;
const ALIGN: usize = std::mem::size_of::<usize>();

/// One `sock_extended_err`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedError {
    /// The errno the error stands for (`EMSGSIZE` for a too-big packet).
    pub errno: u32,
    /// Where it came from: [`ORIGIN_LOCAL`], [`ORIGIN_ICMP`], [`ORIGIN_ICMP6`], ...
    pub origin: u8,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub icmp_code: u8,
    /// For a too-big packet: the MTU reported.
    pub info: u32,
    /// The address of the host that sent the ICMP message, if given.
    pub offender: Option<IpAddr>,
}

/// What an error-queue entry means for path-MTU discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// ICMP Fragmentation Needed (v4) or Packet Too Big (v6) from a router.
    PacketTooBig {
        /// The next-hop MTU reported.
        mtu: u32,
    },
    /// The local stack refused an oversized datagram.
    LocalTooBig {
        /// The MTU the kernel knows.
        mtu: u32,
    },
    /// Anything else (port unreachable, TTL exceeded, ...): not about MTU.
    Unrelated,
}

impl ExtendedError {
    /// Classifies the entry for path-MTU discovery.
    pub fn kind(&self) -> ErrorKind {
        let too_big = self.errno == libc::EMSGSIZE as u32;
        match self.origin {
            ORIGIN_ICMP if self.icmp_type == 3 && self.icmp_code == 4 => {
                ErrorKind::PacketTooBig { mtu: self.info }
            }
            ORIGIN_ICMP6 if self.icmp_type == 2 => ErrorKind::PacketTooBig { mtu: self.info },
            ORIGIN_LOCAL if too_big => ErrorKind::LocalTooBig { mtu: self.info },
            _ => ErrorKind::Unrelated,
        }
    }
}

/// Why control data could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// A control message header or body runs past the buffer.
    Truncated,
    /// No `IP_RECVERR` / `IPV6_RECVERR` control message was present.
    Missing,
}

/// Finds and decodes the extended error in `control` (the `msg_control`
/// bytes of a `recvmsg(MSG_ERRQUEUE)`, `msg_controllen` long).
pub fn parse_control(control: &[u8]) -> Result<ExtendedError, ParseError> {
    let mut rest = control;
    while rest.len() >= CMSG_HEADER_LEN {
        let len = usize::from_ne_bytes(
            rest[..ALIGN]
                .try_into()
                .map_err(|_| ParseError::Truncated)?,
        );
        let level = read_i32(&rest[ALIGN..ALIGN + 4]);
        let kind = read_i32(&rest[ALIGN + 4..ALIGN + 8]);
        if len < CMSG_HEADER_LEN || len > rest.len() {
            return Err(ParseError::Truncated);
        }
        let body = &rest[CMSG_HEADER_LEN..len];
        if (level == SOL_IP && kind == IP_RECVERR) || (level == SOL_IPV6 && kind == IPV6_RECVERR) {
            return parse_extended_error(body);
        }
        let next = len.div_ceil(ALIGN) * ALIGN;
        if next >= rest.len() {
            break;
        }
        rest = &rest[next..];
    }
    Err(ParseError::Missing)
}

/// Decodes a `sock_extended_err` and the offender address after it.
pub fn parse_extended_error(body: &[u8]) -> Result<ExtendedError, ParseError> {
    if body.len() < EXTENDED_ERR_LEN {
        return Err(ParseError::Truncated);
    }
    Ok(ExtendedError {
        errno: read_u32(&body[0..4]),
        origin: body[4],
        icmp_type: body[5],
        icmp_code: body[6],
        info: read_u32(&body[8..12]),
        offender: parse_sockaddr_ip(&body[EXTENDED_ERR_LEN..]),
    })
}

/// The address and port of a `sockaddr_in` / `sockaddr_in6` in `bytes`, if any.
pub fn parse_sockaddr(bytes: &[u8]) -> Option<SocketAddr> {
    let ip = parse_sockaddr_ip(bytes)?;
    let port = u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?);
    Some(SocketAddr::new(ip, port))
}

/// The IP address of a `sockaddr_in` / `sockaddr_in6` in `bytes`, if any.
pub fn parse_sockaddr_ip(bytes: &[u8]) -> Option<IpAddr> {
    let family = i32::from(u16::from_ne_bytes(bytes.get(0..2)?.try_into().ok()?));
    match family {
        libc::AF_INET => {
            let octets: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        libc::AF_INET6 => {
            let octets: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

fn read_u32(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

fn read_i32(b: &[u8]) -> i32 {
    i32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Control bytes as the kernel lays them out, for tests and fuzz seeds.
    pub fn control_message(level: i32, kind: i32, err: &ExtendedError) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&err.errno.to_ne_bytes());
        body.extend_from_slice(&[err.origin, err.icmp_type, err.icmp_code, 0]);
        body.extend_from_slice(&err.info.to_ne_bytes());
        body.extend_from_slice(&0u32.to_ne_bytes());
        match err.offender {
            Some(IpAddr::V4(ip)) => {
                body.extend_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
                body.extend_from_slice(&[0, 0]);
                body.extend_from_slice(&ip.octets());
                body.extend_from_slice(&[0; 8]);
            }
            Some(IpAddr::V6(ip)) => {
                body.extend_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
                body.extend_from_slice(&[0; 6]);
                body.extend_from_slice(&ip.octets());
                body.extend_from_slice(&[0; 4]);
            }
            None => body.extend_from_slice(&[0; 16]),
        }
        let len = CMSG_HEADER_LEN + body.len();
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&body);
        out.resize(len.div_ceil(ALIGN) * ALIGN, 0);
        out
    }

    fn frag_needed(mtu: u32) -> ExtendedError {
        ExtendedError {
            errno: libc::EMSGSIZE as u32,
            origin: ORIGIN_ICMP,
            icmp_type: 3,
            icmp_code: 4,
            info: mtu,
            offender: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))),
        }
    }

    #[test]
    fn parses_an_ipv4_fragmentation_needed() {
        let bytes = control_message(SOL_IP, IP_RECVERR, &frag_needed(1350));
        let err = parse_control(&bytes).unwrap();
        assert_eq!(err, frag_needed(1350));
        assert_eq!(err.kind(), ErrorKind::PacketTooBig { mtu: 1350 });
    }

    #[test]
    fn parses_an_ipv6_packet_too_big_after_another_message() {
        let ptb = ExtendedError {
            origin: ORIGIN_ICMP6,
            icmp_type: 2,
            icmp_code: 0,
            offender: Some("fd00::1".parse().unwrap()),
            ..frag_needed(1280)
        };
        let mut bytes = control_message(SOL_IP, 99, &frag_needed(1));
        bytes.extend(control_message(SOL_IPV6, IPV6_RECVERR, &ptb));
        let err = parse_control(&bytes).unwrap();
        assert_eq!(err.offender, ptb.offender);
        assert_eq!(err.kind(), ErrorKind::PacketTooBig { mtu: 1280 });
    }

    #[test]
    fn classifies_local_and_unrelated_errors() {
        let local = ExtendedError {
            origin: ORIGIN_LOCAL,
            offender: None,
            ..frag_needed(1400)
        };
        assert_eq!(local.kind(), ErrorKind::LocalTooBig { mtu: 1400 });
        let port_unreachable = ExtendedError {
            errno: libc::ECONNREFUSED as u32,
            icmp_code: 3,
            ..frag_needed(0)
        };
        assert_eq!(port_unreachable.kind(), ErrorKind::Unrelated);
    }

    #[test]
    fn truncated_or_missing_data_is_an_error_not_a_panic() {
        let bytes = control_message(SOL_IP, IP_RECVERR, &frag_needed(1350));
        for cut in 0..bytes.len() {
            let _ = parse_control(&bytes[..cut]);
        }
        assert_eq!(
            parse_control(&bytes[..CMSG_HEADER_LEN + 4]),
            Err(ParseError::Truncated)
        );
        assert_eq!(parse_control(&[]), Err(ParseError::Missing));
        let mut bad_len = bytes.clone();
        bad_len[..ALIGN].copy_from_slice(&1usize.to_ne_bytes());
        assert_eq!(parse_control(&bad_len), Err(ParseError::Truncated));
    }
}
