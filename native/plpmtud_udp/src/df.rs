//! The Don't-Fragment policy of a socket, set with `setsockopt` on the raw fd
//! (socket2 has no API for it).

use super::SocketError;
use crate::Family;
#[cfg(target_os = "linux")]
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::fd::{OwnedFd, RawFd};

/// Whether and how datagrams carry Don't-Fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DfPolicy {
    /// DF set and the kernel's PMTU cache ignored: probes larger than a size
    /// the kernel has cached still leave (`IP_PMTUDISC_PROBE`). Linux only.
    #[default]
    Probe,
    /// DF set; sends above the kernel's known PMTU fail with `EMSGSIZE`.
    Do,
    /// DF set unless the kernel's PMTU says the packet must be fragmented.
    Want,
    /// DF clear: routers may fragment.
    Dont,
}

impl DfPolicy {
    /// The policy's name (`"probe"`, `"do"`, `"want"`, `"dont"`).
    pub fn name(self) -> &'static str {
        match self {
            DfPolicy::Probe => "probe",
            DfPolicy::Do => "do",
            DfPolicy::Want => "want",
            DfPolicy::Dont => "dont",
        }
    }

    /// The policy of a name given by [`DfPolicy::name`].
    pub fn from_name(name: &str) -> Option<DfPolicy> {
        [
            DfPolicy::Probe,
            DfPolicy::Do,
            DfPolicy::Want,
            DfPolicy::Dont,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

pub(crate) fn set_int_option(
    fd: RawFd,
    level: i32,
    name: i32,
    value: i32,
) -> Result<(), SocketError> {
    let size = std::mem::size_of::<i32>() as libc::socklen_t;
    let ptr = (&value as *const i32).cast();
    // SAFETY: `ptr` points at an i32 of `size` bytes that outlives the call.
    if unsafe { libc::setsockopt(fd, level, name, ptr, size) } == 0 {
        Ok(())
    } else {
        Err(SocketError::last_os_error())
    }
}

pub(crate) fn get_int_option(fd: RawFd, level: i32, name: i32) -> Result<i32, SocketError> {
    let mut value: i32 = 0;
    let mut size = std::mem::size_of::<i32>() as libc::socklen_t;
    let ptr = (&mut value as *mut i32).cast();
    // SAFETY: `ptr` points at an i32 of `size` bytes, writable for the call.
    if unsafe { libc::getsockopt(fd, level, name, ptr, &mut size) } == 0 {
        Ok(value)
    } else {
        Err(SocketError::last_os_error())
    }
}

#[cfg(target_os = "linux")]
mod platform {
    use super::*;

    fn value(policy: DfPolicy) -> i32 {
        match policy {
            DfPolicy::Dont => libc::IP_PMTUDISC_DONT,
            DfPolicy::Want => libc::IP_PMTUDISC_WANT,
            DfPolicy::Do => libc::IP_PMTUDISC_DO,
            DfPolicy::Probe => libc::IP_PMTUDISC_PROBE,
        }
    }

    pub fn set(fd: RawFd, family: Family, policy: DfPolicy) -> Result<(), SocketError> {
        match family {
            Family::V4 => {
                set_int_option(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, value(policy))
            }
            Family::V6 => {
                // The IPV6_PMTUDISC_* values equal the IP_PMTUDISC_* ones.
                set_int_option(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_MTU_DISCOVER,
                    value(policy),
                )?;
                // Dual-stack sockets also send IPv4: best effort.
                let _ = set_int_option(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, value(policy));
                Ok(())
            }
        }
    }

    pub fn get(fd: RawFd, family: Family) -> Result<DfPolicy, SocketError> {
        let raw = match family {
            Family::V4 => get_int_option(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER)?,
            Family::V6 => get_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER)?,
        };
        [
            DfPolicy::Dont,
            DfPolicy::Want,
            DfPolicy::Do,
            DfPolicy::Probe,
        ]
        .into_iter()
        .find(|&p| value(p) == raw)
        .ok_or(SocketError::Unsupported("unknown IP_MTU_DISCOVER value"))
    }

    pub fn enable_recv_errors(fd: RawFd, family: Family) -> Result<(), SocketError> {
        match family {
            Family::V4 => set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1),
            Family::V6 => {
                set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)?;
                let _ = set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1);
                Ok(())
            }
        }
    }

    pub fn path_mtu(fd: RawFd, family: Family) -> Result<u32, SocketError> {
        let mtu = match family {
            Family::V4 => get_int_option(fd, libc::IPPROTO_IP, libc::IP_MTU)?,
            Family::V6 => get_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU)?,
        };
        u32::try_from(mtu).map_err(|_| SocketError::Os(libc::EINVAL))
    }

    /// `SIOCGSKNS` (Linux 4.9): an fd of the socket's network namespace.
    const SIOCGSKNS: u64 = 0x894C;

    pub fn netns_of(fd: RawFd) -> Result<OwnedFd, SocketError> {
        // SAFETY: SIOCGSKNS takes no argument and returns a new fd or -1.
        let ns = unsafe { libc::ioctl(fd, SIOCGSKNS as _) };
        if ns < 0 {
            return Err(SocketError::last_os_error());
        }
        // SAFETY: `ns` was just opened by the kernel for us alone.
        Ok(unsafe { OwnedFd::from_raw_fd(ns) })
    }

    pub fn enter_netns(ns: &OwnedFd) -> Result<(), SocketError> {
        // SAFETY: setns on an open namespace fd affects only this thread.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(SocketError::last_os_error());
        }
        Ok(())
    }

    /// `SO_NETNS_COOKIE` (Linux 5.14): names the socket's network namespace.
    const SO_NETNS_COOKIE: i32 = 71;

    pub fn netns_cookie(fd: RawFd) -> Result<u64, SocketError> {
        let mut value: u64 = 0;
        let mut size = std::mem::size_of::<u64>() as libc::socklen_t;
        let ptr = (&mut value as *mut u64).cast();
        // SAFETY: `ptr` points at a u64 of `size` bytes, writable for the call.
        if unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, SO_NETNS_COOKIE, ptr, &mut size) } == 0 {
            Ok(value)
        } else {
            Err(SocketError::last_os_error())
        }
    }
}

#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
mod platform {
    use super::*;

    #[cfg(target_os = "freebsd")]
    const IP_DONTFRAG: i32 = 67;
    #[cfg(not(target_os = "freebsd"))]
    const IP_DONTFRAG: i32 = 28;
    const IPV6_DONTFRAG: i32 = 62;

    pub fn set(fd: RawFd, family: Family, policy: DfPolicy) -> Result<(), SocketError> {
        let on = match policy {
            DfPolicy::Do => 1,
            DfPolicy::Dont => 0,
            DfPolicy::Probe => {
                return Err(SocketError::Unsupported("df policy probe (Linux only)"))
            }
            DfPolicy::Want => return Err(SocketError::Unsupported("df policy want (Linux only)")),
        };
        match family {
            Family::V4 => set_int_option(fd, libc::IPPROTO_IP, IP_DONTFRAG, on),
            Family::V6 => set_int_option(fd, libc::IPPROTO_IPV6, IPV6_DONTFRAG, on),
        }
    }

    pub fn get(fd: RawFd, family: Family) -> Result<DfPolicy, SocketError> {
        let raw = match family {
            Family::V4 => get_int_option(fd, libc::IPPROTO_IP, IP_DONTFRAG)?,
            Family::V6 => get_int_option(fd, libc::IPPROTO_IPV6, IPV6_DONTFRAG)?,
        };
        Ok(if raw != 0 {
            DfPolicy::Do
        } else {
            DfPolicy::Dont
        })
    }

    pub fn enable_recv_errors(_fd: RawFd, _family: Family) -> Result<(), SocketError> {
        Err(SocketError::Unsupported("error queue (Linux only)"))
    }

    pub fn path_mtu(_fd: RawFd, _family: Family) -> Result<u32, SocketError> {
        Err(SocketError::Unsupported("path MTU query (Linux only)"))
    }

    pub fn netns_cookie(_fd: RawFd) -> Result<u64, SocketError> {
        Err(SocketError::Unsupported("network namespaces (Linux only)"))
    }

    pub fn netns_of(_fd: RawFd) -> Result<OwnedFd, SocketError> {
        Err(SocketError::Unsupported("network namespaces (Linux only)"))
    }

    pub fn enter_netns(_ns: &OwnedFd) -> Result<(), SocketError> {
        Err(SocketError::Unsupported("network namespaces (Linux only)"))
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd"
)))]
mod platform {
    use super::*;

    pub fn set(_fd: RawFd, _family: Family, _policy: DfPolicy) -> Result<(), SocketError> {
        Err(SocketError::Unsupported("Don't-Fragment on this platform"))
    }

    pub fn get(_fd: RawFd, _family: Family) -> Result<DfPolicy, SocketError> {
        Err(SocketError::Unsupported("Don't-Fragment on this platform"))
    }

    pub fn enable_recv_errors(_fd: RawFd, _family: Family) -> Result<(), SocketError> {
        Err(SocketError::Unsupported("error queue (Linux only)"))
    }

    pub fn path_mtu(_fd: RawFd, _family: Family) -> Result<u32, SocketError> {
        Err(SocketError::Unsupported("path MTU query (Linux only)"))
    }

    pub fn netns_cookie(_fd: RawFd) -> Result<u64, SocketError> {
        Err(SocketError::Unsupported("network namespaces (Linux only)"))
    }

    pub fn netns_of(_fd: RawFd) -> Result<OwnedFd, SocketError> {
        Err(SocketError::Unsupported("network namespaces (Linux only)"))
    }

    pub fn enter_netns(_ns: &OwnedFd) -> Result<(), SocketError> {
        Err(SocketError::Unsupported("network namespaces (Linux only)"))
    }
}

pub(crate) use platform::{enable_recv_errors, enter_netns, netns_cookie, netns_of, path_mtu};

/// Sets `policy` on the socket `fd` of `family`.
pub fn set_df(fd: RawFd, family: Family, policy: DfPolicy) -> Result<(), SocketError> {
    platform::set(fd, family, policy)
}

/// Reads the socket's DF policy back from the kernel.
pub fn df(fd: RawFd, family: Family) -> Result<DfPolicy, SocketError> {
    platform::get(fd, family)
}
