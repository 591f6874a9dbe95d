//! A socket with gen_udp's active modes (`active: true | :once | n | false`)
//! and no thread of its own: whoever watches the socket's readiness (the
//! BEAM's poll set through `enif_select`, or a `poll` loop) calls
//! [`Endpoint::receive`] when it is readable and [`Endpoint::drain_errors`]
//! when its error queue is; the endpoint keeps the active mode, its counts
//! and the counters. A blocking [`Endpoint::recv`] serves passive use, and
//! [`Endpoint::close`] wakes it.
//!
//! One descriptor per socket: no pipes, no reader thread.
//!
//! Error-queue entries wait in a [`Reports`] table of fixed size until the
//! owner has room for them (see [`Backlog`]); the watcher delivers them
//! with [`Endpoint::flush_reports`].

use super::backlog::{Backlog, Report, Reports};
use super::{DfSocket, ErrorEntry, RecvBatch, SocketError};
use parking_lot::{Mutex, MutexGuard, RwLock};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Error-queue entries taken per call of [`Endpoint::drain_errors`].
const ERROR_BURST: usize = 64;

/// The default bound on bytes of messages the owner has not taken (4 MiB).
pub const DEFAULT_BACKLOG: usize = 4 << 20;

/// How received datagrams reach the owner (gen_udp's `active` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Active {
    /// Not delivered: use [`Endpoint::recv`].
    #[default]
    Off,
    /// Deliver one, then `Off`.
    Once,
    /// Deliver this many, then `Off` and [`Delivery::Passive`].
    Count(u32),
    /// Deliver all.
    On,
}

impl Active {
    /// The mode after `n` deliveries (at most [`Active::quota`]), and
    /// whether it just turned passive from a count.
    fn after_deliveries(self, n: usize) -> (Active, bool) {
        if n == 0 {
            return (self, false);
        }
        match self {
            Active::Once => (Active::Off, false),
            Active::Count(c) if c as usize <= n => (Active::Off, true),
            Active::Count(c) => (Active::Count(c - n as u32), false),
            other => (other, false),
        }
    }

    /// How many datagrams may be delivered now.
    pub fn quota(self) -> usize {
        match self {
            Active::Off => 0,
            Active::Once => 1,
            Active::Count(n) => n as usize,
            Active::On => usize::MAX,
        }
    }
}

/// What the reader hands to its sink.
#[derive(Debug)]
pub enum Delivery<'a> {
    /// A datagram.
    Datagram {
        /// Its source.
        from: SocketAddr,
        /// Its payload.
        data: &'a [u8],
    },
    /// An ICMP Packet-Too-Big (or Fragmentation Needed) from the error
    /// queue, delivered whatever the active mode (the latest per
    /// destination while the owner has no room). Other ICMP errors are
    /// [`Delivery::IcmpError`] in active modes; in passive mode, and for
    /// local errors, they are counted ([`ReaderCounters::errors_dropped`])
    /// and not delivered.
    PacketTooBig {
        /// The MTU it reports.
        mtu: u32,
        /// The router that sent it, when known.
        offender: Option<IpAddr>,
        /// The error-queue entry (destination and quoted bytes).
        entry: &'a ErrorEntry,
    },
    /// An ICMP error that is not a Packet-Too-Big (port unreachable, ...),
    /// delivered in active modes only, like gen_udp's `udp_error`; it does
    /// not count against `Active::Once` or `Active::Count`.
    IcmpError {
        /// The errno it stands for (`ECONNREFUSED` for port unreachable).
        errno: i32,
        /// The error-queue entry (destination and quoted bytes).
        entry: &'a ErrorEntry,
    },
    /// An `Active::Count` ran out; the socket is now passive.
    Passive,
}

/// Counters of the reader.
#[derive(Debug, Default)]
pub struct ReaderCounters {
    /// Datagrams delivered.
    pub datagrams: AtomicU64,
    /// ICMP errors delivered: Packet-Too-Big reports, and other ICMP
    /// errors in active modes.
    pub errors: AtomicU64,
    /// Error-queue entries not delivered (local errors; other ICMP errors
    /// in passive mode), dropped.
    pub errors_dropped: AtomicU64,
}

/// Counters of [`Endpoint::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointStats {
    /// Datagrams delivered.
    pub datagrams: u64,
    /// ICMP errors delivered.
    pub errors: u64,
    /// Error-queue entries dropped unread (local errors; other ICMP errors
    /// in passive mode).
    pub errors_dropped: u64,
    /// Reports replaced by a newer one for the same destination, or refused
    /// by a full table, while the owner had no room.
    pub reports_dropped: u64,
    /// The bound on bytes of messages the owner has not taken.
    pub backlog: usize,
}

/// What one [`Endpoint::receive`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Received {
    /// Datagrams now held in the batch, to deliver.
    pub count: usize,
    /// An `Active::Count` ran out with them: deliver [`Delivery::Passive`] after.
    pub went_passive: bool,
    /// The call filled all it asked for: more may be queued.
    pub full: bool,
}

/// A socket with its active mode, counters and closed flag.
#[derive(Debug)]
pub struct Endpoint {
    socket: RwLock<Option<Arc<DfSocket>>>,
    active: Mutex<Active>,
    is_closed: AtomicBool,
    read_data: bool,
    counters: ReaderCounters,
    reports: Mutex<Reports>,
    backlog: Mutex<Backlog>,
}

impl Endpoint {
    /// Takes `socket` with the active mode `active`; `read_data: false`
    /// marks a socket whose datagrams someone else reads (an attached
    /// gen_udp socket): only its error queue is read here, and close leaves
    /// the socket itself alone.
    pub fn new(socket: DfSocket, active: Active, read_data: bool) -> Endpoint {
        Endpoint {
            socket: RwLock::new(Some(Arc::new(socket))),
            active: Mutex::new(if read_data { active } else { Active::Off }),
            is_closed: AtomicBool::new(false),
            read_data,
            counters: ReaderCounters::default(),
            reports: Mutex::new(Reports::default()),
            backlog: Mutex::new(Backlog::new(DEFAULT_BACKLOG)),
        }
    }

    /// The owner's backlog: what the watcher charges for each message it
    /// sends and checks for room before it reads.
    pub fn backlog(&self) -> MutexGuard<'_, Backlog> {
        self.backlog.lock()
    }

    /// The socket, unless closed.
    pub fn socket(&self) -> Result<Arc<DfSocket>, SocketError> {
        self.socket.read().clone().ok_or(SocketError::Closed)
    }

    /// True once [`Endpoint::close`] ran.
    pub fn is_closed(&self) -> bool {
        self.is_closed.load(Ordering::Acquire)
    }

    /// False for a socket whose datagrams are read elsewhere.
    pub fn reads_data(&self) -> bool {
        self.read_data
    }

    /// Changes the active mode; the watcher must then watch for input
    /// (when not `Off`). [`SocketError::Closed`] once the endpoint is closed.
    pub fn set_active(&self, active: Active) -> Result<(), SocketError> {
        if self.is_closed() {
            return Err(SocketError::Closed);
        }
        if self.read_data {
            *self.active.lock() = active;
        }
        Ok(())
    }

    /// The active mode now.
    pub fn active(&self) -> Active {
        *self.active.lock()
    }

    /// True when datagrams are to be delivered: the watcher should wait
    /// for input.
    pub fn wants_input(&self) -> bool {
        self.read_data && !self.is_closed() && self.active() != Active::Off
    }

    /// Datagrams and ICMP errors delivered, and error-queue entries dropped.
    pub fn counters(&self) -> (u64, u64, u64) {
        let c = &self.counters;
        (
            c.datagrams.load(Ordering::Relaxed),
            c.errors.load(Ordering::Relaxed),
            c.errors_dropped.load(Ordering::Relaxed),
        )
    }

    /// The counters, the reports dropped and the backlog's limit.
    pub fn stats(&self) -> EndpointStats {
        let (datagrams, errors, errors_dropped) = self.counters();
        // One lock at a time: the watcher holds the backlog while it takes
        // the reports.
        let reports_dropped = self.reports.lock().dropped();
        let backlog = self.backlog.lock().limit();
        EndpointStats {
            datagrams,
            errors,
            errors_dropped,
            reports_dropped,
            backlog,
        }
    }

    /// Receives as many datagrams as the active mode allows, at most `max`
    /// and the batch's size, in one `recvmmsg`, without blocking; the
    /// active mode counts them. Nothing (count 0) when passive, closed or
    /// nothing is queued.
    pub fn receive(&self, batch: &mut RecvBatch, max: usize) -> Result<Received, SocketError> {
        let socket = self.socket()?;
        let mut active = self.active.lock();
        let wanted = active.quota().min(max).min(batch.slots());
        if wanted == 0 || !self.read_data {
            return Ok(Received::default());
        }
        // An error is nothing queued, or a pending socket error (an ICMP
        // error on a connected socket) that recvmmsg reports once: the
        // error queue carries the details.
        let count = batch.recv(socket.raw_fd(), wanted).unwrap_or_default();
        let (next, went_passive) = active.after_deliveries(count);
        *active = next;
        drop(active);
        self.counters
            .datagrams
            .fetch_add(count as u64, Ordering::Relaxed);
        Ok(Received {
            count,
            went_passive,
            full: count == wanted,
        })
    }

    /// Receives one datagram without blocking; [`SocketError::WouldBlock`]
    /// when none is queued, `EINVAL` while an active mode delivers
    /// datagrams or datagrams are read elsewhere (as gen_udp's `recv`).
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), SocketError> {
        let socket = self.socket()?;
        if !self.read_data || self.active() != Active::Off {
            return Err(SocketError::Os(libc::EINVAL));
        }
        let got = socket.recv_from(buf);
        if self.is_closed() {
            return Err(SocketError::Closed);
        }
        got
    }

    /// Receives one datagram, waiting at most `timeout_ms` (`None`: forever)
    /// in `poll`: [`SocketError::WouldBlock`] on timeout,
    /// [`SocketError::Closed`] if the socket is closed meanwhile and
    /// `EINVAL` as [`Endpoint::try_recv`]. Error-queue entries that wake it
    /// are handed to `on_error` (see [`Endpoint::drain_errors`]).
    pub fn recv<F>(
        &self,
        buf: &mut [u8],
        timeout_ms: Option<u32>,
        mut on_error: F,
    ) -> Result<(usize, SocketAddr), SocketError>
    where
        F: FnMut(Delivery<'_>) -> bool,
    {
        let socket = self.socket()?;
        let deadline = timeout_ms.map(|t| Instant::now() + Duration::from_millis(u64::from(t)));
        loop {
            match self.try_recv(buf) {
                Err(SocketError::WouldBlock) => {}
                other => return other,
            }
            let wait = match deadline {
                None => -1,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // Rounded up: poll must not wake before the deadline.
                    i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
                }
            };
            let mut fd = libc::pollfd {
                fd: socket.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `fd` is one live pollfd.
            let n = unsafe { libc::poll(&mut fd, 1, wait) };
            if self.is_closed() {
                return Err(SocketError::Closed);
            }
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::EINTR) {
                    return Err(err.into());
                }
                continue;
            }
            if n == 0 {
                if deadline.is_some_and(|d| Instant::now() < d) {
                    continue;
                }
                return Err(SocketError::WouldBlock);
            }
            if fd.revents & libc::POLLERR != 0 {
                self.drain_errors(&mut on_error);
            }
        }
    }

    /// Hands queued ICMP errors to `sink` (at most a burst per call):
    /// Packet-Too-Big reports always, other ICMP errors in active modes; the
    /// rest are counted as dropped. Reports waiting from earlier calls go
    /// first. Once `sink` refuses one (the owner has no room), the rest of
    /// the burst waits in the reports table, which keeps the latest report
    /// per destination and kind: entries read while the owner has no room
    /// cost a fixed amount of memory and leave the kernel's buffer free.
    /// True when no report waits.
    pub fn drain_errors<F>(&self, mut sink: F) -> bool
    where
        F: FnMut(Delivery<'_>) -> bool,
    {
        let mut flowing = self.flush_reports(&mut sink);
        let Ok(socket) = self.socket() else {
            return flowing;
        };
        let mut reports = self.reports.lock();
        for _ in 0..ERROR_BURST {
            let entry = match socket.read_error() {
                Ok(Some(entry)) => entry,
                Ok(None) | Err(_) => {
                    socket.take_error();
                    break;
                }
            };
            let report = if let Some((mtu, offender)) = entry.packet_too_big() {
                Report::TooBig {
                    mtu,
                    offender,
                    entry,
                }
            } else {
                match entry.icmp_error() {
                    Some(errno) if self.active() != Active::Off => Report::Icmp { errno, entry },
                    _ => {
                        self.counters.errors_dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            };
            if flowing {
                flowing = self.deliver(&report, &mut sink);
                if flowing {
                    continue;
                }
            }
            reports.push(report);
        }
        flowing
    }

    /// Hands waiting reports to `sink`, oldest first, until it returns
    /// false (the report then waits on) or none is left. True when none is
    /// left.
    pub fn flush_reports<F>(&self, mut sink: F) -> bool
    where
        F: FnMut(Delivery<'_>) -> bool,
    {
        let mut reports = self.reports.lock();
        while let Some(report) = reports.front() {
            if !self.deliver(report, &mut sink) {
                return false;
            }
            reports.pop();
        }
        true
    }

    /// Hands one report to `sink`, counted (before the sink runs: whoever
    /// it wakes sees it counted) unless refused.
    fn deliver<F>(&self, report: &Report, sink: &mut F) -> bool
    where
        F: FnMut(Delivery<'_>) -> bool,
    {
        let delivery = match report {
            Report::TooBig {
                mtu,
                offender,
                entry,
            } => Delivery::PacketTooBig {
                mtu: *mtu,
                offender: *offender,
                entry,
            },
            Report::Icmp { errno, entry } => Delivery::IcmpError {
                errno: *errno,
                entry,
            },
        };
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        if sink(delivery) {
            return true;
        }
        self.counters.errors.fetch_sub(1, Ordering::Relaxed);
        false
    }

    /// Closes: every later call is [`SocketError::Closed`], a waiting
    /// [`Endpoint::recv`] wakes (the socket is shut down, unless it is an
    /// attached one read elsewhere), and this endpoint lets go of the
    /// socket. The descriptor closes when the last holder of the socket
    /// (see [`Endpoint::socket`]) drops it. True for the call that closed.
    pub fn close(&self) -> bool {
        if self.is_closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Some(socket) = self.socket.write().take() {
            if self.read_data {
                socket.shutdown();
            }
        }
        true
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.close();
    }
}
