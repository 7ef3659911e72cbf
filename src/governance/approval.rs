//! Dual control: k-of-n approvals, each an ECDSA P-256 signature by a
//! registered approver key over the exact request.
//!
//! The flow: a requester builds an [`ApprovalRequest`] (operation, key,
//! parameters, expiry, a random request id) and passes it around as JSON;
//! each approver checks it and signs [`ApprovalRequest::canonical_bytes`]
//! with their own P-256 key — held anywhere, including in a keylife store —
//! giving an [`Approval`]. Before executing the operation, the store calls
//! [`verify_approvals`] with the request, the approvals, what it is about to
//! do ([`Intent`]), the policy's [`ApprovalRule`] and the
//! [`ApproverRegistry`] of public keys. The host application holds no
//! approver private key, so it cannot forge an approval.
//!
//! ```
//! use std::collections::BTreeMap;
//! use keylife::{KeyStore, KeySpec, Principal, Timestamp, purpose::Signing};
//! use keylife::approval::{Approval, ApprovalRequest, ApproverRegistry, Intent, verify_approvals};
//! use keylife::policy::{ApprovalOperation, ApprovalRule};
//!
//! // Two approvers keep their signing keys in their own keylife stores.
//! let carol = KeyStore::in_memory(Principal::admin("carol"))?
//!     .create_active(KeySpec::<Signing>::new("carol-approvals"))?;
//! let dave = KeyStore::in_memory(Principal::admin("dave"))?
//!     .create_active(KeySpec::<Signing>::new("dave-approvals"))?;
//! let mut registry = ApproverRegistry::new();
//! registry.register("carol", carol.public_key(None)?)?;
//! registry.register("dave", dave.public_key(None)?)?;
//! let rule = ApprovalRule::new(2, ["carol", "dave", "erin"])?;
//!
//! // Bob asks to export a key; carol and dave sign the exact request.
//! let key_id = "000102030405060708090a0b0c0d0e0f".parse()?;
//! let req = ApprovalRequest::new(ApprovalOperation::Export, Some(key_id), "bob", Timestamp(2_000))?
//!     .with_parameter("format", "raw");
//! let approvals = [
//!     Approval::new("carol", carol.sign(&req.canonical_bytes())?),
//!     Approval::new("dave", dave.sign(&req.canonical_bytes())?),
//! ];
//!
//! // The store, about to export that key for bob, checks them.
//! let params = BTreeMap::from([("format".to_owned(), "raw".to_owned())]);
//! let intent = Intent { operation: ApprovalOperation::Export, key_id: Some(key_id), parameters: &params, principal: "bob" };
//! let counted = verify_approvals(&req, &approvals, &intent, &rule, &registry, Timestamp(1_000), &|_| false)?;
//! assert_eq!(counted, ["carol", "dave"]);
//! # Ok::<(), keylife::Error>(())
//! ```

use std::collections::BTreeMap;

use base64ct::{Base64, Encoding};
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::base::{Error, ErrorKind, Result};
use crate::governance::policy::{ApprovalOperation, ApprovalRule};
use crate::key::{KeyId, PublicKey, Timestamp};

/// The domain-separation prefix of [`ApprovalRequest::canonical_bytes`]:
/// no other keylife signature input starts with it.
pub const APPROVAL_DOMAIN: &[u8] = b"keylife-approval-v1\0";

/// A request for a sensitive operation, to be approved by signature.
///
/// Signed as [`ApprovalRequest::canonical_bytes`]; moved between people as
/// JSON ([`ApprovalRequest::to_json`], [`ApprovalRequest::from_json`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// Unique id: 32 lower-case hex digits (128 random bits). The store
    /// remembers used ids, so an approved request executes once.
    pub request_id: String,
    /// The operation asked for.
    pub operation: ApprovalOperation,
    /// The key it applies to, if any (restore and policy changes have none).
    pub key_id: Option<KeyId>,
    /// Every other argument of the operation (waiting period, export format,
    /// policy digest, …), by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// The principal asking; it may not approve its own request.
    pub requester: String,
    /// The request is void from this time on.
    pub expires_at: Timestamp,
}

impl ApprovalRequest {
    /// A request with a fresh random id and no parameters.
    ///
    /// ```
    /// use keylife::{Timestamp, approval::ApprovalRequest, policy::ApprovalOperation};
    /// let req = ApprovalRequest::new(ApprovalOperation::Restore, None, "bob", Timestamp(86_400_000))?
    ///     .with_parameter("backup", "2024-06-01");
    /// assert_eq!(req.request_id.len(), 32);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an empty requester;
    /// [`ErrorKind::Internal`] if the OS random source fails.
    pub fn new(
        operation: ApprovalOperation,
        key_id: Option<KeyId>,
        requester: &str,
        expires_at: Timestamp,
    ) -> Result<ApprovalRequest> {
        if requester.trim().is_empty() {
            return Err(Error::invalid("an approval request needs a requester"));
        }
        let mut id = [0u8; 16];
        crate::base::random::fill_random(&mut id)?;
        let request_id = crate::base::encoding::hex(&id);
        Ok(ApprovalRequest {
            request_id,
            operation,
            key_id,
            parameters: BTreeMap::new(),
            requester: requester.to_owned(),
            expires_at,
        })
    }

    /// Adds (or replaces) a parameter.
    #[must_use]
    pub fn with_parameter(mut self, name: &str, value: &str) -> ApprovalRequest {
        self.parameters.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The bytes an approver signs: deterministic, unambiguous, and bound to
    /// every field.
    ///
    /// Layout (all integers big-endian; `str(x)` is a `u64` byte length
    /// followed by the UTF-8 bytes):
    ///
    /// | field | encoding |
    /// |---|---|
    /// | domain | the 20 bytes `b"keylife-approval-v1\0"` ([`APPROVAL_DOMAIN`]) |
    /// | request id | `str(request_id)` |
    /// | operation | `str(name)`, the snake-case name (`"destroy"`, `"policy_change"`, …) |
    /// | key id | `0x00` if none, else `0x01` followed by the 16 id bytes |
    /// | parameters | `u64` count, then for each, in byte-wise order of names: `str(name)` `str(value)` |
    /// | requester | `str(requester)` |
    /// | expiry | `i64` milliseconds since the Unix epoch |
    ///
    /// Every variable-length field carries its length, so no two distinct
    /// requests encode to the same bytes; the prefix keeps the signature from
    /// meaning anything in any other keylife context.
    ///
    /// ```
    /// use keylife::{Timestamp, approval::ApprovalRequest, policy::ApprovalOperation};
    /// let mut req = ApprovalRequest::new(ApprovalOperation::Destroy, None, "bob", Timestamp(1))?;
    /// req.request_id = "00".repeat(16);
    /// let bytes = req.canonical_bytes();
    /// assert!(bytes.starts_with(b"keylife-approval-v1\0\0\0\0\0\0\0\0\x2000000000"));
    /// assert!(bytes.ends_with(b"\0\0\0\0\0\0\0\x03bob\0\0\0\0\0\0\0\x01"));
    /// # Ok::<(), keylife::Error>(())
    /// ```
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        fn put_str(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(APPROVAL_DOMAIN);
        put_str(&mut out, &self.request_id);
        put_str(&mut out, self.operation.as_str());
        match &self.key_id {
            None => out.push(0),
            Some(id) => {
                out.push(1);
                out.extend_from_slice(id.as_bytes());
            }
        }
        out.extend_from_slice(&(self.parameters.len() as u64).to_be_bytes());
        for (k, v) in &self.parameters {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        put_str(&mut out, &self.requester);
        out.extend_from_slice(&self.expires_at.0.to_be_bytes());
        out
    }

    /// The request as pretty-printed JSON, for people to read and pass on.
    ///
    /// # Errors
    /// Only if serialization fails, which it does not for these types.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::internal(format!("approval request encoding: {e}")))
    }

    /// Parses a request from JSON and checks its shape.
    ///
    /// ```
    /// use keylife::{Timestamp, approval::ApprovalRequest, policy::ApprovalOperation};
    /// let req = ApprovalRequest::new(ApprovalOperation::PolicyChange, None, "bob", Timestamp(5))?;
    /// let back = ApprovalRequest::from_json(&req.to_json()?)?;
    /// assert_eq!(back.canonical_bytes(), req.canonical_bytes());
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] for bad JSON, unknown fields, a request id
    /// that is not 32 lower-case hex digits, an empty requester or an empty
    /// parameter name.
    pub fn from_json(json: &str) -> Result<ApprovalRequest> {
        use crate::base::limits::{MAX_MESSAGE, check_size};
        check_size(
            "an approval request",
            json.len(),
            MAX_MESSAGE,
            ErrorKind::Malformed,
        )?;
        let req: ApprovalRequest = serde_json::from_str(json)
            .map_err(|e| Error::malformed(format!("approval request: {e}")))?;
        req.check_shape()?;
        Ok(req)
    }

    fn check_shape(&self) -> Result<()> {
        let id_ok = self.request_id.len() == 32
            && self
                .request_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !id_ok {
            return Err(Error::malformed(
                "approval request id must be 32 lower-case hex digits",
            ));
        }
        if self.requester.trim().is_empty() {
            return Err(Error::malformed("approval request has an empty requester"));
        }
        if self.parameters.keys().any(String::is_empty) {
            return Err(Error::malformed(
                "approval request has an empty parameter name",
            ));
        }
        Ok(())
    }
}

/// One approver's signature over a request's canonical bytes.
///
/// In JSON the signature is standard base64 of the DER encoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The approver's registered name.
    pub approver: String,
    /// DER ECDSA P-256/SHA-256 signature over
    /// [`ApprovalRequest::canonical_bytes`].
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_b64")]
    pub signature: Vec<u8>,
}

impl Approval {
    /// An approval by `approver` with a DER `signature`.
    #[must_use]
    pub fn new(approver: &str, signature: Vec<u8>) -> Approval {
        Approval {
            approver: approver.to_owned(),
            signature,
        }
    }
}

fn ser_b64<S: Serializer>(bytes: &[u8], s: S) -> core::result::Result<S::Ok, S::Error> {
    s.serialize_str(&Base64::encode_string(bytes))
}

fn de_b64<'de, D: Deserializer<'de>>(d: D) -> core::result::Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    Base64::decode_vec(&s).map_err(|_| D::Error::custom("signature is not valid base64"))
}

/// Approver names and their P-256 public keys.
///
/// Serializes as a JSON object mapping each name to the base64 of its DER
/// SubjectPublicKeyInfo; deserializing also accepts PEM
/// (`-----BEGIN PUBLIC KEY-----`) values.
///
/// ```
/// use keylife::{KeyStore, KeySpec, Principal, purpose::Signing, approval::ApproverRegistry};
/// let store = KeyStore::in_memory(Principal::admin("carol"))?;
/// let key = store.create_active(KeySpec::<Signing>::new("approvals"))?;
/// let mut reg = ApproverRegistry::new();
/// reg.register("carol", key.public_key(None)?)?;
/// let json = reg.to_json()?;
/// assert_eq!(ApproverRegistry::from_json(&json)?, reg);
/// # Ok::<(), keylife::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApproverRegistry {
    keys: BTreeMap<String, PublicKey>,
}

impl ApproverRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> ApproverRegistry {
        ApproverRegistry::default()
    }

    /// Registers `name`'s public key.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an empty name or one with
    /// surrounding spaces; [`ErrorKind::AlreadyExists`] if `name` is
    /// registered (a key is never replaced silently: [`Self::remove`] first).
    pub fn register(&mut self, name: &str, key: PublicKey) -> Result<()> {
        if name.trim().is_empty() || name.trim() != name {
            return Err(Error::invalid(
                "an approver name is non-empty, without surrounding spaces",
            ));
        }
        if self.keys.contains_key(name) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("approver '{name}' is already registered"),
            ));
        }
        self.keys.insert(name.to_owned(), key);
        Ok(())
    }

    /// `name`'s public key, if registered.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&PublicKey> {
        self.keys.get(name)
    }

    /// Removes `name`, returning its key.
    pub fn remove(&mut self, name: &str) -> Option<PublicKey> {
        self.keys.remove(name)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Number of registered approvers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no approver is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The registry as JSON (`{"name": "<base64 SPKI DER>", …}`).
    ///
    /// # Errors
    /// Only on an internal encoding failure.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::internal(format!("approver registry encoding: {e}")))
    }

    /// A registry from JSON; values are base64 SPKI DER or SPKI PEM.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] for bad JSON, bad names, or values that are
    /// not P-256 public keys.
    pub fn from_json(json: &str) -> Result<ApproverRegistry> {
        use crate::base::limits::{MAX_DOCUMENT, check_size};
        check_size(
            "an approver registry",
            json.len(),
            MAX_DOCUMENT,
            ErrorKind::Malformed,
        )?;
        serde_json::from_str(json).map_err(|e| Error::malformed(format!("approver registry: {e}")))
    }
}

impl Serialize for ApproverRegistry {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.keys.len()))?;
        for (name, pk) in &self.keys {
            let der = pk.to_spki_der().map_err(S::Error::custom)?;
            map.serialize_entry(name, &Base64::encode_string(&der))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ApproverRegistry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<ApproverRegistry, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        let mut reg = ApproverRegistry::new();
        for (name, value) in raw {
            let value = value.trim();
            let key = if value.starts_with("-----BEGIN") {
                PublicKey::from_spki_pem(value)
            } else {
                Base64::decode_vec(value)
                    .map_err(|_| Error::malformed("not base64"))
                    .and_then(|der| PublicKey::from_spki_der(&der))
            }
            .map_err(|_| {
                D::Error::custom(format!(
                    "approver '{name}': not a P-256 public key (base64 SPKI DER or PEM)"
                ))
            })?;
            reg.register(&name, key)
                .map_err(|e| D::Error::custom(format!("approver '{name}': {e}")))?;
        }
        Ok(reg)
    }
}

/// What the caller is about to execute: [`verify_approvals`] checks that
/// the approved request is exactly this.
#[derive(Clone, Copy, Debug)]
pub struct Intent<'a> {
    /// The operation about to run.
    pub operation: ApprovalOperation,
    /// On which key.
    pub key_id: Option<KeyId>,
    /// With which parameters (the same names and values the request carries).
    pub parameters: &'a BTreeMap<String, String>,
    /// On whose behalf: must be the request's requester.
    pub principal: &'a str,
}

/// Checks that `approvals` authorize executing `intent` under `rule`, and
/// returns the names of the approvers that were counted (sorted; for the
/// audit record).
///
/// Refused outright, whatever the count:
/// - the request is not the one being executed (another operation, key,
///   parameters, or a different principal than the requester);
/// - the request expired (`now >= expires_at`);
/// - the request id was already used (`already_used(id)`: a replay);
/// - a listed, registered approver's signature does not verify (forged, or
///   signed over another request): a tampering attempt is never ignored.
///
/// Not counted (and named in the error if too few approvals remain): an
/// approver not listed in `rule`, one with no registered key, the requester
/// approving their own request (separation of duties), and the second and
/// later approvals by the same approver.
///
/// # Errors
/// [`ErrorKind::ApprovalRequired`] with a message saying which case applied;
/// [`ErrorKind::Policy`] for a rule that requires no approvals (fail
/// closed); [`ErrorKind::Malformed`] for a request with a malformed id,
/// requester or parameter name.
pub fn verify_approvals(
    request: &ApprovalRequest,
    approvals: &[Approval],
    intent: &Intent<'_>,
    rule: &ApprovalRule,
    registry: &ApproverRegistry,
    now: Timestamp,
    already_used: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>> {
    let op = request.operation;
    if rule.required == 0 {
        return Err(Error::new(
            ErrorKind::Policy,
            format!("the approval rule for {op} requires no approvals; a rule requires at least 1"),
        ));
    }
    request.check_shape()?;
    let id = &request.request_id;
    let denied = |msg: String| Error::new(ErrorKind::ApprovalRequired, msg);

    // (e) The approved request must be exactly the one being executed.
    if request.operation != intent.operation {
        return Err(denied(format!(
            "approval request {id} is for {op}, not {}: wrong request",
            intent.operation
        )));
    }
    if request.key_id != intent.key_id {
        return Err(denied(format!(
            "approval request {id} is for key {}, not {}: wrong request",
            show_key(request.key_id),
            show_key(intent.key_id)
        )));
    }
    if &request.parameters != intent.parameters {
        let mut names: Vec<&str> = request
            .parameters
            .iter()
            .filter(|(k, v)| intent.parameters.get(*k) != Some(*v))
            .map(|(k, _)| k.as_str())
            .chain(
                intent
                    .parameters
                    .keys()
                    .filter(|k| !request.parameters.contains_key(*k))
                    .map(String::as_str),
            )
            .collect();
        names.sort_unstable();
        names.dedup();
        return Err(denied(format!(
            "approval request {id} has different parameters ({}): wrong request",
            names.join(", ")
        )));
    }
    if request.requester != intent.principal {
        return Err(denied(format!(
            "approval request {id} was made by {}, not by {}: wrong request",
            request.requester, intent.principal
        )));
    }
    // (c) Expiry.
    if now >= request.expires_at {
        return Err(denied(format!(
            "approval request {id} expired at {} (now {})",
            crate::base::time::utc(request.expires_at),
            crate::base::time::utc(now)
        )));
    }
    // (b) Replay.
    if already_used(id) {
        return Err(denied(format!(
            "approval request {id} was already used: approvals are single-use"
        )));
    }

    let msg = request.canonical_bytes();
    let mut counted: Vec<String> = Vec::new();
    let mut discarded: Vec<String> = Vec::new();
    for a in approvals {
        let name = a.approver.as_str();
        // (f) Listed in the rule and registered.
        if !rule.lists(name) {
            discarded.push(format!("'{name}' is not an approver for {op}"));
            continue;
        }
        let Some(key) = registry.get(name) else {
            discarded.push(format!("'{name}' has no registered approver key"));
            continue;
        };
        // (a) Forged: fatal.
        if key.verify(&msg, &a.signature).is_err() {
            return Err(denied(format!(
                "the approval by '{name}' does not verify under their registered key (forged, or signed over another request)"
            )));
        }
        // (g) Separation of duties.
        if name == request.requester {
            discarded.push(format!(
                "'{name}' is the requester and cannot approve their own request (separation of duties)"
            ));
            continue;
        }
        // (d) Duplicates count once.
        if counted.iter().any(|c| c == name) {
            discarded.push(format!("'{name}' approved more than once (counted once)"));
            continue;
        }
        counted.push(name.to_owned());
    }
    // (h) Enough distinct, valid approvals.
    if counted.len() < rule.required {
        let got = if counted.is_empty() {
            "none valid".to_owned()
        } else {
            format!("{} valid ({})", counted.len(), counted.join(", "))
        };
        let mut text = format!(
            "{op} needs {} approvals from [{}]; {got}",
            rule.required,
            rule.approvers.join(", ")
        );
        if approvals.is_empty() {
            text.push_str(" (no approvals supplied)");
        }
        if !discarded.is_empty() {
            text.push_str("; not counted: ");
            text.push_str(&discarded.join("; "));
        }
        return Err(denied(text));
    }
    counted.sort();
    Ok(counted)
}

fn show_key(k: Option<KeyId>) -> String {
    k.map_or_else(|| "(none)".to_owned(), |k| k.to_string())
}

// Tests fail by panicking, with the offending value in the message.
#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::key::purpose::Signing;
    use crate::{KeySpec, KeyStore, Principal};
    use p256::ecdsa::signature::Signer;

    /// An approver holding a raw p256 key (as an HSM or smart card would).
    struct Approver {
        name: &'static str,
        sk: p256::ecdsa::SigningKey,
        pk: PublicKey,
    }

    impl Approver {
        fn new(name: &'static str) -> Approver {
            let secret = loop {
                let mut b = [0u8; 32];
                getrandom::fill(&mut b).unwrap_or_else(|e| panic!("{e}"));
                if let Ok(s) = p256::SecretKey::from_slice(&b) {
                    break s;
                }
            };
            let pk = PublicKey::from_sec1(&secret.public_key().to_sec1_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            Approver {
                name,
                sk: (&secret).into(),
                pk,
            }
        }

        fn approve(&self, req: &ApprovalRequest) -> Approval {
            self.approve_as(self.name, req)
        }

        /// Signs with this key but claims to be `name`.
        fn approve_as(&self, name: &str, req: &ApprovalRequest) -> Approval {
            let sig: p256::ecdsa::Signature = self.sk.sign(&req.canonical_bytes());
            Approval::new(name, sig.to_der().as_bytes().to_vec())
        }
    }

    const KEY: &str = "00112233445566778899aabbccddeeff";
    const NOW: Timestamp = Timestamp(1_700_000_000_000);
    const LATER: Timestamp = Timestamp(1_700_000_000_000 + 3_600_000);

    struct World {
        carol: Approver,
        dave: Approver,
        erin: Approver,
        bob: Approver,
        registry: ApproverRegistry,
        rule: ApprovalRule,
        params: BTreeMap<String, String>,
    }

    fn world() -> World {
        let (carol, dave, erin, bob) = (
            Approver::new("carol"),
            Approver::new("dave"),
            Approver::new("erin"),
            Approver::new("bob"),
        );
        let mut registry = ApproverRegistry::new();
        for a in [&carol, &dave, &erin, &bob] {
            registry
                .register(a.name, a.pk.clone())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        World {
            carol,
            dave,
            erin,
            bob,
            registry,
            // bob is listed too, so that self-approval is refused for being
            // the requester, not for being unlisted.
            rule: ApprovalRule::new(2, ["bob", "carol", "dave"]).unwrap_or_else(|e| panic!("{e}")),
            params: BTreeMap::from([("wait_days".to_owned(), "30".to_owned())]),
        }
    }

    fn key() -> KeyId {
        KEY.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn request(w: &World) -> ApprovalRequest {
        let mut r = ApprovalRequest::new(
            ApprovalOperation::ScheduleDestruction,
            Some(key()),
            "bob",
            LATER,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        r.parameters = w.params.clone();
        r
    }

    fn intent(w: &World) -> Intent<'_> {
        Intent {
            operation: ApprovalOperation::ScheduleDestruction,
            key_id: Some(key()),
            parameters: &w.params,
            principal: "bob",
        }
    }

    fn check(w: &World, req: &ApprovalRequest, approvals: &[Approval]) -> Result<Vec<String>> {
        verify_approvals(
            req,
            approvals,
            &intent(w),
            &w.rule,
            &w.registry,
            NOW,
            &|_| false,
        )
    }

    fn denied(r: Result<Vec<String>>, fragment: &str) {
        match r {
            Ok(v) => panic!("accepted: {v:?}"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::ApprovalRequired, "{e}");
                assert!(
                    e.to_string().contains(fragment),
                    "expected {fragment:?} in: {e}"
                );
            }
        }
    }

    fn ok(r: Result<Vec<String>>, expect: &[&str]) {
        match r {
            Ok(v) => assert_eq!(v, expect),
            Err(e) => panic!("refused: {e}"),
        }
    }

    #[test]
    fn valid_approvals_pass() {
        let w = world();
        let req = request(&w);
        ok(
            check(&w, &req, &[w.dave.approve(&req), w.carol.approve(&req)]),
            &["carol", "dave"],
        );
    }

    #[test]
    fn forged_signature_rejected() {
        let w = world();
        let req = request(&w);
        // Erin signs but claims to be dave.
        denied(
            check(
                &w,
                &req,
                &[w.carol.approve(&req), w.erin.approve_as("dave", &req)],
            ),
            "the approval by 'dave' does not verify",
        );
        // Garbage bytes.
        denied(
            check(
                &w,
                &req,
                &[
                    w.carol.approve(&req),
                    Approval::new("dave", vec![0x30, 0x06, 1, 2, 3]),
                ],
            ),
            "does not verify",
        );
        // A forged approval is fatal even when enough valid ones are present.
        denied(
            check(
                &w,
                &req,
                &[
                    w.carol.approve(&req),
                    w.dave.approve(&req),
                    w.erin.approve_as("bob", &req),
                ],
            ),
            "the approval by 'bob' does not verify",
        );
        // Twin: dave's own signature.
        ok(
            check(&w, &req, &[w.carol.approve(&req), w.dave.approve(&req)]),
            &["carol", "dave"],
        );
    }

    #[test]
    fn signature_over_another_request_rejected() {
        let w = world();
        let req = request(&w);
        let other = request(&w); // same content, different request id
        denied(
            check(&w, &req, &[w.carol.approve(&req), w.dave.approve(&other)]),
            "does not verify",
        );
        // Tampering with a signed request after the fact (here: the wait)
        // breaks every signature over it.
        let signed = [w.carol.approve(&req), w.dave.approve(&req)];
        let mut tampered = req.clone();
        tampered.expires_at = Timestamp(LATER.0 + 86_400_000 * 365);
        denied(check(&w, &tampered, &signed), "does not verify");
        ok(check(&w, &req, &signed), &["carol", "dave"]);
    }

    #[test]
    fn replayed_request_rejected() {
        let w = world();
        let req = request(&w);
        let approvals = [w.carol.approve(&req), w.dave.approve(&req)];
        let used = std::cell::RefCell::new(std::collections::HashSet::new());
        let already_used = |id: &str| used.borrow().contains(id);
        let run = || {
            verify_approvals(
                &req,
                &approvals,
                &intent(&w),
                &w.rule,
                &w.registry,
                NOW,
                &already_used,
            )
        };
        // Twin: first use passes, and the store records the id.
        ok(run(), &["carol", "dave"]);
        used.borrow_mut().insert(req.request_id.clone());
        denied(run(), "was already used");
    }

    #[test]
    fn expired_request_rejected() {
        let w = world();
        let req = request(&w);
        let approvals = [w.carol.approve(&req), w.dave.approve(&req)];
        let at = |now: Timestamp| {
            verify_approvals(
                &req,
                &approvals,
                &intent(&w),
                &w.rule,
                &w.registry,
                now,
                &|_| false,
            )
        };
        denied(at(LATER), "expired at 2023-11-14T23:13:20Z");
        denied(at(Timestamp(LATER.0 + 1)), "expired");
        ok(at(Timestamp(LATER.0 - 1)), &["carol", "dave"]);
    }

    #[test]
    fn duplicated_approver_counts_once() {
        let w = world();
        let req = request(&w);
        let twice = [w.dave.approve(&req), w.dave.approve(&req)];
        denied(
            check(&w, &req, &twice),
            "1 valid (dave); not counted: 'dave' approved more than once (counted once)",
        );
        // Twin: two different approvers; and a duplicate alongside enough
        // distinct ones is harmless.
        ok(
            check(&w, &req, &[w.dave.approve(&req), w.carol.approve(&req)]),
            &["carol", "dave"],
        );
        ok(
            check(
                &w,
                &req,
                &[
                    w.dave.approve(&req),
                    w.dave.approve(&req),
                    w.carol.approve(&req),
                ],
            ),
            &["carol", "dave"],
        );
    }

    #[test]
    fn wrong_request_rejected() {
        let w = world();
        let req = request(&w);
        let approvals = [w.carol.approve(&req), w.dave.approve(&req)];
        let run = |i: &Intent<'_>| {
            verify_approvals(&req, &approvals, i, &w.rule, &w.registry, NOW, &|_| false)
        };
        let base = intent(&w);
        denied(
            run(&Intent {
                operation: ApprovalOperation::Destroy,
                ..base
            }),
            "is for schedule_destruction, not destroy: wrong request",
        );
        let other_key: KeyId = "ffeeddccbbaa99887766554433221100"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        denied(
            run(&Intent {
                key_id: Some(other_key),
                ..base
            }),
            "is for key 00112233",
        );
        denied(
            run(&Intent {
                key_id: None,
                ..base
            }),
            "not (none): wrong request",
        );
        let shorter = BTreeMap::from([("wait_days".to_owned(), "7".to_owned())]);
        denied(
            run(&Intent {
                parameters: &shorter,
                ..base
            }),
            "has different parameters (wait_days): wrong request",
        );
        let extra = BTreeMap::from([
            ("wait_days".to_owned(), "30".to_owned()),
            ("force".to_owned(), "yes".to_owned()),
        ]);
        denied(
            run(&Intent {
                parameters: &extra,
                ..base
            }),
            "different parameters (force)",
        );
        denied(
            run(&Intent {
                principal: "mallory",
                ..base
            }),
            "was made by bob, not by mallory",
        );
        // Twin: exactly the approved request.
        ok(run(&base), &["carol", "dave"]);
    }

    #[test]
    fn unlisted_or_unregistered_approver_not_counted() {
        let mut w = world();
        let req = request(&w);
        // erin is registered but not in the rule.
        denied(
            check(&w, &req, &[w.carol.approve(&req), w.erin.approve(&req)]),
            "not counted: 'erin' is not an approver for schedule_destruction",
        );
        // dave is in the rule but his key is not registered.
        w.registry.remove("dave");
        denied(
            check(&w, &req, &[w.carol.approve(&req), w.dave.approve(&req)]),
            "'dave' has no registered approver key",
        );
        // Twin: dave registered again.
        w.registry
            .register("dave", w.dave.pk.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        ok(
            check(&w, &req, &[w.carol.approve(&req), w.dave.approve(&req)]),
            &["carol", "dave"],
        );
    }

    #[test]
    fn requester_cannot_approve_own_request() {
        let w = world();
        let req = request(&w); // requested by bob, who is a listed approver
        denied(
            check(&w, &req, &[w.bob.approve(&req), w.carol.approve(&req)]),
            "'bob' is the requester and cannot approve their own request (separation of duties)",
        );
        // Twin: the same approvals for a request made by someone else.
        let mut by_erin = req.clone();
        by_erin.requester = "erin".to_owned();
        let i = Intent {
            principal: "erin",
            ..intent(&w)
        };
        ok(
            verify_approvals(
                &by_erin,
                &[w.bob.approve(&by_erin), w.carol.approve(&by_erin)],
                &i,
                &w.rule,
                &w.registry,
                NOW,
                &|_| false,
            ),
            &["bob", "carol"],
        );
    }

    #[test]
    fn too_few_approvals_rejected() {
        let w = world();
        let req = request(&w);
        denied(
            check(&w, &req, &[w.carol.approve(&req)]),
            "schedule_destruction needs 2 approvals from [bob, carol, dave]; 1 valid (carol)",
        );
        denied(check(&w, &req, &[]), "none valid (no approvals supplied)");
        ok(
            check(&w, &req, &[w.carol.approve(&req), w.dave.approve(&req)]),
            &["carol", "dave"],
        );
    }

    #[test]
    fn rule_requiring_nothing_fails_closed() {
        let w = world();
        let req = request(&w);
        let rule = ApprovalRule {
            required: 0,
            approvers: vec![],
        };
        let r = verify_approvals(&req, &[], &intent(&w), &rule, &w.registry, NOW, &|_| false);
        assert_eq!(r.map_err(|e| e.kind()), Err(ErrorKind::Policy));
    }

    #[test]
    fn malformed_request_rejected() {
        let w = world();
        let mut req = request(&w);
        req.request_id = "not-hex".to_owned();
        let approvals = [w.carol.approve(&req), w.dave.approve(&req)];
        let r = check(&w, &req, &approvals);
        assert_eq!(r.map_err(|e| e.kind()), Err(ErrorKind::Malformed));
    }

    #[test]
    fn approvers_can_keep_keys_in_keylife() {
        let w = world();
        let store =
            KeyStore::in_memory(Principal::admin("carol")).unwrap_or_else(|e| panic!("{e}"));
        let carol_key = store
            .create_active(KeySpec::<Signing>::new("carol-approvals"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut registry = w.registry.clone();
        registry.remove("carol");
        registry
            .register(
                "carol",
                carol_key.public_key(None).unwrap_or_else(|e| panic!("{e}")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let req = request(&w);
        let sig = carol_key
            .sign(&req.canonical_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let approvals = [Approval::new("carol", sig), w.dave.approve(&req)];
        let run = |reg: &ApproverRegistry| {
            verify_approvals(&req, &approvals, &intent(&w), &w.rule, reg, NOW, &|_| false)
        };
        ok(run(&registry), &["carol", "dave"]);
        // Twin: against carol's old (raw p256) key the keylife signature is
        // a forgery.
        denied(run(&w.registry), "the approval by 'carol' does not verify");
    }

    #[test]
    fn canonical_bytes_known_answer() {
        let req = ApprovalRequest {
            request_id: "0123456789abcdef0123456789abcdef".to_owned(),
            operation: ApprovalOperation::Destroy,
            key_id: Some(key()),
            parameters: BTreeMap::from([
                ("b".to_owned(), "2".to_owned()),
                ("a".to_owned(), "1".to_owned()),
            ]),
            requester: "bob".to_owned(),
            expires_at: Timestamp(0x0102_0304_0506_0708),
        };
        let mut want = b"keylife-approval-v1\0".to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 32]);
        want.extend_from_slice(b"0123456789abcdef0123456789abcdef");
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        want.extend_from_slice(b"destroy");
        want.push(1);
        want.extend_from_slice(key().as_bytes());
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
        for (k, v) in [("a", "1"), ("b", "2")] {
            want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
            want.extend_from_slice(k.as_bytes());
            want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
            want.extend_from_slice(v.as_bytes());
        }
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]);
        want.extend_from_slice(b"bob");
        want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(req.canonical_bytes(), want);
    }

    #[test]
    fn canonical_bytes_bind_every_field_unambiguously() {
        let w = world();
        let base = request(&w);
        let enc = base.canonical_bytes();
        let mut variants = Vec::new();
        let mut r = base.clone();
        r.request_id = "f".repeat(32);
        variants.push(r);
        let mut r = base.clone();
        r.operation = ApprovalOperation::Destroy;
        variants.push(r);
        let mut r = base.clone();
        r.key_id = None;
        variants.push(r);
        let mut r = base.clone();
        r.parameters.insert("x".to_owned(), String::new());
        variants.push(r);
        let mut r = base.clone();
        r.requester = "bobb".to_owned();
        variants.push(r);
        let mut r = base.clone();
        r.expires_at = Timestamp(LATER.0 + 1);
        variants.push(r);
        for v in &variants {
            assert_ne!(v.canonical_bytes(), enc, "{v:?}");
        }
        // Moving bytes between a name and its value changes the encoding.
        let mut a = base.clone();
        a.parameters = BTreeMap::from([("ab".to_owned(), "c".to_owned())]);
        let mut b = base.clone();
        b.parameters = BTreeMap::from([("a".to_owned(), "bc".to_owned())]);
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
        // Deterministic: the same request encodes the same way every time.
        assert_eq!(base.clone().canonical_bytes(), enc);
    }

    #[test]
    fn request_json_round_trip_and_shape_checks() {
        let w = world();
        let req = request(&w);
        let json = req.to_json().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            json.contains("\"operation\": \"schedule_destruction\""),
            "{json}"
        );
        assert_eq!(ApprovalRequest::from_json(&json).ok(), Some(req.clone()));
        let bad_id = json.replace(&req.request_id, "XYZ");
        assert_eq!(
            ApprovalRequest::from_json(&bad_id).map_err(|e| e.kind()),
            Err(ErrorKind::Malformed)
        );
        let unknown = json.replacen('{', "{\"extra\": 1,", 1);
        assert_eq!(
            ApprovalRequest::from_json(&unknown).map_err(|e| e.kind()),
            Err(ErrorKind::Malformed)
        );
        let a = w.carol.approve(&req);
        let aj = serde_json::to_string(&a).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Approval>(&aj).ok(), Some(a));
        assert!(serde_json::from_str::<Approval>(r#"{"approver":"x","signature":"!!"}"#).is_err());
        // Fresh ids are distinct.
        assert_ne!(request(&w).request_id, req.request_id);
    }

    #[test]
    fn registry_serde_and_rules() {
        let w = world();
        let json = w.registry.to_json().unwrap_or_else(|e| panic!("{e}"));
        let back = ApproverRegistry::from_json(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, w.registry);
        assert_eq!(
            back.names().collect::<Vec<_>>(),
            ["bob", "carol", "dave", "erin"]
        );
        // PEM values are accepted.
        let pem = w.carol.pk.to_spki_pem().unwrap_or_else(|e| panic!("{e}"));
        let pem_json = serde_json::json!({ "carol": pem }).to_string();
        let reg = ApproverRegistry::from_json(&pem_json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reg.get("carol"), Some(&w.carol.pk));
        // Bad keys and names are refused.
        assert_eq!(
            ApproverRegistry::from_json(r#"{"carol": "AAAA"}"#).map_err(|e| e.kind()),
            Err(ErrorKind::Malformed)
        );
        assert_eq!(
            ApproverRegistry::from_json(&serde_json::json!({ " carol": pem }).to_string())
                .map_err(|e| e.kind()),
            Err(ErrorKind::Malformed)
        );
        let mut reg = reg;
        assert_eq!(
            reg.register("carol", w.dave.pk.clone())
                .map_err(|e| e.kind()),
            Err(ErrorKind::AlreadyExists)
        );
        assert_eq!(
            reg.get("carol"),
            Some(&w.carol.pk),
            "never replaced silently"
        );
        assert_eq!(
            reg.register("", w.dave.pk.clone()).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
    }
}
