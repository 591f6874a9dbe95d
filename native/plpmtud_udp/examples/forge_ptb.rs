//! Sends forged ICMP Fragmentation-Needed (IPv4) or Packet-Too-Big (IPv6)
//! messages, for the spoofed-PTB lab test. Run it as root inside the
//! attacker's network namespace:
//!
//! `forge_ptb TARGET MTU MODE COUNT [FLOW_SRC FLOW_SPORT FLOW_DST FLOW_DPORT]`
//!
//! MODE: `random` (random bytes quoted), `guessed` (a UDP header between the
//! flow's addresses with random ports), `flow` (the flow's real addresses
//! and ports, quoting a plpmtud probe header with a random, wrong nonce),
//! `counter` (the flow's real addresses and ports, quoting nonces 1..=COUNT:
//! an attacker who knows ids are counted from 1, as they were before nonces).

use plpmtud_core::sim::SplitMix64;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr};

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

fn random_bytes(rng: &mut SplitMix64, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

/// The quoted original datagram: an IP header, a UDP header and 20 bytes of payload.
fn quoted(
    mode: &str,
    rng: &mut SplitMix64,
    nonce: u64,
    flow: Option<(SocketAddr, SocketAddr)>,
) -> Vec<u8> {
    let Some((src, dst)) = flow.filter(|_| mode != "random") else {
        return random_bytes(rng, 68);
    };
    let (sport, dport) = if mode == "flow" || mode == "counter" {
        (src.port(), dst.port())
    } else {
        (rng.next_u64() as u16, rng.next_u64() as u16)
    };
    let payload = plpmtud_core::wire::probe(nonce, 1400, 20);
    let udp_len = (8 + 1372) as u16;
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&payload);
    let mut ip = Vec::new();
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ip.extend_from_slice(&[0x45, 0, 0x05, 0x78, 0, 0, 0x40, 0, 64, 17, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let sum = checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ip.extend_from_slice(&[0x60, 0, 0, 0]);
            ip.extend_from_slice(&udp_len.to_be_bytes());
            ip.extend_from_slice(&[17, 64]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
        }
        _ => panic!("flow addresses of mixed families"),
    }
    ip.extend_from_slice(&udp);
    ip
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "forge_ptb TARGET MTU MODE COUNT [FLOW_SRC FLOW_SPORT FLOW_DST FLOW_DPORT]";
    let target: IpAddr = args.first().and_then(|a| a.parse().ok()).expect(usage);
    let mtu: u32 = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let mode = args.get(2).map(String::as_str).expect(usage);
    let count: u32 = args.get(3).and_then(|a| a.parse().ok()).expect(usage);
    let flow = (args.len() >= 8).then(|| {
        let addr = |ip: &str, port: &str| {
            SocketAddr::new(ip.parse().expect(usage), port.parse().expect(usage))
        };
        (addr(&args[4], &args[5]), addr(&args[6], &args[7]))
    });
    let mut rng = SplitMix64::new(u64::from(mtu) << 8 | u64::from(count));
    let (domain, protocol) = match target {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let socket = Socket::new(domain, Type::RAW, Some(protocol)).expect("raw ICMP socket (root)");
    let dest = SockAddr::from(SocketAddr::new(target, 0));
    for i in 1..=count {
        let mut message = match target {
            // Type 3 code 4: checksum, unused, next-hop MTU.
            IpAddr::V4(_) => {
                let mut m = vec![3, 4, 0, 0, 0, 0];
                m.extend_from_slice(&(mtu as u16).to_be_bytes());
                m
            }
            // Type 2 code 0: checksum (the kernel fills it in for ICMPv6), MTU.
            IpAddr::V6(_) => {
                let mut m = vec![2, 0, 0, 0];
                m.extend_from_slice(&mtu.to_be_bytes());
                m
            }
        };
        let nonce = if mode == "counter" {
            u64::from(i)
        } else {
            rng.next_u64()
        };
        message.extend_from_slice(&quoted(mode, &mut rng, nonce, flow));
        if target.is_ipv4() {
            let sum = checksum(&message);
            message[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        socket.send_to(&message, &dest).expect("send forged ICMP");
    }
    println!("sent {count} forged {mode} PTB(s) reporting {mtu} to {target}");
}
