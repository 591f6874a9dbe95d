//! Readiness from the BEAM's own poll set: `enif_select` on a socket's fd.
//!
//! Rustler's resources have no `stop` callback, and `enif_select` needs
//! one: the fd may only be closed once the emulator has taken it out of its
//! poll set, which it says by calling `stop`. So the select object is a
//! small resource type of its own, opened in `load` with
//! `enif_open_resource_type_x`. It holds the poll set's reference to the
//! socket; `stop` drops it, and the fd closes when the last holder (the
//! endpoint, or a call still using the socket) lets go.

use parking_lot::Mutex;
use plpmtud_udp::reader::Interest;
use plpmtud_udp::DfSocket;
use rustler::sys::{
    c_int, c_void, enif_alloc_resource, enif_open_resource_type_x, enif_release_resource,
    enif_select, ErlNifEnv, ErlNifEvent, ErlNifResourceDtor, ErlNifResourceFlags,
    ErlNifResourceStop, ErlNifResourceType, ErlNifResourceTypeInit,
};
use rustler::{Env, LocalPid};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

// ErlNifSelectFlags (erl_drv_nif.h) and enif_select's return bits (erl_nif.h).
const SELECT_READ: c_int = 1 << 0;
const SELECT_STOP: c_int = 1 << 2;
const SELECT_CANCEL: c_int = 1 << 3;
const SELECT_ERROR: c_int = 1 << 5;
const STOP_CALLED: c_int = 1 << 0;
const STOP_SCHEDULED: c_int = 1 << 1;
const SELECT_NOTSUP: c_int = 1 << 7;

static TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(std::ptr::null_mut());

/// The select object: the fd, and the poll set's hold on its socket.
struct SelectObj {
    fd: ErlNifEvent,
    state: Mutex<SelectState>,
}

struct SelectState {
    /// The poll set's reference; taken by `stop`.
    socket: Option<Arc<DfSocket>>,
    /// Set once STOP was asked: nothing is selected again.
    stopped: bool,
}

unsafe extern "C" fn select_dtor(_env: *mut ErlNifEnv, obj: *mut c_void) {
    // SAFETY: `obj` is a SelectObj written by `Select::new`; the emulator
    // calls the destructor once, after the last reference is gone.
    unsafe { std::ptr::drop_in_place(obj.cast::<SelectObj>()) };
}

unsafe extern "C" fn select_stop(
    _env: *mut ErlNifEnv,
    obj: *mut c_void,
    _event: ErlNifEvent,
    _is_direct_call: c_int,
) {
    // SAFETY: `obj` is a live SelectObj (the emulator holds a reference
    // while the fd is selected); only shared access is taken.
    let obj = unsafe { &*obj.cast::<SelectObj>() };
    let socket = obj.state.lock().socket.take();
    drop(socket);
}

/// Opens the select resource type; call from the NIF's `load`.
pub fn load(env: Env<'_>) -> bool {
    let init = ErlNifResourceTypeInit {
        dtor: select_dtor as *const ErlNifResourceDtor,
        stop: select_stop as *const ErlNifResourceStop,
        down: std::ptr::null(),
    };
    let mut tried = ErlNifResourceFlags::ERL_NIF_RT_CREATE;
    // SAFETY: called from `load` with its env; the name is NUL-terminated
    // and `init` outlives the call (the emulator copies it).
    let rt = unsafe {
        enif_open_resource_type_x(
            env.as_c_arg(),
            c"plpmtud_select".as_ptr(),
            &init,
            ErlNifResourceFlags::ERL_NIF_RT_CREATE,
            &mut tried,
        )
    };
    TYPE.store(rt.cast_mut(), Ordering::Release);
    !rt.is_null()
}

/// One reference to a select object, released on drop.
pub struct Select {
    obj: NonNull<SelectObj>,
}

// SAFETY: the object is only reached through `&SelectObj` (its state is
// behind a Mutex), and the emulator's resource refcount is thread-safe.
unsafe impl Send for Select {}
// SAFETY: as above.
unsafe impl Sync for Select {}

impl Drop for Select {
    fn drop(&mut self) {
        // SAFETY: we hold one reference, from `enif_alloc_resource`.
        unsafe { enif_release_resource(self.obj.as_ptr().cast::<c_void>()) };
    }
}

impl std::fmt::Debug for Select {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("fd", &self.obj().fd)
            .finish()
    }
}

impl Select {
    /// A select object for `socket`'s fd, holding `socket` until stopped.
    pub fn new(socket: Arc<DfSocket>) -> Option<Select> {
        let rt = TYPE.load(Ordering::Acquire);
        if rt.is_null() {
            return None;
        }
        let size = std::mem::size_of::<SelectObj>();
        // SAFETY: `rt` is our resource type, opened in `load`.
        let raw = unsafe { enif_alloc_resource(rt, size) }.cast::<SelectObj>();
        let obj = NonNull::new(raw)?;
        if raw.align_offset(std::mem::align_of::<SelectObj>()) != 0 {
            // Never seen: the emulator aligns resource data to 8 bytes. The
            // memory holds no SelectObj yet, so the destructor must not run
            // on it; leak it rather than drop garbage.
            return None;
        }
        let value = SelectObj {
            fd: socket.raw_fd(),
            state: Mutex::new(SelectState {
                socket: Some(socket),
                stopped: false,
            }),
        };
        // SAFETY: `raw` is fresh, aligned memory of SelectObj's size.
        unsafe { raw.write(value) };
        Some(Select { obj })
    }

    fn obj(&self) -> &SelectObj {
        // SAFETY: we hold a reference, so the object is alive and initialised.
        unsafe { self.obj.as_ref() }
    }

    /// Asks the poll set to send `{select, Obj, undefined, ready_input |
    /// ready_error}` to `pid` once, when the fd is ready. False when
    /// stopped or refused.
    pub fn arm(&self, env: Env<'_>, pid: &LocalPid, interest: Interest) -> bool {
        let obj = self.obj();
        let state = obj.state.lock();
        if state.stopped {
            return false;
        }
        let flags = match interest {
            Interest::Input => SELECT_READ,
            Interest::Error => SELECT_ERROR,
        };
        let undefined = crate::atoms::undefined().to_term(env).as_c_arg();
        // SAFETY: `obj` is our live select resource; its fd stays open while
        // `state.socket` holds the socket, which only `stop` (or `stop`
        // below, under this lock) takes; `stopped` is checked under the
        // same lock, so no select follows a STOP.
        let ret = unsafe {
            enif_select(
                env.as_c_arg(),
                obj.fd,
                flags,
                self.obj.as_ptr().cast::<c_void>(),
                pid.as_c_arg(),
                undefined,
            )
        };
        // Without error events (poll sets other than Linux's epoll), an
        // ERROR select is refused as unsupported: there is no error queue
        // to read there either.
        // Failures are INT_MIN | the ERL_NIF_SELECT_* bits.
        ret >= 0 || (interest == Interest::Error && ret & SELECT_NOTSUP != 0)
    }

    /// Takes the fd out of the poll set for good. The `stop` callback (now
    /// or once the poll set is done with it) drops the poll set's reference
    /// to the socket; if the fd was never selected, it is dropped here.
    pub fn stop(&self, env: Env<'_>) {
        let obj = self.obj();
        let mut state = obj.state.lock();
        if state.stopped {
            return;
        }
        state.stopped = true;
        if state.socket.is_none() {
            return;
        }
        let undefined = crate::atoms::undefined().to_term(env).as_c_arg();
        drop(state);
        // Cancel a pending error select first: OTP 25's STOP leaves the
        // reference an ERROR select holds on the object (every stopped
        // socket would leak its select object), while CANCEL releases it.
        // SAFETY: as in `arm`.
        unsafe {
            enif_select(
                env.as_c_arg(),
                obj.fd,
                SELECT_ERROR | SELECT_CANCEL,
                self.obj.as_ptr().cast::<c_void>(),
                std::ptr::null(),
                undefined,
            )
        };
        // SAFETY: as in `arm`; `stop` may run inside this call and takes the
        // lock itself, so it is not held here.
        let ret = unsafe {
            enif_select(
                env.as_c_arg(),
                obj.fd,
                SELECT_STOP,
                self.obj.as_ptr().cast::<c_void>(),
                std::ptr::null(),
                undefined,
            )
        };
        if ret < 0 || ret & (STOP_CALLED | STOP_SCHEDULED) == 0 {
            // Not in the poll set: nobody will call `stop`.
            let socket = obj.state.lock().socket.take();
            drop(socket);
        }
    }
}
