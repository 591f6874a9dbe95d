//! What the DF lock costs a send, and how long a DF-off send keeps the
//! socket at `Dont`, outside the BEAM: 1200-byte datagrams to a loopback
//! sink, in interleaved rounds of `COUNT` sends each.
//!
//! `cargo run --release -p plpmtud_udp --example df_cost [COUNT] [ROUNDS]`
//!
//! Prints the median ns per call of `DfSocket::send` (holds the lock
//! shared), a bare `send(2)` on the same fd (no lock), and
//! `DfSocket::send_fragmentable` (the time DF is off is at most this: two
//! `setsockopt` calls and the send).

use plpmtud_udp::{DfSocket, OpenOptions};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    let count = args.next().flatten().unwrap_or(100_000);
    let rounds = args.next().flatten().unwrap_or(9);
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let options = OpenOptions {
        connect: Some(sink.local_addr().unwrap()),
        ..OpenOptions::bind("127.0.0.1:0".parse().unwrap())
    };
    let socket = DfSocket::open(&options).unwrap();
    let fd = socket.raw_fd();
    let payload = vec![0u8; 1200];
    let bare = || {
        // SAFETY: a send from a live buffer on our open fd.
        unsafe {
            libc::send(
                fd,
                payload.as_ptr().cast(),
                payload.len(),
                libc::MSG_DONTWAIT,
            )
        };
    };
    let locked = || {
        let _ = socket.send(&payload);
    };
    let fragmentable = || {
        let _ = socket.send_fragmentable(&payload, None);
    };
    let methods: [(&str, &dyn Fn()); 3] = [
        ("bare send(2), no lock", &bare),
        ("DfSocket::send (DF lock shared)", &locked),
        (
            "DfSocket::send_fragmentable (DF off for the call)",
            &fragmentable,
        ),
    ];
    let mut times = vec![Vec::new(); methods.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in methods.iter().enumerate() {
            let started = Instant::now();
            for _ in 0..count {
                f();
            }
            times[i].push(started.elapsed().as_nanos() as f64 / count as f64);
        }
    }
    let base = median(times[0].clone());
    for ((name, _), t) in methods.iter().zip(times) {
        let m = median(t);
        println!("{name}: {m:.0} ns/call, {:.3}x bare", m / base);
    }
}
