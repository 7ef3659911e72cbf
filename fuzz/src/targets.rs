//! The fuzz targets, as functions of the input bytes.
//!
//! Shared by the libFuzzer binaries (`fuzz/fuzz_targets/*.rs`) and the main
//! test suite (`tests/fuzz_corpus.rs` includes this file by path and replays
//! `fuzz/corpus/<target>/`). Only keylife's public API and `std` are used,
//! so the main suite needs neither libFuzzer nor `arbitrary`: the lifecycle
//! target decodes its `Vec<Op>` with the small decoder below, which turns
//! every byte string into a valid operation sequence.
//!
//! Every target panics when an invariant breaks; anything else is a pass.
//!
//! - [`ciphertext`]: arbitrary bytes, valid ciphertexts with edits, and
//!   forged ciphertexts naming real keys go through `KeyStore::decrypt`.
//!   Nothing but an unmodified ciphertext of a key and version that may
//!   process ever opens, and it opens to its plaintext.
//! - [`public_key`]: `PublicKey::from_sec1`, `from_spki_der` and
//!   `from_spki_pem` on arbitrary bytes; every key that parses survives a
//!   round trip through all three encodings; arbitrary signatures never
//!   verify.
//! - [`lifecycle`]: a sequence of operations on up to three AEAD keys (two
//!   handles each, so one can go stale) against a reference model of the
//!   NIST SP 800-57 states, versions, usage limits and dates.

// A fuzz target reports a broken invariant by panicking.
#![allow(clippy::panic)]

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Duration;

use keylife::backend::MemoryBackend;
use keylife::purpose::{Aead, Mac, Signing};
use keylife::{
    AnyKey, Kek, Key, KeyId, KeySpec, KeyStore, ManualClock, Principal, PublicKey, RawKek,
    StateName, StoreOptions, Timestamp, VersionState,
};

/// Caller associated data of the ciphertext target's samples.
const AAD: &[u8] = b"keylife-fuzz";

/// Whether an open finding is masked for this fuzzing campaign
/// (`KEYLIFE_FUZZ_MASK=name,...`), so libFuzzer can look past it. The
/// corpus replay in the main test suite never masks anything.
///
/// Findings: `compromised-primary` — encryption under a compromised
/// primary version (fixed; see `tests/fuzz_corpus.rs`); `header-format-0`
/// — a store header of format 0 opened (fixed in `fc91a22`; see
/// `storage.rs` and `tests/tamper.rs`).
pub fn masked(finding: &str) -> bool {
    static MASK: OnceLock<Vec<String>> = OnceLock::new();
    MASK.get_or_init(|| {
        std::env::var("KEYLIFE_FUZZ_MASK")
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    })
    .iter()
    .any(|m| m == finding)
}

/// Fixed randomness for the fixtures every input runs against, so they
/// are the same in every process (with `hazmat`, on by default in the fuzz
/// crate): keys, ids and ciphertexts of a fixture never differ between the
/// run that found an input and its replay, and libFuzzer lifting fixture
/// bytes into its dictionary yields inputs that still mean the same thing
/// in a fresh process. What an input's own run draws (nonces, the ids of
/// keys it imports) stays the OS's: fixtures keep those keys, and a fixed
/// stream would repeat their ids from one input to the next.
pub fn fixture<T>(make: impl FnOnce() -> T) -> T {
    #[cfg(feature = "hazmat")]
    let _rng = keylife::DeterministicRandom::install_for_this_thread(b"keylife fuzz fixture v1");
    make()
}

/// An in-memory store for fixtures: a fixed clock (records carry dates),
/// a KEK from the fixture stream.
pub fn fixture_store() -> KeyStore {
    must(
        KeyStore::builder(MemoryBackend::new())
            .clock(ManualClock::new(T0))
            .open(
                &RawKek::new(must(Kek::generate(), "kek")),
                Principal::admin("fuzz"),
            ),
        "fixture store",
    )
}

pub fn must<T>(r: keylife::Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

// ----- ciphertext -----

/// A ciphertext made at setup, and whether it must open.
struct Sample {
    ct: Vec<u8>,
    pt: Vec<u8>,
    opens: bool,
}

struct CiphertextFixture {
    store: KeyStore,
    /// Active keys, for fresh ciphertexts.
    active: Vec<Key<Aead, keylife::state::Active>>,
    samples: Vec<Sample>,
    /// Every key id in the store (AEAD ones and a MAC key).
    ids: Vec<KeyId>,
    /// Inputs run against this fixture; it is rebuilt now and then, since
    /// every decryption adds an audit entry to the in-memory store.
    runs: u32,
}

impl CiphertextFixture {
    fn new() -> CiphertextFixture {
        let store = fixture_store();
        let mut samples = Vec::new();
        let mut ids = Vec::new();
        let mut sample = |key: &Key<Aead, keylife::state::Active>, pt: &[u8], opens: bool| {
            samples.push(Sample {
                ct: must(key.encrypt(pt, AAD), "encrypt"),
                pt: pt.to_vec(),
                opens,
            });
        };
        // a: two versions, both processable.
        let a = must(store.create_active(KeySpec::<Aead>::new("a")), "create a");
        sample(&a, b"a, version 1", true);
        must(a.rotate(), "rotate a");
        sample(&a, b"a, version 2", true);
        sample(&a, b"", true);
        // b: version 1 compromised, version 2 processable.
        let b = must(store.create_active(KeySpec::<Aead>::new("b")), "create b");
        sample(&b, b"b, version 1", false);
        must(b.rotate(), "rotate b");
        sample(&b, &[0xb2; 100], true);
        must(b.compromise_version(1, "fuzz"), "compromise b v1");
        // c: deactivated (still processes).
        let c = must(store.create_active(KeySpec::<Aead>::new("c")), "create c");
        sample(&c, b"c", true);
        // d: compromised (never processes).
        let d = must(store.create_active(KeySpec::<Aead>::new("d")), "create d");
        sample(&d, b"d", false);
        // e: min decryption version 2 retires version 1.
        let e = must(store.create_active(KeySpec::<Aead>::new("e")), "create e");
        sample(&e, b"e, version 1", false);
        must(e.rotate(), "rotate e");
        sample(&e, b"e, version 2", true);
        must(e.set_min_decryption_version(2), "min version e");
        ids.extend([a.id(), b.id(), c.id(), d.id(), e.id()]);
        must(c.deactivate("fuzz"), "deactivate c");
        must(d.compromise("fuzz"), "compromise d");
        let m = must(store.create_active(KeySpec::<Mac>::new("m")), "create m");
        ids.push(m.id());
        CiphertextFixture {
            store,
            active: vec![a, b, e],
            samples,
            ids,
            runs: 0,
        }
    }
}

thread_local! {
    static CIPHERTEXT: RefCell<Option<CiphertextFixture>> = const { RefCell::new(None) };
}

/// Applies edits read from `edits` (triples: kind, position, value) to a
/// ciphertext and its associated data.
fn edit(ct: &mut Vec<u8>, aad: &mut Vec<u8>, edits: &[u8]) {
    for e in edits.chunks(3) {
        let (kind, pos, val) = (
            e[0],
            usize::from(e.get(1).copied().unwrap_or(0)),
            e.get(2).copied().unwrap_or(0),
        );
        // Positions wrap, and short edits reach the tag at the end.
        let at = |len: usize| if len == 0 { 0 } else { pos % len };
        match kind % 6 {
            0 => {
                let i = at(ct.len());
                if let Some(b) = ct.get_mut(i) {
                    *b ^= val;
                }
            }
            1 => {
                let i = ct.len().saturating_sub(1 + at(ct.len()));
                if let Some(b) = ct.get_mut(i) {
                    *b ^= val;
                }
            }
            2 => ct.truncate(at(ct.len() + 1)),
            3 => ct.insert(at(ct.len() + 1), val),
            4 => aad.push(val),
            _ => aad.truncate(at(aad.len() + 1)),
        }
    }
}

/// Decrypts arbitrary, edited and forged ciphertexts through
/// `KeyStore::decrypt`: no panic, and only an unmodified ciphertext of a
/// processable key version opens, to its own plaintext.
pub fn ciphertext(data: &[u8]) {
    CIPHERTEXT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|f| f.runs >= 2_000) {
            *slot = Some(fixture(CiphertextFixture::new));
        }
        if let Some(f) = slot.as_mut() {
            f.runs += 1;
            ciphertext_with(f, data);
        }
    });
}

/// The one oracle for an opening: `ct` under `aad` opens exactly when it is
/// a sample that may open, and then to that sample's plaintext. (Fixtures
/// are the same in every process, so libFuzzer may well rebuild a sample
/// from its dictionary; that is no finding.)
fn expect_opening(
    f: &CiphertextFixture,
    ct: &[u8],
    aad: &[u8],
    res: keylife::Result<Vec<u8>>,
    what: &str,
) {
    let sample = if aad == AAD {
        f.samples.iter().find(|s| s.ct == ct)
    } else {
        None
    };
    match (sample, res) {
        (Some(s), Ok(pt)) if s.opens => assert_eq!(pt, s.pt, "{what}: opened to another plaintext"),
        (Some(s), Err(e)) if s.opens => panic!("{what}: a valid ciphertext did not open: {e}"),
        (Some(_), Ok(_)) => panic!("{what}: a ciphertext of a retired version opened"),
        (None, Ok(_)) => panic!("{what}: bytes that are no sample opened"),
        (_, Err(_)) => {}
    }
}

fn ciphertext_with(f: &CiphertextFixture, data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        assert!(f.store.decrypt(&[], AAD).is_err(), "empty input opened");
        return;
    };
    let sel = usize::from(rest.first().copied().unwrap_or(0));
    let rest = rest.get(1..).unwrap_or(&[]);
    match mode % 4 {
        // Whatever the bytes say: only a sample opens.
        0 => {
            let whole = &data[1..];
            expect_opening(
                f,
                whole,
                AAD,
                f.store.decrypt(whole, AAD),
                "arbitrary bytes",
            );
        }
        // A valid ciphertext with edits.
        1 => {
            let s = &f.samples[sel % f.samples.len()];
            let mut ct = s.ct.clone();
            let mut aad = AAD.to_vec();
            edit(&mut ct, &mut aad, rest);
            let res = f.store.decrypt(&ct, &aad);
            expect_opening(f, &ct, &aad, res, "an edited sample");
        }
        // A forged header naming a real key, then fuzzer bytes.
        2 => {
            let id = f.ids[sel % f.ids.len()];
            let (version, rest) = match rest.split_first() {
                Some((&v, r)) if v < 0xf0 => (u32::from(v % 4), r),
                Some((_, r)) if r.len() >= 4 => {
                    (u32::from_be_bytes([r[0], r[1], r[2], r[3]]), &r[4..])
                }
                _ => (1, rest),
            };
            let mut ct = vec![1u8, 1];
            ct.extend_from_slice(id.as_bytes());
            ct.extend_from_slice(&version.to_be_bytes());
            ct.extend_from_slice(rest);
            assert!(
                f.store.decrypt(&ct, AAD).is_err(),
                "a forged ciphertext opened"
            );
        }
        // A fresh ciphertext of fuzzer bytes: opens as made, and not with
        // one bit flipped anywhere.
        _ => {
            let key = &f.active[sel % f.active.len()];
            let split = usize::from(rest.first().copied().unwrap_or(0)) % (rest.len() + 1);
            let (aad, pt) = rest.split_at(split);
            let ct = must(key.encrypt(pt, aad), "encrypt");
            assert_eq!(must(f.store.decrypt(&ct, aad), "decrypt fresh"), pt);
            let bit = sel.wrapping_mul(31).wrapping_add(pt.len()) % (ct.len() * 8);
            let mut bad = ct.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(f.store.decrypt(&bad, aad).is_err(), "a bit flip opened");
        }
    }
}

// ----- public_key -----

thread_local! {
    /// The public key of a signing key whose private half no input knows.
    static SIGNER: RefCell<Option<PublicKey>> = const { RefCell::new(None) };
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(c.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(c.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            if i <= c.len() {
                let sextet = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(A[sextet]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn round_trip(pk: &PublicKey, data: &[u8]) {
    let sec1 = pk.to_sec1();
    assert!(
        must(PublicKey::from_sec1(&sec1), "SEC 1 round trip") == *pk,
        "SEC 1 round trip changed the key"
    );
    let der = must(pk.to_spki_der(), "SPKI DER export");
    assert!(
        must(PublicKey::from_spki_der(&der), "SPKI DER round trip") == *pk,
        "SPKI DER round trip changed the key"
    );
    let pem = must(pk.to_spki_pem(), "SPKI PEM export");
    assert!(
        must(PublicKey::from_spki_pem(&pem), "SPKI PEM round trip") == *pk,
        "SPKI PEM round trip changed the key"
    );
    // Verification with arbitrary signatures must not panic. (Nothing is
    // asserted: the input chose both the key and the signature.)
    let _ = pk.verify(b"keylife fuzz", data);
    let _ = pk.verify_fixed(b"keylife fuzz", data);
}

/// Parses arbitrary bytes as a P-256 public key in every supported
/// encoding; keys that parse must round-trip; arbitrary signatures never
/// verify under a key whose private half the input cannot know.
pub fn public_key(data: &[u8]) {
    if let Ok(pk) = PublicKey::from_sec1(data) {
        round_trip(&pk, data);
    }
    if let Ok(pk) = PublicKey::from_spki_der(data) {
        round_trip(&pk, data);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(pk) = PublicKey::from_spki_pem(text)
    {
        round_trip(&pk, data);
    }
    // The same bytes as the body of a PEM document reach the DER parser
    // through the PEM path.
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64(data)
    );
    if let Ok(pk) = PublicKey::from_spki_pem(&pem) {
        round_trip(&pk, data);
    }
    SIGNER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(fixture(|| {
                let store = fixture_store();
                let key = must(store.create_active(KeySpec::<Signing>::new("s")), "signer");
                must(key.public_key(None), "public key")
            }));
        }
        if let Some(pk) = slot.as_ref() {
            assert!(
                pk.verify(b"keylife fuzz", data).is_err(),
                "forged DER signature"
            );
            assert!(
                pk.verify_fixed(b"keylife fuzz", data).is_err(),
                "forged fixed signature"
            );
        }
    });
}

// ----- lifecycle -----

/// At most this many operations per input (longer inputs are cut).
pub const MAX_OPS: usize = 48;
const SLOTS: usize = 3;
const HOUR_MS: i64 = 3_600_000;
/// 2026-01-01T00:00:00Z.
const T0: Timestamp = Timestamp(1_767_225_600_000);
/// The store's default minimum wait before destruction.
const MIN_WAIT: Duration = Duration::from_secs(7 * 86_400);

/// One step of the lifecycle target. `slot` picks a key (mod 3), `handle`
/// one of its two handles (mod 2).
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// A new PreActive key in `slot`. Flags: 1 usage limit `1 + param % 6`,
    /// 2 rotate at the limit, 4 no processing while suspended,
    /// 8 cryptoperiod of `1 + param / 16` days.
    Create {
        /// Slot.
        slot: u8,
        /// Spec flags.
        flags: u8,
        /// Spec parameter.
        param: u8,
    },
    /// A state transition through a handle; `kind` selects it (mod 8).
    Transition {
        /// Slot.
        slot: u8,
        /// Handle.
        handle: u8,
        /// Which transition.
        kind: u8,
        /// Scheduled destruction: waits `6 days + arg hours`.
        arg: u8,
    },
    /// Moves the clock forward `3 * hours` hours.
    Advance {
        /// Units of three hours.
        hours: u8,
    },
    /// Encrypts `len % 64` bytes of `fill` through a handle.
    Encrypt {
        /// Slot.
        slot: u8,
        /// Handle.
        handle: u8,
        /// Plaintext length.
        len: u8,
        /// Plaintext byte.
        fill: u8,
    },
    /// Decrypts ciphertext number `which` (of all made so far) through a
    /// handle of `slot`, or through `KeyStore::decrypt`.
    Decrypt {
        /// Slot.
        slot: u8,
        /// Handle; bit 1 set: decrypt through the store instead.
        handle: u8,
        /// Ciphertext index.
        which: u8,
    },
    /// Rotates through a handle.
    Rotate {
        /// Slot.
        slot: u8,
        /// Handle.
        handle: u8,
    },
    /// Version management through a handle: `kind` 0 compromise, 1
    /// destroy, 2 set minimum decryption version; `version` 1-based.
    Version {
        /// Slot.
        slot: u8,
        /// Handle.
        handle: u8,
        /// Which operation.
        kind: u8,
        /// Version number (mod 5).
        version: u8,
    },
    /// Replaces a handle with a freshly loaded one.
    Reload {
        /// Slot.
        slot: u8,
        /// Handle.
        handle: u8,
    },
    /// `KeyStore::maintenance`.
    Maintenance,
}

/// Decodes a byte string into operations: one tag byte, then a fixed
/// number of operand bytes per kind (missing ones read as zero). Every
/// input decodes.
#[must_use]
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut it = data.iter().copied();
    let mut b = move || it.next();
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        let Some(tag) = b() else { break };
        let mut n = || b().unwrap_or(0);
        let op = match tag % 10 {
            0 => Op::Create {
                slot: n(),
                flags: n(),
                param: n(),
            },
            1 | 2 => Op::Transition {
                slot: n(),
                handle: n(),
                kind: n(),
                arg: n(),
            },
            3 => Op::Advance { hours: n() },
            4 => Op::Encrypt {
                slot: n(),
                handle: n(),
                len: n(),
                fill: n(),
            },
            5 => Op::Decrypt {
                slot: n(),
                handle: n(),
                which: n(),
            },
            6 => Op::Rotate {
                slot: n(),
                handle: n(),
            },
            7 => Op::Version {
                slot: n(),
                handle: n(),
                kind: n(),
                version: n(),
            },
            8 => Op::Reload {
                slot: n(),
                handle: n(),
            },
            _ => Op::Maintenance,
        };
        ops.push(op);
    }
    ops
}

/// What the model expects of one key.
#[derive(Debug)]
struct Model {
    id: KeyId,
    state: StateName,
    before_pending: Option<StateName>,
    destroy_at: Option<i64>,
    deactivate_at: Option<i64>,
    period_ms: Option<i64>,
    /// By version - 1: state and encryptions so far.
    versions: Vec<(VersionState, u64)>,
    min_decryption: u32,
    limit: u64,
    rotate_at_limit: bool,
    suspended_processing: bool,
}

impl Model {
    fn primary(&self) -> u32 {
        u32::try_from(self.versions.len()).unwrap_or(u32::MAX)
    }

    fn primary_enabled(&self) -> bool {
        self.versions
            .last()
            .is_some_and(|(s, _)| *s == VersionState::Enabled)
    }

    /// Date-driven transitions due at `now` (they happen on every load and
    /// use, and lazily here: the outcome is the same).
    fn due(&mut self, now: i64) {
        use StateName::*;
        loop {
            match self.state {
                PreActive | Active | Suspended if self.deactivate_at.is_some_and(|d| d <= now) => {
                    self.state = Deactivated;
                }
                PendingDestruction if self.destroy_at.is_some_and(|d| d <= now) => {
                    self.state = if self.before_pending == Some(Compromised) {
                        DestroyedCompromised
                    } else {
                        Destroyed
                    };
                }
                _ => break,
            }
        }
    }

    fn processes(&self, v: u32) -> bool {
        let state_ok = match self.state {
            StateName::Active | StateName::Deactivated => true,
            StateName::Suspended => self.suspended_processing,
            _ => false,
        };
        let idx = usize::try_from(v.wrapping_sub(1)).unwrap_or(usize::MAX);
        state_ok
            && v >= self.min_decryption
            && self
                .versions
                .get(idx)
                .is_some_and(|(s, _)| *s == VersionState::Enabled)
    }

    /// The transition `kind` from the live state: the new state, or `None`
    /// when the store must refuse it.
    fn transition(&mut self, t: Transition, now: i64) -> Option<StateName> {
        use StateName::*;
        let to = match (self.state, t) {
            (PreActive, Transition::Activate) => Active,
            (Active, Transition::Suspend) => Suspended,
            (Suspended, Transition::Resume) => Active,
            (Active | Suspended, Transition::Deactivate) => Deactivated,
            (PreActive | Active | Suspended | Deactivated, Transition::Compromise) => Compromised,
            (Deactivated | Compromised, Transition::Schedule(wait)) if wait >= MIN_WAIT => {
                PendingDestruction
            }
            (PendingDestruction, Transition::Cancel) => self.before_pending.unwrap_or(Deactivated),
            (PreActive, Transition::Destroy) => Destroyed,
            _ => return None,
        };
        match t {
            Transition::Activate if self.deactivate_at.is_none() => {
                self.deactivate_at = self.period_ms.map(|p| now + p);
            }
            Transition::Schedule(wait) => {
                self.before_pending = Some(self.state);
                self.destroy_at = Some(now + ms(wait));
            }
            Transition::Cancel => {
                self.before_pending = None;
                self.destroy_at = None;
            }
            _ => {}
        }
        self.state = to;
        Some(to)
    }

    /// An encryption: the version it uses, or `None` if refused.
    fn encrypt(&mut self) -> Option<u32> {
        if self.state != StateName::Active || !self.primary_enabled() {
            return None;
        }
        let limit = self.limit;
        let rotate = self.rotate_at_limit;
        let last = self.versions.last_mut()?;
        if last.1 < limit {
            last.1 += 1;
        } else if rotate {
            self.versions.push((VersionState::Enabled, 1));
        } else {
            return None;
        }
        Some(self.primary())
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transition {
    Activate,
    Suspend,
    Resume,
    Deactivate,
    Compromise,
    Schedule(Duration),
    Cancel,
    Destroy,
}

struct Made {
    model: usize,
    version: u32,
    ct: Vec<u8>,
    pt: Vec<u8>,
    aad: Vec<u8>,
}

/// Two handles on one key; either may be stale or consumed.
type Handles = [Option<AnyKey<Aead>>; 2];

struct Run {
    store: KeyStore,
    clock: ManualClock,
    models: Vec<Model>,
    /// Per slot: the model index and two handles.
    slots: Vec<Option<(usize, Handles)>>,
    made: Vec<Made>,
    /// One handle per key for the whole run, so its in-process state
    /// (the unused part of a reserved usage block) lives as long as the run.
    anchors: Vec<AnyKey<Aead>>,
    trace: Vec<Op>,
}

impl Run {
    fn now(&self) -> i64 {
        self.store.now().as_millis()
    }

    fn fail(&self, msg: &str) -> ! {
        panic!("{msg}\noperations: {:?}", self.trace)
    }

    fn ok<T>(&self, r: keylife::Result<T>, what: &str) -> T {
        match r {
            Ok(v) => v,
            Err(e) => self.fail(&format!("{what}: {e}")),
        }
    }

    /// Brings the model of `m` up to date and compares it with the store.
    fn check(&mut self, m: usize) {
        let now = self.now();
        self.models[m].due(now);
        let info = self.ok(self.store.info(&self.models[m].id), "info");
        let model = &self.models[m];
        if info.state != model.state {
            self.fail(&format!(
                "state {:?}, model says {:?}",
                info.state, model.state
            ));
        }
        if info.state.has_material() {
            let versions: Vec<(VersionState, u64)> = info
                .versions
                .iter()
                .map(|v| (v.state, v.usage_count))
                .collect();
            if info.primary_version != model.primary()
                || info.min_decryption_version != model.min_decryption
                || versions != model.versions
            {
                self.fail(&format!(
                    "versions {versions:?} (primary {}, min {}), model says {:?} (min {})",
                    info.primary_version,
                    info.min_decryption_version,
                    model.versions,
                    model.min_decryption
                ));
            }
        }
    }

    /// The model index and handle `h` of a slot (loading it if the last
    /// transition consumed it).
    fn handle(&mut self, slot: u8, h: u8) -> Option<(usize, AnyKey<Aead>)> {
        let s = usize::from(slot) % SLOTS;
        let h = usize::from(h) % 2;
        let (m, taken) = {
            let (m, handles) = self.slots[s].as_mut()?;
            (*m, handles[h].take())
        };
        let k = match taken {
            Some(k) => k,
            None => {
                let id = self.models[m].id;
                self.ok(self.store.load::<Aead>(&id), "load")
            }
        };
        Some((m, k))
    }

    fn put(&mut self, slot: u8, h: u8, k: AnyKey<Aead>) {
        if let Some((_, handles)) = self.slots[usize::from(slot) % SLOTS].as_mut() {
            handles[usize::from(h) % 2] = Some(k);
        }
    }

    fn step(&mut self, op: Op) {
        self.trace.push(op);
        match op {
            Op::Create { slot, flags, param } => self.create(slot, flags, param),
            Op::Transition {
                slot,
                handle,
                kind,
                arg,
            } => self.transition(slot, handle, kind, arg),
            Op::Advance { hours } => {
                self.clock
                    .advance(Duration::from_secs(3 * 3600 * u64::from(hours)));
            }
            Op::Encrypt {
                slot,
                handle,
                len,
                fill,
            } => self.encrypt(slot, handle, len, fill),
            Op::Decrypt {
                slot,
                handle,
                which,
            } => self.decrypt(slot, handle, which),
            Op::Rotate { slot, handle } => self.rotate(slot, handle),
            Op::Version {
                slot,
                handle,
                kind,
                version,
            } => self.version(slot, handle, kind, version),
            Op::Reload { slot, handle } => {
                if let Some((m, k)) = self.handle(slot, handle) {
                    drop(k);
                    let id = self.models[m].id;
                    let fresh = self.ok(self.store.load::<Aead>(&id), "load");
                    self.put(slot, handle, fresh);
                }
            }
            Op::Maintenance => {
                self.ok(self.store.maintenance(), "maintenance");
            }
        }
    }

    fn create(&mut self, slot: u8, flags: u8, param: u8) {
        let mut spec = KeySpec::<Aead>::new("fuzz");
        let mut limit = keylife::AES_GCM_INVOCATION_LIMIT;
        if flags & 1 != 0 {
            limit = 1 + u64::from(param % 6);
            spec = spec.usage_limit(limit);
        }
        let rotate_at_limit = flags & 2 != 0;
        spec = spec.rotate_at_usage_limit(rotate_at_limit);
        let suspended_processing = flags & 4 == 0;
        spec = spec.suspended_processing(suspended_processing);
        let mut period_ms = None;
        if flags & 8 != 0 {
            let days = 1 + u64::from(param / 16);
            spec = spec.cryptoperiod(Duration::from_secs(days * 86_400));
            period_ms = Some(i64::try_from(days).unwrap_or(1) * 24 * HOUR_MS);
        }
        let key = self.ok(self.store.create(spec), "create");
        let anchor = self.ok(self.store.load::<Aead>(&key.id()), "load");
        self.anchors.push(anchor);
        self.models.push(Model {
            id: key.id(),
            state: StateName::PreActive,
            before_pending: None,
            destroy_at: None,
            deactivate_at: None,
            period_ms,
            versions: vec![(VersionState::Enabled, 0)],
            min_decryption: 1,
            limit,
            rotate_at_limit,
            suspended_processing,
        });
        let m = self.models.len() - 1;
        self.slots[usize::from(slot) % SLOTS] = Some((m, [Some(key.into_any()), None]));
        self.check(m);
    }

    fn transition(&mut self, slot: u8, h: u8, kind: u8, arg: u8) {
        let Some((m, k)) = self.handle(slot, h) else {
            return;
        };
        let wait = Duration::from_secs(6 * 86_400 + 3600 * u64::from(arg));
        let t = match kind % 8 {
            0 => Transition::Activate,
            1 => Transition::Suspend,
            2 => Transition::Resume,
            3 => Transition::Deactivate,
            4 => Transition::Compromise,
            5 => Transition::Schedule(wait),
            6 => Transition::Cancel,
            _ => Transition::Destroy,
        };
        // Only the methods the handle's type has can be called; the live
        // state may differ (another handle moved the key on).
        let r: Result<keylife::Result<AnyKey<Aead>>, AnyKey<Aead>> = match (t, k) {
            (Transition::Activate, AnyKey::PreActive(k)) => Ok(k.activate().map(Key::into_any)),
            (Transition::Destroy, AnyKey::PreActive(k)) => Ok(k.destroy("fuzz").map(Key::into_any)),
            (Transition::Compromise, AnyKey::PreActive(k)) => {
                Ok(k.compromise("fuzz").map(Key::into_any))
            }
            (Transition::Suspend, AnyKey::Active(k)) => Ok(k.suspend("fuzz").map(Key::into_any)),
            (Transition::Deactivate, AnyKey::Active(k)) => {
                Ok(k.deactivate("fuzz").map(Key::into_any))
            }
            (Transition::Compromise, AnyKey::Active(k)) => {
                Ok(k.compromise("fuzz").map(Key::into_any))
            }
            (Transition::Resume, AnyKey::Suspended(k)) => Ok(k.resume().map(Key::into_any)),
            (Transition::Deactivate, AnyKey::Suspended(k)) => {
                Ok(k.deactivate("fuzz").map(Key::into_any))
            }
            (Transition::Compromise, AnyKey::Suspended(k)) => {
                Ok(k.compromise("fuzz").map(Key::into_any))
            }
            (Transition::Compromise, AnyKey::Deactivated(k)) => {
                Ok(k.compromise("fuzz").map(Key::into_any))
            }
            (Transition::Schedule(w), AnyKey::Deactivated(k)) => {
                Ok(k.schedule_destruction(w, "fuzz").map(Key::into_any))
            }
            (Transition::Schedule(w), AnyKey::Compromised(k)) => {
                Ok(k.schedule_destruction(w, "fuzz").map(Key::into_any))
            }
            (Transition::Cancel, AnyKey::PendingDestruction(k)) => Ok(k.cancel_destruction()),
            (_, k) => Err(k),
        };
        match r {
            Err(k) => self.put(slot, h, k),
            Ok(res) => {
                let now = self.now();
                self.models[m].due(now);
                let expect = self.models[m].transition(t, now);
                match (expect, res) {
                    (Some(to), Ok(k)) => {
                        if k.state() != to {
                            self.fail(&format!("{t:?} led to {:?}, model says {to:?}", k.state()));
                        }
                        self.put(slot, h, k);
                    }
                    (None, Err(_)) => {}
                    (Some(to), Err(e)) => {
                        self.fail(&format!("{t:?} to {to:?} was refused: {e}"));
                    }
                    (None, Ok(k)) => self.fail(&format!(
                        "{t:?} from {:?} was allowed (now {:?})",
                        self.models[m].state,
                        k.state()
                    )),
                }
                self.check(m);
            }
        }
    }

    fn encrypt(&mut self, slot: u8, h: u8, len: u8, fill: u8) {
        let Some((m, k)) = self.handle(slot, h) else {
            return;
        };
        let AnyKey::Active(key) = &k else {
            self.put(slot, h, k);
            return;
        };
        let now = self.now();
        self.models[m].due(now);
        if masked("compromised-primary")
            && self.models[m].state == StateName::Active
            && !self.models[m].primary_enabled()
        {
            self.put(slot, h, k);
            return;
        }
        let pt = vec![fill; usize::from(len % 64)];
        let aad = [fill, len];
        let res = key.encrypt(&pt, &aad);
        let primary_enabled = self.models[m].primary_enabled();
        let primary = self.models[m].primary();
        let expect = self.models[m].encrypt();
        // With a compromised primary version the store must refuse, or
        // rotate to a fresh version first.
        let res = match res {
            Ok(ct)
                if expect.is_none()
                    && self.models[m].state == StateName::Active
                    && !primary_enabled =>
            {
                let v = keylife::CiphertextInfo::parse(&ct).map_or(0, |i| i.key_version);
                if v != primary + 1 {
                    self.fail(&format!(
                        "encrypted with version {v}, which is compromised (finding compromised-primary)"
                    ));
                }
                self.models[m].versions.push((VersionState::Enabled, 1));
                self.check_encrypted(m, v, ct, pt, &aad);
                self.put(slot, h, k);
                self.check(m);
                return;
            }
            r => r,
        };
        match (expect, res) {
            (Some(v), Ok(ct)) => self.check_encrypted(m, v, ct, pt, &aad),
            (None, Err(_)) => {}
            (Some(v), Err(e)) => self.fail(&format!("encryption with v{v} refused: {e}")),
            (None, Ok(_)) => self.fail(&format!(
                "encrypted in state {:?} (apply operation outside Active or past the limit)",
                self.models[m].state
            )),
        }
        self.put(slot, h, k);
        self.check(m);
    }

    /// A fresh ciphertext names key `m` and version `v`, and opens.
    fn check_encrypted(&mut self, m: usize, v: u32, ct: Vec<u8>, pt: Vec<u8>, aad: &[u8]) {
        let info = self.ok(keylife::CiphertextInfo::parse(&ct), "header");
        if info.key_id != self.models[m].id || info.key_version != v {
            self.fail(&format!(
                "encrypted with version {}, model says {v}",
                info.key_version
            ));
        }
        let back = self.ok(self.store.decrypt(&ct, aad), "decrypt what was made");
        if back != pt {
            self.fail("decrypt(encrypt(m)) != m");
        }
        self.made.push(Made {
            model: m,
            version: v,
            ct,
            pt,
            aad: aad.to_vec(),
        });
    }

    fn decrypt(&mut self, slot: u8, h: u8, which: u8) {
        if self.made.is_empty() {
            return;
        }
        let i = usize::from(which) % self.made.len();
        let (owner, version) = (self.made[i].model, self.made[i].version);
        let aad = self.made[i].aad.clone();
        let (res, m) = if h & 2 != 0 {
            (self.store.decrypt(&self.made[i].ct, &aad), owner)
        } else {
            let Some((m, k)) = self.handle(slot, h) else {
                return;
            };
            let r = match &k {
                AnyKey::Active(key) => key.decrypt(&self.made[i].ct, &aad),
                AnyKey::Suspended(key) => key.decrypt(&self.made[i].ct, &aad),
                AnyKey::Deactivated(key) => key.decrypt(&self.made[i].ct, &aad),
                _ => {
                    self.put(slot, h, k);
                    return;
                }
            };
            self.put(slot, h, k);
            (r, m)
        };
        let now = self.now();
        self.models[owner].due(now);
        self.models[m].due(now);
        let expect = m == owner && self.models[owner].processes(version);
        match (expect, res) {
            (true, Ok(pt)) => {
                if pt != self.made[i].pt {
                    self.fail("decrypt(encrypt(m)) != m");
                }
            }
            (false, Err(_)) => {}
            (true, Err(e)) => self.fail(&format!(
                "decrypting v{version} in state {:?} refused: {e}",
                self.models[owner].state
            )),
            (false, Ok(_)) => self.fail(&format!(
                "decrypted v{version} (key state {:?}, versions {:?}, min {}): processing where it must stop",
                self.models[owner].state,
                self.models[owner].versions,
                self.models[owner].min_decryption
            )),
        }
        self.check(owner);
    }

    fn rotate(&mut self, slot: u8, h: u8) {
        let Some((m, k)) = self.handle(slot, h) else {
            return;
        };
        let AnyKey::Active(key) = &k else {
            self.put(slot, h, k);
            return;
        };
        let res = key.rotate();
        self.put(slot, h, k);
        let now = self.now();
        self.models[m].due(now);
        let model = &mut self.models[m];
        let expect = (model.state == StateName::Active).then(|| {
            model.versions.push((VersionState::Enabled, 0));
            model.primary()
        });
        match (expect, res) {
            (Some(v), Ok(got)) if v == got => {}
            (None, Err(_)) => {}
            (e, r) => self.fail(&format!("rotate: {r:?}, model says {e:?}")),
        }
        self.check(m);
    }

    fn version(&mut self, slot: u8, h: u8, kind: u8, version: u8) {
        let Some((m, k)) = self.handle(slot, h) else {
            return;
        };
        let v = u32::from(version % 5);
        let kind = kind % 3;
        let call = |key: &dyn VersionOps| match kind {
            0 => key.compromise_v(v),
            1 => key.destroy_v(v),
            _ => key.set_min_v(v),
        };
        let res = match &k {
            AnyKey::Active(key) => call(key),
            AnyKey::Suspended(key) => call(key),
            AnyKey::Deactivated(key) => call(key),
            AnyKey::Compromised(key) => call(key),
            _ => {
                self.put(slot, h, k);
                return;
            }
        };
        self.put(slot, h, k);
        let now = self.now();
        self.models[m].due(now);
        let model = &mut self.models[m];
        let idx = usize::try_from(v.wrapping_sub(1)).unwrap_or(usize::MAX);
        let primary = model.primary();
        // Version management exists on Active, Suspended, Deactivated and
        // Compromised keys; a stale handle is refused in any other state.
        let manageable = matches!(
            model.state,
            StateName::Active
                | StateName::Suspended
                | StateName::Deactivated
                | StateName::Compromised
        );
        let current = model.versions.get(idx).map(|(s, _)| *s);
        let live = manageable && current.is_some_and(|s| s != VersionState::Destroyed);
        // (may succeed, may be refused)
        let (ok, refuse) = match kind {
            // Compromising the primary version may be refused (the store
            // could require a rotation first, as it does for destruction).
            0 => (live, !live || v == primary),
            1 => (live && v != primary, !(live && v != primary)),
            _ => {
                let ok = manageable && v >= 1 && v <= primary && v >= model.min_decryption;
                (ok, !ok)
            }
        };
        match (res.is_ok(), ok, refuse) {
            (true, true, _) => match kind {
                0 => model.versions[idx].0 = VersionState::Compromised,
                1 => model.versions[idx].0 = VersionState::Destroyed,
                _ => model.min_decryption = v,
            },
            (false, _, true) => {}
            _ => self.fail(&format!(
                "version op {kind} on v{v}: {res:?}, model: success {ok}, refusal {refuse}"
            )),
        }
        self.check(m);
    }
}

/// The version-management methods, over the states that have them.
trait VersionOps {
    fn compromise_v(&self, v: u32) -> keylife::Result<()>;
    fn destroy_v(&self, v: u32) -> keylife::Result<()>;
    fn set_min_v(&self, v: u32) -> keylife::Result<()>;
}

macro_rules! version_ops {
    ($($s:ty),+) => {$(
        impl VersionOps for Key<Aead, $s> {
            fn compromise_v(&self, v: u32) -> keylife::Result<()> {
                self.compromise_version(v, "fuzz")
            }
            fn destroy_v(&self, v: u32) -> keylife::Result<()> {
                self.destroy_version(v, "fuzz")
            }
            fn set_min_v(&self, v: u32) -> keylife::Result<()> {
                self.set_min_decryption_version(v)
            }
        }
    )+};
}
version_ops!(
    keylife::state::Active,
    keylife::state::Suspended,
    keylife::state::Deactivated,
    keylife::state::Compromised
);

/// Runs a decoded operation sequence against a fresh store and the model.
pub fn run_ops(ops: &[Op]) {
    let clock = ManualClock::new(T0);
    let mut options = StoreOptions::default();
    // Small blocks: the reservation path runs often.
    options.usage_block = 2;
    let kek = must(Kek::generate(), "kek");
    let store = must(
        KeyStore::builder(MemoryBackend::new())
            .clock(clock.clone())
            .options(options)
            .open(&RawKek::new(kek), Principal::admin("fuzz")),
        "open store",
    );
    let mut run = Run {
        store,
        clock,
        models: Vec::new(),
        slots: (0..SLOTS).map(|_| None).collect(),
        made: Vec::new(),
        anchors: Vec::new(),
        trace: Vec::new(),
    };
    for op in ops {
        run.step(*op);
    }
    for m in 0..run.models.len() {
        run.check(m);
    }
    // Nothing processes after destruction, whatever the handle.
    for i in 0..run.made.len() {
        let owner = run.made[i].model;
        if !run.models[owner].state.has_material()
            && run.store.decrypt(&run.made[i].ct, &run.made[i].aad).is_ok()
        {
            run.fail("a destroyed key decrypted");
        }
    }
}

/// Decodes `data` into operations ([`decode`]) and runs them ([`run_ops`]).
pub fn lifecycle(data: &[u8]) {
    run_ops(&decode(data));
}

/// A store with one AEAD key and sample streams (4 KiB segments) of a few
/// lengths around the segment boundaries, for the `stream` target.
struct StreamFixture {
    store: KeyStore,
    key: Key<Aead, keylife::state::Active>,
    /// (stream, plaintext)
    samples: Vec<(Vec<u8>, Vec<u8>)>,
    runs: u32,
}

const SEGMENT: u32 = 4096;

impl StreamFixture {
    fn new() -> StreamFixture {
        let store = fixture_store();
        let key = must(store.create_active(KeySpec::<Aead>::new("s")), "create s");
        let samples = [0usize, 1, 4095, 4096, 4097, 9000]
            .iter()
            .map(|&n| {
                let pt: Vec<u8> = (0..n).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect();
                let mut ct = Vec::new();
                must(
                    key.encrypt_stream_with(&mut pt.as_slice(), &mut ct, AAD, SEGMENT),
                    "stream",
                );
                (ct, pt)
            })
            .collect();
        StreamFixture {
            store,
            key,
            samples,
            runs: 0,
        }
    }
}

thread_local! {
    static STREAM: RefCell<Option<StreamFixture>> = const { RefCell::new(None) };
}

/// Streaming decryption (`KeyStore::decrypt_stream`) of arbitrary bytes,
/// of sample streams with edits (flips, truncation, insertion, changed
/// associated data), and of fresh streams of fuzzer bytes: no panic, and a
/// stream decrypts exactly when it is an unedited sample (or the fresh
/// stream), to its own plaintext.
pub fn stream(data: &[u8]) {
    STREAM.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|f| f.runs >= 2_000) {
            *slot = Some(fixture(StreamFixture::new));
        }
        if let Some(f) = slot.as_mut() {
            f.runs += 1;
            stream_with(f, data);
        }
    });
}

fn stream_with(f: &StreamFixture, data: &[u8]) {
    let open = |ct: &[u8], aad: &[u8]| {
        let mut out = Vec::new();
        f.store
            .decrypt_stream(&mut &ct[..], &mut out, aad)
            .map(|_| out)
    };
    let expect = |ct: &[u8], aad: &[u8], what: &str| {
        let sample = f
            .samples
            .iter()
            .find(|(s, _)| s == ct)
            .filter(|_| aad == AAD);
        match (sample, open(ct, aad)) {
            (Some((_, pt)), Ok(out)) => assert_eq!(&out, pt, "{what}: opened to another plaintext"),
            (Some(_), Err(e)) => panic!("{what}: a valid stream did not open: {e}"),
            (None, Ok(_)) => panic!("{what}: bytes that are no sample opened"),
            (None, Err(_)) => {}
        }
    };
    let Some((&mode, rest)) = data.split_first() else {
        assert!(open(&[], AAD).is_err(), "empty input opened");
        return;
    };
    let sel = usize::from(rest.first().copied().unwrap_or(0));
    let rest = rest.get(1..).unwrap_or(&[]);
    match mode % 3 {
        0 => expect(&data[1..], AAD, "arbitrary bytes"),
        1 => {
            let (ct, _) = &f.samples[sel % f.samples.len()];
            let (mut ct, mut aad) = (ct.clone(), AAD.to_vec());
            edit(&mut ct, &mut aad, rest);
            expect(&ct, &aad, "an edited sample");
        }
        _ => {
            let split = usize::from(rest.first().copied().unwrap_or(0)) % (rest.len() + 1);
            let (aad, pt) = rest.split_at(split);
            let mut ct = Vec::new();
            must(
                f.key
                    .encrypt_stream_with(&mut &pt[..], &mut ct, aad, SEGMENT),
                "encrypt",
            );
            assert_eq!(must(open(&ct, aad), "decrypt fresh"), pt);
            let bit = sel.wrapping_mul(31).wrapping_add(pt.len()) % (ct.len() * 8);
            let mut bad = ct;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                open(&bad, aad).is_err(),
                "a stream with bit {bit} flipped opened"
            );
        }
    }
}

/// The sample ciphertexts of a freshly built `ciphertext` fixture (a test
/// builds it twice and compares: fixtures must not depend on the process).
pub fn ciphertext_fixture_samples() -> Vec<Vec<u8>> {
    fixture(CiphertextFixture::new)
        .samples
        .into_iter()
        .map(|s| s.ct)
        .collect()
}
