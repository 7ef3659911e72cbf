//! The helpers every C ABI test uses: the thread-local last error, result
//! assertions, owning wrappers for handles, the two-call buffer protocol,
//! and the runner for the NULL-pointer tables.

use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr::null_mut;

use keylife::ffi::*;

// ----- results and the last error -----

/// The calling thread's last error message ("" when the last call
/// succeeded).
pub fn last_error() -> String {
    let n = kl_last_error(null_mut(), 0);
    let mut buf = vec![0u8; n];
    let m = kl_last_error(buf.as_mut_ptr().cast(), buf.len());
    assert_eq!(n, m);
    CStr::from_bytes_until_nul(&buf)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A failure code with the message that came with it, for `?` in tests
/// that return `Result<(), String>`.
pub fn describe(code: kl_result) -> String {
    format!("result {code}: {}", last_error())
}

/// Asserts that a call returns `KL_OK`, printing the last error if not.
macro_rules! ok {
    ($e:expr) => {{
        let r = $e;
        assert_eq!(r, KL_OK, "{} failed: {}", stringify!($e), last_error());
    }};
}
pub(crate) use ok;

/// Asserts that a call returns the given code.
macro_rules! fails {
    ($code:expr, $e:expr) => {{
        let r = $e;
        assert_eq!(
            r,
            $code,
            "{} returned {}, last error: {}",
            stringify!($e),
            r,
            last_error()
        );
    }};
}
pub(crate) use fails;

// ----- owned handles -----

pub struct Store(pub *mut kl_store);
impl Drop for Store {
    fn drop(&mut self) {
        kl_store_free(self.0);
    }
}

pub struct Key(pub *mut kl_key);
impl Drop for Key {
    fn drop(&mut self) {
        kl_key_free(self.0);
    }
}

pub struct Secret(pub *mut kl_secret);
impl Drop for Secret {
    fn drop(&mut self) {
        kl_secret_free(self.0);
    }
}
impl Secret {
    pub fn len(&self) -> usize {
        kl_secret_len(self.0)
    }
}

/// A fingerprint of the secret's bytes. Reading them directly would need
/// `unsafe`, which is confined to src/ffi; instead the pointer from
/// `kl_secret_data` goes back into the library as an input, as C would pass
/// it: the HMAC of the secret under a fixed per-thread key.
pub fn secret_bytes(s: &Secret) -> Vec<u8> {
    thread_local! {
        static FP: (Store, Key) = {
            let s = store();
            let k = key(&s, KL_PURPOSE_MAC, true);
            (s, k)
        };
    }
    let n = s.len();
    let p = kl_secret_data(s.0);
    assert!(!p.is_null() || n == 0);
    FP.with(|(_, k)| fetch(|o, c, l| kl_key_mac(k.0, p, n, o, c, l)).unwrap_or_default())
}

// ----- stores and keys -----

pub fn store_as(name: &CStr, role: u32) -> Store {
    let mut s = null_mut();
    ok!(kl_store_open_memory(name.as_ptr(), role, &mut s));
    assert!(!s.is_null());
    Store(s)
}

/// An in-memory store, opened by the administrator "tester".
pub fn store() -> Store {
    store_as(c"tester", KL_ROLE_ADMINISTRATOR)
}

/// Opens (creating if need be) the store at `path` under a raw KEK, as the
/// administrator "ops". On failure the out-parameter must stay NULL.
pub fn open_raw(backend: u32, path: &CStr, kek: &[u8]) -> Result<Store, kl_result> {
    let mut s = null_mut();
    let r = kl_store_open(
        backend,
        path.as_ptr(),
        KL_KEK_RAW,
        kek.as_ptr(),
        kek.len(),
        c"ops".as_ptr(),
        KL_ROLE_ADMINISTRATOR,
        &mut s,
    );
    if r == KL_OK {
        assert!(!s.is_null());
        Ok(Store(s))
    } else {
        assert!(s.is_null(), "out-params are written only on success");
        Err(r)
    }
}

/// A path as C receives it.
pub fn c_path(p: &Path) -> CString {
    CString::new(p.to_string_lossy().as_bytes()).unwrap_or_default()
}

/// The same store seen by another principal: registered with `role` when
/// the store does not know it yet, then minted from the opening handle `s`.
pub fn as_principal(s: &Store, name: &CStr, role: u32) -> Store {
    let r = kl_store_register_principal(s.0, name.as_ptr(), role);
    assert!(r == KL_OK || r == KL_ERR_ALREADY_EXISTS, "{}", last_error());
    let mut o = null_mut();
    ok!(kl_store_as_principal(s.0, name.as_ptr(), &mut o));
    Store(o)
}

/// A new key of `purpose`, activated if `active`.
pub fn key(s: &Store, purpose: u32, active: bool) -> Key {
    let mut k = null_mut();
    ok!(kl_key_create(s.0, purpose, c"k".as_ptr(), &mut k));
    assert!(!k.is_null());
    if active {
        ok!(kl_key_activate(k));
    }
    Key(k)
}

/// Another handle on `k`, loaded through `s`.
pub fn load(s: &Store, k: &Key) -> Key {
    let mut o = null_mut();
    ok!(kl_key_load(s.0, id_of(k).as_ptr(), &mut o));
    Key(o)
}

pub fn state(k: &Key) -> u32 {
    let mut s = 0;
    ok!(kl_key_state(k.0, &mut s));
    s
}

pub fn id_of(k: &Key) -> CString {
    let mut buf = [0u8; KL_KEY_ID_HEX_LEN + 1];
    let mut len = 0;
    ok!(kl_key_id(k.0, buf.as_mut_ptr().cast(), buf.len(), &mut len));
    assert_eq!(len, KL_KEY_ID_HEX_LEN + 1);
    CStr::from_bytes_with_nul(&buf)
        .map(CStr::to_owned)
        .unwrap_or_default()
}

// ----- the buffer protocol -----

/// Calls a buffer-filling function twice: a size query, then for real.
pub fn fetch(f: impl Fn(*mut u8, usize, *mut usize) -> kl_result) -> Result<Vec<u8>, kl_result> {
    let mut need = 0usize;
    let r = f(null_mut(), 0, &mut need);
    if r != KL_ERR_BUFFER_TOO_SMALL {
        return if r == KL_OK { Ok(Vec::new()) } else { Err(r) };
    }
    let mut buf = vec![0u8; need];
    let mut len = 0usize;
    match f(buf.as_mut_ptr(), buf.len(), &mut len) {
        KL_OK => {
            buf.truncate(len);
            Ok(buf)
        }
        e => Err(e),
    }
}

/// A NUL-terminated text output as a `String` (the NUL checked and dropped).
pub fn text(v: Vec<u8>) -> String {
    assert_eq!(v.last(), Some(&0), "text outputs are NUL-terminated");
    String::from_utf8(v[..v.len() - 1].to_vec()).unwrap_or_default()
}

pub fn json(v: Vec<u8>) -> serde_json::Value {
    serde_json::from_str(&text(v)).unwrap_or(serde_json::Value::Null)
}

/// `kl_key_info_json`, parsed.
pub fn info(k: &Key) -> serde_json::Value {
    json(fetch(|o, c, l| kl_key_info_json(k.0, o, c, l)).unwrap_or_default())
}

pub fn encrypt(k: &Key, pt: &[u8], aad: &[u8]) -> Result<Vec<u8>, kl_result> {
    fetch(|o, c, l| kl_key_encrypt(k.0, pt.as_ptr(), pt.len(), aad.as_ptr(), aad.len(), o, c, l))
}

pub fn decrypt(k: &Key, ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, kl_result> {
    fetch(|o, c, l| kl_key_decrypt(k.0, ct.as_ptr(), ct.len(), aad.as_ptr(), aad.len(), o, c, l))
}

pub fn sign(k: &Key, msg: &[u8]) -> Result<Vec<u8>, kl_result> {
    fetch(|o, c, l| kl_key_sign(k.0, msg.as_ptr(), msg.len(), o, c, l))
}

pub fn public_der(k: &Key) -> Result<Vec<u8>, kl_result> {
    fetch(|o, c, l| kl_key_public_key_der(k.0, o, c, l))
}

/// An audit checkpoint signed by `signer`, NUL-terminated.
pub fn checkpoint(s: &Store, signer: &Key) -> Result<CString, kl_result> {
    let mut buf = vec![0u8; KL_AUDIT_CHECKPOINT_JSON_MAX];
    let mut len = 0;
    match kl_store_audit_checkpoint(s.0, signer.0, buf.as_mut_ptr(), buf.len(), &mut len) {
        KL_OK => {
            buf.truncate(len);
            Ok(CString::from_vec_with_nul(buf).unwrap_or_default())
        }
        e => Err(e),
    }
}

/// An approval request (valid for an hour), NUL-terminated.
pub fn request(s: &Store, op: u32, key_id: &CStr, params: &CStr) -> Result<CString, kl_result> {
    fetch(|o, c, l| {
        kl_store_request_approval(s.0, op, key_id.as_ptr(), params.as_ptr(), 3600, o, c, l)
    })
    .map(|v| CString::from_vec_with_nul(v).unwrap_or_default())
}

// ----- NULL-pointer tables -----

/// One row of a NULL-pointer table: the entry point; the argument passed as
/// NULL (as the library names it), or for the few other rows what is wrong,
/// or `"-"` for a control call with every argument valid; the expected
/// result; the call.
pub type NullCase<'a> = (
    &'static str,
    &'static str,
    kl_result,
    &'a dyn Fn() -> kl_result,
);

/// Runs the rows in order (a control row may prepare the next ones) and
/// fails with every row that went wrong. A `KL_ERR_NULL_POINTER` row must
/// also leave the last error naming its argument.
pub fn check_null_table(table: &[NullCase]) {
    let mut wrong = Vec::new();
    for (function, arg, expected, call) in table {
        let got = call();
        let message = last_error();
        if got != *expected {
            wrong.push(format!(
                "{function} ({arg}): returned {got}, expected {expected}; last error: {message:?}"
            ));
        } else if got == KL_ERR_NULL_POINTER && message != format!("null pointer: {arg} is NULL") {
            wrong.push(format!("{function} ({arg}): last error {message:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} rows:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// An out-parameter slot the rows of a table can share: `Fn` closures may
/// pass `slot.as_ptr()`, and the test checks afterwards that nothing was
/// written.
pub fn out_slot<T>() -> Cell<*mut T> {
    Cell::new(null_mut())
}

/// An output buffer and its length slot, handed to the rows of a table as
/// the raw `(out, out_cap, out_len)` arguments.
pub struct Scratch {
    buf: Vec<u8>,
    len: usize,
}

impl Scratch {
    pub fn new(cap: usize) -> Scratch {
        Scratch {
            buf: vec![0u8; cap],
            len: 0,
        }
    }

    pub fn args(&mut self) -> (*mut u8, usize, *mut usize) {
        (self.buf.as_mut_ptr(), self.buf.len(), &mut self.len)
    }
}
