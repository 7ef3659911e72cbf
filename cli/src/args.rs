//! The command tree (clap derive): nouns first, as `ckms` and `gcloud kms`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::fail::EXIT_CODES;

/// keylife: the whole life of a cryptographic key, from a shell.
///
/// Every command opens the store (`--store`, default an SQLite file in the
/// user's data directory), acting as a registered principal (`--as`),
/// unlocked by a passphrase or a KEK file. Secrets are never arguments:
/// they come from a prompt, a file, a file descriptor or the environment.
#[derive(Debug, Parser)]
#[command(name = "keylife", version, after_long_help = EXIT_CODES, after_help = EXIT_CODES)]
pub struct Cli {
    /// Where and how to open the store.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The store: an SQLite file path, or PostgreSQL as a `postgres://` URL
    /// or a keyword/value string (`host=… dbname=…`)
    /// [default: $XDG_DATA_HOME/keylife/store.db]
    #[arg(long, global = true, env = "KEYLIFE_STORE", value_name = "PATH|URL")]
    pub store: Option<String>,
    /// The PostgreSQL schema holding the store (with a `postgres://` store).
    #[arg(long, global = true, env = "KEYLIFE_PG_SCHEMA", value_name = "NAME")]
    pub schema: Option<String>,
    /// Act as this registered principal (its roles come from the store).
    #[arg(
        long = "as",
        global = true,
        env = "KEYLIFE_PRINCIPAL",
        default_value = "admin",
        value_name = "NAME"
    )]
    pub as_principal: String,
    /// Read the store passphrase from this file (first line).
    #[arg(long, global = true, env = "KEYLIFE_PASSPHRASE_FILE", value_name = "FILE", conflicts_with_all = ["passphrase_fd", "kek_file"])]
    pub passphrase_file: Option<PathBuf>,
    /// Read the store passphrase from this open file descriptor.
    #[arg(long, global = true, value_name = "FD", conflicts_with = "kek_file")]
    pub passphrase_fd: Option<u32>,
    /// Unlock with a raw KEK instead of a passphrase: a file of 32 bytes or
    /// 64 hex digits.
    #[arg(long, global = true, env = "KEYLIFE_KEK_FILE", value_name = "FILE")]
    pub kek_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table, env = "KEYLIFE_FORMAT")]
    pub format: Format,
    /// Do not ask for confirmation (`destroy`, `compromise`).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable tables and lines.
    Table,
    /// One JSON document on stdout; errors as one JSON object on stderr.
    Json,
}

/// The nouns.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The store itself: create, inspect, verify, re-key, maintain.
    #[command(subcommand)]
    Store(StoreCmd),
    /// Keys: create, inspect, change state, rotate, grant.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Encrypt a file or stdin with an AEAD key.
    Encrypt(EncryptArgs),
    /// Decrypt a keylife ciphertext (the header names key and version).
    Decrypt(DecryptArgs),
    /// Re-encrypt ciphertexts under their key's current primary version.
    Rewrap(RewrapArgs),
    /// Sign a file or stdin with a signing key.
    Sign(SignArgs),
    /// Verify a signature with a signing key of this store.
    Verify(VerifyArgs),
    /// Compute (or verify) an HMAC tag with a MAC key.
    Mac(MacArgs),
    /// Generate a data key wrapped under an AEAD key (envelope encryption).
    DataKey(DataKeyArgs),
    /// Principals and their roles.
    #[command(subcommand)]
    Principal(PrincipalCmd),
    /// Approvers: the people whose signatures dual control requires.
    #[command(subcommand)]
    Approver(ApproverCmd),
    /// Dual control: request, sign and submit approvals.
    #[command(subcommand)]
    Approval(ApprovalCmd),
    /// The policy in force.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Key transport to another party (HPKE, RFC 9180): trusted recipients,
    /// export, import.
    #[command(subcommand)]
    Transport(TransportCmd),
    /// k-of-n custodian backups.
    #[command(subcommand)]
    Backup(BackupCmd),
    /// The compliance report over every key.
    Report(ReportArgs),
    /// Print a shell completion script.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// `keylife store …`
#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// Create a new store, its first principal its administrator.
    Init(InitArgs),
    /// What the store is: backend, KEK, provider, keys, policy, audit head.
    Info,
    /// Check every record and the whole audit chain.
    Verify,
    /// Re-wrap the store under a new passphrase or KEK.
    RotateKek(RotateKekArgs),
    /// Apply every date that has passed (activation, deactivation,
    /// destruction) to keys nobody touched.
    Maintenance,
}

/// `keylife store init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The administrator's name.
    #[arg(long, default_value = "admin")]
    pub admin: String,
    /// Put this policy (TOML) in force at once.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Argon2id memory in KiB for a passphrase store.
    #[arg(long, default_value_t = 65_536, value_name = "KIB")]
    pub argon2_memory: u32,
    /// Argon2id passes.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub argon2_passes: u32,
    /// Argon2id lanes.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub argon2_lanes: u32,
}

/// `keylife store rotate-kek`
#[derive(Debug, Args)]
pub struct RotateKekArgs {
    /// Read the new passphrase from this file (else a prompt, twice).
    #[arg(long, value_name = "FILE", conflicts_with = "new_kek_file")]
    pub new_passphrase_file: Option<PathBuf>,
    /// Move to a raw KEK read from this file (32 bytes or 64 hex digits).
    #[arg(long, value_name = "FILE")]
    pub new_kek_file: Option<PathBuf>,
}

/// A key: its id, or a name that only one key holds.
pub type KeyRef = String;

/// A purpose, as in the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PurposeArg {
    /// Authenticated encryption (AES-256-GCM).
    Aead,
    /// Signatures (ECDSA P-256).
    Signing,
    /// MACs (HMAC-SHA-256).
    Mac,
    /// Key agreement (ECDH P-256).
    Agreement,
    /// Key derivation (HKDF-SHA-256).
    Derivation,
}

/// A state, for filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// Created, not yet active.
    PreActive,
    /// In use.
    Active,
    /// Temporarily out of use.
    Suspended,
    /// Processes existing data only.
    Deactivated,
    /// Compromised.
    Compromised,
    /// Destruction scheduled.
    PendingDestruction,
    /// Destroyed.
    Destroyed,
    /// Destroyed after a compromise.
    DestroyedCompromised,
}

/// `keylife key …`
#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Create a key (PreActive unless --active).
    Create(CreateArgs),
    /// List keys.
    List(ListArgs),
    /// Show one key's metadata, grants and history.
    Show {
        /// The key (id or name).
        key: KeyRef,
    },
    /// PreActive → Active.
    Activate {
        /// The key (id or name).
        key: KeyRef,
    },
    /// Active → Suspended.
    Suspend(ReasonArgs),
    /// Suspended → Active.
    Resume {
        /// The key (id or name).
        key: KeyRef,
    },
    /// → Deactivated: processes existing data only.
    Deactivate(ReasonArgs),
    /// → Compromised (asks for confirmation unless --yes).
    Compromise(ReasonArgs),
    /// → PendingDestruction after a waiting period.
    ScheduleDestroy(ScheduleArgs),
    /// PendingDestruction → back to the state before.
    CancelDestroy {
        /// The key (id or name).
        key: KeyRef,
    },
    /// Destroy the key material now (asks for confirmation unless --yes).
    Destroy(ReasonArgs),
    /// A new primary version; older ones still decrypt and verify.
    Rotate {
        /// The key (id or name).
        key: KeyRef,
    },
    /// The key's versions. Counted uses include invocations reserved in
    /// blocks and not used (a process that exits gives its block up), so
    /// the count never falls short of the real one.
    Versions {
        /// The key (id or name).
        key: KeyRef,
    },
    /// Destroy one old version's material (not the primary).
    Trim {
        /// The key (id or name).
        key: KeyRef,
        /// The version to destroy.
        #[arg(long)]
        version: u32,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Refuse to decrypt with versions older than this.
    MinVersion {
        /// The key (id or name).
        key: KeyRef,
        /// The oldest version that still decrypts.
        version: u32,
    },
    /// Set the key's owner (the team or person answerable for it).
    SetOwner {
        /// The key (id or name).
        key: KeyRef,
        /// The owner.
        owner: String,
    },
    /// Let a principal use the key.
    Grant(GrantArgs),
    /// Withdraw a principal's grant.
    RevokeGrant {
        /// The key (id or name).
        key: KeyRef,
        /// The principal.
        principal: String,
    },
    /// Export a signing or agreement key's public key.
    PublicKey(PublicKeyArgs),
    /// Export a version's raw key material to a new file (mode 0600). Only
    /// in a `hazmat` build, and only with --allow-plaintext-output: the
    /// bytes are the key.
    #[cfg(feature = "hazmat")]
    ExportRaw {
        /// The key (id or name).
        key: KeyRef,
        /// The version (default: primary).
        #[arg(long)]
        version: Option<u32>,
        /// A new file for the material (never stdout).
        #[arg(long, short)]
        output: PathBuf,
        /// Say that you mean it: the material leaves the store unprotected.
        #[arg(long)]
        allow_plaintext_output: bool,
    },
    /// The key check value of a version (identifies the material, reveals nothing).
    CheckValue {
        /// The key (id or name).
        key: KeyRef,
        /// The version (default: primary).
        #[arg(long)]
        version: Option<u32>,
    },
}

/// `key create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The key's name.
    pub name: String,
    /// What the key is for.
    #[arg(long, value_enum)]
    pub purpose: PurposeArg,
    /// The owning team or person.
    #[arg(long)]
    pub owner: Option<String>,
    /// A classification level from the policy.
    #[arg(long)]
    pub classification: Option<String>,
    /// A label, `key=value` (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub labels: Vec<(String, String)>,
    /// Allow the key to leave the store to trusted destinations.
    #[arg(long)]
    pub exportable: bool,
    /// Activate at once.
    #[arg(long)]
    pub active: bool,
    /// Create this many keys, named `NAME-1` … `NAME-N`, in one durable
    /// commit (each key still gets its own audit entry).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub count: Option<u32>,
}

/// `key list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only keys in this state.
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
    /// Only keys of this purpose.
    #[arg(long, value_enum)]
    pub purpose: Option<PurposeArg>,
    /// Only keys of this owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// Only keys of this name.
    #[arg(long)]
    pub name: Option<String>,
}

/// A key and a reason.
#[derive(Debug, Args)]
pub struct ReasonArgs {
    /// The key (id or name).
    pub key: KeyRef,
    /// Why (recorded in the key's history and the audit log).
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `key schedule-destroy`
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The key (id or name).
    pub key: KeyRef,
    /// Waiting period, e.g. `7d`, `30days` (at least the store's minimum).
    #[arg(long, value_parser = parse_duration)]
    pub after: Duration,
    /// Why.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `key grant`
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The key (id or name).
    pub key: KeyRef,
    /// The registered principal.
    pub principal: String,
    /// Operations, comma-separated: encrypt,decrypt,sign,verify,mac,…
    #[arg(long = "operations", value_delimiter = ',', required = true)]
    pub operations: Vec<String>,
    /// Grant for this long only (e.g. `90d`).
    #[arg(long, value_parser = parse_duration)]
    pub expires_in: Option<Duration>,
}

/// Public key encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyEncoding {
    /// SubjectPublicKeyInfo, PEM.
    Pem,
    /// SubjectPublicKeyInfo, DER (binary).
    Der,
    /// JSON Web Key.
    Jwk,
}

/// `key public-key`
#[derive(Debug, Args)]
pub struct PublicKeyArgs {
    /// The key (id or name).
    pub key: KeyRef,
    /// Encoding.
    #[arg(long, value_enum, default_value_t = KeyEncoding::Pem)]
    pub encoding: KeyEncoding,
    /// The version (default: primary).
    #[arg(long)]
    pub version: Option<u32>,
    /// Write here (`-`: stdout).
    #[arg(long, short, default_value = "-")]
    pub output: PathBuf,
}

/// Input, output and associated data of an AEAD command.
#[derive(Debug, Args)]
pub struct Io {
    /// The input file (`-`: stdin).
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// The output file (`-`: stdout), written whole or not at all.
    #[arg(long, short, default_value = "-")]
    pub output: PathBuf,
}

/// Associated data, bound to a ciphertext but not in it.
#[derive(Debug, Args)]
pub struct Aad {
    /// Associated data, as text.
    #[arg(long, conflicts_with = "aad_file", default_value = "")]
    pub aad: String,
    /// Associated data, from a file.
    #[arg(long, value_name = "FILE")]
    pub aad_file: Option<PathBuf>,
}

/// `encrypt`
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The AEAD key (id or name).
    #[arg(long, short)]
    pub key: KeyRef,
    /// Files.
    #[command(flatten)]
    pub io: Io,
    /// Associated data.
    #[command(flatten)]
    pub aad: Aad,
}

/// `decrypt`
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// Files.
    #[command(flatten)]
    pub io: Io,
    /// Associated data.
    #[command(flatten)]
    pub aad: Aad,
}

/// `rewrap`
#[derive(Debug, Args)]
pub struct RewrapArgs {
    /// Ciphertext files, rewritten in place (each atomically).
    #[arg(required_unless_present = "lines", conflicts_with = "lines")]
    pub files: Vec<PathBuf>,
    /// A file of many ciphertexts instead, one per line in base64 (`-`:
    /// stdin), rewrapped as one batch — all or nothing — to `--output`.
    #[arg(long, value_name = "FILE")]
    pub lines: Option<PathBuf>,
    /// Where the rewrapped lines go (`-`: stdout), with `--lines`.
    #[arg(long, short, default_value = "-", requires = "lines")]
    pub output: PathBuf,
    /// Associated data (the same for every file).
    #[command(flatten)]
    pub aad: Aad,
}

/// Signature encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SigEncoding {
    /// ASN.1 DER (X.509, most tools).
    Der,
    /// Fixed-width r‖s, 64 bytes (JOSE, WebAuthn).
    Raw,
}

/// `sign`
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The signing key (id or name).
    #[arg(long, short)]
    pub key: KeyRef,
    /// Files: the message in, the signature out.
    #[command(flatten)]
    pub io: Io,
    /// Signature encoding.
    #[arg(long, value_enum, default_value_t = SigEncoding::Der)]
    pub encoding: SigEncoding,
}

/// `verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signing key (id or name).
    #[arg(long, short)]
    pub key: KeyRef,
    /// The message (`-`: stdin).
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// The signature file.
    #[arg(long)]
    pub signature: PathBuf,
    /// Signature encoding.
    #[arg(long, value_enum, default_value_t = SigEncoding::Der)]
    pub encoding: SigEncoding,
}

/// `mac`
#[derive(Debug, Args)]
pub struct MacArgs {
    /// The MAC key (id or name).
    #[arg(long, short)]
    pub key: KeyRef,
    /// The message (`-`: stdin).
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// Verify this tag (hex) instead of printing one.
    #[arg(long, value_name = "HEX")]
    pub verify: Option<String>,
}

/// `data-key`
#[derive(Debug, Args)]
pub struct DataKeyArgs {
    /// The AEAD key (id or name) that wraps the data key.
    #[arg(long, short)]
    pub key: KeyRef,
    /// Data key length in bytes.
    #[arg(long, default_value_t = 32)]
    pub length: usize,
    /// The wrapped data key goes here (`-`: stdout).
    #[arg(long, short, default_value = "-")]
    pub output: PathBuf,
    /// Also write the plaintext data key to this new file (mode 0600);
    /// without it, only the wrapped key is produced.
    #[arg(long, value_name = "FILE")]
    pub plaintext_output: Option<PathBuf>,
    /// Associated data.
    #[command(flatten)]
    pub aad: Aad,
}

/// A role, as in the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Everything, including governance.
    Administrator,
    /// Lifecycle operations on keys.
    Operator,
    /// Uses keys it has grants on.
    Application,
    /// Reads metadata, the audit log and reports.
    Auditor,
    /// Holds backup shares.
    Custodian,
}

/// `keylife principal …`
#[derive(Debug, Subcommand)]
pub enum PrincipalCmd {
    /// Register a principal with its roles.
    Add {
        /// The name.
        name: String,
        /// Roles (repeatable or comma-separated).
        #[arg(long = "role", value_enum, value_delimiter = ',', required = true)]
        roles: Vec<RoleArg>,
    },
    /// Show a principal's roles.
    Show {
        /// The name.
        name: String,
    },
    /// Every registered principal and its roles.
    List,
}

/// `keylife approver …`
#[derive(Debug, Subcommand)]
pub enum ApproverCmd {
    /// Register an approver's P-256 public key (PEM, from their `key public-key`).
    Add {
        /// The approver's name.
        name: String,
        /// Their public key (PEM file).
        #[arg(long)]
        public_key: PathBuf,
    },
    /// The registered approvers and their key fingerprints.
    List,
}

/// Operations under dual control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApprovalOp {
    /// Destroy a key now.
    Destroy,
    /// Schedule a key's destruction.
    ScheduleDestruction,
    /// Export a key.
    Export,
    /// Restore a backup.
    Restore,
    /// Change the policy.
    PolicyChange,
    /// Decrypt with a compromised key.
    CompromisedDecrypt,
    /// Trust an export destination.
    TrustDestination,
}

/// `keylife approval …`
#[derive(Debug, Subcommand)]
pub enum ApprovalCmd {
    /// Create a request (JSON) for approvers to sign.
    Request {
        /// The operation.
        #[arg(long, value_enum)]
        operation: ApprovalOp,
        /// The key it is about.
        #[arg(long)]
        key: Option<KeyRef>,
        /// A parameter of the operation, `name=value` (repeatable).
        #[arg(long = "param", value_parser = parse_pair)]
        params: Vec<(String, String)>,
        /// How long the request stays valid.
        #[arg(long, value_parser = parse_duration, default_value = "1d")]
        ttl: Duration,
        /// Write the request here (`-`: stdout).
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
    },
    /// Sign a request with one of this store's signing keys (the approver's own store).
    Sign {
        /// The request file.
        request: PathBuf,
        /// The approver's signing key (id or name).
        #[arg(long, short)]
        key: KeyRef,
        /// The approver's registered name.
        #[arg(long)]
        approver: String,
        /// Write the approval here (`-`: stdout).
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
    },
    /// Submit a request with its approvals.
    Submit {
        /// The request file.
        request: PathBuf,
        /// Approval files.
        #[arg(required = true)]
        approvals: Vec<PathBuf>,
    },
    /// Approvals submitted and not yet used by their operation.
    List,
    /// Show a request file: operation, key, parameters, validity.
    Show {
        /// The request file.
        request: PathBuf,
    },
}

/// `keylife policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Print the policy in force (TOML).
    Show,
    /// Put a policy (TOML) in force; its version must be higher.
    Set {
        /// The policy file.
        file: PathBuf,
    },
    /// What would change from the policy in force to this one.
    Diff {
        /// The policy file.
        file: PathBuf,
    },
    /// Every policy the store has had.
    History,
}

/// `keylife audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Verify the whole hash chain (and a signed checkpoint, if given), or
    /// only what was added since a checkpoint (`--since`).
    Verify {
        /// A checkpoint from `audit checkpoint`: the log must still hold it.
        #[arg(long, conflicts_with = "since")]
        checkpoint: Option<PathBuf>,
        /// Verify only the entries after this checkpoint (its signature
        /// first): work proportional to what was added.
        #[arg(long)]
        since: Option<PathBuf>,
        /// The checkpoint signer's public key (PEM) [default: the signing
        /// key of this store the checkpoint names, its primary version].
        #[arg(long, requires = "since")]
        signer_public_key: Option<PathBuf>,
    },
    /// Every entry as JSON Lines.
    Export {
        /// Write here (`-`: stdout).
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
    },
    /// Sign the chain's head with a signing key.
    Checkpoint {
        /// The signing key (id or name).
        #[arg(long, short)]
        key: KeyRef,
        /// Write the checkpoint here (`-`: stdout).
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
    },
    /// Archive the log up to a signed checkpoint: the entries go to a file
    /// (JSON Lines, synced and in place before anything is removed), the
    /// store keeps a base so the rest stays verifiable.
    Archive {
        /// The checkpoint (from `audit checkpoint`) to archive up to.
        #[arg(long)]
        checkpoint: PathBuf,
        /// The checkpoint signer's public key (PEM) [default: the signing
        /// key of this store the checkpoint names, its primary version].
        #[arg(long)]
        signer_public_key: Option<PathBuf>,
        /// The archive file (new).
        #[arg(long, short)]
        output: PathBuf,
    },
    /// The last entries.
    Tail {
        /// How many.
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: usize,
    },
}

/// `keylife transport …`
#[derive(Debug, Subcommand)]
pub enum TransportCmd {
    /// Trust a recipient's P-256 agreement public key (PEM) as an export
    /// destination (dual control when the policy says so).
    Trust {
        /// A name for the destination.
        name: String,
        /// The recipient's public key (PEM, from their `key public-key`).
        #[arg(long)]
        public_key: PathBuf,
    },
    /// Remove a trusted destination.
    Untrust {
        /// The destination's name.
        name: String,
    },
    /// The trusted destinations.
    List,
    /// Export an exportable key to a trusted recipient: the transported key
    /// (only the recipient can open it) to a file; its check value printed
    /// for comparison out of band.
    Export {
        /// The key (id or name).
        key: KeyRef,
        /// The recipient's public key (PEM), already trusted.
        #[arg(long)]
        recipient: PathBuf,
        /// The version (default: primary).
        #[arg(long)]
        version: Option<u32>,
        /// The transported key goes here (`-`: stdout).
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
    },
    /// Import a transported key as a new PreActive key, opened with one of
    /// this store's agreement keys (the inbox); prints its check value.
    Import {
        /// The transported key file (`-`: stdin).
        #[arg(default_value = "-")]
        input: PathBuf,
        /// The new key's name.
        #[arg(long)]
        name: String,
        /// Its purpose (as the sender's key).
        #[arg(long, value_enum)]
        purpose: PurposeArg,
        /// The agreement key whose public key the sender trusted.
        #[arg(long)]
        inbox: KeyRef,
        /// The owner.
        #[arg(long)]
        owner: Option<String>,
    },
}

/// `keylife backup …`
#[derive(Debug, Subcommand)]
pub enum BackupCmd {
    /// Back keys up: an encrypted bundle and one share per custodian.
    Create {
        /// Keys to back up (id or name; repeatable).
        #[arg(long = "key", required = true)]
        keys: Vec<KeyRef>,
        /// Shares needed to restore.
        #[arg(long)]
        threshold: u8,
        /// Registered custodians, one share each (repeatable).
        #[arg(long = "custodian", required = true)]
        custodians: Vec<String>,
        /// The bundle file.
        #[arg(long, short)]
        output: PathBuf,
        /// A new directory for the shares (`<custodian>.share`, mode 0600).
        #[arg(long)]
        shares_dir: PathBuf,
    },
    /// Restore keys from a bundle and k shares.
    Restore(RestoreArgs),
    /// Everything a restore checks, without restoring.
    Drill(RestoreArgs),
}

/// `backup restore|drill`
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The bundle file.
    pub bundle: PathBuf,
    /// Share files (at least the threshold).
    #[arg(long = "share", required = true)]
    pub shares: Vec<PathBuf>,
}

/// `report`
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Exit with code 8 when there is any finding.
    #[arg(long)]
    pub fail_on_findings: bool,
    /// Also write the HTML report (one self-contained file) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Report as of this time (RFC 3339, e.g. 2027-01-01T00:00:00Z)
    /// instead of now: the same store, policy and time give the same report.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<keylife::Timestamp>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

fn parse_time(s: &str) -> Result<keylife::Timestamp, String> {
    let t = humantime::parse_rfc3339(s).map_err(|e| format!("{e} (e.g. 2027-01-01T00:00:00Z)"))?;
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "times before 1970 are not supported".to_owned())?
        .as_millis();
    i64::try_from(ms)
        .map(keylife::Timestamp)
        .map_err(|_| "time out of range".to_owned())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 7d, 12h, 30min)"))
}
