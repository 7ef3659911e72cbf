//! Streaming encryption of large messages (the format is `key::stream`):
//! `Key::encrypt_stream`, `KeyHandle::encrypt_stream`,
//! `KeyStore::decrypt_stream`, in constant memory for any size.
//!
//! Governance is per stream: one authorization, grant and state check,
//! one usage-count invocation and one audit entry when the per-stream key
//! is derived. A stream that later fails authentication while decrypting
//! adds a failure entry.

use std::io::{Read, Write};
use std::path::Path;

use super::{Key, KeyCell, KeyHandle, KeyStore};
use crate::base::{Error, Result};
use crate::crypto::stream::{SegmentKey, open_stream, read_full, seal_stream};
use crate::key::stream::{
    self, BOUND_LEN, DEFAULT_SEGMENT_SIZE, PREFIX_LEN, SALT_LEN, STREAM_HEADER_LEN,
    STREAM_INFO_LABEL,
};
use crate::key::{Active, Aead, KeyId, Operation};

/// The HKDF info of a stream: label ‖ header bytes 0..26 ‖ associated data.
fn info(header: &[u8; STREAM_HEADER_LEN], aad: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(STREAM_INFO_LABEL.len() + BOUND_LEN + aad.len());
    v.extend_from_slice(STREAM_INFO_LABEL);
    v.extend_from_slice(&header[..BOUND_LEN]);
    v.extend_from_slice(aad);
    v
}

fn segment_len(size: u32) -> Result<usize> {
    usize::try_from(size).map_err(|_| Error::internal("segment size"))
}

impl KeyStore {
    pub(crate) fn op_encrypt_stream(
        &self,
        cell: &KeyCell,
        r: &mut dyn Read,
        w: &mut dyn Write,
        aad: &[u8],
        segment_size: u32,
    ) -> Result<u64> {
        stream::check_segment_size(segment_size)?;
        let provider = self.crypto_provider();
        // The per-stream key is derived under the key's lock; the stream
        // itself runs outside it, so a long file never blocks a rotation.
        let (header, key) = self.with_invocation(cell, |m, v, _| {
            let mut salt = [0u8; SALT_LEN];
            let mut prefix = [0u8; PREFIX_LEN];
            crate::base::random::fill_random(&mut salt)?;
            crate::base::random::fill_random(&mut prefix)?;
            let h = stream::header(&cell.id, v, segment_size, &salt, &prefix);
            let key = SegmentKey::derive(
                provider,
                m.raw.expose_secret(),
                &h.salt,
                &info(&h.bytes, aad),
                h.prefix,
            )?;
            Ok((h, key))
        })?;
        w.write_all(&header.bytes)
            .map_err(|e| Error::new(crate::ErrorKind::Storage, format!("stream write: {e}")))?;
        seal_stream(&key, segment_len(segment_size)?, r, w)
    }

    /// Decrypts a stream from [`Key::encrypt_stream`] (the header names key
    /// and version), writing the plaintext to `w` segment by segment, each
    /// only after it authenticates. Returns the plaintext length.
    ///
    /// A tampered, truncated, reordered or extended stream fails with
    /// [`crate::ErrorKind::AuthenticationFailed`] naming the segment — but
    /// the segments before it have been written by then: write to a
    /// temporary place and keep the output only when this returns `Ok`
    /// (the `keylife decrypt` command does).
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let key = store.create_active(KeySpec::<Aead>::new("backups"))?;
    /// let data = vec![42u8; 3 << 20]; // 3 MiB: three segments and a tag each
    /// let mut ct = Vec::new();
    /// key.encrypt_stream(&mut data.as_slice(), &mut ct, b"nightly")?;
    /// let mut pt = Vec::new();
    /// assert_eq!(store.decrypt_stream(&mut ct.as_slice(), &mut pt, b"nightly")?, 3 << 20);
    /// assert_eq!(pt, data);
    /// // Cut at a segment boundary: detected.
    /// let cut = &ct[..ct.len() - 16];
    /// let err = store.decrypt_stream(&mut &cut[..], &mut Vec::new(), b"nightly").unwrap_err();
    /// assert_eq!(err.kind(), keylife::ErrorKind::AuthenticationFailed);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::ErrorKind::Malformed`] / [`crate::ErrorKind::UnsupportedVersion`]
    /// for a bad header; [`crate::ErrorKind::NotFound`] for an unknown key;
    /// [`crate::ErrorKind::WrongState`] / [`crate::ErrorKind::VersionUnavailable`]
    /// when the key or version may not process;
    /// [`crate::ErrorKind::AuthenticationFailed`]; storage errors for I/O.
    pub fn decrypt_stream(&self, r: &mut dyn Read, w: &mut dyn Write, aad: &[u8]) -> Result<u64> {
        let mut hb = [0u8; STREAM_HEADER_LEN];
        let n = read_full(r, &mut hb)?;
        let parsed = match stream::parse(&hb[..n]) {
            Ok(h) => h,
            Err(e) => {
                self.audit(Operation::Decrypt, None, None, Err(e.clone()))?;
                return Err(e);
            }
        };
        let (id, v) = (parsed.info.key_id, parsed.info.key_version);
        let cell = match self.lookup_cell(&id) {
            Ok(c) => c,
            Err(e) => {
                self.audit(Operation::Decrypt, Some(id), Some(v), Err(e.clone()))?;
                return Err(e);
            }
        };
        let provider = self.crypto_provider();
        let key = self.use_key(&cell, Operation::Decrypt, |data, version| {
            *version = Some(v);
            let m = data.processable(v)?;
            SegmentKey::derive(
                provider,
                m.raw.expose_secret(),
                &parsed.salt,
                &info(&parsed.bytes, aad),
                parsed.prefix,
            )
        })?;
        let seg = segment_len(parsed.info.segment_size)?;
        match open_stream(&key, seg, r, w) {
            Ok(n) => Ok(n),
            Err(e) => {
                self.audit(Operation::Decrypt, Some(id), Some(v), Err(e.clone()))?;
                Err(e)
            }
        }
    }
}

impl Key<Aead, Active> {
    /// Encrypts everything `r` yields into `w` as a keylife stream
    /// (`key::StreamInfo` has the format): segments of 1 MiB, each sealed
    /// under a per-stream key, so memory stays flat for any size and
    /// truncation, reordering and segment swaps are detected. Returns the
    /// plaintext length. For messages that fit in memory,
    /// [`Key::encrypt`] is simpler.
    ///
    /// # Errors
    /// As [`Key::encrypt`]; storage errors for I/O.
    pub fn encrypt_stream(&self, r: &mut dyn Read, w: &mut dyn Write, aad: &[u8]) -> Result<u64> {
        let (store, cell) = self.parts();
        store.op_encrypt_stream(cell, r, w, aad, DEFAULT_SEGMENT_SIZE)
    }

    /// [`Key::encrypt_stream`] with another segment size
    /// (`key::MIN_SEGMENT_SIZE` ..= `key::MAX_SEGMENT_SIZE` plaintext bytes).
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] for a size out of range; as
    /// [`Key::encrypt_stream`].
    pub fn encrypt_stream_with(
        &self,
        r: &mut dyn Read,
        w: &mut dyn Write,
        aad: &[u8],
        segment_size: u32,
    ) -> Result<u64> {
        let (store, cell) = self.parts();
        store.op_encrypt_stream(cell, r, w, aad, segment_size)
    }
}

impl KeyHandle {
    /// As [`Key::encrypt_stream`].
    ///
    /// # Errors
    /// As [`Key::encrypt_stream`]; [`crate::ErrorKind::WrongPurpose`],
    /// [`crate::ErrorKind::WrongState`].
    pub fn encrypt_stream(&self, r: &mut dyn Read, w: &mut dyn Write, aad: &[u8]) -> Result<u64> {
        self.encrypt_stream_with(r, w, aad, DEFAULT_SEGMENT_SIZE)
    }

    /// As [`Key::encrypt_stream_with`].
    ///
    /// # Errors
    /// As [`Key::encrypt_stream_with`].
    pub fn encrypt_stream_with(
        &self,
        r: &mut dyn Read,
        w: &mut dyn Write,
        aad: &[u8],
        segment_size: u32,
    ) -> Result<u64> {
        let (store, cell) = self.live()?;
        store.op_encrypt_stream(cell, r, w, aad, segment_size)
    }

    /// As [`KeyStore::decrypt_stream`], refusing a stream of another key.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] for a stream of another key;
    /// as [`KeyStore::decrypt_stream`].
    pub fn decrypt_stream(&self, r: &mut dyn Read, w: &mut dyn Write, aad: &[u8]) -> Result<u64> {
        let (store, _) = self.live()?;
        let mut hb = [0u8; STREAM_HEADER_LEN];
        let n = read_full(r, &mut hb)?;
        let info = stream::parse(&hb[..n])?.info;
        check_key(&info.key_id, &self.id())?;
        store.decrypt_stream(&mut hb[..n].chain(r), w, aad)
    }
}

fn check_key(found: &KeyId, mine: &KeyId) -> Result<()> {
    if found != mine {
        return Err(Error::invalid(format!(
            "this stream was encrypted by key {found}, not {mine}"
        )));
    }
    Ok(())
}

/// Opens an input file; a missing file is [`crate::ErrorKind::NotFound`].
fn open_input(path: &Path) -> Result<std::io::BufReader<std::fs::File>> {
    let f = std::fs::File::open(path).map_err(|e| {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => crate::ErrorKind::NotFound,
            _ => crate::ErrorKind::Storage,
        };
        Error::new(kind, format!("cannot read {}: {e}", path.display()))
    })?;
    Ok(std::io::BufReader::with_capacity(1 << 20, f))
}

/// Runs `f` on a new temporary file beside `output` (mode 0600 on Unix),
/// then syncs it and renames it over `output`. On any failure the
/// temporary file is removed and `output` is untouched: a reader sees the
/// old file or the whole new one, never a part.
fn write_atomically(output: &Path, f: impl FnOnce(&mut dyn Write) -> Result<u64>) -> Result<u64> {
    let fail = |what: &str, e: &std::io::Error| {
        Error::new(
            crate::ErrorKind::Storage,
            format!("cannot {what} {}: {e}", output.display()),
        )
    };
    let name = output
        .file_name()
        .ok_or_else(|| Error::invalid(format!("{} names no file", output.display())))?;
    let mut tag = [0u8; 6];
    crate::base::random::fill_random(&mut tag)?;
    let tmp = output.with_file_name(format!(
        ".{}.{}.{}.part",
        name.to_string_lossy(),
        std::process::id(),
        crate::base::encoding::hex(&tag)
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let file = opts.open(&tmp).map_err(|e| fail("write", &e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let res = f(&mut w).and_then(|n| {
        let file = w.into_inner().map_err(|e| fail("write", e.error()))?;
        file.sync_all().map_err(|e| fail("sync", &e))?;
        std::fs::rename(&tmp, output).map_err(|e| fail("replace", &e))?;
        Ok(n)
    });
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

impl KeyStore {
    /// [`KeyStore::decrypt_stream`] from the file `input` to the file
    /// `output`, which is replaced only when every segment authenticated
    /// (written beside it, synced, renamed): a damaged stream leaves no
    /// plaintext behind. Returns the plaintext length.
    ///
    /// # Errors
    /// [`crate::ErrorKind::NotFound`] for a missing input; as
    /// [`KeyStore::decrypt_stream`].
    pub fn decrypt_file(&self, input: &Path, output: &Path, aad: &[u8]) -> Result<u64> {
        let mut r = open_input(input)?;
        write_atomically(output, |w| self.decrypt_stream(&mut r, w, aad))
    }
}

impl KeyHandle {
    /// [`KeyHandle::encrypt_stream`] from the file `input` to the file
    /// `output`, replaced whole or not at all. Returns the plaintext length.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, Purpose, purpose::Aead};
    /// let dir = tempfile::tempdir()?;
    /// let (plain, sealed, back) = (dir.path().join("a"), dir.path().join("a.kl"), dir.path().join("b"));
    /// std::fs::write(&plain, vec![7u8; 5 << 20])?;
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let key = store.create_handle(Purpose::Aead, KeySpec::<Aead>::new("files"))?;
    /// key.activate()?;
    /// key.encrypt_file(&plain, &sealed, b"")?;
    /// assert_eq!(store.decrypt_file(&sealed, &back, b"")?, 5 << 20);
    /// assert_eq!(std::fs::read(&back)?, std::fs::read(&plain)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::ErrorKind::NotFound`] for a missing input; as
    /// [`KeyHandle::encrypt_stream`].
    pub fn encrypt_file(&self, input: &Path, output: &Path, aad: &[u8]) -> Result<u64> {
        let mut r = open_input(input)?;
        write_atomically(output, |w| self.encrypt_stream(&mut r, w, aad))
    }
}
