//! Governance inside the store: the current policy (versioned, audited), the
//! principal and approver registries, per-key grants, and dual control —
//! approvals submitted ahead and consumed by the operation they approve, so
//! gated operations keep their ordinary signatures.
//!
//! Records: `meta/policy` (current) and `policy/<version>` (history);
//! `principal/<name>`; `meta/approvers`; `approval/pending/<request id>` and
//! `approval/used/<request id>`. All sealed like every other record.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::backend::{Expect, WriteOp};
use super::{KeyCell, KeyStore, MaterialChange};
use crate::base::{Error, ErrorKind, Result};
use crate::governance::approval::{
    Approval, ApprovalRequest, ApproverRegistry, Intent, verify_approvals,
};
use crate::governance::policy::{ApprovalOperation, Policy};
use crate::governance::principal::{Principal, Role};
use crate::governance::report::ComplianceReport;
use crate::key::Operation;
use crate::key::{Grant, KeyId, KeyInfo, Timestamp};
use crate::{KeyFilter, PublicKey};

const POLICY_ID: &str = "meta/policy";
const APPROVERS_ID: &str = "meta/approvers";
const PENDING_PREFIX: &str = "approval/pending/";
const USED_PREFIX: &str = "approval/used/";
const PRINCIPAL_PREFIX: &str = "principal/";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPolicy {
    version: u64,
    digest: String,
    toml: String,
    set_by: String,
    at: Timestamp,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPrincipal {
    name: String,
    roles: Vec<Role>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pending {
    request: ApprovalRequest,
    approvals: Vec<Approval>,
}

/// Grants apply to principals that are applications and not administrators:
/// administrators use keys by role, applications only by grant.
pub(crate) fn check_grant(
    p: &Principal,
    op: Operation,
    info: &KeyInfo,
    now: Timestamp,
) -> Result<()> {
    if !Operation::is_use(op) || p.has_role(Role::Administrator) {
        return Ok(());
    }
    let ok = info.grants.iter().any(|g| {
        g.principal == p.name()
            && g.operations.contains(&op)
            && g.expires_at.is_none_or(|t| now < t)
    });
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "principal {} holds no current grant for {op:?} on key {}",
                p.name(),
                info.id
            ),
        ))
    }
}

impl KeyStore {
    pub(super) fn get_sealed<T: DeserializeOwned>(&self, id: &str) -> Result<Option<(T, u64)>> {
        let Some(rec) = self.inner.backend.get(id)? else {
            return Ok(None);
        };
        let plain = self.sealer()?.open(id, &rec.value)?;
        let v = serde_json::from_slice(plain.expose_secret()).map_err(|_| {
            Error::new(ErrorKind::Integrity, format!("record {id} does not decode"))
        })?;
        Ok(Some((v, rec.revision)))
    }

    pub(super) fn sealed_put<T: Serialize>(
        &self,
        id: &str,
        value: &T,
        expect: Expect,
    ) -> Result<WriteOp> {
        let json = serde_json::to_vec(value)
            .map_err(|e| Error::internal(format!("encoding {id}: {e}")))?;
        Ok(WriteOp::Put {
            id: id.to_owned(),
            value: self.sealer()?.seal(id, &json)?,
            expect,
        })
    }

    /// Runs a governed change: authorization of `op` for this principal's
    /// roles, `f` building the writes, one commit with its audit entry;
    /// failures audited too.
    pub(super) fn admin_change(
        &self,
        op: Operation,
        key: Option<KeyId>,
        reason: &str,
        f: impl FnOnce() -> Result<Vec<WriteOp>>,
    ) -> Result<()> {
        let res = (|| {
            authorize(&self.principal, op)?;
            let writes = f()?;
            let draft = self.draft(&self.principal, op, key, None, &Ok(()), Some(reason));
            self.commit_logged(std::slice::from_ref(&draft), writes)
                .map(|_| ())
        })();
        if let Err(e) = &res {
            self.audit_as(&self.principal, op, key, None, Err(e.clone()), Some(reason))?;
        }
        res
    }

    // ----- policy -----

    /// The policy in force, if one was set.
    ///
    /// # Errors
    /// Storage and integrity errors.
    pub fn policy(&self) -> Result<Option<Policy>> {
        match self.get_sealed::<StoredPolicy>(POLICY_ID)? {
            None => Ok(None),
            Some((p, _)) => Policy::from_toml(&p.toml).map(Some),
        }
    }

    /// Every policy ever set, oldest first, as `(version, digest, canonical TOML)`.
    ///
    /// # Errors
    /// Storage and integrity errors.
    pub fn policy_history(&self) -> Result<Vec<(u64, String, String)>> {
        let mut out = Vec::new();
        for (id, _) in self.inner.backend.scan("policy/", None, usize::MAX)? {
            if let Some((p, _)) = self.get_sealed::<StoredPolicy>(&id)? {
                out.push((p.version, p.digest, p.toml));
            }
        }
        Ok(out)
    }

    /// Puts `policy` in force. Its version must be higher than the current
    /// one; if the current policy puts policy changes under dual control,
    /// approvals must have been submitted ([`KeyStore::submit_approvals`])
    /// for a request whose `policy_digest` parameter is the new digest.
    /// Administrators only; audited with the version and digest. Keys
    /// created afterwards record this version and digest.
    ///
    /// ```
    /// use keylife::{KeyStore, KeySpec, Principal, policy::Policy, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// store.set_policy(&Policy::from_toml("version = 1\n[purpose.aead]\nusage_limit = 1000000")?)?;
    /// let key = store.create(KeySpec::<Aead>::new("k"))?;
    /// assert_eq!(key.info()?.usage_limit, 1_000_000);
    /// assert_eq!(key.info()?.policy_version, Some(1));
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Policy`] for a version that does not increase;
    /// [`ErrorKind::ApprovalRequired`]; [`ErrorKind::PermissionDenied`].
    pub fn set_policy(&self, policy: &Policy) -> Result<()> {
        let digest = policy.digest();
        let reason = format!("policy version {} digest {digest}", policy.version());
        self.admin_change(Operation::SetPolicy, None, &reason, || {
            let current = self.get_sealed::<StoredPolicy>(POLICY_ID)?;
            if let Some((cur, _)) = &current
                && policy.version() <= cur.version
            {
                return Err(Error::new(
                    ErrorKind::Policy,
                    format!(
                        "policy version {} does not increase the current version {}",
                        policy.version(),
                        cur.version
                    ),
                ));
            }
            let mut params = BTreeMap::new();
            params.insert("policy_digest".to_owned(), digest.clone());
            let mut writes =
                self.require_approval(ApprovalOperation::PolicyChange, None, &params)?;
            let stored = StoredPolicy {
                version: policy.version(),
                digest: digest.clone(),
                toml: policy.to_toml()?,
                set_by: self.principal.name().to_owned(),
                at: self.now(),
            };
            let expect = current.map_or(Expect::Absent, |(_, rev)| Expect::Revision(rev));
            writes.push(self.sealed_put(POLICY_ID, &stored, expect)?);
            writes.push(self.sealed_put(
                &format!("policy/{:020}", policy.version()),
                &stored,
                Expect::Absent,
            )?);
            Ok(writes)
        })
    }

    /// The shortest destruction waiting period in force.
    pub(crate) fn min_destruction_wait(&self) -> Result<Duration> {
        Ok(match self.policy()? {
            Some(p) => p.destruction_wait().0,
            None => self.inner.options.min_destruction_wait,
        })
    }

    /// The compliance report for every key against the policy in force (or
    /// the default policy). Any principal that may list keys may build it.
    ///
    /// # Errors
    /// As [`KeyStore::list`].
    pub fn compliance_report(&self) -> Result<ComplianceReport> {
        let keys = self.list(&KeyFilter::new())?;
        let policy = self.policy()?.unwrap_or_default();
        Ok(ComplianceReport::build(&keys, &policy, self.now()))
    }

    // ----- principals and approvers -----

    /// Registers a principal and its roles, so grants can name it.
    /// Administrators only; audited.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::PermissionDenied`].
    pub fn register_principal(&self, principal: &Principal) -> Result<()> {
        let name = principal.name();
        if name.is_empty() || name.len() > 256 || name.contains('/') {
            return Err(Error::invalid(
                "a principal name is 1 to 256 bytes without '/'",
            ));
        }
        let reason = format!("principal {name} with roles {:?}", principal.roles());
        self.admin_change(Operation::RegisterPrincipal, None, &reason, || {
            let id = format!("{PRINCIPAL_PREFIX}{name}");
            if self.inner.backend.get(&id)?.is_some() {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("principal {name} is already registered"),
                ));
            }
            let stored = StoredPrincipal {
                name: name.to_owned(),
                roles: principal.roles(),
            };
            Ok(vec![self.sealed_put(&id, &stored, Expect::Absent)?])
        })
    }

    /// The principal the opening handle acts for: the registered one with
    /// its registered roles; or, in a store with no administrator yet (a
    /// new store, or one a keylife before 0.2 made), the caller, registered
    /// now as the first administrator.
    pub(super) fn opening_principal(&self) -> Result<Principal> {
        let asked = &self.principal;
        let name = asked.name();
        match self.registered_principal(name) {
            Ok(p) => {
                if p.roles() != asked.roles() {
                    return Err(Error::new(
                        ErrorKind::PermissionDenied,
                        format!(
                            "principal {name} is registered with roles {:?}, not {:?}: roles \
                             come from the store's registry",
                            p.roles(),
                            asked.roles()
                        ),
                    ));
                }
                Ok(p)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if self.has_administrator()? {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "principal {name} is not registered in this store \
                             (an administrator registers it: KeyStore::register_principal)"
                        ),
                    ));
                }
                if !asked.has_role(Role::Administrator) {
                    return Err(Error::new(
                        ErrorKind::PermissionDenied,
                        format!(
                            "the first principal of a store is its administrator; \
                             {name} has roles {:?}",
                            asked.roles()
                        ),
                    ));
                }
                self.register_principal(asked)?;
                Ok(asked.clone())
            }
            Err(e) => Err(e),
        }
    }

    /// Whether any registered principal is an administrator.
    fn has_administrator(&self) -> Result<bool> {
        let mut found = false;
        self.scan_prefix(PRINCIPAL_PREFIX, |id, _| {
            if !found && let Some((p, _)) = self.get_sealed::<StoredPrincipal>(id)? {
                found = p.roles.contains(&Role::Administrator);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// Every registered principal with its roles, by name.
    ///
    /// ```
    /// # use keylife::{KeyStore, Principal, Role};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// store.register_principal(&Principal::new("billing", &[Role::Application]))?;
    /// let names: Vec<String> = store.principals()?.iter().map(|p| p.name().to_owned()).collect();
    /// assert_eq!(names, ["billing", "ops"]);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// Storage errors; [`ErrorKind::Integrity`] for a damaged record.
    pub fn principals(&self) -> Result<Vec<Principal>> {
        authorize(&self.principal, Operation::ReadMetadata)?;
        let mut out = Vec::new();
        self.scan_prefix(PRINCIPAL_PREFIX, |id, _| {
            if let Some((p, _)) = self.get_sealed::<StoredPrincipal>(id)? {
                out.push(Principal::new(&p.name, &p.roles));
            }
            Ok(())
        })?;
        out.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(out)
    }

    /// The registered approvers and their public keys.
    ///
    /// # Errors
    /// Storage errors; [`ErrorKind::Integrity`] for a damaged record.
    pub fn approver_registry(&self) -> Result<ApproverRegistry> {
        authorize(&self.principal, Operation::ReadMetadata)?;
        self.approvers()
    }

    /// A registered principal, with its registered roles.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when not registered.
    pub fn registered_principal(&self, name: &str) -> Result<Principal> {
        match self.get_sealed::<StoredPrincipal>(&format!("{PRINCIPAL_PREFIX}{name}"))? {
            Some((p, _)) => Ok(Principal::new(&p.name, &p.roles)),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("no registered principal {name}"),
            )),
        }
    }

    /// Registers an approver's P-256 public key: their ECDSA signatures over
    /// approval requests count towards dual control. Administrators only.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`] for a name already registered.
    pub fn register_approver(&self, name: &str, key: &PublicKey) -> Result<()> {
        let reason = format!("approver {name}");
        self.admin_change(Operation::RegisterPrincipal, None, &reason, || {
            let cur = self.get_sealed::<String>(APPROVERS_ID)?;
            let mut reg = match &cur {
                Some((json, _)) => ApproverRegistry::from_json(json)?,
                None => ApproverRegistry::new(),
            };
            reg.register(name, key.clone())?;
            let expect = cur.map_or(Expect::Absent, |(_, rev)| Expect::Revision(rev));
            Ok(vec![self.sealed_put(
                APPROVERS_ID,
                &reg.to_json()?,
                expect,
            )?])
        })
    }

    fn approvers(&self) -> Result<ApproverRegistry> {
        match self.get_sealed::<String>(APPROVERS_ID)? {
            Some((json, _)) => ApproverRegistry::from_json(&json),
            None => Ok(ApproverRegistry::new()),
        }
    }

    // ----- dual control -----

    /// Starts a request for a gated operation by this principal, valid for
    /// `ttl`. Hand [`ApprovalRequest::canonical_bytes`] (or its JSON) to the
    /// approvers; they sign with their registered keys.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a zero `ttl`.
    pub fn request_approval(
        &self,
        operation: ApprovalOperation,
        key: Option<KeyId>,
        parameters: &[(&str, &str)],
        ttl: Duration,
    ) -> Result<ApprovalRequest> {
        if let Err(e) = authorize(&self.principal, Operation::RequestApproval) {
            self.audit(Operation::RequestApproval, key, None, Err(e.clone()))?;
            return Err(e);
        }
        if ttl.is_zero() {
            return Err(Error::invalid(
                "an approval request needs a positive lifetime",
            ));
        }
        let mut req =
            ApprovalRequest::new(operation, key, self.principal.name(), self.now().plus(ttl))?;
        for (k, v) in parameters {
            req = req.with_parameter(k, v);
        }
        self.audit(Operation::RequestApproval, key, None, Ok(()))?;
        Ok(req)
    }

    /// Approvals submitted and not yet consumed: each request with the
    /// names of the approvers who signed it, oldest request id first.
    /// They are consumed by the operation they approve, and refused once
    /// the request expires. Any registered principal may list them.
    ///
    /// ```
    /// # use keylife::{KeyStore, Principal};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// assert!(store.pending_approvals()?.is_empty());
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// Storage errors; [`ErrorKind::Integrity`] for a damaged record.
    pub fn pending_approvals(&self) -> Result<Vec<(ApprovalRequest, Vec<String>)>> {
        authorize(&self.principal, Operation::ReadMetadata)?;
        let mut out = Vec::new();
        for (id, _) in self.inner.backend.scan(PENDING_PREFIX, None, usize::MAX)? {
            if let Some((p, _)) = self.get_sealed::<Pending>(&id)? {
                let names = p.approvals.iter().map(|a| a.approver.clone()).collect();
                out.push((p.request, names));
            }
        }
        Ok(out)
    }

    /// Submits the approvals gathered for `request` (made by this
    /// principal). They are checked at once — signatures, approver list,
    /// separation of duties, expiry, replay — and held until the operation
    /// runs, which consumes them.
    ///
    /// # Errors
    /// [`ErrorKind::ApprovalRequired`] saying which check failed;
    /// [`ErrorKind::Policy`] when policy does not gate this operation.
    pub fn submit_approvals(
        &self,
        request: &ApprovalRequest,
        approvals: &[Approval],
    ) -> Result<()> {
        let reason = format!("request {} for {}", request.request_id, request.operation);
        self.admin_change(Operation::SubmitApprovals, request.key_id, &reason, || {
            self.check_approvals(
                request,
                approvals,
                request.operation,
                request.key_id,
                &request.parameters,
            )?;
            let pending = Pending {
                request: request.clone(),
                approvals: approvals.to_vec(),
            };
            let id = format!("{PENDING_PREFIX}{}", request.request_id);
            Ok(vec![self.sealed_put(&id, &pending, Expect::Any)?])
        })
    }

    fn check_approvals(
        &self,
        request: &ApprovalRequest,
        approvals: &[Approval],
        op: ApprovalOperation,
        key: Option<KeyId>,
        params: &BTreeMap<String, String>,
    ) -> Result<Vec<String>> {
        let policy = self.policy()?.unwrap_or_default();
        let rule = policy.approval_rule(op).ok_or_else(|| {
            Error::new(
                ErrorKind::Policy,
                format!("policy does not put {op} under dual control"),
            )
        })?;
        let intent = Intent {
            operation: op,
            key_id: key,
            parameters: params,
            principal: self.principal.name(),
        };
        let backend = &*self.inner.backend;
        let used = |id: &str| {
            backend
                .get(&format!("{USED_PREFIX}{id}"))
                .ok()
                .flatten()
                .is_some()
        };
        verify_approvals(
            request,
            approvals,
            &intent,
            rule,
            &self.approvers()?,
            self.now(),
            &used,
        )
    }

    /// For an operation policy gates: finds submitted approvals for exactly
    /// this operation by this principal, re-checks them, and returns the
    /// writes that consume them (committed with the operation). `Ok(empty)`
    /// when policy does not gate the operation.
    pub(crate) fn require_approval(
        &self,
        op: ApprovalOperation,
        key: Option<KeyId>,
        params: &BTreeMap<String, String>,
    ) -> Result<Vec<WriteOp>> {
        let Some(policy) = self.policy()? else {
            return Ok(Vec::new());
        };
        let Some(rule) = policy.approval_rule(op) else {
            return Ok(Vec::new());
        };
        let mut last_err = None;
        for (id, rec) in self.inner.backend.scan(PENDING_PREFIX, None, 1024)? {
            let plain = self.sealer()?.open(&id, &rec.value)?;
            let Ok(p) = serde_json::from_slice::<Pending>(plain.expose_secret()) else {
                continue;
            };
            if p.request.operation != op
                || p.request.key_id != key
                || p.request.requester != self.principal.name()
            {
                continue;
            }
            match self.check_approvals(&p.request, &p.approvals, op, key, params) {
                Ok(approvers) => {
                    let used = format!("{USED_PREFIX}{}", p.request.request_id);
                    let marker = format!("approved by {}", approvers.join(", "));
                    return Ok(vec![
                        WriteOp::Delete {
                            id,
                            expect: Expect::Revision(rec.revision),
                        },
                        self.sealed_put(&used, &marker, Expect::Absent)?,
                    ]);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            Error::new(
                ErrorKind::ApprovalRequired,
                format!(
                    "{op} requires {} approval(s) from [{}]: request them with KeyStore::request_approval and submit them first",
                    rule.required,
                    rule.approvers.join(", ")
                ),
            )
        }))
    }

    /// Consumes approvals for a key operation in its own commit, before the
    /// operation runs (an operation that then fails needs new approvals).
    pub(crate) fn consume_approval(&self, op: ApprovalOperation, key: Option<KeyId>) -> Result<()> {
        let writes = self.require_approval(op, key, &BTreeMap::new())?;
        if writes.is_empty() {
            return Ok(());
        }
        let draft = self.draft(
            &self.principal,
            Operation::SubmitApprovals,
            key,
            None,
            &Ok(()),
            Some("approvals consumed"),
        );
        self.commit_logged(std::slice::from_ref(&draft), writes)
            .map(|_| ())
    }

    // ----- grants -----

    pub(crate) fn op_grant(
        &self,
        cell: &KeyCell,
        grant: Option<Grant>,
        revoke: Option<&str>,
    ) -> Result<()> {
        let op = if grant.is_some() {
            Operation::Grant
        } else {
            Operation::RevokeGrant
        };
        let who = grant
            .as_ref()
            .map(|g| g.principal.clone())
            .or(revoke.map(str::to_owned))
            .unwrap_or_default();
        let reason = format!("principal {who}");
        let res = (|| {
            authorize(&self.principal, op)?;
            if let Some(g) = &grant {
                if g.operations.is_empty() || !g.operations.iter().all(|o| Operation::is_use(*o)) {
                    return Err(Error::invalid(
                        "a grant names one or more use operations (encrypt, decrypt, sign, …)",
                    ));
                }
                self.registered_principal(&g.principal)?;
            }
            self.prepare(cell)?;
            let draft_reason = reason.clone();
            self.mutate(cell, |info, _, drafts| {
                match (&grant, revoke) {
                    (Some(g), _) => {
                        info.grants.retain(|x| x.principal != g.principal);
                        info.grants.push(g.clone());
                    }
                    (None, Some(name)) => {
                        let before = info.grants.len();
                        info.grants.retain(|x| x.principal != name);
                        if before == info.grants.len() {
                            return Err(Error::new(
                                ErrorKind::NotFound,
                                format!("{name} holds no grant on key {}", info.id),
                            ));
                        }
                    }
                    (None, None) => return Err(Error::internal("grant without a change")),
                }
                drafts.push(self.draft(
                    &self.principal,
                    op,
                    Some(info.id),
                    None,
                    &Ok(()),
                    Some(&draft_reason),
                ));
                Ok(MaterialChange::None)
            })
        })();
        if let Err(e) = &res {
            self.audit_as(
                &self.principal,
                op,
                Some(cell.id),
                None,
                Err(e.clone()),
                Some(&reason),
            )?;
        }
        res
    }
}

/// The built-in role rules. Per-key grants and policy refine them
/// (governance); the check lives here so every path goes through it.
pub(crate) fn authorize(p: &Principal, op: Operation) -> Result<()> {
    use Operation::*;
    let allowed: &[Role] = match op {
        OpenStore | ReadMetadata | List => &[
            Role::Administrator,
            Role::Operator,
            Role::Application,
            Role::Auditor,
            Role::Custodian,
        ],
        Encrypt | Decrypt | Rewrap | Sign | Verify | Mac | VerifyMac | Derive | Agree => {
            &[Role::Administrator, Role::Application]
        }
        Create
        | Import
        | Activate
        | Suspend
        | Resume
        | Deactivate
        | Compromise
        | ScheduleDestruction
        | CancelDestruction
        | Rotate
        | CompromiseVersion
        | SetMinDecryptionVersion
        | Maintenance
        | Destroy
        | DestroyVersion => &[Role::Administrator, Role::Operator],
        CompromisedRewrap | Export | RotateKek | ArchiveAudit => &[Role::Administrator],
        Backup | Restore | RestoreDrill => &[Role::Administrator],
        ReadAudit | VerifyIntegrity => &[Role::Administrator, Role::Auditor],
        SetPolicy | RegisterPrincipal => &[Role::Administrator],
        TrustDestination | UntrustDestination => &[Role::Administrator],
        Grant | RevokeGrant | SetOwner => &[Role::Administrator, Role::Operator],
        RequestApproval | SubmitApprovals => &[
            Role::Administrator,
            Role::Operator,
            Role::Application,
            Role::Custodian,
        ],
        // Internal bookkeeping, done on behalf of whoever encrypts.
        ReserveUsage | RecordUse => &[Role::Administrator, Role::Application],
    };
    if p.has_any(allowed) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("principal {} may not perform {op:?}", p.name()),
        ))
    }
}
