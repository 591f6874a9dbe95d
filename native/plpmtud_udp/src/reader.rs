//! The reader of one [`Endpoint`] for a host that delivers by messages to
//! processes it cannot block on (the BEAM): who owns the socket, who reads
//! for it, who waits in a passive receive, and the read loop that runs when
//! the socket is ready, bounded by a [`Budget`] and by the owner's
//! [`Backlog`].
//!
//! The host does what only it can, through [`Host`]: turn a [`Delivery`]
//! into a message and send it, ask its poll set for the next readiness
//! notice, wake a waiting process, and take the socket out of its poll set
//! on close. [`Reader::poll`] decides everything else and answers
//! [`Poll::Done`] (wait for the next notice, already asked for),
//! [`Poll::More`] (the budget ran out with datagrams still queued: call
//! again), [`Poll::Full`] / [`Poll::Paused`] (the owner's backlog has no
//! room: call again with [`Wake::Resume`] once its queue is measured) or
//! [`Poll::Closed`].
//!
//! `P` names a process (the BEAM's pid) and `M` a monitor of one; the
//! reader only compares and stores them.

use crate::backlog::Backlog;
use crate::endpoint::{Active, Delivery, Endpoint};
use crate::waiters::WaitQueue;
use crate::{RecvBatch, SocketError};
use parking_lot::{Mutex, MutexGuard};
use std::cell::RefCell;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Datagrams read per `recvmmsg`.
pub const RECV_SLOTS: usize = 32;
/// The largest datagram a receive slot holds.
pub const MAX_DATAGRAM: usize = 65_536;
/// Dead waiters one wake-up may skip before it gives up.
const WAKE_TRIES: usize = 4096;

thread_local! {
    static RECV_BATCH: RefCell<RecvBatch> = RefCell::new(RecvBatch::new(RECV_SLOTS, MAX_DATAGRAM));
}

/// A readiness notice the host's poll set can send to the reader process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Datagrams to read.
    Input,
    /// An error-queue entry.
    Error,
}

/// Why [`Reader::poll`] is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake<P> {
    /// The socket is readable (or [`Poll::More`] asked to be called again).
    Input,
    /// The error queue is readable.
    Error,
    /// After [`Poll::Full`] / [`Poll::Paused`]: `owner`'s message queue
    /// holds `queue_len` messages now (measured by the process that sends,
    /// so after every message sent before it).
    Resume {
        /// The process whose queue was measured.
        owner: P,
        /// Its queue length.
        queue_len: usize,
    },
}

/// What [`Reader::poll`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll<P> {
    /// All that was ready is delivered; the next readiness is asked for.
    Done,
    /// The budget ran out with datagrams still queued; nothing is asked
    /// for: call again with [`Wake::Input`] after other work.
    More(P),
    /// The owner's backlog ran out of room after some deliveries; nothing
    /// is asked for the waiting work: call again with [`Wake::Resume`].
    Full(P),
    /// As [`Poll::Full`], with nothing delivered.
    Paused(P),
    /// The socket is closed: the reader process should stop.
    Closed,
}

/// Work one [`Reader::poll`] may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Datagrams read at most.
    pub datagrams: usize,
    /// Time spent at most (checked after each `recvmmsg`).
    pub time: Duration,
}

impl Default for Budget {
    /// 128 datagrams or 100 µs: a NIF call's share of a time slice.
    fn default() -> Self {
        Budget {
            datagrams: 128,
            time: Duration::from_micros(100),
        }
    }
}

/// Bytes charged to the owner's backlog per message, by kind: what one
/// message costs in the consumer's memory on top of its data (the host
/// measures its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Costs {
    /// Per message (a datagram, a batch, a passive notice).
    pub message: usize,
    /// Per datagram inside a batch message.
    pub item: usize,
    /// Per ICMP report, on top of its quoted bytes.
    pub report: usize,
}

/// What the reader needs from its host.
pub trait Host<P> {
    /// Sends `delivery` to `owner` as one message.
    fn deliver(&mut self, owner: &P, delivery: &Delivery<'_>);
    /// Sends all datagrams of `batch` to `owner` as one message (a source
    /// the kernel did not give is `0.0.0.0:0`).
    fn deliver_batch(&mut self, owner: &P, batch: &RecvBatch);
    /// Asks the poll set for one notice of `interest`, sent to `reader`;
    /// false when refused.
    fn arm(&mut self, reader: &P, interest: Interest) -> bool;
    /// Tells `waiter` (in a passive receive) to try again; false if it is gone.
    fn wake(&mut self, waiter: &P) -> bool;
    /// True while `process` lives.
    fn is_alive(&self, process: &P) -> bool;
    /// The socket closed: take it out of the poll set, and tell `reader`
    /// (when one was started) to stop.
    fn closed(&mut self, reader: Option<&P>);
}

/// Why [`Reader::start`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// The socket is closed (or the reader died at once, which closed it).
    Closed,
    /// A reader was started already.
    Started,
    /// The poll set refused the descriptor (the socket is now closed).
    Refused,
}

/// Why [`Reader::hand_over`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOverError {
    /// The socket is closed.
    Closed,
    /// The caller is not the owner.
    NotOwner,
    /// The new owner is not alive (the socket stays with its owner).
    Dead,
}

/// One socket's owner, reader process and waiters, and its read loop.
#[derive(Debug)]
pub struct Reader<P, M> {
    endpoint: Endpoint,
    owner: Mutex<(P, Option<M>)>,
    reader: Mutex<Option<P>>,
    waiters: Mutex<WaitQueue<P>>,
    batch: bool,
    costs: Costs,
}

/// One call of [`Reader::poll`]: the owner, its backlog (locked for the
/// call: only the reader delivers) and what was delivered.
struct Ready<'b, P> {
    owner: P,
    backlog: MutexGuard<'b, Backlog>,
    delivered: usize,
}

/// How a read of datagrams ended.
enum Read {
    /// Nothing more queued: wait for readiness.
    Drained,
    /// The budget is spent with more queued.
    Budget,
    /// The owner's backlog has no room.
    Full,
}

impl<P: Copy + Eq + Hash, M> Reader<P, M> {
    /// A reader of `endpoint` for `owner`, delivering datagrams one per
    /// message, or one message per `recvmmsg` with `batch`.
    pub fn new(endpoint: Endpoint, owner: P, batch: bool, costs: Costs) -> Reader<P, M> {
        Reader {
            endpoint,
            owner: Mutex::new((owner, None)),
            reader: Mutex::new(None),
            waiters: Mutex::new(WaitQueue::default()),
            batch,
            costs,
        }
    }

    /// The endpoint read.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The owner now.
    pub fn owner(&self) -> P {
        self.owner.lock().0
    }

    /// Stores the monitor of the owner (its exit closes the socket).
    pub fn set_owner_monitor(&self, monitor: Option<M>) {
        self.owner.lock().1 = monitor;
    }

    /// Takes the owner's monitor (to drop it once the socket closed).
    pub fn take_owner_monitor(&self) -> Option<M> {
        self.owner.lock().1.take()
    }

    /// The reader process, once started.
    pub fn reader(&self) -> Option<P> {
        *self.reader.lock()
    }

    /// True when `process`'s exit closes the socket: the owner's, or the
    /// reader's (a socket nobody reads for would stay open without
    /// delivering).
    pub fn is_party(&self, process: &P) -> bool {
        // One lock at a time.
        let owner = self.owner();
        owner == *process || self.reader() == Some(*process)
    }

    /// Closes the endpoint, has the host take it out of its poll set and
    /// stop the reader, and wakes every waiter. True for the call that closed.
    pub fn close(&self, host: &mut impl Host<P>) -> bool {
        if !self.endpoint.close() {
            return false;
        }
        let reader = self.reader.lock().take();
        host.closed(reader.as_ref());
        self.wake_waiters(host, usize::MAX);
        true
    }

    /// Starts delivery: `reader` gets the readiness notices and calls
    /// [`Reader::poll`]. `monitor` watches it (false: it is gone already).
    pub fn start(
        &self,
        reader: P,
        monitor: impl FnOnce(&P) -> bool,
        host: &mut impl Host<P>,
    ) -> Result<(), StartError> {
        if self.endpoint.is_closed() {
            return Err(StartError::Closed);
        }
        {
            let mut current = self.reader.lock();
            if current.is_some() {
                // A second reader would steal the first one's readiness.
                return Err(StartError::Started);
            }
            *current = Some(reader);
        }
        if !monitor(&reader) {
            self.close(host);
            return Err(StartError::Closed);
        }
        if !self.arm(host, Interest::Error) {
            // Nothing would ever be delivered.
            self.close(host);
            return Err(StartError::Refused);
        }
        if self.endpoint.wants_input() {
            self.arm(host, Interest::Input);
        }
        Ok(())
    }

    /// Hands the socket from `caller` (who must own it) to `to`, watched by
    /// `monitor` (`None`: `to` is gone); the old owner's monitor goes to
    /// `demonitor`. The backlog is forgotten (the new owner holds none of
    /// our messages). Answers the reader process, which is to follow the
    /// new owner.
    pub fn hand_over(
        &self,
        caller: &P,
        to: P,
        monitor: impl FnOnce(&P) -> Option<M>,
        demonitor: impl FnOnce(M),
    ) -> Result<Option<P>, HandOverError> {
        if self.endpoint.is_closed() {
            return Err(HandOverError::Closed);
        }
        let mut owner = self.owner.lock();
        if owner.0 != *caller {
            return Err(HandOverError::NotOwner);
        }
        // Monitor the new owner before letting go of the old one: a dead
        // process cannot be monitored, and the socket then stays as it was.
        let Some(watch) = monitor(&to) else {
            return Err(HandOverError::Dead);
        };
        if let Some(old) = owner.1.take() {
            demonitor(old);
        }
        let same = owner.0 == to;
        *owner = (to, Some(watch));
        // Forgotten before a read can see the new owner (`poll` takes the
        // owner, then the backlog), so nothing charged to it is erased.
        if !same {
            self.endpoint.backlog().forget();
        }
        drop(owner);
        Ok(self.reader())
    }

    /// Changes the active mode; when datagrams are now delivered, asks for
    /// input and wakes the waiters (a passive receive now fails).
    pub fn set_active(&self, active: Active, host: &mut impl Host<P>) -> Result<(), SocketError> {
        self.endpoint.set_active(active)?;
        if self.endpoint.wants_input() {
            self.arm(host, Interest::Input);
            self.wake_waiters(host, usize::MAX);
        }
        Ok(())
    }

    /// Registers `waiter` for a passive receive: it is woken (through
    /// [`Host::wake`]) when the socket is readable, closes or turns active.
    /// [`SocketError::Closed`], or `EINVAL` when datagrams are delivered
    /// (as gen_udp's `recv` on an active socket) or read elsewhere.
    pub fn wait(&self, waiter: P, host: &mut impl Host<P>) -> Result<(), SocketError> {
        if self.endpoint.is_closed() {
            return Err(SocketError::Closed);
        }
        if !self.endpoint.reads_data() || self.endpoint.active() != Active::Off {
            return Err(SocketError::Os(libc::EINVAL));
        }
        self.waiters
            .lock()
            .register(waiter, |process| host.is_alive(process));
        self.arm(host, Interest::Input);
        // Closed or made active meanwhile: nobody would wake it.
        if self.endpoint.is_closed() || self.endpoint.active() != Active::Off {
            self.wake_waiters(host, usize::MAX);
        }
        Ok(())
    }

    /// Unregisters `waiter`; no wake-up for it is sent after this returns.
    pub fn cancel_wait(&self, waiter: &P) {
        self.waiters.lock().cancel(waiter);
    }

    /// Processes registered by [`Reader::wait`].
    pub fn waiting(&self) -> usize {
        self.waiters.lock().len()
    }

    /// Wakes up to `n` live waiters, first registered first, skipping dead
    /// ones (at most [`WAKE_TRIES`] per call); true if any waits on.
    fn wake_waiters(&self, host: &mut impl Host<P>, n: usize) -> bool {
        let mut woken = 0;
        let mut tries = 0;
        while woken < n && tries < WAKE_TRIES.max(n) {
            // Woken under the lock: a waiter that cancels either is still
            // queued, and is not woken, or has its wake-up before the
            // cancel returns.
            let mut waiters = self.waiters.lock();
            let Some(waiter) = waiters.pop() else {
                return false;
            };
            tries += 1;
            if host.wake(&waiter) {
                woken += 1;
            }
        }
        !self.waiters.lock().is_empty()
    }

    /// Asks for the next notice of `interest`; false without a reader or
    /// when refused.
    fn arm(&self, host: &mut impl Host<P>, interest: Interest) -> bool {
        let reader = self.reader();
        reader.is_some_and(|reader| host.arm(&reader, interest))
    }

    /// Handles one notice: delivers waiting ICMP reports first (few, and
    /// what a prober waits for), then reads datagrams while the active
    /// mode, `budget` and the owner's backlog allow, and asks for the next
    /// readiness. In passive mode an input notice wakes one waiter instead.
    /// Error-queue entries wait in the endpoint's report table while the
    /// owner has no room.
    pub fn poll(&self, wake: Wake<P>, budget: Budget, host: &mut impl Host<P>) -> Poll<P> {
        if self.endpoint.is_closed() {
            return Poll::Closed;
        }
        let started = Instant::now();
        let mut ctx = Ready {
            owner: self.owner(),
            backlog: self.endpoint.backlog(),
            delivered: 0,
        };
        if let Wake::Resume { owner, queue_len } = wake {
            if owner == ctx.owner {
                ctx.backlog.observe(queue_len);
            }
        }
        let mut stalled = if wake == Wake::Error {
            let flowing = self
                .endpoint
                .drain_errors(|d| self.deliver(host, &mut ctx, &d));
            self.arm(host, Interest::Error);
            !flowing
        } else {
            !self
                .endpoint
                .flush_reports(|d| self.deliver(host, &mut ctx, &d))
        };
        if wake != Wake::Error {
            if self.endpoint.wants_input() {
                match self.read_datagrams(host, &mut ctx, budget, started) {
                    Read::Drained => {
                        self.arm(host, Interest::Input);
                    }
                    Read::Full => stalled = true,
                    // Still readable: called again after the host's other
                    // work, without a round trip through the poll set.
                    Read::Budget => return Poll::More(ctx.owner),
                }
            } else if wake == Wake::Input && self.wake_waiters(host, 1) {
                // Passive: the notice was asked for by waiters. One is
                // woken (it reads); ask again while others wait.
                self.arm(host, Interest::Input);
            }
        }
        match (stalled, ctx.delivered) {
            (false, _) => Poll::Done,
            (true, 0) => Poll::Paused(ctx.owner),
            (true, _) => Poll::Full(ctx.owner),
        }
    }

    /// The bytes a report or notice costs the owner.
    fn cost(&self, d: &Delivery<'_>) -> usize {
        match d {
            Delivery::Datagram { data, .. } => self.costs.message + data.len(),
            Delivery::Passive => self.costs.message,
            Delivery::IcmpError { .. } => self.costs.report,
            Delivery::PacketTooBig { entry, .. } => self.costs.report + entry.quoted.len(),
        }
    }

    /// Sends `delivery` to the owner if the backlog has room, and charges it.
    fn deliver(&self, host: &mut impl Host<P>, ctx: &mut Ready<'_, P>, d: &Delivery<'_>) -> bool {
        if ctx.backlog.room() == 0 {
            return false;
        }
        host.deliver(&ctx.owner, d);
        ctx.backlog.charge(self.cost(d));
        ctx.delivered += 1;
        true
    }

    /// Reads and delivers datagrams while the active mode, the budget and
    /// the owner's backlog allow. The backlog's room bounds how many are
    /// read (each may be as large as a slot), so it is overrun by less than
    /// one datagram.
    fn read_datagrams(
        &self,
        host: &mut impl Host<P>,
        ctx: &mut Ready<'_, P>,
        budget: Budget,
        started: Instant,
    ) -> Read {
        let mut read = 0;
        RECV_BATCH.with(|cell| {
            let Ok(mut batch) = cell.try_borrow_mut() else {
                return Read::Budget;
            };
            loop {
                let room = ctx.backlog.room();
                if room == 0 {
                    return Read::Full;
                }
                let wanted = budget
                    .datagrams
                    .saturating_sub(read)
                    .min(room.div_ceil(MAX_DATAGRAM + self.costs.message));
                let Ok(got) = self.endpoint.receive(&mut batch, wanted) else {
                    return Read::Drained;
                };
                if got.count == 0 {
                    return Read::Drained;
                }
                read += got.count;
                let datagrams = (0..batch.len()).filter_map(|i| batch.get(i));
                if self.batch {
                    let mut cost = self.costs.message;
                    for (_, data) in datagrams {
                        cost += self.costs.item + data.len();
                    }
                    host.deliver_batch(&ctx.owner, &batch);
                    ctx.backlog.charge(cost);
                    ctx.delivered += 1;
                } else {
                    let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
                    for (from, data) in datagrams {
                        let d = Delivery::Datagram {
                            from: from.unwrap_or(unspecified),
                            data,
                        };
                        host.deliver(&ctx.owner, &d);
                        ctx.backlog.charge(self.cost(&d));
                        ctx.delivered += 1;
                    }
                }
                if got.went_passive {
                    host.deliver(&ctx.owner, &Delivery::Passive);
                    ctx.backlog.charge(self.costs.message);
                }
                if !got.full {
                    return Read::Drained;
                }
                if read >= budget.datagrams || started.elapsed() >= budget.time {
                    return Read::Budget;
                }
            }
        })
    }
}
