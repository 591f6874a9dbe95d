//! The kernel's floor for batched UDP sends, outside the BEAM: a connected
//! socket sending `COUNT` 1200-byte datagrams to a loopback sink with
//! `sendmmsg` in batches of 32. Prints datagrams per second.
//!
//! `cargo run --release -p plpmtud_udp --example sendmmsg_floor [COUNT] [gso]`
//!
//! With `gso`, the 32 datagrams go as one UDP GSO send instead.

use plpmtud_udp::{DfSocket, OpenOptions};
use std::time::Instant;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let sink = DfSocket::open(&OpenOptions::bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let options = OpenOptions {
        connect: Some(sink.local_addr().unwrap()),
        ..OpenOptions::bind("127.0.0.1:0".parse().unwrap())
    };
    let sender = DfSocket::open(&options).unwrap();
    sender.set_gso(std::env::args().nth(2).as_deref() == Some("gso"));
    let payload = vec![0u8; 1200];
    let batch: Vec<&[u8]> = vec![&payload[..]; 32];
    let started = Instant::now();
    let mut sent = 0;
    while sent < count {
        let outcome = sender.send_batch(&batch, None);
        sent += outcome.sent;
        if outcome.sent == 0 {
            std::thread::yield_now();
        }
    }
    let per_second = sent as f64 / started.elapsed().as_secs_f64();
    println!("{per_second:.0}");
}
