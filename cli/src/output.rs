//! Reading inputs, writing outputs (whole or not at all), tables and JSON.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use comfy_table::{Table, presets};
use serde::Serialize;

use crate::args::{Aad, Format, Global};
use crate::fail::{Exit, Fail, Result};

/// Whether a path names a standard stream.
fn is_std(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Reads a whole input file, or stdin for `-`.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    if is_std(path) {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Fail::new(Exit::Io, format!("cannot read stdin: {e}")))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| Fail::io("cannot read", path, &e))
}

/// Reads a text input file.
pub fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read_input(path)?).map_err(|_| {
        Fail::new(
            Exit::Malformed,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

/// The associated data of an AEAD command.
pub fn aad(a: &Aad) -> Result<Vec<u8>> {
    match &a.aad_file {
        Some(p) => read_input(p),
        None => Ok(a.aad.as_bytes().to_vec()),
    }
}

/// Writes `bytes` to stdout for `-`, else to `path` atomically: a
/// temporary file in the same directory (mode 0600), synced, then renamed
/// over `path`. A crash leaves the old file or the new one, never half.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    if is_std(path) {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| Fail::new(Exit::Io, format!("cannot write stdout: {e}")));
    }
    let tmp = synced_temp(path, bytes)?;
    tmp.persist(path).map_err(|e| write_fail(path, &e.error))?;
    Ok(())
}

fn write_fail(path: &Path, e: &std::io::Error) -> Fail {
    Fail::new(Exit::Io, format!("cannot write {}: {e}", path.display()))
}

/// A new temporary file beside `path` (mode 0600).
pub fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".keylife-")
        .tempfile_in(dir)
        .map_err(|e| write_fail(path, &e))
}

/// A temporary file beside `path` holding `bytes`, synced.
fn synced_temp(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes).map_err(|e| write_fail(path, &e))?;
    tmp.as_file().sync_all().map_err(|e| write_fail(path, &e))?;
    Ok(tmp)
}

/// Opens an input file, or stdin for `-`, as a stream.
pub fn open_input(path: &Path) -> Result<Box<dyn Read + Send>> {
    if is_std(path) {
        return Ok(Box::new(std::io::stdin()));
    }
    let f = std::fs::File::open(path).map_err(|e| Fail::io("cannot read", path, &e))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
}

/// The size of an input file, when it is a regular file.
pub fn input_len(path: &Path) -> Option<u64> {
    if is_std(path) {
        return None;
    }
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// An output written as it is produced: stdout, or a temporary file in
/// the target's directory renamed over it by [`Sink::commit`] — dropped
/// without a commit, the temporary file is deleted and the target is
/// untouched.
pub enum Sink {
    /// Standard output.
    Stdout(std::io::BufWriter<std::io::Stdout>),
    /// A temporary file and where it goes.
    File(
        std::io::BufWriter<tempfile::NamedTempFile>,
        std::path::PathBuf,
    ),
}

impl Sink {
    /// A sink for `path` (`-`: stdout).
    pub fn create(path: &Path) -> Result<Sink> {
        if is_std(path) {
            return Ok(Sink::Stdout(std::io::BufWriter::with_capacity(
                1 << 20,
                std::io::stdout(),
            )));
        }
        let tmp = temp_beside(path)?;
        Ok(Sink::File(
            std::io::BufWriter::with_capacity(1 << 20, tmp),
            path.to_path_buf(),
        ))
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Stdout(w) => w,
            Sink::File(w, _) => w,
        }
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(self) -> Result<()> {
        match self {
            Sink::Stdout(mut w) => w
                .flush()
                .map_err(|e| Fail::new(Exit::Io, format!("cannot write stdout: {e}"))),
            Sink::File(w, path) => {
                let fail = |e: std::io::Error| {
                    Fail::new(Exit::Io, format!("cannot write {}: {e}", path.display()))
                };
                let tmp = w.into_inner().map_err(|e| fail(e.into_error()))?;
                tmp.as_file().sync_all().map_err(fail)?;
                tmp.persist(&path).map_err(|e| fail(e.error))?;
                Ok(())
            }
        }
    }
}

/// Writes a secret to a new file (mode 0600), refusing to replace one.
pub fn write_new_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    if is_std(path) {
        return Err(Fail::usage(
            "secrets are never written to stdout; name a file",
        ));
    }
    let tmp = synced_temp(path, bytes)?;
    tmp.persist_noclobber(path)
        .map_err(|e| write_fail(path, &e.error))?;
    Ok(())
}

/// Prints a value as pretty JSON on stdout.
pub fn json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Fail::new(Exit::Failure, format!("JSON output: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A table with a header row.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(header.iter().copied());
    t
}

/// Prints either the JSON of `value` or the table `render` builds.
pub fn show<T: Serialize>(g: &Global, value: &T, render: impl FnOnce(&T) -> Table) -> Result<()> {
    match g.format {
        Format::Json => json(value),
        Format::Table => {
            println!("{}", render(value));
            Ok(())
        }
    }
}

/// Prints either the JSON of `value` or one line of text.
pub fn line<T: Serialize>(g: &Global, value: &T, text: impl FnOnce(&T) -> String) -> Result<()> {
    match g.format {
        Format::Json => json(value),
        Format::Table => {
            println!("{}", text(value));
            Ok(())
        }
    }
}

/// Asks the operator to type `expected` before an irreversible change,
/// unless `--yes`.
pub fn confirm(g: &Global, what: &str, expected: &str) -> Result<()> {
    if g.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Fail::usage(format!(
            "{what} is irreversible: confirm with --yes (stdin is not a terminal)"
        )));
    }
    eprint!("{what} is irreversible. Type the key name ({expected}) to go on: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Fail::new(Exit::Io, format!("cannot read the answer: {e}")))?;
    if answer.trim() != expected {
        return Err(Fail::usage(format!("{what}: not confirmed")));
    }
    Ok(())
}
