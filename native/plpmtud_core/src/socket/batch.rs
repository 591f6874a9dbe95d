//! The raw libc calls socket2 lacks: `sendmmsg` and `recvmsg(MSG_ERRQUEUE)`.

use super::errqueue::{parse_control, parse_sockaddr};
use super::{ErrorEntry, SocketError, BATCH_CHUNK, QUOTED_MAX};
use socket2::SockAddr;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Sends up to [`BATCH_CHUNK`] datagrams in one `sendmmsg`; returns how many
/// the kernel took.
#[cfg(target_os = "linux")]
pub fn sendmmsg(
    fd: RawFd,
    datagrams: &[&[u8]],
    dest: Option<SocketAddr>,
) -> Result<usize, SocketError> {
    let count = datagrams.len().min(BATCH_CHUNK);
    if count == 0 {
        return Ok(0);
    }
    let dest = dest.map(SockAddr::from);
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut iovecs: [libc::iovec; BATCH_CHUNK] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut headers: [libc::mmsghdr; BATCH_CHUNK] = unsafe { std::mem::zeroed() };
    for i in 0..count {
        iovecs[i].iov_base = datagrams[i].as_ptr() as *mut libc::c_void;
        iovecs[i].iov_len = datagrams[i].len();
        let hdr = &mut headers[i].msg_hdr;
        hdr.msg_iov = &mut iovecs[i];
        hdr.msg_iovlen = 1;
        if let Some(dest) = &dest {
            hdr.msg_name = dest.as_ptr() as *mut libc::c_void;
            hdr.msg_namelen = dest.len();
        }
    }
    // SAFETY: `headers[..count]` point at iovecs and an address that outlive
    // the call; the kernel only reads the buffers.
    let n = unsafe { libc::sendmmsg(fd, headers.as_mut_ptr(), count as u32, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(SocketError::last_os_error());
    }
    Ok(n as usize)
}

/// Without `sendmmsg`: one `sendto` per datagram.
#[cfg(not(target_os = "linux"))]
pub fn sendmmsg(
    fd: RawFd,
    datagrams: &[&[u8]],
    dest: Option<SocketAddr>,
) -> Result<usize, SocketError> {
    let dest = dest.map(SockAddr::from);
    let mut sent = 0;
    for data in datagrams.iter().take(BATCH_CHUNK) {
        let (name, len) = match &dest {
            Some(d) => (d.as_ptr() as *const libc::sockaddr, d.len()),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `data` and `name` are valid for the call.
        let n = unsafe { libc::sendto(fd, data.as_ptr().cast(), data.len(), 0, name, len) };
        if n < 0 {
            return if sent > 0 {
                Ok(sent)
            } else {
                Err(SocketError::last_os_error())
            };
        }
        sent += 1;
    }
    Ok(sent)
}

/// Takes one entry off the error queue; `Ok(None)` when it is empty.
#[cfg(target_os = "linux")]
pub fn recv_error(fd: RawFd) -> Result<Option<ErrorEntry>, SocketError> {
    let mut data = [0u8; QUOTED_MAX];
    let mut control = [0u64; 64];
    // SAFETY: all-zero is a valid sockaddr_storage / msghdr.
    let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `msg` is valid and writable for its length.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if n < 0 {
        return match SocketError::last_os_error() {
            SocketError::WouldBlock => Ok(None),
            e => Err(e),
        };
    }
    let quoted = data[..(n as usize).min(QUOTED_MAX)].to_vec();
    let control_len = msg.msg_controllen.min(std::mem::size_of_val(&control));
    // SAFETY: the kernel wrote `control_len` bytes of `control`, a u64 array
    // viewed as bytes (alignment only decreases).
    let control_bytes =
        unsafe { std::slice::from_raw_parts(control.as_ptr().cast::<u8>(), control_len) };
    let name_len = (msg.msg_namelen as usize).min(std::mem::size_of_val(&name));
    // SAFETY: `name` is a live sockaddr_storage; we view its first `name_len` bytes.
    let name_bytes = unsafe {
        std::slice::from_raw_parts(
            (&name as *const libc::sockaddr_storage).cast::<u8>(),
            name_len,
        )
    };
    let dest = parse_sockaddr(name_bytes);
    Ok(Some(ErrorEntry {
        error: parse_control(control_bytes),
        dest,
        quoted,
    }))
}

/// Without an error queue nothing is ever queued.
#[cfg(not(target_os = "linux"))]
pub fn recv_error(_fd: RawFd) -> Result<Option<ErrorEntry>, SocketError> {
    Ok(None)
}
