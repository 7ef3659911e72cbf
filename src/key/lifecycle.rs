//! The state machine, as data: which transition is allowed from which state
//! (NIST SP 800-57 Part 1 §7.1–7.3, with the scheduled-destruction state of
//! AWS and Google Cloud KMS).

use super::info::{KeyInfo, StateChange};
use super::operation::Operation;
use super::types::{Purpose, StateName};
use crate::base::Timestamp;
use crate::base::{Error, Result};

/// The name of the identity that applies date-driven transitions (the
/// store's scheduler principal has it).
pub const SCHEDULER: &str = "keylife:scheduler";

/// A requested state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    Activate,
    Suspend,
    Resume,
    Deactivate,
    Compromise,
    /// The waiting period; the date is computed from the same clock
    /// reading as the policy check, so exactly the minimum is accepted.
    ScheduleDestruction {
        wait: core::time::Duration,
    },
    CancelDestruction,
    Destroy,
}

impl Transition {
    pub(crate) fn operation(self) -> Operation {
        match self {
            Transition::Activate => Operation::Activate,
            Transition::Suspend => Operation::Suspend,
            Transition::Resume => Operation::Resume,
            Transition::Deactivate => Operation::Deactivate,
            Transition::Compromise => Operation::Compromise,
            Transition::ScheduleDestruction { .. } => Operation::ScheduleDestruction,
            Transition::CancelDestruction => Operation::CancelDestruction,
            Transition::Destroy => Operation::Destroy,
        }
    }
}

/// Which states allow a kind of operation: the rule the typed API encodes
/// in which impls have which methods, checked again at run time on every
/// use (the live state may have changed) and by the dynamic handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// Encrypt, sign, MAC, derive, agree: Active only.
    Apply,
    /// Decrypt, verify: Active, Deactivated, and Suspended where the key
    /// allows it.
    Process,
    /// Public key export, metadata: any state with material.
    Inspect,
    /// Compromise or destroy one version, raise the minimum decryption
    /// version: Active, Suspended, Deactivated, Compromised.
    ManageVersions,
}

/// The purpose (`None`: any) and the kind of use each operation on a key
/// needs. `None` for operations that are not uses of one key.
pub(crate) fn rule(op: Operation) -> Option<(Option<Purpose>, Use)> {
    use Operation as O;
    use Purpose as P;
    Some(match op {
        O::Encrypt | O::Rewrap => (Some(P::Aead), Use::Apply),
        O::Decrypt => (Some(P::Aead), Use::Process),
        O::Sign => (Some(P::Signing), Use::Apply),
        O::Verify => (Some(P::Signing), Use::Process),
        O::Mac => (Some(P::Mac), Use::Apply),
        O::VerifyMac => (Some(P::Mac), Use::Process),
        O::Derive => (Some(P::Derivation), Use::Apply),
        O::Agree => (Some(P::Agreement), Use::Apply),
        O::Rotate => (None, Use::Apply),
        O::CompromiseVersion | O::DestroyVersion | O::SetMinDecryptionVersion => {
            (None, Use::ManageVersions)
        }
        O::ReadMetadata => (None, Use::Inspect),
        _ => return None,
    })
}

/// Whether `info`'s key, in its current state and with its purpose, may be
/// used for `op` ([`rule`]).
pub(crate) fn check_use(info: &KeyInfo, op: Operation) -> Result<()> {
    let (purpose, u) =
        rule(op).ok_or_else(|| Error::internal(format!("{op:?} is not a use of a key")))?;
    if let Some(p) = purpose
        && info.purpose != p
    {
        return Err(Error::wrong_purpose(&format!("{op:?}"), info.purpose));
    }
    use StateName::*;
    let ok = match (u, info.state) {
        (Use::ManageVersions, s) => matches!(s, Active | Suspended | Deactivated | Compromised),
        (_, Active) => true,
        (Use::Process, Deactivated) => true,
        (Use::Process, Suspended) => info.suspended_processing,
        (Use::Inspect, s) => s.has_material(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::wrong_state(&format!("{op:?}"), info.state))
    }
}

/// The state `t` leads to from `info`'s current state, or a state error.
pub(crate) fn next_state(info: &KeyInfo, t: Transition) -> Result<StateName> {
    use StateName::*;
    let from = info.state;
    let to = match (from, t) {
        (PreActive, Transition::Activate) => Active,
        (Active, Transition::Suspend) => Suspended,
        (Suspended, Transition::Resume) => Active,
        (Active | Suspended, Transition::Deactivate) => Deactivated,
        (PreActive | Active | Suspended | Deactivated, Transition::Compromise) => Compromised,
        (Deactivated | Compromised, Transition::ScheduleDestruction { .. }) => PendingDestruction,
        (PendingDestruction, Transition::CancelDestruction) => {
            info.state_before_pending.unwrap_or(Deactivated)
        }
        (PreActive, Transition::Destroy) => Destroyed,
        _ => {
            return Err(Error::wrong_state(&format!("{:?}", t.operation()), from));
        }
    };
    Ok(to)
}

/// Applies a transition to `info` (metadata only; the caller removes
/// material for destruction). Returns the new state.
pub(crate) fn apply(
    info: &mut KeyInfo,
    t: Transition,
    now: Timestamp,
    principal: &str,
    reason: &str,
) -> Result<StateName> {
    let to = next_state(info, t)?;
    let from = info.state;
    match t {
        Transition::Activate => {
            info.activated_at = Some(now);
            if let (None, Some(period)) = (info.deactivation_date, cryptoperiod_of(info)) {
                info.deactivation_date = Some(now.plus(period));
            }
        }
        Transition::ScheduleDestruction { wait } => {
            info.state_before_pending = Some(from);
            info.destruction_date = Some(now.plus(wait));
        }
        Transition::CancelDestruction => {
            info.state_before_pending = None;
            info.destruction_date = None;
        }
        _ => {}
    }
    record(info, from, to, now, principal, reason);
    Ok(to)
}

/// Applies every date-driven transition that is due at `now`. Returns true
/// when anything changed, and whether material must be destroyed.
pub(crate) fn apply_due(info: &mut KeyInfo, now: Timestamp) -> (bool, bool) {
    use StateName::*;
    let who = SCHEDULER;
    let mut changed = false;
    let mut destroy = false;
    loop {
        let from = info.state;
        match from {
            PreActive
                if info.activation_date.is_some_and(|d| d <= now)
                    && info.deactivation_date.is_none_or(|d| d > now) =>
            {
                info.activated_at = info.activation_date;
                if let (None, Some(period), Some(at)) = (
                    info.deactivation_date,
                    cryptoperiod_of(info),
                    info.activation_date,
                ) {
                    info.deactivation_date = Some(at.plus(period));
                }
                record(info, from, Active, now, who, "activation date reached");
            }
            PreActive | Active | Suspended if info.deactivation_date.is_some_and(|d| d <= now) => {
                record(
                    info,
                    from,
                    Deactivated,
                    now,
                    who,
                    "end of cryptoperiod (deactivation date reached)",
                );
            }
            PendingDestruction if info.destruction_date.is_some_and(|d| d <= now) => {
                let to = if info.state_before_pending == Some(Compromised) {
                    DestroyedCompromised
                } else {
                    Destroyed
                };
                record(info, from, to, now, who, "destruction date reached");
                destroy = true;
            }
            _ => break,
        }
        changed = true;
    }
    (changed, destroy)
}

fn cryptoperiod_of(info: &KeyInfo) -> Option<core::time::Duration> {
    info.cryptoperiod_ms.map(core::time::Duration::from_millis)
}

fn record(
    info: &mut KeyInfo,
    from: StateName,
    to: StateName,
    at: Timestamp,
    principal: &str,
    reason: &str,
) {
    info.state = to;
    info.history.push(StateChange {
        at,
        from: Some(from),
        to,
        principal: principal.to_owned(),
        reason: reason.to_owned(),
    });
}
