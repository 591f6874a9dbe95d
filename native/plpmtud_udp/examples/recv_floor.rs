//! The plain-Rust floor of receiving on loopback: a `recvmmsg` loop of 32
//! (busy, non-blocking, with `poll` when empty) on a socket flooded by the
//! `blast` example, outside the BEAM.
//!
//!     cargo run --release -p plpmtud_udp --example recv_floor -- MILLISECONDS [RECBUF]
//!
//! Prints `PORT` first (for the sender), then `datagrams/s datagrams-per-CPU-second`.

use plpmtud_udp::{DfPolicy, DfSocket, OpenOptions, RecvBatch};
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn cpu_ns() -> u128 {
    // SAFETY: all-zero is a valid rusage, which getrusage fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is live and writable.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as u128 * 1_000_000_000 + tv.tv_usec as u128 * 1_000;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ms: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let recbuf: Option<usize> = args.get(2).and_then(|a| a.parse().ok());
    let mut options = OpenOptions::bind(SocketAddr::from(([127, 0, 0, 1], 0)));
    options.df = DfPolicy::Dont;
    options.recv_buffer = recbuf;
    let Ok(socket) = DfSocket::open(&options) else {
        eprintln!("recv_floor: cannot open");
        std::process::exit(1);
    };
    let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    println!("{port}");
    let _ = std::io::stdout().flush();
    let mut batch = RecvBatch::new(32, 65_536);
    // Wait for the flood, then count for `ms`.
    let mut fd = libc::pollfd {
        fd: socket.raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    unsafe { libc::poll(&mut fd, 1, 10_000) };
    std::thread::sleep(Duration::from_millis(300));
    let (t0, c0) = (Instant::now(), cpu_ns());
    let mut n = 0u64;
    while t0.elapsed() < Duration::from_millis(ms) {
        match batch.recv(socket.raw_fd(), 32) {
            Ok(got) => n += got as u64,
            Err(_) => {
                // SAFETY: one live pollfd.
                unsafe { libc::poll(&mut fd, 1, 100) };
            }
        }
    }
    let (elapsed, cpu) = (t0.elapsed(), cpu_ns() - c0);
    println!(
        "{} {}",
        n as f64 / elapsed.as_secs_f64(),
        n as f64 * 1e9 / cpu.max(1) as f64
    );
}
