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

/// `UDP_SEGMENT` from `<linux/udp.h>` (not in the libc crate for glibc).
#[cfg(target_os = "linux")]
const UDP_SEGMENT: i32 = 103;
/// The most segments one GSO send may carry (`UDP_MAX_SEGMENTS`).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// The most payload one GSO send may carry (one UDP datagram before segmentation).
const GSO_MAX_BYTES: usize = 65_000;

/// How many datagrams from the front of `datagrams` can go in one GSO send:
/// equal sizes, optionally ending with one shorter datagram, within the
/// kernel's limits. Zero when fewer than two qualify.
pub fn gso_prefix_len(datagrams: &[&[u8]]) -> usize {
    let Some(first) = datagrams.first() else {
        return 0;
    };
    let segment = first.len();
    if segment == 0 {
        return 0;
    }
    let limit = GSO_MAX_SEGMENTS.min(GSO_MAX_BYTES / segment);
    let equal = datagrams
        .iter()
        .take(limit)
        .take_while(|d| d.len() == segment)
        .count();
    let with_tail = match datagrams.get(equal) {
        Some(tail) if equal < limit && !tail.is_empty() && tail.len() < segment => equal + 1,
        _ => equal,
    };
    if with_tail >= 2 {
        with_tail
    } else {
        0
    }
}

/// Sends `datagrams` (a [`gso_prefix_len`] prefix) as one buffer the kernel
/// cuts into segments of the first datagram's size (`UDP_SEGMENT`).
#[cfg(target_os = "linux")]
pub fn send_gso(
    fd: RawFd,
    datagrams: &[&[u8]],
    dest: Option<SocketAddr>,
) -> Result<usize, SocketError> {
    let segment = u16::try_from(datagrams.first().map_or(0, |d| d.len()))
        .map_err(|_| SocketError::Invalid("GSO segment too large"))?;
    let buffer: Vec<u8> = datagrams.concat();
    let dest = dest.map(SockAddr::from);
    let mut iov = libc::iovec {
        iov_base: buffer.as_ptr() as *mut libc::c_void,
        iov_len: buffer.len(),
    };
    // Room for one cmsghdr carrying a u16, 8-byte aligned.
    let mut control = [0u64; 4];
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(dest) = &dest {
        msg.msg_name = dest.as_ptr() as *mut libc::c_void;
        msg.msg_namelen = dest.len();
    }
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
    // SAFETY: `msg` has a control buffer of `msg_controllen` bytes, large
    // enough for one cmsghdr with a u16, so CMSG_FIRSTHDR is non-null and
    // CMSG_DATA points inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment);
    }
    // SAFETY: every pointer in `msg` is valid for the call; the kernel only reads.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(SocketError::last_os_error());
    }
    Ok(datagrams.len())
}

/// Without GSO nothing is sent this way.
#[cfg(not(target_os = "linux"))]
pub fn send_gso(
    _fd: RawFd,
    _datagrams: &[&[u8]],
    _dest: Option<SocketAddr>,
) -> Result<usize, SocketError> {
    Err(SocketError::Unsupported("UDP GSO (Linux only)"))
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

#[cfg(test)]
mod tests {
    use super::gso_prefix_len;

    #[test]
    fn gso_takes_equal_sizes_and_one_shorter_tail() {
        let a = [1u8; 1200];
        let b = [2u8; 700];
        assert_eq!(gso_prefix_len(&[&a, &a, &a, &b, &a]), 4);
        assert_eq!(gso_prefix_len(&[&a, &b]), 2);
        assert_eq!(gso_prefix_len(&[&a]), 0);
        assert_eq!(gso_prefix_len(&[&b, &a]), 0);
        assert_eq!(gso_prefix_len(&[]), 0);
        let many: Vec<&[u8]> = vec![&a; 100];
        assert_eq!(gso_prefix_len(&many), 54, "65000 / 1200 bytes");
        let small = [0u8; 100];
        let lots: Vec<&[u8]> = vec![&small; 100];
        assert_eq!(gso_prefix_len(&lots), 64);
    }
}
