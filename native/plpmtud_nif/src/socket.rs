//! The DF socket as a resource: conversion between terms and the
//! `Endpoint`, delivery of datagrams and Packet-Too-Big reports to the
//! controlling process, and error mapping.
//!
//! No thread per socket: the fd waits in the BEAM's own poll set
//! (`enif_select`, see [`crate::select`]). The readiness messages go to a
//! small reader process per socket (spawned by `plpmtud_socket:open/2`),
//! which calls [`socket_ready`]; that reads a bounded batch with `recvmmsg`,
//! sends gen_udp-shaped messages to the controlling process, and asks for
//! the next readiness.

use crate::error::NifError;
use crate::select::{Interest, Select};
use crate::{atoms, encode, list};
use parking_lot::Mutex;
use plpmtud_udp::endpoint::{Active, Delivery, Endpoint};
use plpmtud_udp::waiters::WaitQueue;
use plpmtud_udp::{errno_name, DfPolicy, DfSocket, OpenOptions, RecvBatch, SocketError, Transport};
use rustler::{
    Atom, Binary, Encoder, Env, LocalPid, Monitor, NifResult, OwnedBinary, Resource, ResourceArc,
    Term,
};
use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// EINVAL, as gen_udp's `recv` on an active socket.
const EINVAL: i32 = 22;
/// Dead waiters one wake-up may skip before it asks for the next readiness.
const WAKE_TRIES: usize = 4096;

/// A socket owned by one controlling process, closed when that process exits.
pub struct SocketResource {
    endpoint: Endpoint,
    owner: Mutex<(LocalPid, Option<Monitor>)>,
    /// The reader process that gets the select messages.
    reader: Mutex<Option<LocalPid>>,
    /// Processes waiting in `recv/2` for a datagram, first come first woken.
    waiters: Mutex<WaitQueue<LocalPid>>,
    /// Names the socket in `{:plpmtud_recv_ready, id}`.
    id: u64,
    select: Select,
    /// Deliver `{:plpmtud_udp_batch, s, [{ip, port, data}]}` per readiness.
    batch: bool,
}

#[rustler::resource_impl]
impl Resource for SocketResource {
    const IMPLEMENTS_DOWN: bool = true;

    /// The owner's exit closes the socket, and so does the reader's (a
    /// socket nobody reads for would stay open without delivering).
    fn down<'a>(&'a self, env: Env<'a>, pid: LocalPid, _monitor: Monitor) {
        let owner_died = self.owner.lock().0 == pid;
        let reader_died = *self.reader.lock() == Some(pid);
        if owner_died || reader_died {
            self.close(env);
        }
    }
}

impl SocketResource {
    /// Closes the endpoint, takes the fd out of the poll set (its `stop`
    /// callback lets the fd close) and ends the reader process.
    fn close(&self, env: Env<'_>) -> bool {
        if !self.endpoint.close() {
            return false;
        }
        self.select.stop(env);
        if let Some(reader) = self.reader.lock().take() {
            let _ = env.send(&reader, atoms::plpmtud_closed());
        }
        self.wake_waiters(env, usize::MAX);
        true
    }

    /// Sends `{:plpmtud_recv_ready, id}` to up to `n` live processes
    /// waiting in `recv/2` (they then try to read), skipping dead ones (at
    /// most [`WAKE_TRIES`] per call); true if any waits on.
    fn wake_waiters(&self, env: Env<'_>, n: usize) -> bool {
        let message = (atoms::plpmtud_recv_ready(), self.id).encode(env);
        let mut woken = 0;
        let mut tries = 0;
        while woken < n && tries < WAKE_TRIES.max(n) {
            // Sent under the lock: a waiter that cancels (`recv/2` timing
            // out) either is still queued, and is not woken, or has its
            // wake-up in its mailbox before the cancel returns.
            let mut waiters = self.waiters.lock();
            let Some(pid) = waiters.pop() else {
                return false;
            };
            tries += 1;
            if env.send(&pid, message).is_ok() {
                woken += 1;
            }
        }
        !self.waiters.lock().is_empty()
    }

    /// Asks for the next readiness the socket's mode needs; false when
    /// there is no reader or the poll set refused.
    fn arm(&self, env: Env<'_>, interest: Interest) -> bool {
        let reader = *self.reader.lock();
        reader.is_some_and(|reader| self.select.arm(env, &reader, interest))
    }
}

pub(crate) type Handle = ResourceArc<SocketResource>;

impl SocketResource {
    /// The DF socket, or `Closed`.
    pub(crate) fn df_socket(&self) -> Result<std::sync::Arc<DfSocket>, SocketError> {
        self.endpoint.socket()
    }
}

/// `{:error, reason}` with gen_udp-like reasons (see [`NifError`]).
fn error_reason(env: Env<'_>, e: SocketError) -> Term<'_> {
    NifError::from(e).to_term(env)
}

/// A gen_udp-like reason: a POSIX atom, `:eagain`, `:closed`, `{:emsgsize, mtu}`, ...
fn reason(env: Env<'_>, e: SocketError) -> Term<'_> {
    NifError::from(e).encode(env)
}

fn ok_or_error<'a, T: Encoder>(env: Env<'a>, result: Result<T, SocketError>) -> Term<'a> {
    match result {
        Ok(value) => (atoms::ok(), value).encode(env),
        Err(e) => error_reason(env, e),
    }
}

/// `{a, b, c, d}` or an 8-tuple.
pub fn encode_ip<'a>(env: Env<'a>, ip: IpAddr) -> Term<'a> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            (a, b, c, d).encode(env)
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments().map(|s| s.encode(env));
            rustler::types::tuple::make_tuple(env, &segments)
        }
    }
}

fn encode_addr<'a>(env: Env<'a>, addr: SocketAddr) -> Term<'a> {
    (encode_ip(env, addr.ip()), addr.port()).encode(env)
}

/// An integer in `0..=max`. rustler's own `u8`/`u16` decoders truncate
/// (70000 as u16 is 4464), so every narrow integer goes through here.
fn bounded(term: Term<'_>, max: u32) -> NifResult<u32> {
    let n: u32 = term.decode()?;
    if n > max {
        return Err(rustler::Error::BadArg);
    }
    Ok(n)
}

/// An `{a, b, c, d}` or 8-tuple address.
pub fn decode_ip(term: Term<'_>) -> NifResult<IpAddr> {
    if let Ok((a, b, c, d)) = term.decode::<(Term, Term, Term, Term)>() {
        let octet = |t| bounded(t, 0xFF).map(|n| n as u8);
        return Ok(IpAddr::V4(Ipv4Addr::new(
            octet(a)?,
            octet(b)?,
            octet(c)?,
            octet(d)?,
        )));
    }
    let elements = rustler::types::tuple::get_tuple(term)?;
    if elements.len() != 8 {
        return Err(rustler::Error::BadArg);
    }
    let mut segments = [0u16; 8];
    for (segment, t) in segments.iter_mut().zip(&elements) {
        *segment = bounded(*t, 0xFFFF)? as u16;
    }
    Ok(IpAddr::V6(Ipv6Addr::from(segments)))
}

pub(crate) fn decode_addr(ip: Term<'_>, port: Term<'_>) -> NifResult<SocketAddr> {
    Ok(SocketAddr::new(
        decode_ip(ip)?,
        bounded(port, 0xFFFF)? as u16,
    ))
}

pub(crate) fn decode_df(term: Term<'_>) -> NifResult<DfPolicy> {
    let name = term.atom_to_string()?;
    DfPolicy::from_name(&name).ok_or(rustler::Error::BadArg)
}

fn decode_active(term: Term<'_>) -> NifResult<Active> {
    if let Ok(flag) = term.decode::<bool>() {
        return Ok(if flag { Active::On } else { Active::Off });
    }
    if matches!(term.decode::<Atom>(), Ok(a) if a == atoms::once()) {
        return Ok(Active::Once);
    }
    match term.decode::<u32>()? {
        0 => Ok(Active::Off),
        n => Ok(Active::Count(n)),
    }
}

/// The message for one delivery to the controlling process.
fn delivery_message<'a>(env: Env<'a>, socket: &Handle, d: &Delivery<'_>) -> Term<'a> {
    match d {
        Delivery::Datagram { from, data } => {
            let ip = encode_ip(env, from.ip());
            let data = encode::binary(env, data);
            (atoms::plpmtud_udp(), socket.clone(), ip, from.port(), data).encode(env)
        }
        Delivery::Passive => (atoms::plpmtud_udp_passive(), socket.clone()).encode(env),
        Delivery::IcmpError { errno, .. } => (
            atoms::plpmtud_udp_error(),
            socket.clone(),
            atoms::named(env, errno_name(*errno)),
        )
            .encode(env),
        Delivery::PacketTooBig {
            mtu: reported,
            offender: from,
            entry,
        } => {
            let nil = atoms::nil().encode(env);
            let keys = [
                atoms::mtu(),
                atoms::offender(),
                atoms::dest(),
                atoms::quoted(),
            ]
            .map(|a| a.encode(env));
            let values = [
                reported.encode(env),
                from.map_or(nil, |ip| encode_ip(env, ip)),
                entry.dest.map_or(nil, |a| encode_addr(env, a)),
                encode::binary(env, &entry.quoted),
            ];
            let report = Term::map_from_arrays(env, &keys, &values).unwrap_or(nil);
            (atoms::plpmtud_ptb(), socket.clone(), report).encode(env)
        }
    }
}

/// Socket ids, for the wake-up messages of `recv/2`.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn new_handle(env: Env<'_>, endpoint: Endpoint, batch: bool) -> Result<Handle, SocketError> {
    // `None` only if the select resource type failed to load (then the NIF
    // would not have loaded either).
    let select = Select::new(endpoint.socket()?).ok_or(SocketError::Unsupported(
        "enif_select: no select resource type",
    ))?;
    let owner = env.pid();
    let handle = ResourceArc::new(SocketResource {
        endpoint,
        owner: Mutex::new((owner, None)),
        reader: Mutex::new(None),
        waiters: Mutex::new(WaitQueue::default()),
        id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        select,
        batch,
    });
    let monitor = handle.monitor(Some(env), &owner);
    handle.owner.lock().1 = monitor;
    Ok(handle)
}

/// Opens a socket owned by the caller: `{:ok, socket}` or `{:error, reason}`.
/// On a dirty IO scheduler: entering a network namespace opens a file.
#[rustler::nif(schedule = "DirtyIo")]
#[allow(clippy::too_many_arguments)]
fn socket_open<'a>(
    env: Env<'a>,
    ip: Term<'a>,
    port: Term<'a>,
    connect: Option<(Term<'a>, Term<'a>)>,
    df: Term<'a>,
    active: Term<'a>,
    recv_errors: bool,
    reuse_address: bool,
    netns: Option<String>,
    icmp: bool,
    batch: bool,
    recbuf: Option<u32>,
    backlog: Option<u64>,
) -> NifResult<Term<'a>> {
    let backlog = match backlog.map(usize::try_from) {
        None => None,
        Some(Ok(bytes)) if bytes > 0 => Some(bytes),
        Some(_) => return Err(rustler::Error::BadArg),
    };
    let connect = match connect {
        Some((ip, port)) => Some(decode_addr(ip, port)?),
        None => None,
    };
    let options = OpenOptions {
        bind: decode_addr(ip, port)?,
        connect,
        df: decode_df(df)?,
        recv_errors,
        reuse_address,
        recv_buffer: recbuf.map(|b| b as usize),
        transport: if icmp {
            Transport::IcmpEcho
        } else {
            Transport::Udp
        },
    };
    let active = decode_active(active)?;
    let socket = match netns {
        Some(path) => DfSocket::open_in_netns(&options, std::path::Path::new(&path)),
        None => DfSocket::open(&options),
    };
    let opened = socket.and_then(|socket| {
        let endpoint = Endpoint::new(socket, active, true);
        if let Some(bytes) = backlog {
            endpoint.backlog().set_limit(bytes);
        }
        new_handle(env, endpoint, batch)
    });
    Ok(ok_or_error(env, opened))
}

/// Wraps the fd of an existing UDP socket: a duplicate of it waits in the
/// poll set for error-queue entries (the original is never closed here).
#[rustler::nif]
fn socket_attach<'a>(
    env: Env<'a>,
    fd: i32,
    df: Term<'a>,
    recv_errors: bool,
) -> NifResult<Term<'a>> {
    let df = decode_df(df)?;
    let attached = DfSocket::attach_dup(fd).and_then(|socket| {
        socket.set_df(df)?;
        if recv_errors {
            socket.enable_recv_errors()?;
        }
        new_handle(env, Endpoint::new(socket, Active::Off, false), false)
    });
    Ok(ok_or_error(env, attached))
}

fn send_one<'a>(env: Env<'a>, s: Handle, data: Binary<'a>) -> Term<'a> {
    match s.endpoint.socket().and_then(|sock| sock.send(&data)) {
        Ok(_) => atoms::ok().encode(env),
        Err(e) => error_reason(env, e),
    }
}

fn send_one_to<'a>(
    env: Env<'a>,
    s: Handle,
    ip: Term<'a>,
    port: Term<'a>,
    data: Binary<'a>,
) -> NifResult<Term<'a>> {
    let dest = decode_addr(ip, port)?;
    Ok(
        match s
            .endpoint
            .socket()
            .and_then(|sock| sock.send_to(&data, dest))
        {
            Ok(_) => atoms::ok().encode(env),
            Err(e) => error_reason(env, e),
        },
    )
}

/// Work one call may do before it returns to the scheduler.
const CALL_BUDGET: std::time::Duration = std::time::Duration::from_micros(100);

/// Reports `elapsed` to the scheduler as a share of a 1 ms time slice.
fn report_time(env: Env<'_>, elapsed: std::time::Duration) -> bool {
    let percent = (elapsed.as_micros() / 10).clamp(1, 100) as i32;
    rustler::schedule::consume_timeslice(env, percent)
}

/// Sends datagrams from `list` in chunks (GSO or `sendmmsg`) until the list
/// ends, an error stops it, or about 100 µs of work is done (reported to
/// the scheduler): `{:ok, n}` (all sent), `{:partial, n}` (call again with
/// the rest) or `{:error, n, reason}`. An improper list or an element that
/// is not a binary is `ArgumentError`, raised before anything is sent.
fn send_batch<'a>(
    env: Env<'a>,
    s: Handle,
    list: Term<'a>,
    dest: Option<(Term<'a>, Term<'a>)>,
) -> NifResult<Term<'a>> {
    const CHUNK: usize = plpmtud_udp::BATCH_CHUNK;
    // Every element is checked before anything is sent, so a bad one raises
    // without a partial send.
    let list = list::checked::<Binary<'a>>(list)?;
    let dest = match dest {
        Some((ip, port)) => Some(decode_addr(ip, port)?),
        None => None,
    };
    let socket = match s.endpoint.socket() {
        Ok(socket) => socket,
        Err(e) => return Ok((atoms::error(), 0, reason(env, e)).encode(env)),
    };
    let started = std::time::Instant::now();
    let mut list = list.peekable();
    let mut sent = 0usize;
    let mut chunk: Vec<Binary<'a>> = Vec::with_capacity(CHUNK);
    while list.peek().is_some() {
        chunk.clear();
        for term in list.by_ref().take(CHUNK) {
            chunk.push(term.decode::<Binary<'a>>()?);
        }
        let views: Vec<&[u8]> = chunk.iter().map(|b| b.as_slice()).collect();
        let outcome = socket.send_batch(&views, dest);
        sent += outcome.sent;
        if let Some(e) = outcome.error {
            return Ok((atoms::error(), sent, reason(env, e)).encode(env));
        }
        if outcome.sent < views.len() {
            return Ok((atoms::partial(), sent).encode(env));
        }
        let elapsed = started.elapsed();
        if elapsed >= CALL_BUDGET && list.peek().is_some() {
            report_time(env, elapsed);
            return Ok((atoms::partial(), sent).encode(env));
        }
    }
    report_time(env, started.elapsed());
    Ok((atoms::ok(), sent).encode(env))
}

/// Starts delivery: `reader` is the process that gets the socket's select
/// messages and calls [`socket_ready`]. `:ok`, `{:error, :closed}`, or
/// `{:error, :einval}` when a reader was already started.
#[rustler::nif]
fn socket_start<'a>(env: Env<'a>, s: Handle, reader: LocalPid) -> Term<'a> {
    if s.endpoint.is_closed() {
        return error_reason(env, SocketError::Closed);
    }
    {
        let mut current = s.reader.lock();
        if current.is_some() {
            // Started once, by `open/2`: a second reader would steal its readiness.
            return (atoms::error(), atoms::einval()).encode(env);
        }
        *current = Some(reader);
    }
    if s.monitor(Some(env), &reader).is_none() {
        // The reader is already gone.
        s.close(env);
        return error_reason(env, SocketError::Closed);
    }
    if !s.arm(env, Interest::Error) {
        // The poll set refused the fd (one above the emulator's limit of
        // descriptors): nothing would ever be delivered.
        s.close(env);
        return (atoms::error(), atoms::emfile()).encode(env);
    }
    if s.endpoint.wants_input() {
        s.arm(env, Interest::Input);
    }
    atoms::ok().encode(env)
}

/// Datagrams read per `recvmmsg`.
const RECV_SLOTS: usize = 32;
/// Datagrams one readiness may deliver before the reader yields.
const READY_BUDGET: usize = 128;
/// The largest datagram a receive slot holds.
const MAX_DATAGRAM: usize = 65_536;
/// Bytes charged to the owner's backlog per message on top of its data:
/// the tuple, the address and the binary's header in the owner's heap
/// (measured 160-280 bytes).
const MESSAGE_COST: usize = 320;
/// Per datagram of a batch message (measured about 80 bytes).
const ITEM_COST: usize = 128;
/// Per error report on top of its quoted bytes: the map (measured 330-400).
const REPORT_COST: usize = 512;

thread_local! {
    static RECV_BATCH: RefCell<RecvBatch> = RefCell::new(RecvBatch::new(RECV_SLOTS, MAX_DATAGRAM));
    /// One datagram's buffer for `recv/2`, per scheduler thread (zeroing
    /// 64 KiB per call would cost more than the read).
    static RECV_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; MAX_DATAGRAM]);
}

/// The bytes a delivery is charged to the owner's backlog.
fn delivery_cost(d: &Delivery<'_>) -> usize {
    match d {
        Delivery::Datagram { data, .. } => MESSAGE_COST + data.len(),
        Delivery::Passive => MESSAGE_COST,
        Delivery::IcmpError { .. } => REPORT_COST,
        Delivery::PacketTooBig { entry, .. } => REPORT_COST + entry.quoted.len(),
    }
}

/// Sends `delivery` to the owner if the backlog has room, and charges it.
fn deliver(env: Env<'_>, s: &Handle, ctx: &mut Ready<'_>, delivery: &Delivery<'_>) -> bool {
    if ctx.backlog.room() == 0 {
        return false;
    }
    let _ = env.send(&ctx.owner, delivery_message(env, s, delivery));
    ctx.backlog.charge(delivery_cost(delivery));
    ctx.delivered += 1;
    true
}

/// Copies the batch's datagrams into one binary and returns sub-binaries
/// of it with their sources: one allocation per batch, not per datagram.
fn batch_terms<'a>(env: Env<'a>, batch: &RecvBatch) -> Vec<(Option<SocketAddr>, Term<'a>)> {
    let total: usize = (0..batch.len())
        .filter_map(|i| batch.get(i))
        .map(|(_, d)| d.len())
        .sum();
    let mut whole = OwnedBinary::new(total);
    let mut spans = Vec::with_capacity(batch.len());
    let mut at = 0;
    for (from, data) in (0..batch.len()).filter_map(|i| batch.get(i)) {
        whole.as_mut_slice()[at..at + data.len()].copy_from_slice(data);
        spans.push((from, at, data.len()));
        at += data.len();
    }
    let whole = Binary::from_owned(whole, env);
    spans
        .into_iter()
        .filter_map(|(from, at, len)| {
            let sub = whole.make_subbinary(at, len).ok()?;
            Some((from, sub.encode(env)))
        })
        .collect()
}

/// One call of [`socket_ready`]: the owner, its backlog (locked for the
/// call: only the reader delivers) and what was delivered.
struct Ready<'b> {
    owner: LocalPid,
    backlog: parking_lot::MutexGuard<'b, plpmtud_udp::backlog::Backlog>,
    delivered: usize,
}

/// How a read of datagrams ended.
enum Read {
    /// Nothing more queued: wait for readiness.
    Drained,
    /// The call's budget is spent with more queued.
    Budget,
    /// The owner's backlog has no room.
    Full,
}

/// Reads datagrams while the active mode, the call's budget and the
/// owner's backlog allow, and delivers them: one message per datagram, or
/// one per `recvmmsg` with `batch: true`. The backlog's room bounds how
/// many are read (each may be as large as a slot), so it is overrun by
/// less than one datagram.
fn read_datagrams<'a>(
    env: Env<'a>,
    s: &Handle,
    ctx: &mut Ready<'_>,
    started: std::time::Instant,
) -> Read {
    let mut read = 0;
    let mut last: Option<(IpAddr, Term<'a>)> = None;
    let socket_term = s.encode(env);
    let mut ip_term = |ip: IpAddr| match last {
        Some((seen, term)) if seen == ip => term,
        _ => {
            let term = encode_ip(env, ip);
            last = Some((ip, term));
            term
        }
    };
    RECV_BATCH.with(|cell| {
        let Ok(mut batch) = cell.try_borrow_mut() else {
            return Read::Budget;
        };
        loop {
            let room = ctx.backlog.room();
            if room == 0 {
                return Read::Full;
            }
            let wanted = (READY_BUDGET - read).min(room.div_ceil(MAX_DATAGRAM + MESSAGE_COST));
            let Ok(got) = s.endpoint.receive(&mut batch, wanted) else {
                return Read::Drained;
            };
            if got.count == 0 {
                return Read::Drained;
            }
            read += got.count;
            let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
            if s.batch {
                let mut cost = MESSAGE_COST;
                let items: Vec<Term<'a>> = batch_terms(env, &batch)
                    .into_iter()
                    .map(|(from, data)| {
                        let from = from.unwrap_or(unspecified);
                        (ip_term(from.ip()), from.port(), data).encode(env)
                    })
                    .collect();
                for (_, data) in (0..batch.len()).filter_map(|i| batch.get(i)) {
                    cost += ITEM_COST + data.len();
                }
                let _ = env.send(&ctx.owner, (atoms::plpmtud_udp_batch(), socket_term, items));
                ctx.backlog.charge(cost);
                ctx.delivered += 1;
            } else {
                for (from, data) in (0..batch.len()).filter_map(|i| batch.get(i)) {
                    let from = from.unwrap_or(unspecified);
                    let term = encode::binary(env, data);
                    let msg = (
                        atoms::plpmtud_udp(),
                        socket_term,
                        ip_term(from.ip()),
                        from.port(),
                        term,
                    );
                    let _ = env.send(&ctx.owner, msg);
                    ctx.backlog.charge(MESSAGE_COST + data.len());
                    ctx.delivered += 1;
                }
            }
            if got.went_passive {
                let _ = env.send(&ctx.owner, delivery_message(env, s, &Delivery::Passive));
                ctx.backlog.charge(MESSAGE_COST);
            }
            if !got.full {
                return Read::Drained;
            }
            if read >= READY_BUDGET || started.elapsed() >= CALL_BUDGET {
                return Read::Budget;
            }
        }
    })
}

/// What [`socket_ready`] was called for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Event {
    Input,
    Error,
    Resume,
}

/// Decodes `:ready_input`, `:ready_error` or `{:resume, pid, queue_len}`;
/// the queue length of the owner tightens its backlog.
fn decode_event(term: Term<'_>, ctx: &mut Ready<'_>) -> NifResult<Event> {
    if let Ok(atom) = term.decode::<Atom>() {
        return match atom {
            a if a == atoms::ready_input() => Ok(Event::Input),
            a if a == atoms::ready_error() => Ok(Event::Error),
            _ => Err(rustler::Error::BadArg),
        };
    }
    let (tag, pid, queue_len): (Atom, LocalPid, u64) = term.decode()?;
    if tag != atoms::resume() {
        return Err(rustler::Error::BadArg);
    }
    if pid == ctx.owner {
        ctx.backlog
            .observe(usize::try_from(queue_len).unwrap_or(usize::MAX));
    }
    Ok(Event::Resume)
}

/// Called by the reader process on `{select, _, _, ready_input |
/// ready_error}`, or with `{:resume, owner, queue_len}` after a pause:
/// reads what is ready (a bounded batch, its time reported to the
/// scheduler), delivers it to the controlling process while the owner's
/// backlog has room, and asks for the next readiness. Error-queue entries
/// wait in the endpoint's report table meanwhile (see
/// [`plpmtud_udp::backlog`]).
///
/// `:ok`; `{:more, owner}` when it stopped at its budget with datagrams
/// still queued (nothing is armed: call again with `:ready_input`);
/// `{:full, owner}` when the backlog ran out of room after delivering some
/// and `{:paused, owner}` when it had no room at all (nothing is armed for
/// the waiting work: call again with `{:resume, owner, queue_len}`);
/// `:closed` when the reader should stop.
#[rustler::nif]
fn socket_ready<'a>(env: Env<'a>, s: Handle, event: Term<'a>) -> NifResult<Term<'a>> {
    if s.endpoint.is_closed() {
        return Ok(atoms::closed().encode(env));
    }
    let started = std::time::Instant::now();
    let mut ctx = Ready {
        owner: s.owner.lock().0,
        backlog: s.endpoint.backlog(),
        delivered: 0,
    };
    let event = decode_event(event, &mut ctx)?;
    // Reports first: few, and what a prober waits for.
    let mut stalled = if event == Event::Error {
        let flowing = s.endpoint.drain_errors(|d| deliver(env, &s, &mut ctx, &d));
        s.arm(env, Interest::Error);
        !flowing
    } else {
        !s.endpoint.flush_reports(|d| deliver(env, &s, &mut ctx, &d))
    };
    if event != Event::Error {
        if s.endpoint.wants_input() {
            match read_datagrams(env, &s, &mut ctx, started) {
                Read::Drained => {
                    s.arm(env, Interest::Input);
                }
                Read::Full => stalled = true,
                Read::Budget => {
                    // Still readable: the reader calls again after the
                    // scheduler's other work, without a round trip through
                    // the poll set.
                    report_time(env, started.elapsed());
                    return Ok((atoms::more(), ctx.owner).encode(env));
                }
            }
        } else if event == Event::Input && s.wake_waiters(env, 1) {
            // Passive: the readiness was asked for by `recv/2` waiters.
            // Wake one (it reads); ask again while others wait.
            s.arm(env, Interest::Input);
        }
    }
    report_time(env, started.elapsed());
    Ok(match (stalled, ctx.delivered) {
        (false, _) => atoms::ok().encode(env),
        (true, 0) => (atoms::paused(), ctx.owner).encode(env),
        (true, _) => (atoms::full(), ctx.owner).encode(env),
    })
}

fn recv_result<'a>(
    env: Env<'a>,
    got: Result<(usize, SocketAddr), SocketError>,
    buf: &[u8],
) -> Term<'a> {
    match got {
        Ok((len, from)) => {
            let data = encode::binary(env, &buf[..len]);
            (atoms::ok(), (encode_ip(env, from.ip()), from.port(), data)).encode(env)
        }
        Err(SocketError::WouldBlock) => (atoms::error(), atoms::timeout()).encode(env),
        Err(e) => error_reason(env, e),
    }
}

/// Receives one queued datagram in passive mode without blocking, on a
/// normal scheduler: `{:ok, {ip, port, data}}`, `{:error, :eagain}` when
/// none is queued, or `{:error, reason}`.
fn recv_nowait<'a>(env: Env<'a>, s: Handle) -> Term<'a> {
    with_recv_buf(|buf| match s.endpoint.try_recv(buf) {
        Err(SocketError::WouldBlock) => (atoms::error(), atoms::eagain()).encode(env),
        other => recv_result(env, other, buf),
    })
}

/// Runs `f` with this thread's receive buffer (a fresh one if it is in use).
fn with_recv_buf<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    RECV_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut vec![0u8; MAX_DATAGRAM]),
    })
}

/// Registers the caller as waiting in `recv/2` for a datagram: when the
/// socket is readable (or closes, or turns active) the caller gets
/// `{:plpmtud_recv_ready, id}` and tries `socket_recv_nowait` again.
/// `{:ok, id}`, `{:error, :closed}` or `{:error, :einval}` (active).
fn recv_wait<'a>(env: Env<'a>, s: Handle) -> Term<'a> {
    if s.endpoint.is_closed() {
        return error_reason(env, SocketError::Closed);
    }
    if !s.endpoint.reads_data() || s.endpoint.active() != Active::Off {
        return error_reason(env, SocketError::Os(EINVAL));
    }
    let me = env.pid();
    s.waiters
        .lock()
        .register(me, |pid| env.is_process_alive(*pid));
    s.arm(env, Interest::Input);
    // Closed or made active meanwhile: nobody would wake us.
    if s.endpoint.is_closed() || s.endpoint.active() != Active::Off {
        s.wake_waiters(env, usize::MAX);
    }
    (atoms::ok(), s.id).encode(env)
}

/// Stops waiting (a `recv/2` that timed out): `:ok`. No wake-up for this
/// registration is sent after it returns.
fn recv_cancel(env: Env<'_>, s: Handle) -> Atom {
    s.waiters.lock().cancel(&env.pid());
    atoms::ok()
}

/// Changes the active mode: `:ok`, or `{:error, :closed}` as every other
/// call on a closed socket.
fn set_active<'a>(env: Env<'a>, s: Handle, active: Term<'a>) -> NifResult<Term<'a>> {
    let active = decode_active(active)?;
    Ok(match s.endpoint.set_active(active) {
        Ok(()) => {
            if s.endpoint.wants_input() {
                s.arm(env, Interest::Input);
                // Waiting `recv/2` calls now answer `{:error, :einval}`.
                s.wake_waiters(env, usize::MAX);
            }
            atoms::ok().encode(env)
        }
        Err(e) => error_reason(env, e),
    })
}

/// Hands the socket to `pid`; only the current owner may: `{:ok, reader}`
/// (the reader process, which the caller unlinks; `nil` before the reader
/// started). As gen_udp:
/// `{:error, :badarg}` for a pid that is not alive (the socket stays open
/// with its owner), `{:error, :closed}` for a closed socket.
#[rustler::nif]
fn socket_controlling_process<'a>(env: Env<'a>, s: Handle, pid: LocalPid) -> Term<'a> {
    if s.endpoint.is_closed() {
        return error_reason(env, SocketError::Closed);
    }
    let mut owner = s.owner.lock();
    if owner.0 != env.pid() {
        return (atoms::error(), atoms::not_owner()).encode(env);
    }
    // Monitor the new owner before letting go of the old one: a dead pid
    // cannot be monitored, and the socket then stays as it was.
    let Some(monitor) = s.monitor(Some(env), &pid) else {
        return (atoms::error(), atoms::badarg()).encode(env);
    };
    if let Some(old) = owner.1.take() {
        s.demonitor(Some(env), &old);
    }
    let same = owner.0 == pid;
    *owner = (pid, Some(monitor));
    // The new owner holds none of our messages: forgotten before a read
    // can see the new owner (`socket_ready` takes the owner, then the
    // backlog), so nothing charged to it is erased. The reader, perhaps
    // waiting on the old owner's backlog, links to the new one and resumes.
    if !same {
        s.endpoint.backlog().forget();
    }
    drop(owner);
    let reader = *s.reader.lock();
    match reader {
        Some(reader) => {
            let _ = env.send(&reader, (atoms::plpmtud_owner(), pid).encode(env));
            (atoms::ok(), reader).encode(env)
        }
        None => (atoms::ok(), atoms::nil()).encode(env),
    }
}

/// Turns UDP GSO for batches on or off.
fn set_gso<'a>(env: Env<'a>, s: Handle, enabled: bool) -> Term<'a> {
    match s.endpoint.socket() {
        Ok(sock) => {
            sock.set_gso(enabled);
            (atoms::ok(), sock.gso_enabled()).encode(env)
        }
        Err(e) => error_reason(env, e),
    }
}

/// Closes at once: the fd leaves the poll set and closes (when its `stop`
/// callback runs), the reader process ends.
#[rustler::nif]
fn socket_close(env: Env<'_>, s: Handle) -> Atom {
    if s.close(env) {
        // The owner's monitor holds the resource: drop it, or a long-lived
        // owner keeps every socket it ever closed.
        let monitor = s.owner.lock().1.take();
        if let Some(monitor) = monitor {
            s.demonitor(Some(env), &monitor);
        }
    }
    atoms::ok()
}

fn sockname<'a>(env: Env<'a>, s: Handle) -> Term<'a> {
    match s.endpoint.socket().and_then(|sock| sock.local_addr()) {
        Ok(addr) => (atoms::ok(), encode_addr(env, addr)).encode(env),
        Err(e) => error_reason(env, e),
    }
}

fn peername<'a>(env: Env<'a>, s: Handle) -> Term<'a> {
    match s.endpoint.socket().and_then(|sock| sock.peer()) {
        Ok(addr) => (atoms::ok(), encode_addr(env, addr)).encode(env),
        Err(e) => error_reason(env, e),
    }
}

/// Counters: datagrams and ICMP reports delivered, error-queue entries
/// dropped, reports coalesced or refused while the owner had no room; the
/// backlog's limit in bytes.
fn stats<'a>(env: Env<'a>, s: Handle) -> Term<'a> {
    let stats = s.endpoint.stats();
    encode::pairs(
        env,
        &[
            ("datagrams_delivered", stats.datagrams.encode(env)),
            ("errors_read", stats.errors.encode(env)),
            ("errors_dropped", stats.errors_dropped.encode(env)),
            ("reports_dropped", stats.reports_dropped.encode(env)),
            ("backlog", stats.backlog.encode(env)),
            ("closed", s.endpoint.is_closed().encode(env)),
        ],
    )
}

/// The name of an atom term (a mode, an option or an item).
fn name_of(term: Term<'_>) -> NifResult<String> {
    term.atom_to_string()
}

/// The one send: `data` a binary is one datagram to `dest` (`{ip, port}`),
/// or to the connected peer when `dest` is `nil`: `:ok` or `{:error,
/// reason}`; with `fragmentable` it leaves with DF off (see
/// [`crate::df::send_fragmentable`]; `target` may then be `{:fd, fd}`).
/// `data` a list is a batch ([`send_batch`]): `{:ok, n}`, `{:partial, n}`
/// or `{:error, n, reason}`; a fragmentable batch is `ArgumentError`.
#[rustler::nif]
fn socket_send<'a>(
    env: Env<'a>,
    target: Term<'a>,
    dest: Option<(Term<'a>, Term<'a>)>,
    data: Term<'a>,
    fragmentable: bool,
) -> NifResult<Term<'a>> {
    if fragmentable {
        return crate::df::send_fragmentable(env, target, dest, data.decode()?);
    }
    let s: Handle = target.decode()?;
    if data.is_list() {
        return send_batch(env, s, data, dest);
    }
    let data: Binary<'a> = data.decode()?;
    match dest {
        Some((ip, port)) => send_one_to(env, s, ip, port, data),
        None => Ok(send_one(env, s, data)),
    }
}

/// The one receive entry point of `recv/2`, by `op`: `:nowait`
/// ([`recv_nowait`]), `:wait` ([`recv_wait`]) or `:cancel` ([`recv_cancel`]).
#[rustler::nif]
fn socket_recv<'a>(env: Env<'a>, s: Handle, op: Term<'a>) -> NifResult<Term<'a>> {
    match name_of(op)?.as_str() {
        "nowait" => Ok(recv_nowait(env, s)),
        "wait" => Ok(recv_wait(env, s)),
        "cancel" => Ok(recv_cancel(env, s).encode(env)),
        _ => Err(rustler::Error::BadArg),
    }
}

/// Sets one option: `:active` ([`set_active`]), `:gso` ([`set_gso`]) or
/// `:df` ([`crate::df::set_df`]; `target` may be `{:fd, fd}`).
#[rustler::nif]
fn socket_setopt<'a>(
    env: Env<'a>,
    target: Term<'a>,
    option: Term<'a>,
    value: Term<'a>,
) -> NifResult<Term<'a>> {
    match name_of(option)?.as_str() {
        "df" => crate::df::set_df(env, target, value),
        "active" => set_active(env, target.decode()?, value),
        "gso" => Ok(set_gso(env, target.decode()?, value.decode()?)),
        _ => Err(rustler::Error::BadArg),
    }
}

/// Reads one item: `:sockname` ([`sockname`]), `:peername` ([`peername`]),
/// `:stats` ([`stats`]), `:df` ([`crate::df::df`]) or `{:path_mtu, dest}`
/// ([`crate::df::path_mtu`], `dest` `nil` for the connected peer); `:df`
/// and `:path_mtu` take `{:fd, fd}` too.
#[rustler::nif]
fn socket_info<'a>(env: Env<'a>, target: Term<'a>, item: Term<'a>) -> NifResult<Term<'a>> {
    if let Ok((tag, dest)) = item.decode::<(Term<'a>, Option<(Term<'a>, Term<'a>)>)>() {
        if name_of(tag)? != "path_mtu" {
            return Err(rustler::Error::BadArg);
        }
        return crate::df::path_mtu(env, target, dest);
    }
    match name_of(item)?.as_str() {
        "df" => crate::df::df(env, target),
        "sockname" => Ok(sockname(env, target.decode()?)),
        "peername" => Ok(peername(env, target.decode()?)),
        "stats" => Ok(stats(env, target.decode()?)),
        _ => Err(rustler::Error::BadArg),
    }
}

/// Sets `TCP_MAXSEG` on the TCP socket `fd` (gen_tcp's `inet:getfd/1`) and
/// reads it back: `{:ok, mss}` or `{:error, reason}`.
#[rustler::nif]
fn tcp_set_mss(env: Env<'_>, fd: i32, mss: u32) -> Term<'_> {
    let result = (|| {
        if fd < 0 {
            return Err(SocketError::Invalid("negative fd"));
        }
        let mss = i32::try_from(mss).map_err(|_| SocketError::Invalid("mss too large"))?;
        plpmtud_udp::set_tcp_mss(fd, mss)
    })();
    ok_or_error(env, result)
}
