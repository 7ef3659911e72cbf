//! The operating system's random source — and, with the `hazmat` feature
//! only, predictable randomness for fuzzing and test fixtures
//! ([`DeterministicRandom`]).

use super::error::{Error, Result};

/// Fills `buf` from the OS CSPRNG (`getrandom`) — or, on a thread where a
/// [`DeterministicRandom`] is installed (`hazmat` only), from its stream.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    #[cfg(feature = "hazmat")]
    if deterministic::fill(buf) {
        return Ok(());
    }
    getrandom::fill(buf).map_err(|e| Error::internal(format!("OS random source failed: {e}")))
}

/// Whether this thread draws from a [`DeterministicRandom`] (callers that
/// cache OS randomness, like the nonce pool, bypass their cache then).
#[cfg(feature = "hazmat")]
pub(crate) fn deterministic_active() -> bool {
    deterministic::active()
}

#[cfg(feature = "hazmat")]
pub use deterministic::DeterministicRandom;

#[cfg(feature = "hazmat")]
mod deterministic {
    use core::cell::RefCell;
    use core::marker::PhantomData;

    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;
    use zeroize::Zeroize;

    /// HMAC_DRBG with HMAC-SHA-256 (NIST SP 800-90A §10.1.2), no reseeding
    /// and no personalization: a reproducible stream from a seed.
    pub(super) struct Drbg {
        k: [u8; 32],
        v: [u8; 32],
    }

    impl Drop for Drbg {
        fn drop(&mut self) {
            self.k.zeroize();
            self.v.zeroize();
        }
    }

    fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        // A 32-byte key is always a valid HMAC key.
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    impl Drbg {
        fn new(seed: &[u8]) -> Drbg {
            let mut d = Drbg {
                k: [0; 32],
                v: [1; 32],
            };
            d.update(seed);
            d
        }

        fn update(&mut self, data: &[u8]) {
            self.k = hmac(&self.k, &[&self.v, &[0x00], data]);
            self.v = hmac(&self.k, &[&self.v]);
            if !data.is_empty() {
                self.k = hmac(&self.k, &[&self.v, &[0x01], data]);
                self.v = hmac(&self.k, &[&self.v]);
            }
        }

        fn generate(&mut self, out: &mut [u8]) {
            for chunk in out.chunks_mut(32) {
                self.v = hmac(&self.k, &[&self.v]);
                chunk.copy_from_slice(&self.v[..chunk.len()]);
            }
            self.update(&[]);
        }
    }

    thread_local! {
        static STREAM: RefCell<Option<Drbg>> = const { RefCell::new(None) };
    }

    pub(super) fn fill(buf: &mut [u8]) -> bool {
        STREAM
            .try_with(|s| match s.try_borrow_mut() {
                Ok(mut s) => match s.as_mut() {
                    Some(d) => {
                        d.generate(buf);
                        true
                    }
                    None => false,
                },
                Err(_) => false,
            })
            .unwrap_or(false)
    }

    pub(super) fn active() -> bool {
        STREAM
            .try_with(|s| s.try_borrow().is_ok_and(|s| s.is_some()))
            .unwrap_or(false)
    }

    /// Predictable randomness on the calling thread while this guard lives:
    /// every key, key id, nonce, salt and backup key made on this thread
    /// comes from an HMAC_DRBG (SP 800-90A) seeded with `seed`, so the same
    /// calls in a fresh process produce the same bytes. Dropping the guard
    /// restores what the thread drew from before (guards nest).
    ///
    /// For fuzzing and test fixtures: a crash input replays in a fresh
    /// process only when the fixtures it was found against are the same.
    ///
    /// # Security warning
    /// Everything made under it is known to anyone who knows the seed:
    /// keys, ids, nonces. Never install it where real keys are made. It
    /// exists only with the `hazmat` feature; other threads are unaffected.
    ///
    /// ```
    /// use keylife::{DeterministicRandom, KeyStore, KeySpec, Principal, purpose::Aead};
    /// let ids: Vec<_> = (0..2)
    ///     .map(|_| {
    ///         let _rng = DeterministicRandom::install_for_this_thread(b"fixture v1");
    ///         let store = KeyStore::in_memory(Principal::admin("fuzz")).unwrap();
    ///         store.create(KeySpec::<Aead>::new("k")).unwrap().id()
    ///     })
    ///     .collect();
    /// assert_eq!(ids[0], ids[1]);
    /// ```
    #[must_use = "the stream is uninstalled when the guard is dropped"]
    pub struct DeterministicRandom {
        previous: Option<Drbg>,
        /// Not `Send`: the guard restores the thread it was installed on.
        _thread: PhantomData<*const ()>,
    }

    impl DeterministicRandom {
        /// Installs a stream seeded with `seed` on the calling thread.
        pub fn install_for_this_thread(seed: &[u8]) -> DeterministicRandom {
            let previous = STREAM
                .try_with(|s| s.replace(Some(Drbg::new(seed))))
                .ok()
                .flatten();
            DeterministicRandom {
                previous,
                _thread: PhantomData,
            }
        }
    }

    impl Drop for DeterministicRandom {
        fn drop(&mut self) {
            let previous = self.previous.take();
            let _ = STREAM.try_with(|s| s.replace(previous));
        }
    }

    impl core::fmt::Debug for DeterministicRandom {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("DeterministicRandom")
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// HMAC_DRBG is deterministic, seed-sensitive and nests.
        #[test]
        fn streams_repeat_per_seed_and_restore() {
            let draw = || {
                let mut b = [0u8; 40];
                assert!(fill(&mut b));
                b
            };
            assert!(!active());
            let (a1, a2) = {
                let _g = DeterministicRandom::install_for_this_thread(b"a");
                (draw(), draw())
            };
            assert_ne!(a1, a2);
            assert!(!active());
            let _g = DeterministicRandom::install_for_this_thread(b"a");
            assert_eq!(draw(), a1);
            {
                let _inner = DeterministicRandom::install_for_this_thread(b"b");
                assert_ne!(draw(), a2);
            }
            assert_eq!(draw(), a2, "the outer stream resumes where it was");
        }
    }
}
