//! The data commands: encrypt, decrypt, rewrap, sign, verify, mac, data-key.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use keylife::{CiphertextInfo, KeyStore, purpose::Aead, state::Active};
use serde_json::json;

use crate::args::{
    DataKeyArgs, DecryptArgs, EncryptArgs, Global, MacArgs, RewrapArgs, SigEncoding, SignArgs,
    VerifyArgs,
};
use crate::cmd::key::resolve;
use crate::fail::{Exit, Fail, Result};
use crate::output::{aad, line, read_input, write_new_secret, write_output};

/// `encrypt`
pub fn encrypt(store: &KeyStore, a: &EncryptArgs) -> Result<()> {
    let key = resolve(store, &a.key)?;
    let plaintext = read_input(&a.io.input)?;
    let ct = key.encrypt(&plaintext, &aad(&a.aad)?)?;
    write_output(&a.io.output, &ct)
}

/// `decrypt`
pub fn decrypt(store: &KeyStore, a: &DecryptArgs) -> Result<()> {
    let ct = read_input(&a.io.input)?;
    let pt = store
        .decrypt(&ct, &aad(&a.aad)?)
        .map_err(|e| Fail::from(e).context(&a.io.input.display().to_string()))?;
    write_output(&a.io.output, &pt)
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

/// `rewrap`: each file in place, atomically, under its key's primary version.
pub fn rewrap(g: &Global, store: &KeyStore, a: &RewrapArgs) -> Result<()> {
    let aad = aad(&a.aad)?;
    let bar = progress(a.files.len() as u64, "rewrapping");
    let mut moved = 0u64;
    for file in &a.files {
        let ct = read_input(file)?;
        let what = file.display().to_string();
        let info = CiphertextInfo::parse(&ct).map_err(|e| Fail::from(e).context(&what))?;
        let key = store.load_handle(&info.key_id)?;
        let new = key
            .rewrap(&ct, &aad)
            .map_err(|e| Fail::from(e).context(&what))?;
        if new != ct {
            write_output(file, &new)?;
            moved += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let v = json!({"files": a.files.len(), "rewritten": moved});
    line(g, &v, |_| {
        format!("rewrapped {} file(s), {moved} rewritten", a.files.len())
    })
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
