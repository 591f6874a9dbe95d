//! DF-off sends racing each other, normal sends and policy readers on one
//! socket: nobody ever sees DF off, and the policy `set_df` chose stays.

use plpmtud_udp::{DfPolicy, DfSocket, OpenOptions, SocketError};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const CALLS: usize = 20_000;

fn sink() -> (UdpSocket, SocketAddr) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sink.local_addr().unwrap();
    (sink, addr)
}

fn open(peer: Option<SocketAddr>) -> DfSocket {
    let options = OpenOptions {
        connect: peer,
        ..OpenOptions::bind("127.0.0.1:0".parse().unwrap())
    };
    DfSocket::open(&options).unwrap()
}

/// Runs 3 DF-off senders (`fragmentable`, on their own handles), a normal
/// sender and a policy reader on `reader` until the senders are done:
/// returns how often the reader saw a policy other than `Probe`, and reads.
fn race(
    reader: Arc<DfSocket>,
    fragmentable: Vec<Arc<DfSocket>>,
    dest: Option<SocketAddr>,
) -> (u64, u64) {
    let done = Arc::new(AtomicBool::new(false));
    let (wrong, reads) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let observer = {
        let (reader, done, wrong, reads) =
            (reader.clone(), done.clone(), wrong.clone(), reads.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if reader.df().unwrap() != DfPolicy::Probe {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let normal = {
        let (socket, done) = (reader.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let sent = match dest {
                    Some(dest) => socket.send_to(&[1; 100], dest),
                    None => socket.send(&[1; 100]),
                };
                assert!(
                    matches!(sent, Ok(100) | Err(SocketError::WouldBlock)),
                    "{sent:?}"
                );
            }
        })
    };
    let senders: Vec<_> = fragmentable
        .into_iter()
        .map(|socket| {
            std::thread::spawn(move || {
                for _ in 0..CALLS {
                    let sent = socket.send_fragmentable(&[2; 100], dest);
                    assert!(
                        matches!(sent, Ok(100) | Err(SocketError::WouldBlock)),
                        "{sent:?}"
                    );
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    observer.join().unwrap();
    normal.join().unwrap();
    (wrong.load(Ordering::Relaxed), reads.load(Ordering::Relaxed))
}

#[test]
fn concurrent_fragmentable_sends_never_leave_or_show_df_off() {
    let (_sink, addr) = sink();
    let socket = Arc::new(open(Some(addr)));
    socket.set_df(DfPolicy::Probe).unwrap();
    let (wrong, reads) = race(socket.clone(), vec![socket.clone(); 3], None);
    assert_eq!(
        socket.df().unwrap(),
        DfPolicy::Probe,
        "the policy set_df chose"
    );
    assert_eq!(wrong, 0, "reads that saw DF off, of {reads}");
    assert!(reads > 0);
}

#[test]
fn unconnected_fragmentable_sends_to_a_destination_race_the_same_way() {
    let (_sink, addr) = sink();
    let socket = Arc::new(open(None));
    let (wrong, reads) = race(socket.clone(), vec![socket.clone(); 3], Some(addr));
    assert_eq!(socket.df().unwrap(), DfPolicy::Probe);
    assert_eq!(wrong, 0, "reads that saw DF off, of {reads}");
}

#[test]
fn handles_attached_to_one_kernel_socket_share_its_df_lock() {
    let (_sink, addr) = sink();
    let owner = Arc::new(open(Some(addr)));
    // SAFETY: `owner` keeps the fd open for as long as the attached handles live.
    let attached = || Arc::new(unsafe { DfSocket::attach(owner.raw_fd()) }.unwrap());
    let duplicate = Arc::new(DfSocket::attach_dup(owner.raw_fd()).unwrap());
    let (wrong, reads) = race(owner.clone(), vec![attached(), attached(), duplicate], None);
    assert_eq!(owner.df().unwrap(), DfPolicy::Probe);
    assert_eq!(wrong, 0, "reads that saw DF off, of {reads}");
}

#[test]
fn the_restored_policy_is_the_one_set_not_one_read_mid_send() {
    let (_sink, addr) = sink();
    let socket = open(Some(addr));
    socket.set_df(DfPolicy::Do).unwrap();
    socket.send_fragmentable(&[0; 10], None).unwrap();
    assert_eq!(socket.df().unwrap(), DfPolicy::Do);
    // A first DF-off send on an attached fd takes the kernel's policy.
    let other = open(Some(addr));
    let fd = other.raw_fd();
    // SAFETY: `other` keeps `fd` open while `attached` lives.
    let attached = unsafe { DfSocket::attach(fd) }.unwrap();
    attached.send_fragmentable(&[0; 10], None).unwrap();
    assert_eq!(other.df().unwrap(), DfPolicy::Probe);
}

#[test]
fn the_df_lock_table_stays_bounded_as_sockets_come_and_go() {
    for _ in 0..2_000 {
        let socket = open(None);
        // SAFETY: `socket` outlives the attached handle.
        drop(unsafe { DfSocket::attach(socket.raw_fd()) }.unwrap());
    }
    // Other tests of this binary run sockets in parallel: a few hundred at most.
    assert!(
        plpmtud_udp::df_guard_table_len() <= 1_000,
        "{} entries after 2 000 sockets",
        plpmtud_udp::df_guard_table_len()
    );
}

#[test]
fn per_destination_path_mtu_works_on_an_unconnected_socket() {
    let socket = open(None);
    let (_sink, addr) = sink();
    let mtu = socket.path_mtu_to(addr).unwrap();
    assert!(mtu >= 1_280, "{mtu}");
    assert!(socket.path_mtu().is_err(), "not connected");
    let std_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    // SAFETY: `std_socket` outlives `attached`.
    let attached = unsafe { DfSocket::attach(std_socket.as_raw_fd()) }.unwrap();
    assert_eq!(attached.path_mtu_to(addr).unwrap(), mtu);
}
