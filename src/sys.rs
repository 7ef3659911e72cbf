//! OS glue that needs `unsafe`: noticing `fork()` without a system call
//! per use. One of the two places `unsafe` is allowed (the other is
//! `src/ffi`); it imports nothing from the crate, so any layer may use it.
//!
//! Nonce pools (`crypto::nonce`) and reserved invocation ranges
//! (`store::cell::Usage`) are tagged with the process that filled them, so
//! a forked child never spends its parent's. Reading the process id is a
//! `getpid` system call on glibc (no caching since 2.25): ~90 ns, more than
//! a 64-byte AES-GCM. This module caches the id and registers a
//! `pthread_atfork` child handler that clears the cache, so the next read in
//! the child asks the kernel again.
//!
//! What the handler cannot see: a child created by the raw `clone`/`fork`
//! system call or by glibc's `_Fork()`, which skip atfork handlers (and
//! `vfork`, whose child must only `exec` or `_exit`). Such a child keeps
//! its parent's cached id, as every user-space marker is copied. On glibc
//! the handler is registered with this library's `__dso_handle`, so it is
//! removed if the library is unloaded (`dlclose`).

use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

/// The cached process id; 0 when unknown (no process has id 0).
static PID: AtomicU32 = AtomicU32::new(0);
static HOOK: Once = Once::new();
/// Whether the child handler is registered (only then is the id cached).
static HOOKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The calling process's id, as [`std::process::id`], without a system
/// call once cached.
#[inline]
pub(crate) fn current_pid() -> u32 {
    match PID.load(Ordering::Acquire) {
        0 => refresh(),
        pid => pid,
    }
}

#[cold]
fn refresh() -> u32 {
    HOOK.call_once(|| HOOKED.store(install(), Ordering::Release));
    let pid = std::process::id();
    if HOOKED.load(Ordering::Acquire) {
        PID.store(pid, Ordering::Release);
    }
    pid
}

/// Runs in the child, in the thread that called `fork()`, before `fork()`
/// returns there: only async-signal-safe work (one atomic store).
extern "C" fn forget_pid_in_child() {
    PID.store(0, Ordering::Release);
}

#[cfg(unix)]
fn install() -> bool {
    type Handler = Option<extern "C" fn()>;
    unsafe extern "C" {
        fn pthread_atfork(prepare: Handler, parent: Handler, child: Handler) -> core::ffi::c_int;
    }
    // SAFETY: `pthread_atfork` only records the three function pointers;
    // `forget_pid_in_child` is a plain `extern "C" fn` that lives as long
    // as this library, and it only performs an atomic store, which is
    // async-signal-safe as POSIX requires of a child handler.
    unsafe { pthread_atfork(None, None, Some(forget_pid_in_child)) == 0 }
}

#[cfg(not(unix))]
fn install() -> bool {
    // No fork() here: the id never changes under a running process.
    let _ = forget_pid_in_child;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_id_is_the_process_id() {
        assert_eq!(current_pid(), std::process::id());
        assert_eq!(current_pid(), std::process::id());
        #[cfg(unix)]
        assert!(HOOKED.load(Ordering::Acquire), "pthread_atfork failed");
    }

    /// A real `fork()`: the child sees its own id at once, and its first
    /// nonce is not the one its parent draws next (the inherited pool,
    /// tagged with the parent's cached id, is discarded).
    #[cfg(target_os = "linux")]
    #[test]
    #[allow(clippy::expect_used, clippy::panic)]
    fn a_forked_child_gets_its_own_id_and_nonces() {
        use std::io::{Read, Write};
        unsafe extern "C" {
            fn fork() -> i32;
            fn waitpid(pid: i32, status: *mut core::ffi::c_int, options: core::ffi::c_int) -> i32;
            fn _exit(code: core::ffi::c_int) -> !;
        }
        let parent = current_pid();
        let mut n = [0u8; 12];
        // Fill this thread's pool under the parent's id.
        crate::crypto::nonce::fill_nonce(&mut n).expect("nonce");
        let (mut rx, mut tx) = std::io::pipe().expect("pipe");
        // SAFETY: the child only uses async-signal-safe-enough work for a
        // test (glibc's fork keeps malloc usable), writes to the pipe and
        // leaves with `_exit`, never returning into the test harness.
        let child = unsafe { fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            let mut nonce = [0u8; 12];
            let ok = crate::crypto::nonce::fill_nonce(&mut nonce).is_ok();
            let mut out = [0u8; 16];
            out[..12].copy_from_slice(&nonce);
            out[12..].copy_from_slice(&current_pid().to_le_bytes());
            let code = i32::from(!(ok && tx.write_all(&out).is_ok()));
            // SAFETY: ends the child without running the parent's atexit
            // handlers or the test harness.
            unsafe { _exit(code) }
        }
        drop(tx);
        let mut got = [0u8; 16];
        rx.read_exact(&mut got).expect("child's report");
        let mut status = 0;
        // SAFETY: `child` is our child; `status` is a valid out-pointer.
        let waited = unsafe { waitpid(child, &mut status, 0) };
        assert_eq!(waited, child);
        assert_eq!(status, 0, "child failed");
        let child_pid = u32::from_le_bytes(got[12..].try_into().expect("4 bytes"));
        assert_eq!(child_pid, u32::try_from(child).expect("positive"));
        assert_ne!(child_pid, parent);
        assert_eq!(current_pid(), parent);
        let mut next = [0u8; 12];
        crate::crypto::nonce::fill_nonce(&mut next).expect("nonce");
        assert_ne!(&got[..12], &next[..], "the child reused the parent's pool");
    }
}
