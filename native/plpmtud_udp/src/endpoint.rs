//! A socket with its reader: active-mode delivery from a thread of its own
//! (like gen_udp's `active: true | :once | n | false`), blocking receive
//! with a timeout for passive use, and a close that stops both at once.
//!
//! The reader thread waits in `poll` on the socket and two pipes: one that
//! wakes it when the active mode changes, one that closes everything (it
//! stays readable, so every waiter sees it).

use super::{DfSocket, ErrorEntry, SocketError};
use parking_lot::{Mutex, RwLock};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Datagrams the reader takes per wake-up before it polls again.
const READ_BURST: usize = 64;
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

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
    /// The mode after one delivery, and whether it just turned passive from a count.
    fn after_delivery(self) -> (Active, bool) {
        match self {
            Active::Once => (Active::Off, false),
            Active::Count(n) if n <= 1 => (Active::Off, true),
            Active::Count(n) => (Active::Count(n - 1), false),
            other => (other, false),
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
    /// queue, delivered whatever the active mode. Other ICMP errors are
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

/// A non-blocking pipe used as an event.
#[derive(Debug)]
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn new() -> Result<Pipe, SocketError> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(SocketError::last_os_error());
        }
        for fd in fds {
            // SAFETY: fd was just returned by pipe().
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        // SAFETY: both fds are open and owned by nobody else.
        let (read, write) = unsafe {
            use std::os::fd::FromRawFd;
            (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
        };
        Ok(Pipe { read, write })
    }

    fn signal(&self) {
        let byte = 1u8;
        // SAFETY: writes one byte from a live local; a full pipe is already signalled.
        unsafe { libc::write(self.write.as_raw_fd(), (&byte as *const u8).cast(), 1) };
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: reads into a live local buffer of its length; non-blocking.
        while unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {
        }
    }
}

#[derive(Debug)]
struct Control {
    active: Mutex<Active>,
    wake: Pipe,
    closed: Pipe,
    is_closed: AtomicBool,
    counters: ReaderCounters,
}

/// A socket, its optional reader thread, and the means to close both.
#[derive(Debug)]
pub struct Endpoint {
    socket: RwLock<Option<Arc<DfSocket>>>,
    control: Arc<Control>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

/// Waits until `fd` is readable (or erroring) or `cancel` is; `timeout_ms` < 0 waits forever.
fn poll_two(
    fd: RawFd,
    events: i16,
    cancel: RawFd,
    timeout_ms: i32,
) -> Result<(i16, bool), SocketError> {
    let mut fds = [
        libc::pollfd {
            fd,
            events,
            revents: 0,
        },
        libc::pollfd {
            fd: cancel,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is a live array of two pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
        if n >= 0 {
            return Ok((fds[0].revents, fds[1].revents != 0));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err.into());
        }
    }
}

impl Endpoint {
    /// Takes ownership of `socket`; no reader runs until [`Endpoint::start_reader`].
    pub fn new(socket: DfSocket) -> Result<Endpoint, SocketError> {
        let control = Control {
            active: Mutex::new(Active::Off),
            wake: Pipe::new()?,
            closed: Pipe::new()?,
            is_closed: AtomicBool::new(false),
            counters: ReaderCounters::default(),
        };
        Ok(Endpoint {
            socket: RwLock::new(Some(Arc::new(socket))),
            control: Arc::new(control),
            reader: Mutex::new(None),
        })
    }

    /// The socket, unless closed.
    pub fn socket(&self) -> Result<Arc<DfSocket>, SocketError> {
        self.socket.read().clone().ok_or(SocketError::Closed)
    }

    /// True once [`Endpoint::close`] ran.
    pub fn is_closed(&self) -> bool {
        self.control.is_closed.load(Ordering::Acquire)
    }

    /// Starts the reader thread with `active`; `read_data: false` makes it read
    /// only the error queue (for attached sockets whose owner reads data).
    /// `sink` returns false when nobody listens any more; the reader then stops.
    pub fn start_reader<F>(
        &self,
        active: Active,
        read_data: bool,
        sink: F,
    ) -> Result<(), SocketError>
    where
        F: FnMut(Delivery<'_>) -> bool + Send + 'static,
    {
        let socket = self.socket()?;
        let mut reader = self.reader.lock();
        if reader.is_some() {
            return Err(SocketError::Os(libc::EINVAL));
        }
        *self.control.active.lock() = active;
        let control = Arc::clone(&self.control);
        let thread = std::thread::Builder::new()
            .name("plpmtud-reader".into())
            .spawn(move || read_loop(&socket, &control, read_data, sink))
            .map_err(SocketError::from)?;
        *reader = Some(thread);
        Ok(())
    }

    /// Changes the active mode; the reader picks it up at once.
    /// [`SocketError::Closed`] once the endpoint is closed.
    pub fn set_active(&self, active: Active) -> Result<(), SocketError> {
        if self.is_closed() {
            return Err(SocketError::Closed);
        }
        *self.control.active.lock() = active;
        self.control.wake.signal();
        Ok(())
    }

    /// The active mode now.
    pub fn active(&self) -> Active {
        *self.control.active.lock()
    }

    /// Datagrams and Packet-Too-Big reports the reader delivered, and
    /// error-queue entries it dropped (ICMP errors that are no PTB).
    pub fn counters(&self) -> (u64, u64, u64) {
        let c = &self.control.counters;
        (
            c.datagrams.load(Ordering::Relaxed),
            c.errors.load(Ordering::Relaxed),
            c.errors_dropped.load(Ordering::Relaxed),
        )
    }

    /// Receives one datagram, waiting at most `timeout_ms` (`None`: forever).
    /// Returns [`SocketError::WouldBlock`] on timeout,
    /// [`SocketError::Closed`] if the socket is closed meanwhile and
    /// `EINVAL` while an active mode delivers datagrams (as gen_udp's `recv`).
    pub fn recv(
        &self,
        buf: &mut [u8],
        timeout_ms: Option<u32>,
    ) -> Result<(usize, SocketAddr), SocketError> {
        let socket = self.socket()?;
        if self.active() != Active::Off {
            return Err(SocketError::Os(libc::EINVAL));
        }
        let timeout = timeout_ms.map_or(-1, |t| i32::try_from(t).unwrap_or(i32::MAX));
        loop {
            match socket.recv_from(buf) {
                Err(SocketError::WouldBlock) => {}
                other => return other,
            }
            let (ready, cancelled) = poll_two(
                socket.raw_fd(),
                libc::POLLIN,
                self.control.closed.read.as_raw_fd(),
                timeout,
            )?;
            if cancelled || self.is_closed() {
                return Err(SocketError::Closed);
            }
            if ready == 0 {
                return Err(SocketError::WouldBlock);
            }
            if ready & libc::POLLIN == 0 {
                // Only an error is pending: clear it and report it.
                if let Some(e) = socket.take_error() {
                    return Err(e);
                }
            }
        }
    }

    /// Closes: stops the reader, wakes every waiter, releases the fd (an
    /// attached fd is left open). Idempotent.
    pub fn close(&self) {
        if self.control.is_closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.control.closed.signal();
        if let Some(thread) = self.reader.lock().take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
        self.socket.write().take();
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.close();
    }
}

fn read_loop<F>(socket: &DfSocket, control: &Control, read_data: bool, mut sink: F)
where
    F: FnMut(Delivery<'_>) -> bool,
{
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !control.is_closed.load(Ordering::Acquire) {
        let active = *control.active.lock();
        let events = if read_data && active != Active::Off {
            libc::POLLIN
        } else {
            0
        };
        let mut fds = [
            libc::pollfd {
                fd: socket.raw_fd(),
                events,
                revents: 0,
            },
            libc::pollfd {
                fd: control.wake.read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: control.closed.read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a live array of three pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        if fds[2].revents != 0 || fds[0].revents & libc::POLLNVAL != 0 {
            return;
        }
        if fds[1].revents != 0 {
            control.wake.drain();
        }
        if fds[0].revents & libc::POLLERR != 0 && !drain_errors(socket, control, &mut sink) {
            return;
        }
        if fds[0].revents & libc::POLLIN != 0
            && !read_datagrams(socket, control, &mut buf, &mut sink)
        {
            return;
        }
    }
}

/// Delivers every queued ICMP error; false if the sink is gone.
fn drain_errors<F>(socket: &DfSocket, control: &Control, sink: &mut F) -> bool
where
    F: FnMut(Delivery<'_>) -> bool,
{
    for _ in 0..READ_BURST {
        match socket.read_error() {
            Ok(Some(entry)) => {
                let Some((mtu, offender)) = entry.packet_too_big() else {
                    let active = *control.active.lock() != Active::Off;
                    match entry.icmp_error() {
                        Some(errno) if active => {
                            control.counters.errors.fetch_add(1, Ordering::Relaxed);
                            let delivery = Delivery::IcmpError {
                                errno,
                                entry: &entry,
                            };
                            if !sink(delivery) {
                                return false;
                            }
                        }
                        _ => {
                            control
                                .counters
                                .errors_dropped
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    continue;
                };
                control.counters.errors.fetch_add(1, Ordering::Relaxed);
                let delivery = Delivery::PacketTooBig {
                    mtu,
                    offender,
                    entry: &entry,
                };
                if !sink(delivery) {
                    return false;
                }
            }
            Ok(None) | Err(_) => {
                socket.take_error();
                return true;
            }
        }
    }
    true
}

/// Delivers datagrams while the active mode allows; false if the sink is gone.
fn read_datagrams<F>(socket: &DfSocket, control: &Control, buf: &mut [u8], sink: &mut F) -> bool
where
    F: FnMut(Delivery<'_>) -> bool,
{
    for _ in 0..READ_BURST {
        let mut active = control.active.lock();
        if *active == Active::Off {
            return true;
        }
        let (len, from) = match socket.recv_from(buf) {
            Ok(got) => got,
            Err(_) => return true,
        };
        let (next, went_passive) = active.after_delivery();
        *active = next;
        drop(active);
        control.counters.datagrams.fetch_add(1, Ordering::Relaxed);
        if !sink(Delivery::Datagram {
            from,
            data: &buf[..len],
        }) {
            return false;
        }
        if went_passive && !sink(Delivery::Passive) {
            return false;
        }
    }
    true
}
