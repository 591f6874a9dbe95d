//! Socket errors, with POSIX names like gen_udp's reasons.

use thiserror::Error;

/// Why a socket operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SocketError {
    /// The datagram is larger than the MTU the kernel knows for the path
    /// (`EMSGSIZE`); `mtu` is that MTU when the kernel could tell it.
    #[error("message too big for the path (kernel MTU {mtu:?})")]
    MessageTooBig {
        /// The kernel's path MTU for the destination, in IP bytes.
        mtu: Option<u32>,
    },
    /// The send buffer is full (`EAGAIN`); try again later.
    #[error("operation would block")]
    WouldBlock,
    /// The socket was closed.
    #[error("socket is closed")]
    Closed,
    /// The platform lacks the option (for example `IP_PMTUDISC_PROBE` off Linux).
    #[error("not supported on this platform: {0}")]
    Unsupported(&'static str),
    /// An argument the kernel would refuse, caught before the call.
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// Any other OS error, by errno.
    #[error("{name} (errno {errno})", name = errno_name(*.0), errno = .0)]
    Os(i32),
}

impl SocketError {
    /// The error of the last failed libc call.
    pub fn last_os_error() -> SocketError {
        SocketError::from(std::io::Error::last_os_error())
    }
}

impl From<std::io::Error> for SocketError {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::EMSGSIZE) => SocketError::MessageTooBig { mtu: None },
            Some(errno) if errno == libc::EAGAIN || errno == libc::EWOULDBLOCK => {
                SocketError::WouldBlock
            }
            Some(libc::ENOPROTOOPT) | Some(libc::EOPNOTSUPP) => {
                SocketError::Unsupported("socket option")
            }
            Some(errno) => SocketError::Os(errno),
            None => SocketError::Os(libc::EIO),
        }
    }
}

/// The POSIX name of `errno` in lower case (`"econnrefused"`), as gen_udp
/// reports reasons; `"eunknown"` for numbers not in the table.
pub fn errno_name(errno: i32) -> &'static str {
    const NAMES: &[(i32, &str)] = &[
        (libc::EACCES, "eacces"),
        (libc::EADDRINUSE, "eaddrinuse"),
        (libc::EADDRNOTAVAIL, "eaddrnotavail"),
        (libc::EAFNOSUPPORT, "eafnosupport"),
        (libc::EAGAIN, "eagain"),
        (libc::EALREADY, "ealready"),
        (libc::EBADF, "ebadf"),
        (libc::EBUSY, "ebusy"),
        (libc::ECONNABORTED, "econnaborted"),
        (libc::ECONNREFUSED, "econnrefused"),
        (libc::ECONNRESET, "econnreset"),
        (libc::EDESTADDRREQ, "edestaddrreq"),
        (libc::EEXIST, "eexist"),
        (libc::EFAULT, "efault"),
        (libc::EHOSTDOWN, "ehostdown"),
        (libc::EHOSTUNREACH, "ehostunreach"),
        (libc::EINTR, "eintr"),
        (libc::EINVAL, "einval"),
        (libc::EIO, "eio"),
        (libc::EISCONN, "eisconn"),
        (libc::EISDIR, "eisdir"),
        (libc::ELOOP, "eloop"),
        (libc::EMFILE, "emfile"),
        (libc::EMSGSIZE, "emsgsize"),
        (libc::ENAMETOOLONG, "enametoolong"),
        (libc::ENETDOWN, "enetdown"),
        (libc::ENETUNREACH, "enetunreach"),
        (libc::ENFILE, "enfile"),
        (libc::ENOBUFS, "enobufs"),
        (libc::ENODEV, "enodev"),
        (libc::ENOENT, "enoent"),
        (libc::ENOMEM, "enomem"),
        (libc::ENOPROTOOPT, "enoprotoopt"),
        (libc::ENOSPC, "enospc"),
        (libc::ENOSYS, "enosys"),
        (libc::ENOTCONN, "enotconn"),
        (libc::ENOTDIR, "enotdir"),
        (libc::ENOTSOCK, "enotsock"),
        (libc::EOPNOTSUPP, "eopnotsupp"),
        (libc::EPERM, "eperm"),
        (libc::EPIPE, "epipe"),
        (libc::EPROTONOSUPPORT, "eprotonosupport"),
        (libc::EPROTOTYPE, "eprototype"),
        (libc::EROFS, "erofs"),
        (libc::ESRCH, "esrch"),
        (libc::ETIMEDOUT, "etimedout"),
    ];
    NAMES
        .iter()
        .find(|(n, _)| *n == errno)
        .map_or("eunknown", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_from_io_and_name_like_gen_udp() {
        let e = |n| SocketError::from(std::io::Error::from_raw_os_error(n));
        assert_eq!(e(libc::EMSGSIZE), SocketError::MessageTooBig { mtu: None });
        assert_eq!(e(libc::EAGAIN), SocketError::WouldBlock);
        assert_eq!(e(libc::ECONNREFUSED), SocketError::Os(libc::ECONNREFUSED));
        assert_eq!(errno_name(libc::ECONNREFUSED), "econnrefused");
        assert_eq!(errno_name(99_999), "eunknown");
        // Opening a missing network namespace file fails with ENOENT.
        assert_eq!(errno_name(libc::ENOENT), "enoent");
        assert_eq!(errno_name(libc::ENOTDIR), "enotdir");
        assert_eq!(e(libc::EPERM).to_string(), "eperm (errno 1)");
    }
}
