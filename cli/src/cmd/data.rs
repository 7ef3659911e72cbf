//! The data commands: encrypt, decrypt, rewrap, sign, verify, mac, data-key.

use std::io::{IsTerminal, Read};

use indicatif::{ProgressBar, ProgressStyle};
use keylife::key::{DEFAULT_SEGMENT_SIZE, STREAM_FORMAT, STREAM_HEADER_LEN, StreamInfo};
use keylife::{CiphertextInfo, KeyStore, purpose::Aead, state::Active};
use serde_json::json;

use crate::args::{
    DataKeyArgs, DecryptArgs, EncryptArgs, Global, MacArgs, RewrapArgs, SigEncoding, SignArgs,
    VerifyArgs,
};
use crate::cmd::key::resolve;
use crate::fail::{Exit, Fail, Result};
use crate::output::{
    Sink, aad, input_len, line, open_input, read_input, write_new_secret, write_output,
};

/// `encrypt`: one-shot for inputs of at most one segment, a stream
/// (`key::stream`) above, in constant memory.
pub fn encrypt(store: &KeyStore, a: &EncryptArgs) -> Result<()> {
    let key = resolve(store, &a.key)?;
    let aad = aad(&a.aad)?;
    let seg = DEFAULT_SEGMENT_SIZE as usize;
    let mut input = open_input(&a.io.input)?;
    let mut head = Vec::with_capacity(seg + 1);
    (&mut input)
        .take(seg as u64 + 1)
        .read_to_end(&mut head)
        .map_err(|e| read_fail(&a.io.input, &e))?;
    if head.len() <= seg {
        let ct = key.encrypt(&head, &aad)?;
        return write_output(&a.io.output, &ct);
    }
    let bar = progress_bytes(input_len(&a.io.input), "encrypting");
    let mut reader = bar.wrap_read(std::io::Cursor::new(head).chain(input));
    let mut sink = Sink::create(&a.io.output)?;
    key.encrypt_stream(&mut reader, sink.writer(), &aad)
        .map_err(|e| Fail::from(e).context(&a.io.input.display().to_string()))?;
    bar.finish_and_clear();
    sink.commit()
}

fn read_fail(path: &std::path::Path, e: &std::io::Error) -> Fail {
    Fail::new(Exit::Io, format!("cannot read {}: {e}", path.display()))
}

/// `decrypt`: a stream (first byte 0x02) segment by segment, kept only
/// when every segment authenticates; a one-shot ciphertext at once.
pub fn decrypt(store: &KeyStore, a: &DecryptArgs) -> Result<()> {
    let what = a.io.input.display().to_string();
    let aad = aad(&a.aad)?;
    let mut input = open_input(&a.io.input)?;
    let mut first = Vec::with_capacity(1);
    (&mut input)
        .take(1)
        .read_to_end(&mut first)
        .map_err(|e| read_fail(&a.io.input, &e))?;
    if first.first() == Some(&STREAM_FORMAT) {
        let bar = progress_bytes(input_len(&a.io.input), "decrypting");
        let mut reader = bar.wrap_read(std::io::Cursor::new(first).chain(input));
        let mut sink = Sink::create(&a.io.output)?;
        let res = store.decrypt_stream(&mut reader, sink.writer(), &aad);
        bar.finish_and_clear();
        return match res {
            Ok(_) => sink.commit(),
            Err(e) => {
                let stdout = matches!(sink, Sink::Stdout(_));
                drop(sink); // a temporary file is deleted, the target untouched
                let f = Fail::from(e).context(&what);
                Err(if stdout {
                    f.context("discard the output already written")
                } else {
                    f
                })
            }
        };
    }
    let mut ct = first;
    input
        .read_to_end(&mut ct)
        .map_err(|e| read_fail(&a.io.input, &e))?;
    let pt = zeroize::Zeroizing::new(
        store
            .decrypt(&ct, &aad)
            .map_err(|e| Fail::from(e).context(&what))?,
    );
    write_output(&a.io.output, &pt)
}

/// A byte progress bar on stderr, only when stderr is a terminal and the
/// size is known.
fn progress_bytes(len: Option<u64>, what: &str) -> ProgressBar {
    match len {
        Some(n) if std::io::stderr().is_terminal() => {
            let bar = ProgressBar::new(n);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            ) {
                bar.set_style(style);
            }
            bar.set_message(what.to_owned());
            bar
        }
        _ => ProgressBar::hidden(),
    }
}

/// A progress bar on stderr, only when stderr is a terminal.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({eta})") {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

/// A spinner on stderr for work without a known length (audit
/// verification, reports, restores), only when stderr is a terminal.
pub fn spinner(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

/// `rewrap`: each file in place, atomically, under its key's primary
/// version; files already under it are left alone.
pub fn rewrap(g: &Global, store: &KeyStore, a: &RewrapArgs) -> Result<()> {
    let aad = aad(&a.aad)?;
    if let Some(lines) = &a.lines {
        return rewrap_lines(g, store, lines, &a.output, &aad);
    }
    let bar = progress(a.files.len() as u64, "rewrapping");
    let mut moved = 0u64;
    for file in &a.files {
        if rewrap_one(store, file, &aad).map_err(|f| f.context(&file.display().to_string()))? {
            moved += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let v = json!({"files": a.files.len(), "rewritten": moved});
    line(g, &v, |_| {
        format!(
            "rewrapped {} file(s): {moved} rewritten, {} already current",
            a.files.len(),
            a.files.len() as u64 - moved
        )
    })
}

/// `rewrap --lines`: base64 ciphertexts, one per line, as one batch.
fn rewrap_lines(
    g: &Global,
    store: &KeyStore,
    input: &std::path::Path,
    output: &std::path::Path,
    aad: &[u8],
) -> Result<()> {
    use base64ct::{Base64, Encoding};
    let text = crate::output::read_text(input)?;
    let mut cts = Vec::new();
    for (n, l) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        cts.push(Base64::decode_vec(l.trim()).map_err(|_| {
            Fail::new(
                Exit::Malformed,
                format!("{} line {}: not base64", input.display(), n + 1),
            )
        })?);
    }
    let bar = spinner(&format!("rewrapping {} ciphertexts", cts.len()));
    let new = store.rewrap_many(&cts, aad);
    bar.finish_and_clear();
    let new = new.map_err(|e| Fail::from(e).context(&input.display().to_string()))?;
    let mut out = String::with_capacity(new.iter().map(|c| c.len() * 4 / 3 + 4).sum());
    for c in &new {
        out.push_str(&Base64::encode_string(c));
        out.push('\n');
    }
    write_output(output, out.as_bytes())?;
    if output.as_os_str() != "-" {
        let v = json!({"rewrapped": new.len(), "output": output});
        line(g, &v, |_| {
            format!(
                "rewrapped {} ciphertexts to {}",
                new.len(),
                output.display()
            )
        })?;
    }
    Ok(())
}

/// Rewraps one file; `false` when it was already under the primary version.
fn rewrap_one(store: &KeyStore, file: &std::path::Path, aad: &[u8]) -> Result<bool> {
    let mut input = open_input(file)?;
    let mut head = Vec::new();
    (&mut input)
        .take(STREAM_HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| read_fail(file, &e))?;
    let stream = head.first() == Some(&STREAM_FORMAT);
    let (id, version) = if stream {
        let i = StreamInfo::parse(&head)?;
        (i.key_id, i.key_version)
    } else {
        let i = CiphertextInfo::parse(&head)?;
        (i.key_id, i.key_version)
    };
    let key = store.load_handle(&id)?;
    if key.info()?.primary_version == version {
        return Ok(false);
    }
    if !stream {
        let mut ct = head;
        input
            .read_to_end(&mut ct)
            .map_err(|e| read_fail(file, &e))?;
        write_output(file, &key.rewrap(&ct, aad)?)?;
        return Ok(true);
    }
    // A stream: decrypt on one thread into a pipe, encrypt from it on this
    // one, so no plaintext touches the disk and memory stays flat.
    let (mut pipe_r, mut pipe_w) =
        std::io::pipe().map_err(|e| Fail::new(Exit::Io, format!("cannot create a pipe: {e}")))?;
    let mut sink = Sink::create(file)?;
    let (dec, enc) = std::thread::scope(|s| {
        let dec = s.spawn(move || {
            let mut r = std::io::Cursor::new(head).chain(input);
            store.decrypt_stream(&mut r, &mut pipe_w, aad)
            // pipe_w dropped here: the encryptor sees the end.
        });
        let enc = key.encrypt_stream(&mut pipe_r, sink.writer(), aad);
        drop(pipe_r); // a failed encryptor unblocks the decryptor
        (dec.join(), enc)
    });
    // The decryption result decides: a stream cut short by a failed
    // decryption would otherwise be encrypted as a shorter, valid one.
    match dec {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => return Err(Fail::new(Exit::Failure, "the decrypting thread panicked")),
    }
    enc?;
    sink.commit()?;
    Ok(true)
}

/// `sign`
pub fn sign(store: &KeyStore, a: &SignArgs) -> Result<()> {
    let key = resolve(store, &a.key)?;
    let msg = read_input(&a.io.input)?;
    let sig = match a.encoding {
        SigEncoding::Der => key.sign(&msg)?,
        SigEncoding::Raw => key.sign_fixed(&msg)?,
    };
    write_output(&a.io.output, &sig)
}

/// `verify`: exit 0 when valid, 6 when not.
pub fn verify(g: &Global, store: &KeyStore, a: &VerifyArgs) -> Result<()> {
    let key = resolve(store, &a.key)?;
    let msg = read_input(&a.input)?;
    let sig = read_input(&a.signature)?;
    match a.encoding {
        SigEncoding::Der => key.verify(&msg, &sig)?,
        SigEncoding::Raw => key.verify_fixed(&msg, &sig)?,
    }
    line(g, &json!({"valid": true}), |_| "signature valid".to_owned())
}

/// `mac`: prints the tag in hex, or verifies one (exit 6 when it differs).
pub fn mac(g: &Global, store: &KeyStore, a: &MacArgs) -> Result<()> {
    let key = resolve(store, &a.key)?;
    let msg = read_input(&a.input)?;
    match &a.verify {
        Some(h) => {
            let tag =
                hex::decode(h.trim()).map_err(|_| Fail::usage("--verify takes the tag in hex"))?;
            key.verify_mac(&msg, &tag)?;
            line(g, &json!({"valid": true}), |_| "tag valid".to_owned())
        }
        None => {
            let tag = hex::encode(key.mac(&msg)?);
            line(g, &json!({"tag": tag}), |_| tag.clone())
        }
    }
}

/// `data-key`: the wrapped key to `--output`; the plaintext only to a new
/// 0600 file when asked for.
pub fn data_key(g: &Global, store: &KeyStore, a: &DataKeyArgs) -> Result<()> {
    let key = resolve(store, &a.key)?.typed::<Aead, Active>()?;
    let aad = aad(&a.aad)?;
    let wrapped = match &a.plaintext_output {
        Some(path) => {
            if path.exists() {
                return Err(Fail::new(
                    Exit::Io,
                    format!(
                        "{} exists: a data key never overwrites a file",
                        path.display()
                    ),
                ));
            }
            let dk = key.generate_data_key(a.length, &aad)?;
            write_new_secret(path, dk.plaintext.expose_secret())?;
            dk.wrapped
        }
        None => key.generate_data_key_without_plaintext(a.length, &aad)?,
    };
    write_output(&a.output, &wrapped)?;
    if a.output.as_os_str() != "-" {
        let v = json!({"wrapped": a.output, "plaintext": a.plaintext_output});
        line(g, &v, |_| {
            format!("data key wrapped to {}", a.output.display())
        })?;
    }
    Ok(())
}
