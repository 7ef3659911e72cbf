//! Shamir secret sharing (Shamir 1979, "How to share a secret") over
//! GF(2^8), used to split a backup key among custodians.
//!
//! The field is AES's: GF(2)\[x\] modulo x^8 + x^4 + x^3 + x + 1 (0x11b,
//! FIPS 197 §4.2). A secret of any length is shared byte by byte: byte `i`
//! is the constant term of its own polynomial of degree k − 1 whose other
//! k − 1 coefficients come from the OS CSPRNG; share `x` (1..=n) holds every
//! polynomial's value at `x`. Any k shares give the secret back by Lagrange
//! interpolation at 0; k − 1 shares are uniformly distributed whatever the
//! secret, so they tell nothing about it.
//!
//! # Constant time
//!
//! Share values and coefficients are secret, so the arithmetic has no
//! secret-indexed table and no secret-dependent branch: multiplication is a
//! fixed eight-round shift-and-add loop with masks, inversion is
//! exponentiation to 254 (a^254 = a^-1 for a ≠ 0) with a fixed chain.
//! Only the x-coordinates, which are public, decide control flow.
//!
//! # Why our own ~120 lines rather than a crate
//!
//! Checked on crates.io: `sharks` 0.5 and its fork `blahaj` 0.7 multiply with
//! log/exp tables indexed by secret bytes (a cache-timing channel) over
//! another field polynomial (0x11d) and pull in `rand` and `hashbrown`;
//! `shamirsecretsharing` 0.1 binds a C library through FFI and only takes
//! 64-byte secrets; `vsss-rs` 6 is constant-time, but brings a large tree
//! (`crypto-bigint`, `num-bigint`, `elliptic-curve`, `ff`, `sha3`, its own
//! `rand` generation) for what is here a few dozen lines of field
//! arithmetic. A small implementation that reviewers can read in one
//! sitting, checked against the FIPS 197 field vectors and by property
//! tests, is the smaller risk.

use crate::base::secret::SecretBytes;
use crate::base::{Error, Result};

/// One share: the x-coordinate (1..=255) and one value per secret byte.
pub(crate) struct Share {
    pub(crate) x: u8,
    pub(crate) y: SecretBytes,
}

impl core::fmt::Debug for Share {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Share(x = {}, [REDACTED; {}])", self.x, self.y.len())
    }
}

/// Multiplication in GF(2^8) mod 0x11b, in constant time (FIPS 197 §4.2.1's
/// `xtime`, with masks instead of branches).
fn mul(a: u8, b: u8) -> u8 {
    let (mut a, mut b, mut r) = (a, b, 0u8);
    for _ in 0..8 {
        // All ones when the low bit of b is set.
        r ^= a & 0u8.wrapping_sub(b & 1);
        // Reduce by 0x1b when the top bit of a shifts out.
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    r
}

/// The inverse, as a^254 (a^255 = 1 for a ≠ 0); 0 maps to 0. The exponent
/// is fixed, so the chain of operations is the same for every input.
fn inv(a: u8) -> u8 {
    // 254 = 0b1111_1110: the product of a^(2^i) for i = 1..=7.
    let mut sq = mul(a, a);
    let mut r = sq;
    for _ in 2..8 {
        sq = mul(sq, sq);
        r = mul(r, sq);
    }
    r
}

/// Evaluates the polynomial with coefficients `coeffs` (constant first) at
/// `x`, by Horner's rule.
fn eval(coeffs: &[u8], x: u8) -> u8 {
    coeffs.iter().rev().fold(0u8, |acc, &c| mul(acc, x) ^ c)
}

/// Splits `secret` into `n` shares, any `k` of which recover it.
/// Shares have x-coordinates 1..=n.
pub(crate) fn split(secret: &[u8], k: u8, n: u8) -> Result<Vec<Share>> {
    if k < 2 || k > n {
        return Err(Error::invalid(format!(
            "a threshold of {k} of {n} is not allowed: need 2 <= k <= n <= 255"
        )));
    }
    if secret.is_empty() {
        return Err(Error::invalid("nothing to split: the secret is empty"));
    }
    let k = usize::from(k);
    let mut ys: Vec<SecretBytes> = (0..n).map(|_| SecretBytes::zeroed(secret.len())).collect();
    // One polynomial at a time: the secret byte, then k - 1 random bytes.
    let mut coeffs = SecretBytes::zeroed(k);
    for (i, &s) in secret.iter().enumerate() {
        let c = coeffs.expose_secret_mut();
        c[0] = s;
        crate::base::random::fill_random(&mut c[1..])?;
        for (x, y) in (1..=n).zip(ys.iter_mut()) {
            y.expose_secret_mut()[i] = eval(coeffs.expose_secret(), x);
        }
    }
    Ok((1..=n).zip(ys).map(|(x, y)| Share { x, y }).collect())
}

/// Recovers the secret from shares by Lagrange interpolation at 0. Every
/// share given is used, so give at least the threshold (the caller knows
/// it; fewer shares yield a wrong, uniformly random value, not an error).
pub(crate) fn combine(shares: &[(u8, &[u8])]) -> Result<SecretBytes> {
    let Some((_, first)) = shares.first() else {
        return Err(Error::invalid("no shares to combine"));
    };
    let len = first.len();
    for (i, (x, y)) in shares.iter().enumerate() {
        if *x == 0 {
            return Err(Error::invalid("a share has x-coordinate 0"));
        }
        if y.len() != len {
            return Err(Error::invalid("shares of different lengths"));
        }
        if shares[..i].iter().any(|(other, _)| other == x) {
            return Err(Error::invalid(format!(
                "two shares have the same x-coordinate {x}"
            )));
        }
    }
    // Basis values at 0: l_i = prod_{j != i} x_j / (x_j - x_i). Subtraction
    // is XOR; x_j != x_i was checked, so no denominator is 0.
    let basis: Vec<u8> = shares
        .iter()
        .map(|(xi, _)| {
            let (num, den) = shares
                .iter()
                .filter(|(xj, _)| xj != xi)
                .fold((1u8, 1u8), |(n, d), (xj, _)| (mul(n, *xj), mul(d, xj ^ xi)));
            mul(num, inv(den))
        })
        .collect();
    let mut out = SecretBytes::zeroed(len);
    for ((_, y), l) in shares.iter().zip(&basis) {
        for (o, &b) in out.expose_secret_mut().iter_mut().zip(y.iter()) {
            *o ^= mul(b, *l);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests

    use super::*;
    use proptest::prelude::*;

    /// Slow reference multiplication (schoolbook carry-less product, then
    /// long division by 0x11b), independent of `mul`'s masking.
    fn mul_ref(a: u8, b: u8) -> u8 {
        let mut p: u16 = 0;
        for i in 0..8 {
            if (b >> i) & 1 == 1 {
                p ^= u16::from(a) << i;
            }
        }
        for i in (8..16).rev() {
            if (p >> i) & 1 == 1 {
                p ^= 0x11b << (i - 8);
            }
        }
        u8::try_from(p).unwrap()
    }

    #[test]
    fn fips197_field_vectors() {
        // FIPS 197 §4.2: {57} • {83} = {c1}; §4.2.1: {57} • {13} = {fe} and
        // the xtime chain {57}·{02} = {ae}, ·{04} = {47}, ·{08} = {8e}, ·{10} = {07}.
        assert_eq!(mul(0x57, 0x83), 0xc1);
        assert_eq!(mul(0x57, 0x13), 0xfe);
        assert_eq!(mul(0x57, 0x02), 0xae);
        assert_eq!(mul(0x57, 0x04), 0x47);
        assert_eq!(mul(0x57, 0x08), 0x8e);
        assert_eq!(mul(0x57, 0x10), 0x07);
        // The multiplicative inverse of {53} is {ca} (the FIPS 197 §5.1.1
        // S-box derivation; S({53}) = {ed}).
        assert_eq!(inv(0x53), 0xca);
    }

    /// The AES S-box is the affine map of FIPS 197 §5.1.1 applied to the
    /// field inverse: published S-box entries check `inv`.
    #[test]
    fn inverse_reproduces_published_sbox_entries() {
        fn sbox(b: u8) -> u8 {
            let i = inv(b);
            i ^ i.rotate_left(1) ^ i.rotate_left(2) ^ i.rotate_left(3) ^ i.rotate_left(4) ^ 0x63
        }
        // FIPS 197 Figure 7.
        for (x, s) in [
            (0x00, 0x63),
            (0x01, 0x7c),
            (0x02, 0x77),
            (0x03, 0x7b),
            (0x04, 0xf2),
            (0x05, 0x6b),
            (0x06, 0x6f),
            (0x07, 0xc5),
            (0x53, 0xed),
            (0xff, 0x16),
        ] {
            assert_eq!(sbox(x), s, "S({x:#04x})");
        }
    }

    #[test]
    fn multiplication_matches_reference_and_inverse_is_inverse() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), mul_ref(a, b), "{a} * {b}");
            }
            if a != 0 {
                assert_eq!(mul(a, inv(a)), 1, "{a} * {a}^-1");
            }
        }
        assert_eq!(inv(0), 0);
    }

    /// Hand-computed: f(x) = {42} + {57}·x, so f(1) = {15}, f(2) = {42} +
    /// {ae} = {ec}, f(3) = {42} + {ae} + {57} = {bb}; and a 3-of-n case with
    /// two secret bytes "Hi" (coefficients [48 12 c7], [69 f0 0b]),
    /// computed independently.
    #[test]
    fn hand_computed_known_answers() {
        assert_eq!(eval(&[0x42, 0x57], 1), 0x15);
        assert_eq!(eval(&[0x42, 0x57], 2), 0xec);
        assert_eq!(eval(&[0x42, 0x57], 3), 0xbb);
        for pair in [
            [(1u8, 0x15u8), (2, 0xec)],
            [(2, 0xec), (3, 0xbb)],
            [(3, 0xbb), (1, 0x15)],
        ] {
            let ys: Vec<[u8; 1]> = pair.iter().map(|p| [p.1]).collect();
            let shares: Vec<(u8, &[u8])> =
                pair.iter().zip(&ys).map(|(p, y)| (p.0, &y[..])).collect();
            assert_eq!(combine(&shares).unwrap().expose_secret(), [0x42]);
        }
        let table: [(u8, [u8; 2]); 5] = [
            (1, [0x9d, 0x92]),
            (2, [0x5d, 0xbe]),
            (3, [0x88, 0x45]),
            (4, [0xc4, 0x34]),
            (5, [0x11, 0xcf]),
        ];
        for (x, y) in &table {
            assert_eq!(eval(&[0x48, 0x12, 0xc7], *x), y[0]);
            assert_eq!(eval(&[0x69, 0xf0, 0x0b], *x), y[1]);
        }
        let three: Vec<(u8, &[u8])> = [4usize, 1, 2]
            .iter()
            .map(|&i| (table[i].0, &table[i].1[..]))
            .collect();
        assert_eq!(combine(&three).unwrap().expose_secret(), b"Hi");
    }

    #[test]
    fn bad_parameters_and_duplicates_are_refused() {
        assert!(split(b"s", 1, 3).is_err());
        assert!(split(b"s", 4, 3).is_err());
        assert!(split(b"", 2, 3).is_err());
        let shares = split(b"secret", 2, 3).unwrap();
        let dup = [
            (shares[0].x, shares[0].y.expose_secret()),
            (shares[0].x, shares[1].y.expose_secret()),
        ];
        assert!(combine(&dup).is_err());
        assert!(combine(&[(0, &b"ab"[..]), (1, &b"cd"[..])]).is_err());
        assert!(combine(&[(1, &b"ab"[..]), (2, &b"c"[..])]).is_err());
        assert!(combine(&[]).is_err());
    }

    /// k = 2: for every x and every secret, a ↦ s + a·x is a bijection, so a
    /// single share is uniform whatever the secret (exhaustive).
    #[test]
    fn one_share_of_two_is_uniform_for_every_secret() {
        for x in 1..=255u8 {
            for s in [0u8, 1, 0x42, 0xff] {
                let mut seen = [false; 256];
                for a in 0..=255u8 {
                    seen[usize::from(eval(&[s, a], x))] = true;
                }
                assert!(seen.iter().all(|&b| b), "x = {x}, s = {s}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any k of the n shares, in any order, give the secret back.
        #[test]
        fn any_k_of_n_reconstruct(
            secret in proptest::collection::vec(any::<u8>(), 1..48),
            k in 2u8..=6,
            extra in 0u8..=4,
            pick in any::<proptest::sample::Index>(),
            order in any::<u64>(),
        ) {
            let n = k + extra;
            let shares = split(&secret, k, n).unwrap();
            // A pseudo-random choice of k distinct shares.
            let mut idx: Vec<usize> = (0..usize::from(n)).collect();
            let mut state = order | 1;
            for i in (1..idx.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                idx.swap(i, usize::try_from(state % (i as u64 + 1)).unwrap());
            }
            let r = pick.index(idx.len());
            idx.rotate_left(r);
            let chosen: Vec<(u8, &[u8])> = idx[..usize::from(k)]
                .iter()
                .map(|&i| (shares[i].x, shares[i].y.expose_secret()))
                .collect();
            let got = combine(&chosen).unwrap();
            prop_assert_eq!(got.expose_secret(), &secret[..]);
            // All n work too.
            let all: Vec<(u8, &[u8])> = shares.iter().map(|s| (s.x, s.y.expose_secret())).collect();
            let got = combine(&all).unwrap();
            prop_assert_eq!(got.expose_secret(), &secret[..]);
        }

        /// k − 1 shares say nothing: for fixed k − 1 share values, every
        /// candidate secret is consistent with exactly as many coefficient
        /// choices (here k = 3: (a1, a2) ↦ (f(x1), f(x2)) is a bijection for
        /// each secret, checked over all 65,536 coefficient pairs).
        #[test]
        fn k_minus_one_shares_are_independent_of_the_secret(
            x1 in 1u8..=255,
            x2 in 1u8..=255,
            s in any::<u8>(),
        ) {
            prop_assume!(x1 != x2);
            let mut seen = vec![false; 1 << 16];
            for a1 in 0..=255u8 {
                for a2 in 0..=255u8 {
                    let c = [s, a1, a2];
                    let i = usize::from(eval(&c, x1)) << 8 | usize::from(eval(&c, x2));
                    prop_assert!(!seen[i], "two coefficient pairs give the same shares");
                    seen[i] = true;
                }
            }
        }

        /// With only k − 1 shares, interpolation does not return the secret
        /// (but for a 2^-128 chance at 16 bytes).
        #[test]
        fn too_few_shares_give_garbage(secret in proptest::collection::vec(any::<u8>(), 16..32)) {
            let shares = split(&secret, 3, 5).unwrap();
            let two: Vec<(u8, &[u8])> = shares[..2].iter().map(|s| (s.x, s.y.expose_secret())).collect();
            let got = combine(&two).unwrap();
            prop_assert_ne!(got.expose_secret(), &secret[..]);
        }
    }
}
