//! A UDP socket with Don't-Fragment, kernel path-MTU queries, the ICMP error
//! queue and batched sends: what PLPMTUD needs below it. Linux is the
//! target; other platforms compile and report `Unsupported` where they lack
//! an option.
//!
//! - [`DfSocket`]: the socket itself (open, DF policy, send, batches, GSO,
//!   the kernel's path MTU, the error queue).
//! - [`endpoint::Endpoint`]: gen_udp's active modes, counters and the ICMP
//!   report table over a socket, with no thread of its own.
//! - [`reader::Reader`]: who owns an endpoint, who reads for it and who
//!   waits on it, and the read loop one readiness notice runs (bounded by a
//!   budget and by the owner's [`backlog::Backlog`]), for a host that
//!   delivers by messages (the BEAM NIF) and does its own polling.
//!
//! Independent of the prober (`plpmtud_core`): it knows addresses and
//! families, not MTU search.

pub mod backlog;
mod batch;
mod df;
pub mod endpoint;
mod error;
pub mod errqueue;
mod guard;
pub mod reader;
pub mod waiters;

pub use batch::RecvBatch;
pub use df::{df, set_df, DfPolicy};
pub use error::{errno_name, SocketError};
pub use guard::table_len as df_guard_table_len;

use guard::DfGuard;

use errqueue::{ExtendedError, ParseError};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Datagrams handed to one `sendmmsg` call.
pub const BATCH_CHUNK: usize = 64;
/// Bytes of the original datagram kept from an error-queue entry.
pub const QUOTED_MAX: usize = 256;

/// What the datagrams carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// UDP.
    #[default]
    Udp,
    /// ICMP / ICMPv6 echo, on an unprivileged ping socket (`SOCK_DGRAM` +
    /// `IPPROTO_ICMP`): datagrams are echo messages, the kernel fills in the
    /// identifier and checksum. Allowed by the `net.ipv4.ping_group_range` sysctl.
    IcmpEcho,
}

/// The address family of a socket (its own type: this crate does not
/// depend on the prober's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// How to open a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Local address and port (port 0: any).
    pub bind: SocketAddr,
    /// Peer to connect to, for `send` and `path_mtu`.
    pub connect: Option<SocketAddr>,
    /// Don't-Fragment policy.
    pub df: DfPolicy,
    /// Queue ICMP errors for [`DfSocket::read_error`] (`IP_RECVERR`).
    pub recv_errors: bool,
    /// `SO_REUSEADDR`.
    pub reuse_address: bool,
    /// `SO_RCVBUF` in bytes (the kernel doubles it and caps it at
    /// `net.core.rmem_max`); `None` keeps the default.
    pub recv_buffer: Option<usize>,
    /// UDP or ICMP echo.
    pub transport: Transport,
}

impl OpenOptions {
    /// Options binding `bind`, DF `probe`, errors queued, not connected.
    pub fn bind(bind: SocketAddr) -> OpenOptions {
        OpenOptions {
            bind,
            connect: None,
            df: DfPolicy::Probe,
            recv_errors: true,
            reuse_address: false,
            recv_buffer: None,
            transport: Transport::Udp,
        }
    }
}

/// One entry of the socket's error queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorEntry {
    /// The decoded extended error, or why it could not be decoded.
    pub error: Result<ExtendedError, ParseError>,
    /// Where the datagram that caused it was going.
    pub dest: Option<SocketAddr>,
    /// The start of that datagram (our own payload), at most [`QUOTED_MAX`] bytes.
    pub quoted: Vec<u8>,
}

impl ErrorEntry {
    /// The reported MTU and the router that sent it, when this entry is an
    /// ICMP Packet-Too-Big / Fragmentation Needed; `None` for any other error.
    pub fn packet_too_big(&self) -> Option<(u32, Option<std::net::IpAddr>)> {
        let err = self.error.as_ref().ok()?;
        match err.kind() {
            errqueue::ErrorKind::PacketTooBig { mtu } => Some((mtu, err.offender)),
            _ => None,
        }
    }

    /// The errno of an ICMP error that is not a Packet-Too-Big (port
    /// unreachable: `ECONNREFUSED`, host unreachable: `EHOSTUNREACH`, ...);
    /// `None` for a Packet-Too-Big, a local error or an undecodable entry.
    pub fn icmp_error(&self) -> Option<i32> {
        let err = self.error.as_ref().ok()?;
        let icmp = matches!(err.origin, errqueue::ORIGIN_ICMP | errqueue::ORIGIN_ICMP6);
        match err.kind() {
            errqueue::ErrorKind::Unrelated if icmp => i32::try_from(err.errno).ok(),
            _ => None,
        }
    }
}

/// The outcome of a batched send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Datagrams the kernel accepted, from the front of the batch.
    pub sent: usize,
    /// Why the next datagram was not sent, if the batch stopped early.
    pub error: Option<SocketError>,
}

/// A non-blocking UDP socket with a DF policy.
///
/// The policy has one authority, [`DfSocket::set_df`]: every send holds
/// the socket's DF lock shared, and [`DfSocket::send_fragmentable`] turns
/// DF off only while it holds that lock exclusive, then puts back the
/// policy `set_df` chose. Every `DfSocket` on one kernel socket (attached
/// or duplicated fds too) shares the lock.
#[derive(Debug)]
pub struct DfSocket {
    socket: ManuallyDrop<Socket>,
    owned: bool,
    family: Family,
    /// Cleared the first time the kernel refuses a GSO send.
    gso: AtomicBool,
    /// The DF lock and policy of the kernel socket.
    guard: Arc<DfGuard>,
}

impl Drop for DfSocket {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: dropped exactly once, here; an attached fd is never closed.
            unsafe { ManuallyDrop::drop(&mut self.socket) };
        }
    }
}

fn family_of(addr: &SocketAddr) -> Family {
    match addr {
        SocketAddr::V4(_) => Family::V4,
        SocketAddr::V6(_) => Family::V6,
    }
}

impl DfSocket {
    /// Opens, configures, binds and (optionally) connects a UDP socket.
    pub fn open(options: &OpenOptions) -> Result<DfSocket, SocketError> {
        let family = family_of(&options.bind);
        if let Some(peer) = options.connect {
            if family_of(&peer) != family {
                return Err(SocketError::Os(libc::EAFNOSUPPORT));
            }
        }
        let domain = match family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let protocol = match (options.transport, family) {
            (Transport::Udp, _) => Protocol::UDP,
            (Transport::IcmpEcho, Family::V4) => Protocol::ICMPV4,
            (Transport::IcmpEcho, Family::V6) => Protocol::ICMPV6,
        };
        let socket = Socket::new(domain, Type::DGRAM, Some(protocol))?;
        socket.set_nonblocking(true)?;
        socket.set_reuse_address(options.reuse_address)?;
        if let Some(bytes) = options.recv_buffer {
            socket.set_recv_buffer_size(bytes)?;
        }
        let guard = guard::guard_for(socket.as_raw_fd())?;
        let this = DfSocket {
            socket: ManuallyDrop::new(socket),
            owned: true,
            family,
            gso: AtomicBool::new(cfg!(target_os = "linux")),
            guard,
        };
        this.set_df(options.df)?;
        if options.recv_errors {
            df::enable_recv_errors(this.raw_fd(), family)?;
        }
        this.socket.bind(&SockAddr::from(options.bind))?;
        if let Some(peer) = options.connect {
            this.socket.connect(&SockAddr::from(peer))?;
        }
        Ok(this)
    }

    /// Opens the socket inside the network namespace at `netns` (for example
    /// `/run/netns/NAME` from `ip netns add`): a short-lived thread enters the
    /// namespace, opens the socket and exits; the socket stays in that
    /// namespace. Needs `CAP_SYS_ADMIN`. Linux only.
    pub fn open_in_netns(
        options: &OpenOptions,
        netns: &std::path::Path,
    ) -> Result<DfSocket, SocketError> {
        let options = *options;
        let netns = netns.to_owned();
        std::thread::Builder::new()
            .name("plpmtud-netns".into())
            .spawn(move || {
                enter_netns(&netns)?;
                DfSocket::open(&options)
            })
            .map_err(SocketError::from)?
            .join()
            .unwrap_or(Err(SocketError::Os(libc::EIO)))
    }

    /// Wraps an existing UDP socket's fd (gen_udp's `inet:getfd/1`) without
    /// taking ownership: it is never closed here, and its blocking mode is
    /// left alone (every call here passes `MSG_DONTWAIT`).
    ///
    /// # Safety
    /// `fd` must be an open UDP socket that stays open while this value lives.
    pub unsafe fn attach(fd: RawFd) -> Result<DfSocket, SocketError> {
        if fd < 0 {
            return Err(SocketError::Invalid("negative fd"));
        }
        // SAFETY: the caller guarantees `fd` is an open socket; ManuallyDrop
        // and `owned: false` keep it from being closed.
        let socket = ManuallyDrop::new(unsafe { Socket::from_raw_fd(fd) });
        DfSocket::wrap(socket, false)
    }

    /// Wraps a duplicate of an existing UDP socket's fd (gen_udp's
    /// `inet:getfd/1`): the duplicate is owned (closed when this value drops),
    /// the original is left alone. Both name the same socket, so options set
    /// here apply to it; a poll set can watch the duplicate without touching
    /// the original's registration.
    pub fn attach_dup(fd: RawFd) -> Result<DfSocket, SocketError> {
        if fd < 0 {
            return Err(SocketError::Invalid("negative fd"));
        }
        // SAFETY: F_DUPFD_CLOEXEC only reads `fd`; a bad fd is EBADF.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(SocketError::last_os_error());
        }
        // SAFETY: `dup` was just created and is owned by nobody else.
        let socket = unsafe { Socket::from_raw_fd(dup) };
        DfSocket::wrap(ManuallyDrop::new(socket), true)
    }

    /// A `DfSocket` around an existing datagram socket (`owned`: closed when
    /// this value drops), its family read from its local address.
    fn wrap(socket: ManuallyDrop<Socket>, owned: bool) -> Result<DfSocket, SocketError> {
        let guard = guard::guard_for(socket.as_raw_fd())?;
        let mut this = DfSocket {
            socket,
            owned,
            family: Family::V4,
            gso: AtomicBool::new(cfg!(target_os = "linux")),
            guard,
        };
        if this.socket.r#type()? != Type::DGRAM {
            return Err(SocketError::Invalid("fd is not a datagram socket"));
        }
        let local = this.local_addr()?;
        this.family = family_of(&local);
        Ok(this)
    }

    /// Shuts the socket down both ways, which wakes every thread waiting on
    /// it in `poll` (the kernel signals hangup even on an unconnected UDP
    /// socket, where shutdown itself reports `ENOTCONN`).
    pub fn shutdown(&self) {
        // SAFETY: shutdown on our own open fd; its result does not matter.
        unsafe { libc::shutdown(self.raw_fd(), libc::SHUT_RDWR) };
    }

    /// Queue ICMP errors for [`DfSocket::read_error`].
    pub fn enable_recv_errors(&self) -> Result<(), SocketError> {
        df::enable_recv_errors(self.raw_fd(), self.family)
    }

    /// The IP version of the socket.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The OS file descriptor.
    pub fn raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// True if the socket closes its fd when dropped (false when attached).
    pub fn owns_fd(&self) -> bool {
        self.owned
    }

    /// Sets the DF policy: the one every send uses and every DF-off send
    /// puts back. Waits for a DF-off send in progress on the socket.
    pub fn set_df(&self, policy: DfPolicy) -> Result<(), SocketError> {
        let mut remembered = self.guard.exclusive();
        set_df(self.raw_fd(), self.family, policy)?;
        *remembered = Some(policy);
        Ok(())
    }

    /// The DF policy, read back from the kernel (never the `Dont` of a
    /// DF-off send in progress: it waits for that send to finish).
    pub fn df(&self) -> Result<DfPolicy, SocketError> {
        let _shared = self.guard.shared();
        df(self.raw_fd(), self.family)
    }

    /// The bound local address.
    pub fn local_addr(&self) -> Result<SocketAddr, SocketError> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or(SocketError::Os(libc::EAFNOSUPPORT))
    }

    /// The connected peer, if connected.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer().ok()
    }

    /// The connected peer; `ENOTCONN` when not connected.
    pub fn peer(&self) -> Result<SocketAddr, SocketError> {
        self.socket
            .peer_addr()?
            .as_socket()
            .ok_or(SocketError::Os(libc::EAFNOSUPPORT))
    }

    /// The kernel's path MTU to the connected peer (`IP_MTU` / `IPV6_MTU`).
    pub fn path_mtu(&self) -> Result<u32, SocketError> {
        df::path_mtu(self.raw_fd(), self.family)
    }

    /// The kernel's path MTU towards `dest` (the route's cached PMTU or the
    /// outgoing interface's MTU), for an unconnected socket too: `IP_MTU`
    /// of a throwaway UDP socket connected to `dest` from this socket's
    /// local address, in this socket's network namespace. A socket in
    /// another namespace than the caller's (`open_in_netns`, gen_udp's
    /// `netns` option) is queried from a short-lived thread that enters
    /// it (`SIOCGSKNS` + `setns`, which need `CAP_NET_ADMIN` and
    /// `CAP_SYS_ADMIN`); without them the answer is an error, never
    /// another namespace's value.
    pub fn path_mtu_to(&self, dest: SocketAddr) -> Result<u32, SocketError> {
        let local = self.local_addr().ok();
        let here = Socket::new(Domain::for_address(dest), Type::DGRAM, None)?;
        let same_netns = match (
            df::netns_cookie(self.raw_fd()),
            df::netns_cookie(here.as_raw_fd()),
        ) {
            (Ok(ours), Ok(its)) => ours == its,
            // No network namespaces on this platform.
            (Err(SocketError::Unsupported(_)), _) => true,
            // No cookies (before Linux 5.14): ask from inside the socket's
            // namespace, never answer from the caller's.
            _ => false,
        };
        if same_netns {
            return query_path_mtu(here, local, dest);
        }
        let netns = df::netns_of(self.raw_fd())?;
        std::thread::Builder::new()
            .name("plpmtud-netns".into())
            .spawn(move || {
                df::enter_netns(&netns)?;
                let probe = Socket::new(Domain::for_address(dest), Type::DGRAM, None)?;
                query_path_mtu(probe, local, dest)
            })
            .map_err(SocketError::from)?
            .join()
            .unwrap_or(Err(SocketError::Os(libc::EIO)))
    }

    /// Sends one datagram to the connected peer, without blocking.
    pub fn send(&self, data: &[u8]) -> Result<usize, SocketError> {
        let _shared = self.guard.shared();
        self.send_unguarded(data, None)
    }

    /// Sends one datagram to `dest`, without blocking.
    pub fn send_to(&self, data: &[u8], dest: SocketAddr) -> Result<usize, SocketError> {
        let _shared = self.guard.shared();
        self.send_unguarded(data, Some(dest))
    }

    /// Sends to `dest` or the connected peer; the caller holds the DF lock.
    fn send_unguarded(&self, data: &[u8], dest: Option<SocketAddr>) -> Result<usize, SocketError> {
        let dest_addr = dest.map(SockAddr::from);
        let sent = once_more_if_refused(|| match &dest_addr {
            None => self.socket.send_with_flags(data, libc::MSG_DONTWAIT),
            Some(addr) => self
                .socket
                .send_to_with_flags(data, addr, libc::MSG_DONTWAIT),
        });
        sent.map_err(|e| self.with_mtu(SocketError::from(e), dest))
    }

    /// Sends one IPv4 datagram to `dest` (or, when `None`, the connected
    /// peer) with DF off, so that routers may fragment it: for a packet
    /// sent before the PLPMTU fell, which a transport cannot re-cut (uTP's
    /// numbered packets). Linux has no per-datagram DF for IPv4, so the
    /// socket's policy is switched to `Dont` for this one send, under the
    /// socket's DF lock held exclusive: no other send through a `DfSocket`
    /// on this socket runs meanwhile, and the policy [`DfSocket::set_df`]
    /// chose is put back before the lock is let go. Use it for such
    /// retransmissions only: a fragment lost loses the whole datagram. IPv6
    /// routers never fragment and Linux fragments at the source only above
    /// the route's MTU, so on IPv6 this is [`SocketError::Unsupported`].
    pub fn send_fragmentable(
        &self,
        data: &[u8],
        dest: Option<SocketAddr>,
    ) -> Result<usize, SocketError> {
        let (fd, family) = (self.raw_fd(), self.family);
        if family == Family::V6 {
            return Err(SocketError::Unsupported(
                "fragmentation below the route's MTU on IPv6",
            ));
        }
        let mut remembered = self.guard.exclusive();
        let policy = match *remembered {
            Some(policy) => policy,
            // First use on an attached socket: no DF-off send of ours can be
            // running (we hold the lock), so the kernel's is the policy.
            None => *remembered.insert(df::df(fd, family)?),
        };
        if policy == DfPolicy::Dont {
            return self.send_unguarded(data, dest);
        }
        df::set_df(fd, family, DfPolicy::Dont)?;
        let sent = self.send_unguarded(data, dest);
        let restored = df::set_df(fd, family, policy);
        let sent = sent?;
        restored.map(|()| sent)
    }

    /// Fills in the kernel's MTU for `EMSGSIZE`.
    fn with_mtu(&self, error: SocketError, dest: Option<SocketAddr>) -> SocketError {
        match error {
            SocketError::MessageTooBig { mtu: None } => {
                let mtu = match dest {
                    None => self.path_mtu().ok(),
                    Some(dest) => self.path_mtu_to(dest).ok(),
                };
                SocketError::MessageTooBig { mtu }
            }
            other => other,
        }
    }

    /// Receives one datagram without blocking: `(length, source)`.
    pub fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), SocketError> {
        // SAFETY: u8 and MaybeUninit<u8> have the same layout; recv only writes.
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        let (n, from) = self
            .socket
            .recv_from_with_flags(uninit, libc::MSG_DONTWAIT)?;
        let from = from
            .as_socket()
            .ok_or(SocketError::Os(libc::EAFNOSUPPORT))?;
        Ok((n, from))
    }

    /// Sends `datagrams` to `dest` or (when `None`) the connected peer:
    /// runs of equal-sized datagrams as one UDP GSO send (`UDP_SEGMENT`) where
    /// the kernel has it, the rest with `sendmmsg` in chunks of
    /// [`BATCH_CHUNK`]. Stops at the first error.
    pub fn send_batch(&self, datagrams: &[&[u8]], dest: Option<SocketAddr>) -> BatchOutcome {
        let _shared = self.guard.shared();
        let mut sent = 0;
        // One EMSGSIZE per batch may be an earlier datagram's ICMP error
        // (see `once_more_if_refused`): that chunk is tried once more.
        let mut retried = false;
        while sent < datagrams.len() {
            let rest = &datagrams[sent..];
            let gso_len = if self.gso.load(Ordering::Relaxed) {
                batch::gso_prefix_len(rest)
            } else {
                0
            };
            let (wanted, result) = if gso_len > 0 {
                match batch::send_gso(self.raw_fd(), &rest[..gso_len], dest) {
                    Err(SocketError::Os(libc::EIO | libc::EINVAL))
                    | Err(SocketError::Unsupported(_)) => {
                        self.gso.store(false, Ordering::Relaxed);
                        continue;
                    }
                    other => (gso_len, other),
                }
            } else {
                let chunk = &rest[..rest.len().min(BATCH_CHUNK)];
                (chunk.len(), batch::sendmmsg(self.raw_fd(), chunk, dest))
            };
            match result {
                Ok(n) => {
                    sent += n;
                    if n < wanted {
                        break;
                    }
                }
                Err(SocketError::MessageTooBig { .. }) if !retried => retried = true,
                Err(e) => {
                    return BatchOutcome {
                        sent,
                        error: Some(self.with_mtu(e, dest)),
                    }
                }
            }
        }
        BatchOutcome { sent, error: None }
    }

    /// Whether batches still use UDP GSO on this socket.
    pub fn gso_enabled(&self) -> bool {
        self.gso.load(Ordering::Relaxed)
    }

    /// Turns UDP GSO for batches off (or back on, where the kernel has it).
    pub fn set_gso(&self, enabled: bool) {
        self.gso
            .store(enabled && cfg!(target_os = "linux"), Ordering::Relaxed);
    }

    /// Takes one entry off the error queue, if any (never blocks).
    pub fn read_error(&self) -> Result<Option<ErrorEntry>, SocketError> {
        batch::recv_error(self.raw_fd())
    }

    /// Clears a pending socket error (`SO_ERROR`) so `poll` stops reporting it.
    pub fn take_error(&self) -> Option<SocketError> {
        self.socket
            .take_error()
            .ok()
            .flatten()
            .map(SocketError::from)
    }
}

/// `IP_MTU` of `probe` connected to `dest` from `local`'s address (when
/// it is a specific one of `dest`'s family).
fn query_path_mtu(
    probe: Socket,
    local: Option<SocketAddr>,
    dest: SocketAddr,
) -> Result<u32, SocketError> {
    if let Some(local) = local {
        if !local.ip().is_unspecified() && family_of(&local) == family_of(&dest) {
            probe.bind(&SockAddr::from(SocketAddr::new(local.ip(), 0)))?;
        }
    }
    probe.connect(&SockAddr::from(dest))?;
    df::path_mtu(probe.as_raw_fd(), family_of(&dest))
}

/// Moves the calling thread into the network namespace at `path`. The
/// file is opened without blocking (a FIFO or device there cannot hold the
/// caller) and must be a namespace (nsfs), else `EINVAL`.
#[cfg(target_os = "linux")]
fn enter_netns(path: &std::path::Path) -> Result<(), SocketError> {
    use std::os::unix::fs::OpenOptionsExt;
    /// `NSFS_MAGIC` (`<linux/magic.h>`).
    const NSFS_MAGIC: libc::c_long = 0x6e73_6673;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)?;
    // SAFETY: all-zero is a valid statfs; fstatfs writes it for an open fd.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `fs` is a live, writable statfs.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut fs) } != 0 {
        return Err(SocketError::last_os_error());
    }
    if fs.f_type as libc::c_long != NSFS_MAGIC {
        return Err(SocketError::Os(libc::EINVAL));
    }
    // SAFETY: setns on an open namespace fd affects only this thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(SocketError::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn enter_netns(_path: &std::path::Path) -> Result<(), SocketError> {
    Err(SocketError::Unsupported("network namespaces (Linux only)"))
}

/// Runs `send` once more after an `EMSGSIZE`: a socket that reads its error
/// queue reports an earlier datagram's ICMP Packet-Too-Big as `EMSGSIZE`
/// on its next send, once (a forged one too). Only a second refusal is the
/// kernel refusing this datagram; the first one's PTB is read from the
/// error queue, where it is validated like any other.
fn once_more_if_refused(send: impl Fn() -> std::io::Result<usize>) -> std::io::Result<usize> {
    match send() {
        Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => send(),
        other => other,
    }
}
