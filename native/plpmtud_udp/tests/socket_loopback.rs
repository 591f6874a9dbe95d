//! The DF socket on loopback: DF policies, sends, batches, EMSGSIZE, the
//! error queue, and the endpoint in every active mode, driven by a `poll`
//! loop as the BEAM's poll set drives it in the NIF.

use plpmtud_udp::endpoint::{Active, Delivery, Endpoint};
use plpmtud_udp::errqueue::ErrorKind;
use plpmtud_udp::{DfPolicy, DfSocket, OpenOptions, RecvBatch, SocketError};
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const V4: &str = "127.0.0.1:0";

/// The loopback path MTU the kernel reports: the interface MTU, at most 65535
/// (the largest IP packet).
fn loopback_mtu() -> u32 {
    let lo: u32 = std::fs::read_to_string("/sys/class/net/lo/mtu")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    lo.min(65_535)
}
const V6: &str = "[::1]:0";

fn open(bind: &str) -> DfSocket {
    DfSocket::open(&OpenOptions::bind(bind.parse().unwrap())).expect("open")
}

fn open_connected(bind: &str, peer: SocketAddr) -> DfSocket {
    let options = OpenOptions {
        connect: Some(peer),
        ..OpenOptions::bind(bind.parse().unwrap())
    };
    DfSocket::open(&options).expect("open connected")
}

/// Receives with a bounded wait.
fn recv(socket: &DfSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match socket.recv_from(buf) {
            Ok(got) => return got,
            Err(SocketError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

#[test]
fn every_df_policy_is_set_and_read_back_on_both_families() {
    for bind in [V4, V6] {
        let socket = open(bind);
        for policy in [
            DfPolicy::Dont,
            DfPolicy::Want,
            DfPolicy::Do,
            DfPolicy::Probe,
        ] {
            socket.set_df(policy).unwrap();
            assert_eq!(socket.df().unwrap(), policy, "{bind}");
        }
    }
}

#[test]
fn send_to_and_connected_send_arrive_on_both_families() {
    for bind in [V4, V6] {
        let server = open(bind);
        let server_addr = server.local_addr().unwrap();
        let client = open(bind);
        assert_eq!(client.send_to(b"hello", server_addr).unwrap(), 5);
        let mut buf = [0u8; 2048];
        let (n, from) = recv(&server, &mut buf);
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from, client.local_addr().unwrap());
        let connected = open_connected(bind, server_addr);
        assert_eq!(connected.peer_addr(), Some(server_addr));
        assert_eq!(connected.send(&[7u8; 1200]).unwrap(), 1200);
        let (n, _) = recv(&server, &mut buf);
        assert_eq!(n, 1200);
    }
}

#[test]
fn path_mtu_of_a_connected_loopback_socket_is_the_loopback_mtu() {
    let server = open(V4);
    let client = open_connected(V4, server.local_addr().unwrap());
    assert_eq!(client.path_mtu().unwrap(), loopback_mtu());
    let unconnected = open(V4);
    assert!(unconnected.path_mtu().is_err());
}

#[test]
fn oversized_sends_report_emsgsize_with_the_kernel_mtu() {
    let server = open(V4);
    let addr = server.local_addr().unwrap();
    let options = OpenOptions {
        df: DfPolicy::Do,
        ..OpenOptions::bind(V4.parse().unwrap())
    };
    let client = DfSocket::open(&options).unwrap();
    let err = client.send_to(&vec![0u8; 65_600], addr).unwrap_err();
    assert_eq!(
        err,
        SocketError::MessageTooBig {
            mtu: Some(loopback_mtu())
        }
    );
}

#[test]
fn batches_are_sent_in_order_and_counted() {
    let server = open(V4);
    let addr = server.local_addr().unwrap();
    let client = open(V4);
    let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
    let views: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
    let outcome = client.send_batch(&views, Some(addr));
    assert_eq!(outcome.sent, 100);
    assert_eq!(outcome.error, None);
    let mut buf = [0u8; 2048];
    for i in 0..100u8 {
        let (n, _) = recv(&server, &mut buf);
        assert_eq!(n, 100 + usize::from(i));
        assert_eq!(buf[0], i);
    }
    let unconnected_no_dest = client.send_batch(&views[..1], None);
    assert_eq!(unconnected_no_dest.sent, 0);
    assert!(unconnected_no_dest.error.is_some());
}

#[test]
fn port_unreachable_lands_in_the_error_queue_with_our_datagram() {
    let closed_port = open(V4).local_addr().unwrap();
    // The socket above is dropped: nothing listens there now.
    let client = open(V4);
    client.send_to(b"PLPMTUD-probe-nonce", closed_port).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let entry = loop {
        if let Some(entry) = client.read_error().unwrap() {
            break entry;
        }
        assert!(Instant::now() < deadline, "no error queued");
        std::thread::sleep(Duration::from_millis(1));
    };
    let err = entry.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Unrelated);
    assert_eq!(err.errno, libc::ECONNREFUSED as u32);
    assert_eq!(entry.dest, Some(closed_port));
    assert_eq!(entry.quoted, b"PLPMTUD-probe-nonce");
    assert_eq!(client.read_error().unwrap(), None);
}

/// Drives `endpoint` from a thread as the BEAM's poll set does in the NIF:
/// waits for input while an active mode wants it, for errors always, and
/// hands what is read to `sink`, until the endpoint closes or `sink` is gone.
fn drive<F>(endpoint: Arc<Endpoint>, mut sink: F)
where
    F: FnMut(Delivery<'_>) -> bool + Send + 'static,
{
    std::thread::spawn(move || {
        let mut batch = RecvBatch::new(8, 2048);
        while let Ok(socket) = endpoint.socket() {
            let events = if endpoint.wants_input() {
                libc::POLLIN
            } else {
                0
            };
            let mut fd = libc::pollfd {
                fd: socket.raw_fd(),
                events,
                revents: 0,
            };
            drop(socket);
            // SAFETY: one live pollfd.
            unsafe { libc::poll(&mut fd, 1, 20) };
            if fd.revents & libc::POLLERR != 0 && !endpoint.drain_errors(&mut sink) {
                return;
            }
            if fd.revents & libc::POLLIN == 0 {
                continue;
            }
            let Ok(got) = endpoint.receive(&mut batch, usize::MAX) else {
                return;
            };
            for i in 0..got.count {
                let (from, data) = batch.get(i).unwrap();
                let from = from.unwrap();
                if !sink(Delivery::Datagram { from, data }) {
                    return;
                }
            }
            if got.went_passive && !sink(Delivery::Passive) {
                return;
            }
        }
    });
}

/// An endpoint whose reader forwards datagrams (as their first byte) and
/// passive markers (as `None`) to a channel.
fn endpoint_with_reader(active: Active) -> (Arc<Endpoint>, SocketAddr, mpsc::Receiver<Option<u8>>) {
    let endpoint = Arc::new(Endpoint::new(open(V4), active, true));
    let addr = endpoint.socket().unwrap().local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    drive(Arc::clone(&endpoint), move |d| match d {
        Delivery::Datagram { data, .. } => tx.send(Some(data[0])).is_ok(),
        Delivery::Passive => tx.send(None).is_ok(),
        Delivery::PacketTooBig { .. } | Delivery::IcmpError { .. } => true,
    });
    (endpoint, addr, rx)
}

fn send_numbers(to: SocketAddr, numbers: std::ops::Range<u8>) {
    let client = open(V4);
    for i in numbers {
        client.send_to(&[i], to).unwrap();
    }
}

const WAIT: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(100);

/// An ICMP error that is no Packet-Too-Big (port unreachable) is counted
/// and dropped by the reader; the socket refuses a passive recv while active.
#[test]
fn errors_other_than_ptb_are_delivered_in_active_modes() {
    let endpoint = Arc::new(Endpoint::new(open(V4), Active::On, true));
    let (tx, rx) = mpsc::channel();
    drive(Arc::clone(&endpoint), move |d| match d {
        Delivery::IcmpError { errno, .. } => tx.send(errno).is_ok(),
        _ => true,
    });
    let closed_port = open(V4).local_addr().unwrap();
    let socket = endpoint.socket().unwrap();
    socket.send_to(b"PLPMTUD-probe-nonce", closed_port).unwrap();
    assert_eq!(rx.recv_timeout(WAIT), Ok(libc::ECONNREFUSED));
    assert_eq!(
        endpoint.counters().1,
        1,
        "the port unreachable was delivered"
    );
    assert_eq!(endpoint.counters().2, 0, "nothing was dropped");
    assert_eq!(
        endpoint.recv(&mut [0u8; 16], Some(0), |_| true),
        Err(SocketError::Os(libc::EINVAL)),
        "recv on an active socket is EINVAL, as gen_udp's"
    );
}

#[test]
fn errors_other_than_ptb_are_counted_not_delivered_when_passive() {
    let (endpoint, _addr, rx) = endpoint_with_reader(Active::Off);
    let closed_port = open(V4).local_addr().unwrap();
    let socket = endpoint.socket().unwrap();
    socket.send_to(b"PLPMTUD-probe-nonce", closed_port).unwrap();
    let started = std::time::Instant::now();
    while endpoint.counters().2 == 0 && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(endpoint.counters().1, 0, "nothing was delivered");
    assert_eq!(endpoint.counters().2, 1, "the port unreachable was counted");
    assert!(rx.recv_timeout(QUIET).is_err());
}

#[test]
fn active_on_delivers_everything() {
    let (endpoint, addr, rx) = endpoint_with_reader(Active::On);
    send_numbers(addr, 0..50);
    for i in 0..50 {
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), Some(i));
    }
    assert_eq!(endpoint.counters().0, 50);
}

#[test]
fn active_once_delivers_one_then_waits_to_be_rearmed() {
    let (endpoint, addr, rx) = endpoint_with_reader(Active::Once);
    send_numbers(addr, 0..3);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Some(0));
    assert!(rx.recv_timeout(QUIET).is_err());
    assert_eq!(endpoint.active(), Active::Off);
    endpoint.set_active(Active::Once).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Some(1));
    assert!(rx.recv_timeout(QUIET).is_err());
}

#[test]
fn active_count_delivers_n_then_turns_passive() {
    let (endpoint, addr, rx) = endpoint_with_reader(Active::Count(3));
    send_numbers(addr, 0..5);
    for i in 0..3 {
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), Some(i));
    }
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), None, "passive marker");
    assert!(rx.recv_timeout(QUIET).is_err());
    let mut buf = [0u8; 16];
    let (n, _) = endpoint.recv(&mut buf, Some(1000), |_| true).unwrap();
    assert_eq!((n, buf[0]), (1, 3), "the rest waits for a passive recv");
}

#[test]
fn passive_recv_times_out_and_close_wakes_a_waiting_recv() {
    let endpoint = Arc::new(Endpoint::new(open(V4), Active::Off, true));
    let mut buf = [0u8; 16];
    let started = Instant::now();
    assert_eq!(
        endpoint.recv(&mut buf, Some(50), |_| true).unwrap_err(),
        SocketError::WouldBlock
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    let waiter = Arc::clone(&endpoint);
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        waiter.recv(&mut buf, None, |_| true)
    });
    std::thread::sleep(Duration::from_millis(50));
    let closing = Instant::now();
    endpoint.close();
    assert_eq!(handle.join().unwrap().unwrap_err(), SocketError::Closed);
    assert!(closing.elapsed() < Duration::from_secs(1));
    assert!(endpoint.is_closed());
    assert_eq!(endpoint.socket().unwrap_err(), SocketError::Closed);
    assert_eq!(
        endpoint.set_active(Active::On).unwrap_err(),
        SocketError::Closed
    );
}

#[test]
fn close_stops_the_reader_and_releases_the_port() {
    let (endpoint, addr, rx) = endpoint_with_reader(Active::On);
    endpoint.close();
    endpoint.close();
    assert!(
        rx.recv_timeout(WAIT).is_err(),
        "the reader is gone and dropped its sink"
    );
    let rebound = DfSocket::open(&OpenOptions::bind(addr));
    assert!(rebound.is_ok(), "the port is free again: {rebound:?}");
}

#[test]
fn attach_sets_df_on_a_foreign_socket_without_closing_it() {
    let owner = std::net::UdpSocket::bind(V4).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&owner);
    {
        // SAFETY: `owner` keeps the fd open for the whole block.
        let attached = unsafe { DfSocket::attach(fd) }.unwrap();
        assert!(!attached.owns_fd());
        attached.set_df(DfPolicy::Do).unwrap();
        assert_eq!(attached.df().unwrap(), DfPolicy::Do);
    }
    let server = open(V4);
    owner
        .send_to(b"still open", server.local_addr().unwrap())
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = recv(&server, &mut buf);
    assert_eq!(&buf[..n], b"still open");
}

#[test]
fn equal_sized_batches_go_out_with_gso_and_arrive_as_separate_datagrams() {
    let server = open(V4);
    let addr = server.local_addr().unwrap();
    let client = open_connected(V4, addr);
    assert!(client.gso_enabled());
    let full: Vec<Vec<u8>> = (0..60u8).map(|i| vec![i; 1200]).collect();
    let mut views: Vec<&[u8]> = full.iter().map(|d| d.as_slice()).collect();
    let tail = vec![99u8; 500];
    views.push(&tail);
    let outcome = client.send_batch(&views, None);
    assert_eq!(
        outcome,
        plpmtud_udp::BatchOutcome {
            sent: 61,
            error: None
        }
    );
    assert!(client.gso_enabled(), "the kernel took the GSO sends");
    let mut buf = [0u8; 2048];
    for i in 0..60u8 {
        let (n, _) = recv(&server, &mut buf);
        assert_eq!((n, buf[0]), (1200, i));
    }
    let (n, _) = recv(&server, &mut buf);
    assert_eq!((n, buf[0]), (500, 99));
}
