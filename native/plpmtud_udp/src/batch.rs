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

/// Buffers for receiving up to [`RecvBatch::slots`] datagrams in one
/// `recvmmsg`: one slot of the largest UDP payload each, with room for each
/// source address. Allocate once and reuse (a thread-local does).
pub struct RecvBatch {
    slot_len: usize,
    data: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    lens: Vec<usize>,
    name_lens: Vec<usize>,
    count: usize,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("slots", &self.lens.len())
            .field("slot_len", &self.slot_len)
            .field("count", &self.count)
            .finish()
    }
}

impl RecvBatch {
    /// Room for `slots` datagrams of at most `slot_len` bytes each.
    pub fn new(slots: usize, slot_len: usize) -> RecvBatch {
        let slots = slots.max(1);
        RecvBatch {
            slot_len,
            data: vec![0; slots * slot_len],
            // SAFETY: all-zero is a valid sockaddr_storage.
            names: vec![unsafe { std::mem::zeroed() }; slots],
            lens: vec![0; slots],
            name_lens: vec![0; slots],
            count: 0,
        }
    }

    /// How many datagrams one call can take.
    pub fn slots(&self) -> usize {
        self.lens.len()
    }

    /// Datagrams held from the last receive.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the last receive took nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Datagram `i` of the last receive: its source (when the kernel gave
    /// one we can read) and payload.
    pub fn get(&self, i: usize) -> Option<(Option<SocketAddr>, &[u8])> {
        if i >= self.count {
            return None;
        }
        let start = i * self.slot_len;
        let data = self
            .data
            .get(start..start + self.lens[i].min(self.slot_len))?;
        let name_len = self.name_lens[i].min(std::mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: `names[i]` is a live sockaddr_storage; we view its first `name_len` bytes.
        let name = unsafe {
            std::slice::from_raw_parts(
                (&self.names[i] as *const libc::sockaddr_storage).cast::<u8>(),
                name_len,
            )
        };
        Some((parse_sockaddr(name), data))
    }

    /// Receives up to `max` (at most [`RecvBatch::slots`]) datagrams without
    /// blocking: how many came; [`SocketError::WouldBlock`] when none was queued.
    #[cfg(target_os = "linux")]
    pub fn recv(&mut self, fd: RawFd, max: usize) -> Result<usize, SocketError> {
        const MAX_SLOTS: usize = 64;
        self.count = 0;
        let count = max.min(self.slots()).min(MAX_SLOTS);
        if count == 0 {
            return Ok(0);
        }
        // SAFETY: all-zero is a valid value for these plain C structs.
        let mut iovecs: [libc::iovec; MAX_SLOTS] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut headers: [libc::mmsghdr; MAX_SLOTS] = unsafe { std::mem::zeroed() };
        let base = self.data.as_mut_ptr();
        for i in 0..count {
            // SAFETY: slot i lies within `data` (slots * slot_len bytes).
            iovecs[i].iov_base = unsafe { base.add(i * self.slot_len) }.cast();
            iovecs[i].iov_len = self.slot_len;
            let hdr = &mut headers[i].msg_hdr;
            hdr.msg_iov = &mut iovecs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        // SAFETY: `headers[..count]` point at iovecs into `data` and at
        // `names`, all live and writable for their lengths during the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                count as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(SocketError::last_os_error());
        }
        let n = n as usize;
        for (i, header) in headers.iter().enumerate().take(n) {
            self.lens[i] = header.msg_len as usize;
            self.name_lens[i] = header.msg_hdr.msg_namelen as usize;
        }
        self.count = n;
        Ok(n)
    }

    /// Without `recvmmsg`: one `recvfrom`.
    #[cfg(not(target_os = "linux"))]
    pub fn recv(&mut self, fd: RawFd, max: usize) -> Result<usize, SocketError> {
        self.count = 0;
        if max == 0 {
            return Ok(0);
        }
        let mut name_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: slot 0 and names[0] are live and writable for their lengths.
        let n = unsafe {
            libc::recvfrom(
                fd,
                self.data.as_mut_ptr().cast(),
                self.slot_len,
                libc::MSG_DONTWAIT,
                (&mut self.names[0] as *mut libc::sockaddr_storage).cast(),
                &mut name_len,
            )
        };
        if n < 0 {
            return Err(SocketError::last_os_error());
        }
        self.lens[0] = n as usize;
        self.name_lens[0] = name_len as usize;
        self.count = 1;
        Ok(1)
    }
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
