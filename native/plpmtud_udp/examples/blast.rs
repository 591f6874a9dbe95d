//! Floods a UDP port on loopback with 1200-byte datagrams (UDP GSO batches
//! of 32, or `sendmmsg` where GSO is missing) for a while: the sender of
//! `bench/recv_rate.exs`.
//!
//!     cargo run --release -p plpmtud_udp --example blast -- PORT MILLISECONDS [SIZE]
//!
//! Prints the number of datagrams the kernel accepted.

use plpmtud_udp::{DfPolicy, DfSocket, OpenOptions};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(port), Some(ms)) = (
        args.get(1).and_then(|a| a.parse::<u16>().ok()),
        args.get(2).and_then(|a| a.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: blast PORT MILLISECONDS [SIZE]");
        std::process::exit(2);
    };
    let size = args
        .get(3)
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(1200);
    let peer = SocketAddr::from(([127, 0, 0, 1], port));
    let mut options = OpenOptions::bind(SocketAddr::from(([127, 0, 0, 1], 0)));
    options.connect = Some(peer);
    options.df = DfPolicy::Dont;
    options.recv_errors = false;
    let socket = match DfSocket::open(&options) {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("blast: {e}");
            std::process::exit(1);
        }
    };
    let payload = vec![0x5au8; size];
    let batch: Vec<&[u8]> = vec![payload.as_slice(); 32];
    let deadline = Instant::now() + Duration::from_millis(ms);
    let mut sent = 0u64;
    while Instant::now() < deadline {
        let outcome = socket.send_batch(&batch, None);
        sent += outcome.sent as u64;
        if outcome.sent == 0 {
            // A full send buffer, or nobody listening yet.
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    println!("{sent}");
}
