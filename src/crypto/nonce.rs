//! Nonces for AES-GCM: 96 fresh random bits per message, without a system
//! call per message for the randomness.
//!
//! # Construction
//!
//! Every nonce is 96 bits of output from the operating system's CSPRNG: the
//! RBG-based construction of NIST SP 800-38D §8.2.2 with a 96-bit random
//! field and an empty free field. What changed is only *when* the bytes are
//! fetched: each thread keeps a pool of OS randomness (up to [`POOL_CAP`]
//! bytes, 340 nonces, fetched with one `getrandom` call), hands out each
//! 12-byte slice exactly once, and zeroes it as it goes. The first refills of
//! a thread are small and double up to the cap, so a thread that encrypts
//! once pays about what one `getrandom` call used to cost, and a busy thread
//! pays one call per 340 messages.
//!
//! - **Threads.** The pool is thread-local: no lock, no sharing, and two
//!   threads never read the same bytes (each pool comes from its own
//!   `getrandom` call).
//! - **Processes and `fork()`.** A pool records the id of the process that
//!   filled it, and every draw compares it with the current id. After
//!   `fork()` the child's copy of the pool carries the parent's id, so the
//!   child's first draw discards it (zeroed) and refills from the OS: parent
//!   and child never hand out the same bytes. Unrelated processes have
//!   unrelated pools. The current id is cached and cleared in the child by
//!   a `pthread_atfork` handler (`src/ffi/fork.rs`), so the comparison is
//!   one atomic load, not a `getpid` system call.
//!
//! # Collision bound (SP 800-38D §8.3)
//!
//! Bytes are taken from the pool in order and never twice, so each nonce is
//! an independent uniform 96-bit string, exactly as with one `getrandom`
//! call per message. With `q` messages under one key version the
//! probability that any two nonces coincide is at most `q(q-1)/2^97`; the
//! store's invocation limit of `q <= 2^32` per version
//! ([`crate::AES_GCM_INVOCATION_LIMIT`]) keeps it below `2^-33`, within the
//! `2^-32` that §8.3 requires of the random construction.
//!
//! # Cost and residual risk
//!
//! A draw is a thread-local access, an atomic load (the cached process id)
//! and a 12-byte copy; one `getrandom` call per 340 draws refills the pool.
//! Before the atfork hook the process-id check was a `getpid` system call
//! (about 0.09 µs on the reference machine, against 0.3 µs for a 12-byte
//! `getrandom` call; see `benches/README.md`).
//!
//! What the check cannot see:
//!
//! - **Forks that skip atfork handlers.** A child made by the raw `clone` or
//!   `fork` system call, or by glibc's `_Fork()`, keeps its parent's cached
//!   id and would draw from the inherited pool (at most 340 nonces) under a
//!   key version both processes use. libc's `fork()` — what `std`, Python's
//!   `os.fork`, and C programs call — runs the handler.
//! - **Process-id reuse.** A grandchild could inherit a pool still tagged
//!   with a process id that has since become its own. That needs all of: a
//!   thread forks while holding a non-empty pool and keeps encrypting; the
//!   child forks again without ever drawing a nonce on that thread; the
//!   original process exits; and the kernel hands its id to that
//!   grandchild (ids are reused only after the allocator wraps past
//!   `kernel.pid_max`). Even then at most one pool — at most 340 nonces —
//!   can repeat, and only under a key version both processes use.
//! - **Snapshots.** A VM snapshot or checkpoint/restore (CRIU) restored
//!   twice replays the memory of a thread, its pool included (at most 340
//!   nonces). Per-call `getrandom` is reseeded by the kernel on VM
//!   generation changes; a user-space pool is not. The store's usage
//!   counters are replayed the same way, so a restored-twice process is
//!   unsupported either way.

use core::cell::RefCell;

use zeroize::Zeroize;

use crate::base::Result;
use crate::crypto::{GCM_NONCE_LEN, fill_random};

/// Largest pool, in bytes: 340 nonces (a multiple of 12, under 4 KiB).
pub(crate) const POOL_CAP: usize = 340 * GCM_NONCE_LEN;
/// A thread's first refill: 4 nonces. Each refill doubles, up to the cap.
const FIRST_FILL: usize = 4 * GCM_NONCE_LEN;

/// One thread's unused OS randomness.
struct Pool {
    buf: [u8; POOL_CAP],
    /// `buf[pos..len]` is unused; everything before `pos` is zero.
    pos: usize,
    len: usize,
    /// Size of the next refill.
    next_fill: usize,
    /// Process that filled `buf` (0: never filled; no user process has id 0).
    owner: u32,
}

impl Pool {
    const fn new() -> Pool {
        Pool {
            buf: [0; POOL_CAP],
            pos: 0,
            len: 0,
            next_fill: FIRST_FILL,
            owner: 0,
        }
    }

    /// The next nonce for a caller in process `pid`.
    fn take(&mut self, pid: u32, out: &mut [u8; GCM_NONCE_LEN]) -> Result<()> {
        if self.owner != pid || self.len - self.pos < GCM_NONCE_LEN {
            self.refill(pid)?;
        }
        let end = self.pos + GCM_NONCE_LEN;
        let Some(bytes) = self.buf.get_mut(self.pos..end) else {
            // Unreachable: `refill` leaves at least one nonce.
            return fill_random(out);
        };
        out.copy_from_slice(bytes);
        bytes.zeroize();
        self.pos = end;
        Ok(())
    }

    fn refill(&mut self, pid: u32) -> Result<()> {
        // Forget everything first, so a failed refill leaves an empty pool.
        self.buf.zeroize();
        self.pos = 0;
        self.len = 0;
        let n = self.next_fill.clamp(GCM_NONCE_LEN, POOL_CAP);
        fill_random(&mut self.buf[..n])?;
        self.len = n;
        self.owner = pid;
        self.next_fill = (n * 2).min(POOL_CAP);
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool::new()) };
}

/// Fills a fresh random nonce (see the module docs for the construction).
pub(crate) fn fill_nonce(out: &mut [u8; GCM_NONCE_LEN]) -> Result<()> {
    fill_nonce_as(crate::sys::current_pid(), out)
}

/// [`fill_nonce`] for a caller in process `pid` (tests pass other ids to
/// exercise the fork path).
pub(crate) fn fill_nonce_as(pid: u32, out: &mut [u8; GCM_NONCE_LEN]) -> Result<()> {
    // A thread drawing predictable randomness (hazmat, for fuzzing) takes
    // its nonces from that stream, not from OS bytes pooled before.
    #[cfg(feature = "hazmat")]
    if crate::base::random::deterministic_active() {
        return fill_random(out);
    }
    let pooled = POOL.try_with(|p| match p.try_borrow_mut() {
        Ok(mut pool) => Some(pool.take(pid, out)),
        Err(_) => None,
    });
    match pooled {
        Ok(Some(res)) => res,
        // The thread's pool is gone (a thread-local destructor encrypting
        // during thread exit) or busy (cannot happen: nothing re-enters):
        // one system call, as before pools.
        Ok(None) | Err(_) => fill_random(out),
    }
}

#[cfg(test)]
// A test fails by panicking; `expect` says where.
#[allow(clippy::expect_used)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn draw(pid: u32) -> [u8; GCM_NONCE_LEN] {
        let mut n = [0u8; GCM_NONCE_LEN];
        fill_nonce_as(pid, &mut n).expect("nonce");
        n
    }

    /// The bytes the pool would hand out next, without taking them.
    fn peek() -> Option<[u8; GCM_NONCE_LEN]> {
        POOL.with(|p| {
            let p = p.borrow();
            p.buf
                .get(p.pos..p.pos + GCM_NONCE_LEN)
                .filter(|_| p.len - p.pos >= GCM_NONCE_LEN)
                .map(|b| b.try_into().expect("12 bytes"))
        })
    }

    #[test]
    fn many_draws_are_distinct_and_nonzero() {
        let me = std::process::id();
        let mut seen = HashSet::new();
        // Several full pools, so refills and the growth path are crossed.
        for _ in 0..10 * (POOL_CAP / GCM_NONCE_LEN) {
            let n = draw(me);
            assert_ne!(n, [0u8; GCM_NONCE_LEN]);
            assert!(seen.insert(n), "nonce repeated");
        }
        let mut n = [0u8; GCM_NONCE_LEN];
        fill_nonce(&mut n).expect("nonce");
        assert!(seen.insert(n));
    }

    #[test]
    fn threads_never_share_nonces() {
        let per_thread = 2 * (POOL_CAP / GCM_NONCE_LEN) + 7;
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..per_thread)
                        .map(|_| {
                            let mut n = [0u8; GCM_NONCE_LEN];
                            fill_nonce(&mut n).expect("nonce");
                            n
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for n in h.join().expect("thread") {
                assert!(seen.insert(n), "nonce repeated across threads");
            }
        }
        assert_eq!(seen.len(), 4 * per_thread);
    }

    #[test]
    fn used_bytes_are_zeroed() {
        let me = std::process::id();
        draw(me);
        POOL.with(|p| {
            let p = p.borrow();
            assert!(p.pos >= GCM_NONCE_LEN);
            assert!(p.buf[..p.pos].iter().all(|&b| b == 0));
            assert!(p.buf[p.len..].iter().all(|&b| b == 0));
        });
    }

    #[test]
    fn a_new_process_id_discards_the_pool() {
        // As after fork(): the pool was filled by "parent", "child" draws.
        let (parent, child) = (4_000_001, 4_000_002);
        draw(parent);
        let parent_next = peek().expect("the parent's pool has nonces left");
        let first_in_child = draw(child);
        assert_ne!(
            first_in_child, parent_next,
            "the child reused the parent's pool"
        );
        POOL.with(|p| {
            let p = p.borrow();
            assert_eq!(p.owner, child);
            // Refilled: exactly one nonce taken from the fresh pool, and
            // nothing of the old pool is left.
            assert_eq!(p.pos, GCM_NONCE_LEN);
            assert!(
                !p.buf[..p.len]
                    .windows(GCM_NONCE_LEN)
                    .any(|w| w == parent_next)
            );
        });
        // Back in the "parent" (as in the real parent after fork): its
        // process id differs from the pool's again, so it refills too, and
        // the two never draw from one pool.
        let child_next = peek().expect("the child's pool has nonces left");
        assert_ne!(draw(parent), child_next);
    }

    #[test]
    fn refills_grow_to_the_cap() {
        std::thread::spawn(|| {
            let me = std::process::id();
            let mut sizes = Vec::new();
            for _ in 0..2_000 {
                draw(me);
                POOL.with(|p| {
                    let len = p.borrow().len;
                    if sizes.last() != Some(&len) {
                        sizes.push(len);
                    }
                });
            }
            assert_eq!(sizes.first(), Some(&FIRST_FILL));
            assert_eq!(sizes.last(), Some(&POOL_CAP));
            assert!(sizes.windows(2).all(|w| w[1] >= w[0]));
        })
        .join()
        .expect("thread");
    }
}
