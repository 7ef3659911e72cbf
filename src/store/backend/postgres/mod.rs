//! The PostgreSQL backend (feature `postgres`): one store shared by every
//! process of a fleet, on a server operators already run.
//!
//! Tables, in a schema of their own (`keylife` unless
//! [`PostgresOptions::schema`] names another, so several stores can share
//! one database):
//!
//! ```sql
//! CREATE TABLE records (
//!     id       text COLLATE "C" PRIMARY KEY,   -- byte order, as every backend
//!     value    bytea  NOT NULL,                -- the sealed record
//!     revision bigint NOT NULL CHECK (revision > 0)
//! );
//! CREATE TABLE changes (                       -- one row: the change counter
//!     one     boolean PRIMARY KEY DEFAULT true CHECK (one),
//!     counter bigint  NOT NULL
//! );
//! CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz);
//! ```
//!
//! Every commit is one transaction that first increments the change
//! counter. That row lock orders all writers of the store, so the
//! compare-and-swap preconditions read afterwards see every earlier commit,
//! and two writers can never deadlock on each other's records. The counter
//! is what [`Backend::change_counter`] returns: other processes poll it to
//! notice revocations, and since it is written in the same transaction as
//! the records, a process that sees the new counter also sees the new
//! records. Each commit also sends `NOTIFY keylife_<schema>` with the new
//! counter as a wake-up; nothing depends on it arriving (notifications are
//! lost through transaction poolers and on replicas).
//!
//! Faults: a connection the server closed (restart, failover,
//! `pg_terminate_backend`) is replaced by a fresh one and the call retried
//! once, unless the failure hit the `COMMIT` itself — the only point where a
//! write's outcome is unknown. A server that cannot be reached gives
//! [`ErrorKind::Unavailable`]; a commit lost in flight says its outcome is
//! unknown (a keylife store then re-reads the record before its next write,
//! and its revision shows whether the write landed).
//!
//! Connection strings are libpq's (`host=… user=… dbname=…` or
//! `postgresql://…`, several hosts with `target_session_attrs=read-write`
//! for failover). TLS: `sslmode=verify-full` (with `sslrootcert=<PEM file>`
//! for a private CA) connects only to a server whose certificate chains to
//! a trusted root and names the host, through rustls; `require` and
//! `verify-ca`, which accept any certificate of that CA or none, are
//! refused (the table in `conninfo.rs`). Nothing keylife prints — errors,
//! `Debug` — contains the password.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::Type;
use postgres::{Client, NoTls, Transaction};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{Backend, Expect, Record, WriteOp, prefix_upper_bound, to_revision};
use crate::base::{Error, ErrorKind, Result};

mod conninfo;

/// How connections are made: plaintext, or TLS verified by rustls.
#[derive(Clone)]
enum Connector {
    Plain,
    Tls(MakeRustlsConnect),
}

impl Connector {
    fn connect(&self, config: &postgres::Config) -> std::result::Result<Client, postgres::Error> {
        match self {
            Connector::Plain => config.connect(NoTls),
            Connector::Tls(t) => config.connect(t.clone()),
        }
    }
}

/// The pool, of plaintext or TLS connections.
enum Pools {
    Plain(Pool<PostgresConnectionManager<NoTls>>),
    Tls(Pool<PostgresConnectionManager<MakeRustlsConnect>>),
}

fn pool_builder<M: r2d2::ManageConnection>(options: &PostgresOptions) -> r2d2::Builder<M> {
    Pool::builder()
        .max_size(options.pool_size)
        .min_idle(Some(0))
        .connection_timeout(options.connect_timeout)
        // A dead connection is noticed by the call that uses it (and that
        // call retried): no round trip per checkout.
        .test_on_check_out(false)
        .error_handler(Box::new(r2d2::NopErrorHandler))
}

/// A pooled connection of either kind.
enum Conn {
    Plain(PooledConnection<PostgresConnectionManager<NoTls>>),
    Tls(PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>),
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        match self {
            Conn::Plain(c) => c,
            Conn::Tls(c) => c,
        }
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        match self {
            Conn::Plain(c) => c,
            Conn::Tls(c) => c,
        }
    }
}

/// Schema migrations; entry `n` takes the schema from version `n` to `n + 1`.
/// `{s}` is the store's schema (a checked identifier). Append only.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: records and the change counter.
    "CREATE TABLE {s}.records (
         id       text COLLATE \"C\" PRIMARY KEY,
         value    bytea  NOT NULL,
         revision bigint NOT NULL CHECK (revision > 0)
     );
     CREATE TABLE {s}.changes (
         one     boolean PRIMARY KEY DEFAULT true CHECK (one),
         counter bigint  NOT NULL
     );
     INSERT INTO {s}.changes (one, counter) VALUES (true, 0);",
];

/// Options for [`PostgresBackend::connect_with`].
///
/// ```
/// use std::time::Duration;
/// use keylife::backend::PostgresOptions;
/// let options = PostgresOptions::new()
///     .schema("payments")?
///     .pool_size(8)
///     .connect_timeout(Duration::from_secs(2));
/// assert_eq!(options.schema_name(), "payments");
/// assert_eq!(options.pool_size_value(), 8);
/// # Ok::<(), keylife::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PostgresOptions {
    schema: String,
    pool_size: u32,
    connect_timeout: Duration,
    create: bool,
    listen: bool,
}

impl Default for PostgresOptions {
    fn default() -> PostgresOptions {
        PostgresOptions {
            schema: "keylife".to_owned(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            create: true,
            listen: true,
        }
    }
}

impl PostgresOptions {
    /// The defaults: schema `keylife`, 4 pooled connections, a 5 s connect
    /// timeout, tables created when missing.
    #[must_use]
    pub fn new() -> PostgresOptions {
        PostgresOptions::default()
    }

    /// The schema that holds the store's tables (created when missing).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] unless `name` is 1 to 48 characters of
    /// `a-z`, `0-9` and `_`, not starting with a digit (an identifier that
    /// needs no quoting, and leaves room in the `NOTIFY` channel name).
    pub fn schema(mut self, name: &str) -> Result<PostgresOptions> {
        let ok = !name.is_empty()
            && name.len() <= 48
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(Error::invalid(format!(
                "invalid PostgreSQL schema name {name:?}: use 1 to 48 characters of a-z, 0-9 and _, not starting with a digit"
            )));
        }
        self.schema = name.to_owned();
        Ok(self)
    }

    /// The configured schema.
    #[must_use]
    pub fn schema_name(&self) -> &str {
        &self.schema
    }

    /// The most connections the pool opens (at least 1).
    #[must_use]
    pub fn pool_size(mut self, n: u32) -> PostgresOptions {
        self.pool_size = n.max(1);
        self
    }

    /// The configured pool size.
    #[must_use]
    pub fn pool_size_value(&self) -> u32 {
        self.pool_size
    }

    /// How long a call waits for a connection (to connect, or for a pooled
    /// one to be free) before failing with [`ErrorKind::Unavailable`].
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> PostgresOptions {
        self.connect_timeout = timeout;
        self
    }

    /// Whether a background thread keeps one more connection that
    /// `LISTEN`s for other processes' commits (default: on), so a store
    /// notices them at its next use instead of at its next refresh
    /// interval ([`Backend::change_hint`]). Off: polling alone (the same
    /// correctness; behind a transaction pooler, where `LISTEN` does not
    /// work, turn it off).
    #[must_use]
    pub fn listen(mut self, on: bool) -> PostgresOptions {
        self.listen = on;
        self
    }

    /// Whether missing tables are created (default), or a database without
    /// them is refused with [`ErrorKind::NotFound`].
    #[must_use]
    pub fn create_if_missing(mut self, create: bool) -> PostgresOptions {
        self.create = create;
        self
    }
}

/// Records in a PostgreSQL database, shared by any number of processes and
/// machines.
///
/// The tables live in a schema of their own (`records`: id, sealed value,
/// revision; `changes`: the change counter; `schema_migrations`). Every
/// commit is one transaction that first increments the change counter:
/// that row lock orders the store's writers, and the counter is what other
/// processes poll; `NOTIFY` wakes them sooner ([`PostgresOptions::listen`]).
/// A connection the server dropped is replaced and the call retried once,
/// unless the `COMMIT` itself was lost; an unreachable server gives
/// [`ErrorKind::Unavailable`]. TLS: `sslmode=verify-full` in the
/// connection string (with `sslrootcert=` for a private CA); `require` and
/// `verify-ca` are refused. `src/store/backend/postgres/mod.rs` has the
/// full design.
///
/// ```no_run
/// use keylife::backend::PostgresBackend;
/// use keylife::{KeyStore, Principal, PassphraseKek, KeySpec, purpose::Aead};
/// let backend = PostgresBackend::connect("host=db.internal user=app dbname=keys")?;
/// # let kek = keylife::RawKek::new(keylife::Kek::generate()?);
/// let store = KeyStore::open(backend, &kek, Principal::admin("ops"))?;
/// let key = store.create_active(KeySpec::<Aead>::new("orders"))?;
/// # Ok::<(), keylife::Error>(())
/// ```
pub struct PostgresBackend {
    pool: Pools,
    connector: Connector,
    /// For one direct connection when the pool cannot give one: its error
    /// says why (refused, authentication, …), where the pool only times out.
    config: postgres::Config,
    /// Where the server is, for messages: hosts, ports, database, user —
    /// never the password.
    target: String,
    sql: Statements,
    /// Notifications heard (and reconnections of the listener, after which
    /// some may have been missed); `None` without a listener.
    hint: Option<Arc<AtomicU64>>,
    /// Tells the listener thread to stop when the backend is dropped.
    stop: Arc<AtomicBool>,
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// The listener thread: one connection that `LISTEN`s on the store's
/// channel and counts what it hears into `hint`, reconnecting (and counting
/// that too: notifications may have been missed) when the connection drops.
fn listen(
    config: postgres::Config,
    connector: Connector,
    channel: String,
    hint: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Acquire) {
        let mut client = match connector.connect(&config) {
            Ok(c) => c,
            Err(_) => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        if client.batch_execute(&format!("LISTEN {channel}")).is_err() {
            continue;
        }
        backoff = Duration::from_millis(100);
        hint.fetch_add(1, Ordering::AcqRel);
        loop {
            if stop.load(Ordering::Acquire) {
                return;
            }
            let heard = {
                let mut notes = client.notifications();
                let mut it = notes.timeout_iter(Duration::from_millis(250));
                it.next()
            };
            match heard {
                Ok(Some(_)) => {
                    hint.fetch_add(1, Ordering::AcqRel);
                }
                Ok(None) => {
                    if client.is_closed() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }
}

/// The statements of one schema, built once.
struct Statements {
    get: String,
    /// A page of a prefix scan from the prefix (`id >= $1`) or after an id
    /// (`id > $1`): one lower bound, so the index seeks straight to the page.
    scan_from: String,
    scan_after: String,
    revisions: String,
    insert: String,
    upsert: String,
    delete: String,
    insert_many: String,
    upsert_many: String,
    delete_many: String,
    bump: String,
    counter: String,
    channel: String,
}

impl Statements {
    fn new(s: &str) -> Statements {
        Statements {
            get: format!("SELECT value, revision FROM {s}.records WHERE id = $1"),
            scan_from: format!(
                "SELECT id, value, revision FROM {s}.records
                 WHERE id >= $1 AND ($2::text IS NULL OR id < $2) ORDER BY id LIMIT $3"
            ),
            scan_after: format!(
                "SELECT id, value, revision FROM {s}.records
                 WHERE id > $1 AND ($2::text IS NULL OR id < $2) ORDER BY id LIMIT $3"
            ),
            revisions: format!("SELECT id, revision FROM {s}.records WHERE id = ANY($1)"),
            insert: format!(
                "INSERT INTO {s}.records (id, value, revision) VALUES ($1, $2, 1) RETURNING revision"
            ),
            upsert: format!(
                "INSERT INTO {s}.records (id, value, revision) VALUES ($1, $2, 1)
                 ON CONFLICT (id) DO UPDATE
                     SET value = excluded.value, revision = {s}.records.revision + 1
                 RETURNING revision"
            ),
            delete: format!("DELETE FROM {s}.records WHERE id = $1"),
            insert_many: format!(
                "INSERT INTO {s}.records (id, value, revision)
                 SELECT id, value, 1 FROM unnest($1::text[], $2::bytea[]) AS t (id, value)
                 RETURNING id, revision"
            ),
            upsert_many: format!(
                "INSERT INTO {s}.records (id, value, revision)
                 SELECT id, value, 1 FROM unnest($1::text[], $2::bytea[]) AS t (id, value)
                 ON CONFLICT (id) DO UPDATE
                     SET value = excluded.value, revision = {s}.records.revision + 1
                 RETURNING id, revision"
            ),
            delete_many: format!("DELETE FROM {s}.records WHERE id = ANY($1)"),
            // The counter's row lock and the wake-up in one round trip
            // (the notification is delivered at COMMIT, or not at all).
            bump: format!(
                "WITH c AS (UPDATE {s}.changes SET counter = counter + 1 RETURNING counter)
                 SELECT counter, pg_notify($1, counter::text)::text FROM c"
            ),
            counter: format!("SELECT counter FROM {s}.changes"),
            channel: format!("keylife_{s}"),
        }
    }
}

impl fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Hosts, ports, database and user of a configuration, for messages.
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = config.get_ports().get(i).or(config.get_ports().first());
            match port {
                Some(p) => format!("{host}:{p}"),
                None => host,
            }
        })
        .collect();
    format!(
        "postgresql://{}@{}/{}",
        config.get_user().unwrap_or("?"),
        hosts.join(","),
        config.get_dbname().unwrap_or("?")
    )
}

impl PostgresBackend {
    /// The schema version this build writes.
    pub const SCHEMA_VERSION: u32 = 1;

    /// Connects with the default [`PostgresOptions`] and creates the tables
    /// if missing.
    ///
    /// # Errors
    /// As [`PostgresBackend::connect_with`].
    pub fn connect(url: &str) -> Result<PostgresBackend> {
        PostgresBackend::connect_with(url, &PostgresOptions::default())
    }

    /// Connects (libpq connection string or URL), checks or migrates the
    /// schema, and keeps a pool of connections.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a connection string that does not
    /// parse (the message does not repeat it: it may hold a password);
    /// [`ErrorKind::Unavailable`] when no server answers within the connect
    /// timeout; [`ErrorKind::Storage`] when the server refuses (authentication,
    /// permissions); [`ErrorKind::UnsupportedVersion`] for tables of a newer
    /// keylife; [`ErrorKind::NotFound`] for missing tables with
    /// [`PostgresOptions::create_if_missing`] off.
    pub fn connect_with(url: &str, options: &PostgresOptions) -> Result<PostgresBackend> {
        let (url, tls) = conninfo::split_tls(url)?;
        let connector = match &tls {
            conninfo::Tls::Plain => Connector::Plain,
            conninfo::Tls::VerifyFull { root } => Connector::Tls(MakeRustlsConnect::new(
                conninfo::client_config(root.as_ref())?,
            )),
        };
        let mut config = postgres::Config::from_str(&url).map_err(|_| {
            Error::invalid(
                "invalid PostgreSQL connection string (not repeated here: it may hold a password)",
            )
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("keylife");
        }
        let target = describe(&config);
        // One direct connection first: a wrong password or an unreachable
        // server is reported at once, and precisely.
        drop(
            connector
                .connect(&config)
                .map_err(|e| db_error("connect", &target, &e))?,
        );
        let pool = match &connector {
            Connector::Plain => Pools::Plain(
                pool_builder(options)
                    .build_unchecked(PostgresConnectionManager::new(config.clone(), NoTls)),
            ),
            Connector::Tls(t) => Pools::Tls(
                pool_builder(options)
                    .build_unchecked(PostgresConnectionManager::new(config.clone(), t.clone())),
            ),
        };
        let sql = Statements::new(&options.schema);
        let stop = Arc::new(AtomicBool::new(false));
        let hint = options.listen.then(|| Arc::new(AtomicU64::new(0)));
        if let Some(h) = &hint {
            let (config, connector, channel, h, stop) = (
                config.clone(),
                connector.clone(),
                sql.channel.clone(),
                h.clone(),
                stop.clone(),
            );
            std::thread::Builder::new()
                .name("keylife-pg-listen".into())
                .spawn(move || listen(config, connector, channel, h, stop))
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Storage,
                        format!("cannot start the PostgreSQL listener thread: {e}"),
                    )
                })?;
        }
        let backend = PostgresBackend {
            pool,
            connector,
            config,
            target,
            sql,
            hint,
            stop,
        };
        backend.migrate(&options.schema, options.create)?;
        Ok(backend)
    }

    /// The server and database this backend talks to, without the password
    /// (`postgresql://user@host:port/dbname`).
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    fn conn(&self) -> Result<Conn> {
        let got = match &self.pool {
            Pools::Plain(p) => p.get().map(Conn::Plain),
            Pools::Tls(p) => p.get().map(Conn::Tls),
        };
        got.map_err(|_| {
            // The pool only says it timed out: one direct attempt tells why.
            match self.connector.connect(&self.config) {
                Err(e) => db_error("connect", &self.target, &e),
                Ok(_) => Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "every pooled connection to PostgreSQL at {} stayed busy for the connect timeout",
                        self.target
                    ),
                ),
            }
        })
    }

    /// Runs `f` on a pooled connection; when the connection turns out to
    /// be dead (server restarted, connection killed), once more on a fresh
    /// one. `f` must be safe to repeat after a lost connection (a read, or
    /// a transaction that had not reached `COMMIT`).
    fn with_conn<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&mut Client) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let mut conn = self.conn()?;
        match f(&mut conn) {
            Ok(v) => Ok(v),
            Err(Failure::Db(e)) if is_connection_lost(&e) => {
                // The pool drops the dead connection (`has_broken`).
                drop(conn);
                let mut conn = self.conn()?;
                f(&mut conn).map_err(|e| e.into_error(what, &self.target))
            }
            Err(e) => Err(e.into_error(what, &self.target)),
        }
    }

    fn migrate(&self, schema: &str, create: bool) -> Result<()> {
        self.with_conn("migrate", |c| {
            let mut tx = c.transaction()?;
            // One migrator per schema at a time, across processes.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('keylife-schema:' || $1))",
                &[&schema],
            )?;
            let exists: bool = tx
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL",
                    &[&format!("{schema}.schema_migrations")],
                )?
                .get(0);
            let version: i32 = if exists {
                tx.query_one(
                    &format!("SELECT coalesce(max(version), 0) FROM {schema}.schema_migrations"),
                    &[],
                )?
                .get(0)
            } else {
                if !create {
                    return Err(Failure::Keylife(Error::new(
                        ErrorKind::NotFound,
                        format!("no keylife store in schema {schema}"),
                    )));
                }
                tx.batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema};
                     CREATE TABLE {schema}.schema_migrations (
                         version    integer PRIMARY KEY,
                         applied_at timestamptz NOT NULL DEFAULT now()
                     );"
                ))?;
                0
            };
            let version = u32::try_from(version).unwrap_or(u32::MAX);
            if version > PostgresBackend::SCHEMA_VERSION {
                return Err(Failure::Keylife(Error::new(
                    ErrorKind::UnsupportedVersion,
                    format!(
                        "the keylife tables in schema {schema} are at version {version}; this build knows up to {}",
                        PostgresBackend::SCHEMA_VERSION
                    ),
                )));
            }
            for (n, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.batch_execute(&m.replace("{s}", schema))?;
                let to = i32::try_from(n + 1).unwrap_or(i32::MAX);
                tx.execute(
                    &format!("INSERT INTO {schema}.schema_migrations (version) VALUES ($1)"),
                    &[&to],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn apply(
        &self,
        tx: &mut Transaction<'_>,
        ops: &[WriteOp],
    ) -> std::result::Result<Vec<u64>, Failure> {
        // First: the counter's row lock, which orders the store's writers.
        tx.query_typed_one(&self.sql.bump, &[(&self.sql.channel, Type::TEXT)])?;
        let ids: Vec<&str> = ops
            .iter()
            .filter(|op| {
                let (WriteOp::Put { expect, .. } | WriteOp::Delete { expect, .. }) = op;
                !matches!(expect, Expect::Any)
            })
            .map(WriteOp::id)
            .collect();
        if !ids.is_empty() {
            let rows = tx.query_typed(&self.sql.revisions, &[(&ids, Type::TEXT_ARRAY)])?;
            let mut current = std::collections::HashMap::with_capacity(rows.len());
            for r in rows {
                let id: String = r.get(0);
                let rev = to_revision(&id, r.get(1))?;
                current.insert(id, rev);
            }
            for op in ops {
                let (WriteOp::Put { id, expect, .. } | WriteOp::Delete { id, expect }) = op;
                if !matches!(expect, Expect::Any) {
                    expect.check(id, current.get(id.as_str()).copied())?;
                }
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(ops.len());
        if ops.iter().all(|op| seen.insert(op.id())) {
            return self.apply_batched(tx, ops);
        }
        // The same record twice in one commit: one statement per write, in
        // order.
        let mut revs = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                WriteOp::Put { id, value, expect } => {
                    // Absent: a plain insert, so a record created since the
                    // check above fails the commit instead of being replaced.
                    let sql = if matches!(expect, Expect::Absent) {
                        &self.sql.insert
                    } else {
                        &self.sql.upsert
                    };
                    let rev: i64 = tx
                        .query_typed_one(sql, &[(id, Type::TEXT), (value, Type::BYTEA)])?
                        .get(0);
                    revs.push(to_revision(id, rev)?);
                }
                WriteOp::Delete { id, .. } => {
                    tx.execute_typed(&self.sql.delete, &[(id, Type::TEXT)])?;
                    revs.push(0);
                }
            }
        }
        Ok(revs)
    }

    /// The writes of a commit that names each record once: one statement
    /// per kind of write (plain inserts for `Absent`, upserts, deletes)
    /// instead of one round trip per record.
    fn apply_batched(
        &self,
        tx: &mut Transaction<'_>,
        ops: &[WriteOp],
    ) -> std::result::Result<Vec<u64>, Failure> {
        let (mut ins_ids, mut ins_vals) = (Vec::new(), Vec::new());
        let (mut up_ids, mut up_vals) = (Vec::new(), Vec::new());
        let mut del_ids = Vec::new();
        for op in ops {
            match op {
                // Absent: a plain insert, so a record created since the
                // check fails the commit instead of being replaced.
                WriteOp::Put {
                    id,
                    value,
                    expect: Expect::Absent,
                } => {
                    ins_ids.push(id.as_str());
                    ins_vals.push(value.as_slice());
                }
                WriteOp::Put { id, value, .. } => {
                    up_ids.push(id.as_str());
                    up_vals.push(value.as_slice());
                }
                WriteOp::Delete { id, .. } => del_ids.push(id.as_str()),
            }
        }
        let mut rev_of = std::collections::HashMap::with_capacity(ops.len());
        for (sql, ids, vals) in [
            (&self.sql.insert_many, &ins_ids, &ins_vals),
            (&self.sql.upsert_many, &up_ids, &up_vals),
        ] {
            if ids.is_empty() {
                continue;
            }
            for r in tx.query_typed(sql, &[(ids, Type::TEXT_ARRAY), (vals, Type::BYTEA_ARRAY)])? {
                let id: String = r.get(0);
                let rev = to_revision(&id, r.get(1))?;
                rev_of.insert(id, rev);
            }
        }
        if !del_ids.is_empty() {
            tx.execute_typed(&self.sql.delete_many, &[(&del_ids, Type::TEXT_ARRAY)])?;
        }
        ops.iter()
            .map(|op| match op {
                WriteOp::Put { id, .. } => rev_of.get(id.as_str()).copied().ok_or_else(|| {
                    Failure::Keylife(Error::internal(format!("no revision returned for {id}")))
                }),
                WriteOp::Delete { .. } => Ok(0),
            })
            .collect()
    }
}

/// A failure inside a database call: the driver's, or keylife's own.
enum Failure {
    Db(postgres::Error),
    Keylife(Error),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Failure {
        Failure::Db(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Keylife(e)
    }
}

impl Failure {
    fn into_error(self, what: &str, target: &str) -> Error {
        match self {
            Failure::Keylife(e) => e,
            Failure::Db(e) => db_error(what, target, &e),
        }
    }
}

/// Whether the connection is gone (closed by the server, or the socket
/// failed): the statement did not run, or ran in a transaction the server
/// rolled back.
fn is_connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08: connection exception; 57P01-57P03: the server is
        // shutting down, crashed, or not yet accepting connections.
        Some(code) => {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
        }
        // No SQLSTATE: lost only if the socket failed (an I/O error), not
        // for the driver's own errors (a value that does not convert, …).
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// Maps a driver error to a keylife error that names the server (never the
/// password) and what was being done.
fn db_error(what: &str, target: &str, e: &postgres::Error) -> Error {
    // No retry cures a certificate that does not verify.
    if e.to_string().starts_with("error performing TLS handshake") {
        return Error::new(
            ErrorKind::Storage,
            format!("TLS with PostgreSQL at {target} failed ({what}): {e}"),
        );
    }
    if is_connection_lost(e) {
        return Error::new(
            ErrorKind::Unavailable,
            format!("PostgreSQL at {target} is unavailable ({what}): {e}"),
        );
    }
    let kind = match e.code() {
        Some(c)
            if *c == SqlState::UNIQUE_VIOLATION
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            ErrorKind::Conflict
        }
        _ => ErrorKind::Storage,
    };
    let detail = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    Error::new(kind, format!("PostgreSQL at {target}, {what}: {detail}"))
}

impl Backend for PostgresBackend {
    fn get(&self, id: &str) -> Result<Option<Record>> {
        // Typed statements: one round trip each (parse, bind and execute
        // together), where a plain `query` prepares first.
        let row = self.with_conn("get", |c| {
            Ok(c.query_typed_opt(&self.sql.get, &[(&id, Type::TEXT)])?)
        })?;
        row.map(|r| {
            Ok(Record {
                value: r.get(0),
                revision: to_revision(id, r.get(1))?,
            })
        })
        .transpose()
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<Vec<u64>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        // A connection lost before COMMIT is retried by `with_conn` (the
        // server rolled the transaction back, so it cannot apply twice);
        // one lost at COMMIT is not: its outcome is unknown.
        self.with_conn("commit", |c| {
            let mut tx = c.transaction()?;
            let revs = self.apply(&mut tx, ops)?;
            tx.commit().map_err(|e| {
                if is_connection_lost(&e) {
                    Failure::Keylife(in_doubt(&self.target, &e))
                } else {
                    Failure::Db(e)
                }
            })?;
            Ok(revs)
        })
    }

    fn scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Record)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let upper = prefix_upper_bound(prefix);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (sql, lower) = match start_after {
            Some(after) if after >= prefix => (&self.sql.scan_after, after),
            _ => (&self.sql.scan_from, prefix),
        };
        let rows = self.with_conn("scan", |c| {
            Ok(c.query_typed(
                sql,
                &[
                    (&lower, Type::TEXT),
                    (&upper, Type::TEXT),
                    (&limit, Type::INT8),
                ],
            )?)
        })?;
        rows.into_iter()
            .map(|r| {
                let id: String = r.get(0);
                let revision = to_revision(&id, r.get(2))?;
                Ok((
                    id,
                    Record {
                        value: r.get(1),
                        revision,
                    },
                ))
            })
            .collect()
    }

    fn change_hint(&self) -> Option<u64> {
        self.hint.as_ref().map(|h| h.load(Ordering::Acquire))
    }

    fn change_counter(&self) -> Result<u64> {
        let n: i64 = self.with_conn("read the change counter", |c| {
            Ok(c.query_typed_one(&self.sql.counter, &[])?.get(0))
        })?;
        u64::try_from(n).map_err(|_| {
            Error::new(
                ErrorKind::Integrity,
                format!("the change counter of {} is negative", self.target),
            )
        })
    }
}

/// A commit whose `COMMIT` was sent but never answered.
fn in_doubt(target: &str, e: &postgres::Error) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!(
            "PostgreSQL at {target} was lost during COMMIT: the outcome is unknown (re-read before retrying): {e}"
        ),
    )
}
