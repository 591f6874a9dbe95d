//! One DF authority per kernel socket. A [`DfGuard`] holds the policy the
//! socket was given by `set_df` and a lock: every send holds it shared, a
//! DF-off send ([`crate::DfSocket::send_fragmentable`]) and a policy change
//! hold it exclusive, so no send ever leaves with another caller's DF state
//! and the policy is always put back to the one `set_df` chose.
//!
//! Guards are found by the socket's identity (the inode of its fd), so
//! every handle on one kernel socket (an owned `DfSocket`, a duplicated fd,
//! each facade call on gen_udp's fd) shares one guard while any of them
//! lives. The table holds weak references and drops dead ones as it grows:
//! its size is bounded by the sockets alive plus as many again.

use crate::{DfPolicy, SocketError};
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::{Arc, Weak};

/// The DF lock and remembered policy of one kernel socket.
#[derive(Debug, Default)]
pub struct DfGuard {
    /// The policy `set_df` chose; `None` until set or first read from the
    /// kernel (under the exclusive lock, when no DF-off send can be running).
    policy: RwLock<Option<DfPolicy>>,
}

impl DfGuard {
    /// Held by every send: no DF-off send runs meanwhile.
    pub(crate) fn shared(&self) -> RwLockReadGuard<'_, Option<DfPolicy>> {
        self.policy.read()
    }

    /// Held by a policy change or a DF-off send: no other send runs meanwhile.
    pub(crate) fn exclusive(&self) -> RwLockWriteGuard<'_, Option<DfPolicy>> {
        self.policy.write()
    }
}

/// Live guards by socket identity, and the size at which dead ones are swept.
struct Table {
    guards: BTreeMap<(u64, u64), Weak<DfGuard>>,
    sweep_at: usize,
}

static TABLE: Mutex<Table> = parking_lot::const_mutex(Table {
    guards: BTreeMap::new(),
    sweep_at: 64,
});

/// The identity of the kernel socket behind `fd`: `(device, inode)`.
fn identity(fd: RawFd) -> Result<(u64, u64), SocketError> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a `stat` into the buffer; a bad fd is EBADF.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
        return Err(SocketError::last_os_error());
    }
    // SAFETY: fstat succeeded, so the struct is initialised.
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    Ok((stat.st_dev as u64, stat.st_ino as u64))
}

/// The guard of the socket behind `fd`: the one every live handle on that
/// socket shares, or a new one.
pub(crate) fn guard_for(fd: RawFd) -> Result<Arc<DfGuard>, SocketError> {
    let key = identity(fd)?;
    let mut table = TABLE.lock();
    if let Some(guard) = table.guards.get(&key).and_then(Weak::upgrade) {
        return Ok(guard);
    }
    if table.guards.len() >= table.sweep_at {
        table.guards.retain(|_, guard| guard.strong_count() > 0);
        table.sweep_at = (table.guards.len() * 2).max(64);
    }
    let guard = Arc::new(DfGuard::default());
    table.guards.insert(key, Arc::downgrade(&guard));
    Ok(guard)
}

/// Entries in the table, dead ones included (for tests of its bound).
pub fn table_len() -> usize {
    TABLE.lock().guards.len()
}
