//! The DF socket as a resource: conversion between terms and the
//! `Endpoint`, delivery of datagrams and Packet-Too-Big reports to the
//! controlling process, and error mapping.
//!
//! No thread per socket: the fd waits in the BEAM's own poll set
//! (`enif_select`, see [`crate::select`]). The readiness messages go to a
//! small reader process per socket (spawned by `plpmtud_socket:open/2`),
//! which calls [`socket_ready`]. What to read, for whom, and when to stop is
//! [`plpmtud_udp::reader::Reader`]'s; this module only shapes its
//! deliveries into gen_udp-like messages and sends them ([`Beam`]).

use crate::error::NifError;
use crate::select::Select;
use crate::{atoms, encode};
use plpmtud_udp::endpoint::{Active, Delivery, Endpoint};
use plpmtud_udp::reader::{
    Budget, Costs, HandOverError, Host, Interest, Poll, Reader, StartError, Wake, MAX_DATAGRAM,
};
use plpmtud_udp::{errno_name, DfPolicy, DfSocket, OpenOptions, RecvBatch, SocketError, Transport};
use rustler::{
    Atom, Binary, Encoder, Env, LocalPid, Monitor, NifResult, OwnedBinary, Resource, ResourceArc,
    Term,
};
use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A socket owned by one controlling process, closed when that process exits.
pub struct SocketResource {
    reader: Reader<LocalPid, Monitor>,
    /// Names the socket in `{:plpmtud_recv_ready, id}`.
    id: u64,
    select: Select,
}

#[rustler::resource_impl]
impl Resource for SocketResource {
    const IMPLEMENTS_DOWN: bool = true;

    /// The owner's exit closes the socket, and so does the reader's (a
    /// socket nobody reads for would stay open without delivering).
    fn down<'a>(&'a self, env: Env<'a>, pid: LocalPid, _monitor: Monitor) {
        if self.reader.is_party(&pid) {
            self.reader.close(&mut Beam::new(env, self, None));
        }
    }
}

impl SocketResource {
    /// The endpoint (the socket, its active mode and counters).
    fn endpoint(&self) -> &Endpoint {
        self.reader.endpoint()
    }
}

/// The reader's host on the BEAM: messages to processes, and the poll set.
struct Beam<'a, 'r> {
    env: Env<'a>,
    resource: &'r SocketResource,
    /// The socket's term in messages to the owner; `None` where nothing is
    /// delivered (closing from the `down` callback).
    socket: Option<Term<'a>>,
    /// The last source address and its term: a burst from one peer encodes
    /// it once.
    last_ip: Option<(IpAddr, Term<'a>)>,
}

impl<'a, 'r> Beam<'a, 'r> {
    fn new(env: Env<'a>, resource: &'r SocketResource, handle: Option<&Handle>) -> Self {
        Beam {
            env,
            resource,
            socket: handle.map(|h| h.encode(env)),
            last_ip: None,
        }
    }

    fn ip_term(&mut self, ip: IpAddr) -> Term<'a> {
        match self.last_ip {
            Some((seen, term)) if seen == ip => term,
            _ => {
                let term = encode_ip(self.env, ip);
                self.last_ip = Some((ip, term));
                term
            }
        }
    }
}

impl Host<LocalPid> for Beam<'_, '_> {
    fn deliver(&mut self, owner: &LocalPid, delivery: &Delivery<'_>) {
        let env = self.env;
        let Some(socket) = self.socket else {
            return;
        };
        let message = match delivery {
            Delivery::Datagram { from, data } => {
                let data = encode::binary(env, data);
                let ip = self.ip_term(from.ip());
                (atoms::plpmtud_udp(), socket, ip, from.port(), data).encode(env)
            }
            other => delivery_message(env, socket, other),
        };
        let _ = env.send(owner, message);
    }

    fn deliver_batch(&mut self, owner: &LocalPid, batch: &RecvBatch) {
        let env = self.env;
        let Some(socket) = self.socket else {
            return;
        };
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let items: Vec<Term<'_>> = batch_terms(env, batch)
            .into_iter()
            .map(|(from, data)| {
                let from = from.unwrap_or(unspecified);
                (self.ip_term(from.ip()), from.port(), data).encode(env)
            })
            .collect();
        let _ = env.send(owner, (atoms::plpmtud_udp_batch(), socket, items));
    }

    fn arm(&mut self, reader: &LocalPid, interest: Interest) -> bool {
        self.resource.select.arm(self.env, reader, interest)
    }

    fn wake(&mut self, waiter: &LocalPid) -> bool {
        let message = (atoms::plpmtud_recv_ready(), self.resource.id);
        self.env.send(waiter, message).is_ok()
    }

    fn is_alive(&self, process: &LocalPid) -> bool {
        self.env.is_process_alive(*process)
    }

    /// Takes the fd out of the poll set (its `stop` callback lets the fd
    /// close) and ends the reader process.
    fn closed(&mut self, reader: Option<&LocalPid>) {
        self.resource.select.stop(self.env);
        if let Some(reader) = reader {
            let _ = self.env.send(reader, atoms::plpmtud_closed());
        }
    }
}

pub(crate) type Handle = ResourceArc<SocketResource>;

impl SocketResource {
    /// The DF socket, or `Closed`.
    pub(crate) fn df_socket(&self) -> Result<std::sync::Arc<DfSocket>, SocketError> {
        self.endpoint().socket()
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
fn delivery_message<'a>(env: Env<'a>, socket: Term<'a>, d: &Delivery<'_>) -> Term<'a> {
    match d {
        Delivery::Datagram { from, data } => {
            let ip = encode_ip(env, from.ip());
            let data = encode::binary(env, data);
            (atoms::plpmtud_udp(), socket, ip, from.port(), data).encode(env)
        }
        Delivery::Passive => (atoms::plpmtud_udp_passive(), socket).encode(env),
        Delivery::IcmpError { errno, .. } => (
            atoms::plpmtud_udp_error(),
            socket,
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
            (atoms::plpmtud_ptb(), socket, report).encode(env)
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
        reader: Reader::new(endpoint, owner, batch, COSTS),
        id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        select,
    });
    let monitor = handle.monitor(Some(env), &owner);
    handle.reader.set_owner_monitor(monitor);
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
    match s.endpoint().socket().and_then(|sock| sock.send(&data)) {
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
            .endpoint()
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
/// the rest) or `{:error, n, reason}`. The list is walked only as far as it
/// is sent (a call costs its budget, however long the list): an improper
/// tail or an element that is not a binary is `ArgumentError` when it is
/// reached (`plpmtud_socket:send_batch/3` checks the whole list once,
/// before the first call, so that nothing is sent then).
fn send_batch<'a>(
    env: Env<'a>,
    s: Handle,
    list: Term<'a>,
    dest: Option<(Term<'a>, Term<'a>)>,
) -> NifResult<Term<'a>> {
    const CHUNK: usize = plpmtud_udp::BATCH_CHUNK;
    let dest = match dest {
        Some((ip, port)) => Some(decode_addr(ip, port)?),
        None => None,
    };
    let socket = match s.endpoint().socket() {
        Ok(socket) => socket,
        Err(e) => return Ok((atoms::error(), 0, reason(env, e)).encode(env)),
    };
    let started = std::time::Instant::now();
    let mut rest = list;
    let mut sent = 0usize;
    let mut chunk: Vec<Binary<'a>> = Vec::with_capacity(CHUNK);
    while !rest.is_empty_list() {
        chunk.clear();
        while chunk.len() < CHUNK && !rest.is_empty_list() {
            // A cell at a time: an improper tail is an error, never a panic.
            let (head, tail) = rest.list_get_cell()?;
            chunk.push(head.decode::<Binary<'a>>()?);
            rest = tail;
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
        if elapsed >= CALL_BUDGET && !rest.is_empty_list() {
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
    let monitor = |pid: &LocalPid| s.monitor(Some(env), pid).is_some();
    match s
        .reader
        .start(reader, monitor, &mut Beam::new(env, &s, None))
    {
        Ok(()) => atoms::ok().encode(env),
        Err(StartError::Closed) => error_reason(env, SocketError::Closed),
        // Started once, by `open/2`: a second reader would steal its readiness.
        Err(StartError::Started) => (atoms::error(), atoms::einval()).encode(env),
        // The poll set refused the fd (one above the emulator's limit of
        // descriptors): nothing would ever be delivered.
        Err(StartError::Refused) => (atoms::error(), atoms::emfile()).encode(env),
    }
}

/// Bytes charged to the owner's backlog per message on top of its data:
/// the tuple, the address and the binary's header in the owner's heap
/// (measured 160-280 bytes); per datagram of a batch message (measured
/// about 80 bytes); per error report on top of its quoted bytes, the map
/// (measured 330-400).
const COSTS: Costs = Costs {
    message: 320,
    item: 128,
    report: 512,
};

thread_local! {
    /// One datagram's buffer for `recv/2`, per scheduler thread (zeroing
    /// 64 KiB per call would cost more than the read).
    static RECV_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; MAX_DATAGRAM]);
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

/// Decodes `:ready_input`, `:ready_error` or `{:resume, pid, queue_len}`.
fn decode_wake(term: Term<'_>) -> NifResult<Wake<LocalPid>> {
    if let Ok(atom) = term.decode::<Atom>() {
        return match atom {
            a if a == atoms::ready_input() => Ok(Wake::Input),
            a if a == atoms::ready_error() => Ok(Wake::Error),
            _ => Err(rustler::Error::BadArg),
        };
    }
    let (tag, owner, queue_len): (Atom, LocalPid, u64) = term.decode()?;
    if tag != atoms::resume() {
        return Err(rustler::Error::BadArg);
    }
    let queue_len = usize::try_from(queue_len).unwrap_or(usize::MAX);
    Ok(Wake::Resume { owner, queue_len })
}

/// Called by the reader process on `{select, _, _, ready_input |
/// ready_error}`, or with `{:resume, owner, queue_len}` after a pause:
/// [`Reader::poll`] with the default budget (128 datagrams or 100 µs, its
/// time reported to the scheduler), delivering to the controlling process
/// while its backlog has room. Error-queue entries wait in the endpoint's
/// report table meanwhile (see [`plpmtud_udp::backlog`]).
///
/// `:ok`; `{:more, owner}` when it stopped at its budget with datagrams
/// still queued (nothing is armed: call again with `:ready_input`);
/// `{:full, owner}` when the backlog ran out of room after delivering some
/// and `{:paused, owner}` when it had no room at all (nothing is armed for
/// the waiting work: call again with `{:resume, owner, queue_len}`);
/// `:closed` when the reader should stop.
#[rustler::nif]
fn socket_ready<'a>(env: Env<'a>, s: Handle, event: Term<'a>) -> NifResult<Term<'a>> {
    if s.endpoint().is_closed() {
        return Ok(atoms::closed().encode(env));
    }
    let wake = decode_wake(event)?;
    let started = std::time::Instant::now();
    let poll = s
        .reader
        .poll(wake, Budget::default(), &mut Beam::new(env, &s, Some(&s)));
    if poll == Poll::Closed {
        return Ok(atoms::closed().encode(env));
    }
    report_time(env, started.elapsed());
    Ok(match poll {
        Poll::Done | Poll::Closed => atoms::ok().encode(env),
        Poll::More(owner) => (atoms::more(), owner).encode(env),
        Poll::Full(owner) => (atoms::full(), owner).encode(env),
        Poll::Paused(owner) => (atoms::paused(), owner).encode(env),
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
    with_recv_buf(|buf| match s.endpoint().try_recv(buf) {
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
    match s.reader.wait(env.pid(), &mut Beam::new(env, &s, None)) {
        Ok(()) => (atoms::ok(), s.id).encode(env),
        Err(e) => error_reason(env, e),
    }
}

/// Stops waiting (a `recv/2` that timed out): `:ok`. No wake-up for this
/// registration is sent after it returns.
fn recv_cancel(env: Env<'_>, s: Handle) -> Atom {
    s.reader.cancel_wait(&env.pid());
    atoms::ok()
}

/// Changes the active mode: `:ok`, or `{:error, :closed}` as every other
/// call on a closed socket. Waiting `recv/2` calls then answer
/// `{:error, :einval}`.
fn set_active<'a>(env: Env<'a>, s: Handle, active: Term<'a>) -> NifResult<Term<'a>> {
    let active = decode_active(active)?;
    Ok(
        match s.reader.set_active(active, &mut Beam::new(env, &s, None)) {
            Ok(()) => atoms::ok().encode(env),
            Err(e) => error_reason(env, e),
        },
    )
}

/// Hands the socket to `pid`; only the current owner may: `{:ok, reader}`
/// (the reader process, which the caller unlinks; `nil` before the reader
/// started). As gen_udp:
/// `{:error, :badarg}` for a pid that is not alive (the socket stays open
/// with its owner), `{:error, :closed}` for a closed socket.
#[rustler::nif]
fn socket_controlling_process<'a>(env: Env<'a>, s: Handle, pid: LocalPid) -> Term<'a> {
    let monitor = |pid: &LocalPid| s.monitor(Some(env), pid);
    let demonitor = |old: Monitor| {
        s.demonitor(Some(env), &old);
    };
    match s.reader.hand_over(&env.pid(), pid, monitor, demonitor) {
        // The reader, perhaps waiting on the old owner's backlog, links to
        // the new one and resumes.
        Ok(Some(reader)) => {
            let _ = env.send(&reader, (atoms::plpmtud_owner(), pid).encode(env));
            (atoms::ok(), reader).encode(env)
        }
        Ok(None) => (atoms::ok(), atoms::nil()).encode(env),
        Err(HandOverError::Closed) => error_reason(env, SocketError::Closed),
        Err(HandOverError::NotOwner) => (atoms::error(), atoms::not_owner()).encode(env),
        Err(HandOverError::Dead) => (atoms::error(), atoms::badarg()).encode(env),
    }
}

/// Turns UDP GSO for batches on or off.
fn set_gso<'a>(env: Env<'a>, s: Handle, enabled: bool) -> Term<'a> {
    match s.endpoint().socket() {
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
    if s.reader.close(&mut Beam::new(env, &s, None)) {
        // The owner's monitor holds the resource: drop it, or a long-lived
        // owner keeps every socket it ever closed.
        if let Some(monitor) = s.reader.take_owner_monitor() {
            s.demonitor(Some(env), &monitor);
        }
    }
    atoms::ok()
}

fn sockname<'a>(env: Env<'a>, s: Handle) -> Term<'a> {
    match s.endpoint().socket().and_then(|sock| sock.local_addr()) {
        Ok(addr) => (atoms::ok(), encode_addr(env, addr)).encode(env),
        Err(e) => error_reason(env, e),
    }
}

fn peername<'a>(env: Env<'a>, s: Handle) -> Term<'a> {
    match s.endpoint().socket().and_then(|sock| sock.peer()) {
        Ok(addr) => (atoms::ok(), encode_addr(env, addr)).encode(env),
        Err(e) => error_reason(env, e),
    }
}

/// Counters: datagrams and ICMP reports delivered, error-queue entries
/// dropped, reports coalesced or refused while the owner had no room; the
/// backlog's limit in bytes.
fn stats<'a>(env: Env<'a>, s: Handle) -> Term<'a> {
    let stats = s.endpoint().stats();
    encode::pairs(
        env,
        &[
            ("datagrams_delivered", stats.datagrams.encode(env)),
            ("errors_read", stats.errors.encode(env)),
            ("errors_dropped", stats.errors_dropped.encode(env)),
            ("reports_dropped", stats.reports_dropped.encode(env)),
            ("backlog", stats.backlog.encode(env)),
            ("closed", s.endpoint().is_closed().encode(env)),
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
/// [`crate::df::send_fragmentable`]). `target` may be `{:fd, fd}` (a
/// gen_udp socket) for one datagram ([`crate::df::send`]). `data` a list
/// is a batch ([`send_batch`]): `{:ok, n}`, `{:partial, n}` or
/// `{:error, n, reason}`; a fragmentable batch is `ArgumentError`.
#[rustler::nif]
fn socket_send<'a>(
    env: Env<'a>,
    target: Term<'a>,
    dest: Option<(Term<'a>, Term<'a>)>,
    data: Term<'a>,
    fragmentable: bool,
) -> NifResult<Term<'a>> {
    let Ok(s) = target.decode::<Handle>() else {
        return crate::df::send(env, target, dest, data.decode()?, fragmentable);
    };
    if fragmentable {
        return crate::df::send(env, target, dest, data.decode()?, true);
    }
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
