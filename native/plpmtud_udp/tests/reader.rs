//! The reader on loopback, with a host that records what it was asked to
//! do: deliveries, readiness requests, wake-ups and the close.

use plpmtud_udp::endpoint::{Active, Delivery, Endpoint};
use plpmtud_udp::reader::{
    Budget, Costs, HandOverError, Host, Interest, Poll, Reader, StartError, Wake,
};
use plpmtud_udp::{DfSocket, OpenOptions, RecvBatch, SocketError};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

/// Processes are numbers: the owner 1, the reader 2, waiters from 10.
type Pid = u32;
const OWNER: Pid = 1;
const READER: Pid = 2;

const COSTS: Costs = Costs {
    message: 100,
    item: 10,
    report: 200,
};

/// The default's datagram budget and time enough for a debug build (the
/// first poll on a thread also allocates its receive buffers).
const ROOMY: Budget = Budget {
    datagrams: 128,
    time: Duration::from_secs(1),
};

#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Datagram(Pid, Vec<u8>),
    Batch(Pid, usize),
    Passive(Pid),
    Report(Pid),
}

#[derive(Default)]
struct Recorder {
    sent: Vec<Sent>,
    armed: Vec<(Pid, Interest)>,
    woken: Vec<Pid>,
    dead: HashSet<Pid>,
    refuse_arm: bool,
    closed: Option<Option<Pid>>,
}

impl Host<Pid> for Recorder {
    fn deliver(&mut self, owner: &Pid, delivery: &Delivery<'_>) {
        self.sent.push(match delivery {
            Delivery::Datagram { data, .. } => Sent::Datagram(*owner, data.to_vec()),
            Delivery::Passive => Sent::Passive(*owner),
            _ => Sent::Report(*owner),
        });
    }

    fn deliver_batch(&mut self, owner: &Pid, batch: &RecvBatch) {
        self.sent.push(Sent::Batch(*owner, batch.len()));
    }

    fn arm(&mut self, reader: &Pid, interest: Interest) -> bool {
        self.armed.push((*reader, interest));
        !self.refuse_arm
    }

    fn wake(&mut self, waiter: &Pid) -> bool {
        if self.dead.contains(waiter) {
            return false;
        }
        self.woken.push(*waiter);
        true
    }

    fn is_alive(&self, process: &Pid) -> bool {
        !self.dead.contains(process)
    }

    fn closed(&mut self, reader: Option<&Pid>) {
        self.closed = Some(reader.copied());
    }
}

/// A started reader over a loopback socket in `active` mode, and a peer
/// that sends to it.
fn reader(active: Active, batch: bool) -> (Reader<Pid, ()>, DfSocket, SocketAddr, Recorder) {
    let options = OpenOptions::bind("127.0.0.1:0".parse().unwrap());
    let socket = DfSocket::open(&options).unwrap();
    let addr = socket.local_addr().unwrap();
    let peer = DfSocket::open(&options).unwrap();
    let reader = Reader::new(Endpoint::new(socket, active, true), OWNER, batch, COSTS);
    let mut host = Recorder::default();
    assert_eq!(reader.start(READER, |_| true, &mut host), Ok(()));
    (reader, peer, addr, host)
}

fn send(peer: &DfSocket, to: SocketAddr, n: usize) {
    for i in 0..n {
        peer.send_to(&[i as u8; 10], to).unwrap();
    }
    // Loopback delivery runs in a softirq; give it a moment on a busy machine.
    std::thread::sleep(Duration::from_millis(20));
}

fn datagrams(host: &Recorder) -> usize {
    host.sent
        .iter()
        .filter(|s| matches!(s, Sent::Datagram(..)))
        .count()
}

#[test]
fn start_asks_for_errors_and_input_and_refuses_a_second_reader() {
    let (reader, _peer, _addr, mut host) = reader(Active::On, false);
    assert_eq!(
        host.armed,
        [(READER, Interest::Error), (READER, Interest::Input)]
    );
    assert_eq!(
        reader.start(3, |_| true, &mut host),
        Err(StartError::Started)
    );
    assert_eq!(reader.reader(), Some(READER));
}

#[test]
fn a_refused_descriptor_or_a_dead_reader_closes_the_socket() {
    let options = OpenOptions::bind("127.0.0.1:0".parse().unwrap());
    let mut host = Recorder {
        refuse_arm: true,
        ..Recorder::default()
    };
    let endpoint = Endpoint::new(DfSocket::open(&options).unwrap(), Active::On, true);
    let refused: Reader<Pid, ()> = Reader::new(endpoint, OWNER, false, COSTS);
    assert_eq!(
        refused.start(READER, |_| true, &mut host),
        Err(StartError::Refused)
    );
    assert!(refused.endpoint().is_closed());
    assert_eq!(host.closed, Some(Some(READER)));

    let mut host = Recorder::default();
    let endpoint = Endpoint::new(DfSocket::open(&options).unwrap(), Active::On, true);
    let dead: Reader<Pid, ()> = Reader::new(endpoint, OWNER, false, COSTS);
    assert_eq!(
        dead.start(READER, |_| false, &mut host),
        Err(StartError::Closed)
    );
    assert!(dead.endpoint().is_closed());
    assert_eq!(
        dead.start(READER, |_| true, &mut host),
        Err(StartError::Closed)
    );
}

#[test]
fn an_active_socket_delivers_each_datagram_to_the_owner_and_asks_again() {
    let (reader, peer, addr, mut host) = reader(Active::On, false);
    host.armed.clear();
    send(&peer, addr, 5);
    assert_eq!(reader.poll(Wake::Input, ROOMY, &mut host), Poll::Done);
    assert_eq!(datagrams(&host), 5);
    assert_eq!(host.sent[0], Sent::Datagram(OWNER, vec![0; 10]));
    assert_eq!(host.armed, [(READER, Interest::Input)]);
    assert_eq!(reader.endpoint().backlog().outstanding(), 5 * (100 + 10));
}

#[test]
fn the_budget_stops_a_poll_with_more_queued_and_nothing_armed() {
    let (reader, peer, addr, mut host) = reader(Active::On, false);
    host.armed.clear();
    send(&peer, addr, 10);
    let budget = Budget {
        datagrams: 4,
        time: Duration::from_secs(1),
    };
    assert_eq!(
        reader.poll(Wake::Input, budget, &mut host),
        Poll::More(OWNER)
    );
    assert_eq!(datagrams(&host), 4);
    assert!(host.armed.is_empty());
    assert_eq!(
        reader.poll(Wake::Input, budget, &mut host),
        Poll::More(OWNER)
    );
    assert_eq!(reader.poll(Wake::Input, budget, &mut host), Poll::Done);
    assert_eq!(datagrams(&host), 10);
    assert_eq!(host.armed, [(READER, Interest::Input)]);
}

#[test]
fn a_full_backlog_stops_delivery_until_the_owner_catches_up() {
    let (reader, peer, addr, mut host) = reader(Active::On, false);
    // Room for two datagrams' messages (110 bytes each), then none.
    reader.endpoint().backlog().set_limit(220);
    send(&peer, addr, 5);
    assert_eq!(
        reader.poll(Wake::Input, ROOMY, &mut host),
        Poll::Full(OWNER)
    );
    assert_eq!(datagrams(&host), 2);
    assert_eq!(
        reader.poll(Wake::Input, ROOMY, &mut host),
        Poll::Paused(OWNER)
    );
    // Another process's queue says nothing about the owner's.
    let elsewhere = Wake::Resume {
        owner: 9,
        queue_len: 0,
    };
    assert_eq!(
        reader.poll(elsewhere, ROOMY, &mut host),
        Poll::Paused(OWNER)
    );
    let caught_up = Wake::Resume {
        owner: OWNER,
        queue_len: 0,
    };
    assert_eq!(reader.poll(caught_up, ROOMY, &mut host), Poll::Full(OWNER));
    assert_eq!(datagrams(&host), 4);
}

#[test]
fn a_count_runs_out_with_a_passive_notice_and_batches_are_one_message() {
    let (reader, peer, addr, mut host) = reader(Active::Count(3), true);
    send(&peer, addr, 5);
    assert_eq!(reader.poll(Wake::Input, ROOMY, &mut host), Poll::Done);
    assert_eq!(host.sent, [Sent::Batch(OWNER, 3), Sent::Passive(OWNER)]);
    assert_eq!(reader.endpoint().active(), Active::Off);
    assert_eq!(
        reader.endpoint().backlog().outstanding(),
        (100 + 3 * (10 + 10)) + 100
    );
}

#[test]
fn passive_input_wakes_one_live_waiter_and_asks_again_while_others_wait() {
    let (reader, peer, addr, mut host) = reader(Active::Off, false);
    host.armed.clear();
    assert_eq!(reader.wait(10, &mut host), Ok(()));
    assert_eq!(reader.wait(11, &mut host), Ok(()));
    assert_eq!(reader.wait(12, &mut host), Ok(()));
    reader.cancel_wait(&11);
    host.dead.insert(10);
    assert_eq!(host.armed.len(), 3);
    send(&peer, addr, 1);
    assert_eq!(reader.poll(Wake::Input, ROOMY, &mut host), Poll::Done);
    // 10 is dead and 11 cancelled: 12 is woken, nobody is left, nothing armed.
    assert_eq!(host.woken, [12]);
    assert_eq!(host.armed.len(), 3);
    assert!(host.sent.is_empty());
    assert_eq!(reader.waiting(), 0);
}

#[test]
fn waiting_is_refused_on_active_or_closed_sockets_and_activation_wakes_waiters() {
    let (active, _peer, _addr, mut host) = reader(Active::On, false);
    assert_eq!(
        active.wait(10, &mut host),
        Err(SocketError::Os(libc::EINVAL))
    );

    let (reader, _peer, _addr, mut host) = reader(Active::Off, false);
    assert_eq!(reader.wait(10, &mut host), Ok(()));
    assert_eq!(reader.set_active(Active::Once, &mut host), Ok(()));
    assert_eq!(host.woken, [10]);
    assert_eq!(host.armed.last(), Some(&(READER, Interest::Input)));
    reader.close(&mut host);
    assert_eq!(reader.wait(11, &mut host), Err(SocketError::Closed));
}

#[test]
fn close_stops_the_reader_wakes_waiters_once_and_polls_answer_closed() {
    let (reader, _peer, _addr, mut host) = reader(Active::Off, false);
    reader.wait(10, &mut host).unwrap();
    assert!(reader.close(&mut host));
    assert!(!reader.close(&mut host));
    assert_eq!(host.closed, Some(Some(READER)));
    assert_eq!(host.woken, [10]);
    assert_eq!(reader.reader(), None);
    assert_eq!(reader.poll(Wake::Input, ROOMY, &mut host), Poll::Closed);
}

#[test]
fn only_the_owner_hands_over_to_a_live_process_and_the_backlog_starts_afresh() {
    let (reader, _peer, _addr, _host) = reader(Active::On, false);
    reader.set_owner_monitor(Some(()));
    reader.endpoint().backlog().charge(1000);
    assert!(reader.is_party(&OWNER) && reader.is_party(&READER) && !reader.is_party(&5));
    let mut dropped = 0;
    assert_eq!(
        reader.hand_over(&5, 6, |_| Some(()), |()| dropped += 1),
        Err(HandOverError::NotOwner)
    );
    assert_eq!(
        reader.hand_over(&OWNER, 6, |_| None, |()| dropped += 1),
        Err(HandOverError::Dead)
    );
    assert_eq!(reader.owner(), OWNER);
    assert_eq!(reader.endpoint().backlog().outstanding(), 1000);
    assert_eq!(
        reader.hand_over(&OWNER, 6, |_| Some(()), |()| dropped += 1),
        Ok(Some(READER))
    );
    assert_eq!((reader.owner(), dropped), (6, 1));
    assert_eq!(reader.endpoint().backlog().outstanding(), 0);
    assert!(!reader.is_party(&OWNER));
    assert_eq!(reader.take_owner_monitor(), Some(()));
}

/// A port nothing listens on, reached from `peer`'s reader: its port
/// unreachable lands in the reader socket's error queue.
fn provoke_port_unreachable(reader: &Reader<Pid, ()>) {
    let closed = DfSocket::open(&OpenOptions::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap()
        .local_addr()
        .unwrap();
    let socket = reader.endpoint().socket().unwrap();
    socket.send_to(b"to nobody", closed).unwrap();
    std::thread::sleep(Duration::from_millis(20));
}

#[test]
fn icmp_errors_go_first_and_wait_in_the_report_table_while_the_owner_has_no_room() {
    let (reader, _peer, _addr, mut host) = reader(Active::On, false);
    host.armed.clear();
    provoke_port_unreachable(&reader);
    assert_eq!(reader.poll(Wake::Error, ROOMY, &mut host), Poll::Done);
    assert_eq!(host.sent, [Sent::Report(OWNER)]);
    assert_eq!(host.armed, [(READER, Interest::Error)]);
    // An ICMP error other than a Packet-Too-Big costs its fixed share.
    assert_eq!(reader.endpoint().backlog().outstanding(), 200);

    // No room: the report waits, and the next notice after a resume
    // delivers it before any datagram.
    reader.endpoint().backlog().set_limit(200);
    provoke_port_unreachable(&reader);
    assert_eq!(
        reader.poll(Wake::Error, ROOMY, &mut host),
        Poll::Paused(OWNER)
    );
    assert_eq!(host.sent.len(), 1);
    let resume = Wake::Resume {
        owner: OWNER,
        queue_len: 0,
    };
    // Delivered, and the backlog is full again at once.
    assert_eq!(reader.poll(resume, ROOMY, &mut host), Poll::Full(OWNER));
    assert_eq!(host.sent, [Sent::Report(OWNER), Sent::Report(OWNER)]);
}

#[test]
fn passive_sockets_drop_icmp_errors_other_than_packet_too_big() {
    let (reader, _peer, _addr, mut host) = reader(Active::Off, false);
    provoke_port_unreachable(&reader);
    assert_eq!(reader.poll(Wake::Error, ROOMY, &mut host), Poll::Done);
    assert!(host.sent.is_empty());
    assert_eq!(reader.endpoint().stats().errors_dropped, 1);
}
