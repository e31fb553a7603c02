//! SIGINT and SIGTERM as a flag (the only unsafe code of the server), and the file
//! descriptor limit.

use std::sync::atomic::{AtomicBool, Ordering};

static RECEIVED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Async-signal-safe: one atomic store.
    RECEIVED.store(true, Ordering::SeqCst);
}

/// Installs handlers for SIGINT and SIGTERM that only set a flag ([`received`]).
pub fn install() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `action` is fully initialised (zeroed, then the handler and an empty
        // mask set) before `sigaction` reads it, and the handler only does an atomic
        // store, which is async-signal-safe.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// True once SIGINT or SIGTERM arrived.
pub fn received() -> bool {
    RECEIVED.load(Ordering::SeqCst)
}

/// The open-file limits of this process.
#[derive(Debug, Clone, Copy)]
pub struct FdLimits {
    /// The soft limit before [`raise_fd_limit`].
    pub was: u64,
    /// The soft limit now.
    pub soft: u64,
    /// The hard limit (a process cannot raise it).
    pub hard: u64,
}

/// Raises the soft limit on open files to the hard limit (each connection is one file
/// descriptor).
pub fn raise_fd_limit() -> std::io::Result<FdLimits> {
    // SAFETY: `getrlimit`/`setrlimit` read and write only the `rlimit` we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let was = lim.rlim_cur as u64;
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(FdLimits {
            was,
            soft: lim.rlim_cur as u64,
            hard: lim.rlim_max as u64,
        })
    }
}
