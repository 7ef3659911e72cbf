//! Where the store's secret comes from: a KEK file, a passphrase file, a
//! file descriptor, the environment (with a warning), or a prompt. Never
//! an argument, never printed, wiped from memory after use.

use std::io::IsTerminal;
use std::path::Path;

use keylife::{Argon2Params, KekProvider, PassphraseKek, RawKek};
use zeroize::Zeroizing;

use crate::args::Global;
use crate::fail::{Exit, Fail, Result};

/// The environment variable holding a passphrase (discouraged: warned about).
pub const PASSPHRASE_ENV: &str = "KEYLIFE_PASSPHRASE";

/// Reads a passphrase from a file: its first line, without the line end.
pub fn passphrase_from_file(path: &Path) -> Result<Zeroizing<String>> {
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|e| Fail::io("cannot read passphrase file", path, &e))?,
    );
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Fail::usage(format!("passphrase file {} is not UTF-8", path.display())))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(Fail::usage(format!(
            "passphrase file {} is empty",
            path.display()
        )));
    }
    Ok(Zeroizing::new(line.to_owned()))
}

/// Asks on the terminal, without echo.
fn prompt(question: &str) -> Result<Zeroizing<String>> {
    if !std::io::stdin().is_terminal() && !Path::new("/dev/tty").exists() {
        return Err(no_secret());
    }
    let p = rpassword::prompt_password(question).map_err(|_| no_secret())?;
    Ok(Zeroizing::new(p))
}

fn no_secret() -> Fail {
    Fail::usage(format!(
        "no passphrase: no terminal to ask on; give --passphrase-file, --passphrase-fd, \
         --kek-file or {PASSPHRASE_ENV}"
    ))
}

/// The passphrase per the global options (not for `--kek-file`).
fn passphrase(g: &Global, confirm: bool) -> Result<Zeroizing<String>> {
    if let Some(path) = &g.passphrase_file {
        return passphrase_from_file(path);
    }
    if let Some(fd) = g.passphrase_fd {
        // /dev/fd/N reopens an inherited descriptor without `unsafe`.
        return passphrase_from_file(Path::new(&format!("/dev/fd/{fd}")))
            .map_err(|f| f.context(&format!("--passphrase-fd {fd}")));
    }
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        eprintln!(
            "warning: the passphrase comes from the environment ({PASSPHRASE_ENV}), which \
             other processes of this user may read; prefer --passphrase-file or a prompt"
        );
        return Ok(Zeroizing::new(p));
    }
    let first = prompt("store passphrase: ")?;
    if confirm {
        let again = prompt("again: ")?;
        if *again != *first {
            return Err(Fail::usage("the two passphrases differ"));
        }
    }
    Ok(first)
}

/// The KEK provider for opening (or, with `init`, creating) the store.
pub fn kek(g: &Global, init: Option<Argon2Params>) -> Result<Box<dyn KekProvider>> {
    if let Some(path) = &g.kek_file {
        return raw_kek(path);
    }
    let p = passphrase(g, init.is_some())?;
    let mut kek = PassphraseKek::new(&p);
    if let Some(params) = init {
        kek = kek.params(params);
    }
    Ok(Box::new(kek))
}

/// The kind of KEK the global options unlock with (`raw`, `argon2id`).
pub fn kek_kind(g: &Global) -> &'static str {
    if g.kek_file.is_some() {
        "raw"
    } else {
        PassphraseKek::new("").kind()
    }
}

/// A raw KEK from a file.
pub fn raw_kek(path: &Path) -> Result<Box<dyn KekProvider>> {
    if let Err(e) = std::fs::metadata(path) {
        return Err(Fail::io("cannot read KEK file", path, &e));
    }
    Ok(Box::new(RawKek::from_file(path)?))
}

/// The new KEK for `store rotate-kek`.
pub fn new_kek(
    new_passphrase_file: Option<&Path>,
    new_kek_file: Option<&Path>,
) -> Result<Box<dyn KekProvider>> {
    if let Some(path) = new_kek_file {
        return raw_kek(path);
    }
    let p = match new_passphrase_file {
        Some(path) => passphrase_from_file(path)?,
        None => {
            let first = prompt("new store passphrase: ")?;
            if *prompt("again: ")? != *first {
                return Err(Fail::new(Exit::Usage, "the two passphrases differ"));
            }
            first
        }
    };
    Ok(Box::new(PassphraseKek::new(&p)))
}
