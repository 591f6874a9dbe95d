//! Sockets inside network namespaces this test creates (root only; CI runs
//! as root). Each namespace is removed when its guard drops, also on failure.

use plpmtud_udp::{DfSocket, OpenOptions, SocketError, Transport};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A network namespace that exists while this value lives.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("plpt-{tag}-{}", std::process::id());
        let ok = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().expect("ip");
            assert!(status.success(), "ip {args:?}");
        };
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        ok(&["netns", "add", &name]);
        let ns = Netns(name);
        ok(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ok(&[
            "netns",
            "exec",
            &ns.0,
            "sysctl",
            "-qw",
            "net.ipv4.ping_group_range=0 2147483647",
        ]);
        ns
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn recv(socket: &DfSocket, buf: &mut [u8]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match socket.recv_from(buf) {
            Ok((n, _)) => return n,
            Err(SocketError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

#[test]
fn a_socket_opened_in_a_namespace_lives_there() {
    let ns = Netns::new("lo");
    let options = OpenOptions::bind("127.0.0.1:0".parse().unwrap());
    let inside = DfSocket::open_in_netns(&options, &ns.path()).unwrap();
    let outside = DfSocket::open(&options).unwrap();
    // The namespace's loopback is not the host's: a datagram from outside never arrives.
    outside.send_to(b"x", inside.local_addr().unwrap()).unwrap();
    let peer = DfSocket::open_in_netns(&options, &ns.path()).unwrap();
    peer.send_to(b"inside", inside.local_addr().unwrap())
        .unwrap();
    let mut buf = [0u8; 16];
    let n = recv(&inside, &mut buf);
    assert_eq!(&buf[..n], b"inside");
    let missing = DfSocket::open_in_netns(&options, std::path::Path::new("/run/netns/none"));
    assert_eq!(missing.unwrap_err(), SocketError::Os(libc::ENOENT));
}

#[test]
fn icmp_echo_sockets_get_replies() {
    let ns = Netns::new("icmp");
    for (bind, echo_type, reply_type) in [("127.0.0.1:0", 8u8, 0u8), ("[::1]:0", 128, 129)] {
        let options = OpenOptions {
            transport: Transport::IcmpEcho,
            connect: Some(bind.parse().unwrap()),
            ..OpenOptions::bind(bind.parse().unwrap())
        };
        let socket = DfSocket::open_in_netns(&options, &ns.path()).unwrap();
        let mut echo = vec![echo_type, 0, 0, 0, 0, 0, 0, 42];
        echo.extend_from_slice(&[0xAB; 100]);
        socket.send(&echo).unwrap();
        let mut buf = [0u8; 512];
        let n = recv(&socket, &mut buf);
        assert_eq!(n, echo.len(), "{bind}");
        assert_eq!(buf[0], reply_type, "{bind}: echo reply");
        assert_eq!(&buf[6..8], &[0, 42], "{bind}: our sequence number");
    }
}
