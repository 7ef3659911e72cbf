//! Finding and opening the store named by the global options.

use std::path::PathBuf;
use std::sync::Arc;

use keylife::backend::{Backend, PostgresBackend, PostgresOptions, SqliteBackend};
use keylife::{ErrorKind, KekProvider, KeyStore, Principal};

use crate::args::Global;
use crate::fail::{Exit, Fail, Result};
use crate::secret;

/// Where the store is.
pub enum Location {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (never printed whole: it may hold a password).
    Postgres(String),
}

impl Location {
    /// The location per `--store`, `KEYLIFE_STORE`, or the default path.
    pub fn of(g: &Global) -> Result<Location> {
        match &g.store {
            Some(s) if is_postgres(s) => Ok(Location::Postgres(s.clone())),
            Some(s) if s.is_empty() => Err(Fail::usage("--store is empty")),
            Some(s) => Ok(Location::Sqlite(PathBuf::from(s))),
            None => Ok(Location::Sqlite(default_path()?)),
        }
    }

    /// A printable description (no password).
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("sqlite:{}", p.display()),
            Location::Postgres(conninfo) if !conninfo.contains("://") => {
                // Keyword/value form: keep host, port and dbname only.
                let kept: Vec<&str> = conninfo
                    .split_whitespace()
                    .filter(|kv| {
                        ["host=", "hostaddr=", "port=", "dbname="]
                            .iter()
                            .any(|k| kv.starts_with(k))
                    })
                    .collect();
                format!("postgres:{}", kept.join(" "))
            }
            Location::Postgres(url) => {
                // Drop any userinfo: postgres://user:secret@host/db → postgres://host/db.
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                let rest = rest.split_once('?').map_or(rest, |(h, _)| h);
                format!("{scheme}://{rest}")
            }
        }
    }
}

/// A PostgreSQL connection string: a `postgres://` / `postgresql://` URL,
/// or libpq's keyword/value form (`host=… port=… dbname=…`). Anything
/// else is an SQLite file path.
fn is_postgres(s: &str) -> bool {
    s.starts_with("postgres://")
        || s.starts_with("postgresql://")
        || s.split_whitespace().any(|kv| {
            ["host=", "hostaddr=", "dbname=", "port=", "user="]
                .iter()
                .any(|k| kv.starts_with(k))
        })
}

fn default_path() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => match std::env::var_os("HOME") {
            Some(h) if !h.is_empty() => PathBuf::from(h).join(".local/share"),
            _ => {
                return Err(Fail::usage(
                    "no --store, KEYLIFE_STORE, XDG_DATA_HOME or HOME",
                ));
            }
        },
    };
    Ok(base.join("keylife").join("store.db"))
}

fn backend(g: &Global, loc: &Location) -> Result<Arc<dyn Backend>> {
    Ok(match loc {
        Location::Sqlite(path) => Arc::new(
            SqliteBackend::open(path)
                .map_err(|e| Fail::from(e).context(&format!("store {}", path.display())))?,
        ),
        Location::Postgres(url) => {
            let mut opts = PostgresOptions::new();
            if let Some(s) = &g.schema {
                opts = opts.schema(s)?;
            }
            Arc::new(PostgresBackend::connect_with(url, &opts)?)
        }
    })
}

/// Opens the existing store as `--as`, roles from its registry.
pub fn open(g: &Global) -> Result<KeyStore> {
    let loc = Location::of(g)?;
    if let Location::Sqlite(path) = &loc
        && !path.exists()
    {
        return Err(Fail::new(
            Exit::NotFound,
            format!(
                "no store at {} (create one with `keylife store init`)",
                path.display()
            ),
        ));
    }
    let backend = backend(g, &loc)?;
    let kek = secret::kek(g, None)?;
    KeyStore::builder(backend)
        .open_registered(&*kek, &g.as_principal)
        .map_err(|e| {
            let kind = e.kind();
            let f = Fail::from(e);
            match kind {
                ErrorKind::WrongKek => f.context("wrong passphrase or KEK"),
                _ => f,
            }
        })
}

/// Creates a new store with `admin` as its administrator, under `kek`
/// (obtained first: nothing is created when there is no passphrase).
pub fn init(g: &Global, admin: &str, kek: &dyn KekProvider) -> Result<(KeyStore, Location)> {
    let loc = Location::of(g)?;
    if let Location::Sqlite(path) = &loc {
        if path.exists() {
            return Err(Fail::new(
                Exit::State,
                format!("a store already exists at {}", path.display()),
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Fail::io("cannot create directory", dir, &e))?;
        }
    }
    let builder = KeyStore::builder(backend(g, &loc)?);
    if builder.exists()? {
        return Err(Fail::new(
            Exit::State,
            format!("a store already exists at {}", loc.describe()),
        ));
    }
    let store = builder.open(kek, Principal::admin(admin)).map_err(|e| {
        if let Location::Sqlite(path) = &loc {
            // Leave nothing half-made behind.
            let _ = std::fs::remove_file(path);
        }
        Fail::from(e)
    })?;
    Ok((store, loc))
}
