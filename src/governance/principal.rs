//! Who is calling: principals and their roles.
//!
//! Every operation runs on behalf of a [`Principal`]. A [`crate::KeyStore`]
//! handle is bound to one; [`crate::KeyStore::as_principal`] gives another
//! handle on the same store for another caller.

use core::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::base::codes::code_enum;

code_enum! {
    /// A role, in the sense of NIST SP 800-57 Part 2 and KMIP.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Role: u32 ("role", "KL_ROLE_*") {
        /// Manages keys, policy and principals; may do everything.
        Administrator = 1 => "administrator",
        /// Creates, rotates and changes the state of keys.
        Operator = 2 => "operator",
        /// Uses keys (encrypt, sign, ...) but cannot change their state.
        Application = 3 => "application",
        /// Reads inventory and audit; cannot use keys.
        Auditor = 4 => "auditor",
        /// Holds backup shares; reads inventory.
        Custodian = 5 => "custodian",
    }
}

impl Role {
    const fn bit(self) -> u8 {
        1 << (self as u32)
    }
}

/// A caller identity with a set of roles. Cheap to clone.
///
/// ```
/// use keylife::{Principal, Role};
/// let app = Principal::new("payments-api", &[Role::Application]);
/// assert!(app.has_role(Role::Application));
/// assert!(!app.has_role(Role::Operator));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    name: Arc<str>,
    roles: u8,
}

impl Principal {
    /// A principal named `name` with `roles`.
    #[must_use]
    pub fn new(name: &str, roles: &[Role]) -> Principal {
        Principal {
            name: Arc::from(name),
            roles: roles.iter().fold(0, |acc, r| acc | r.bit()),
        }
    }

    /// Shorthand for an administrator.
    #[must_use]
    pub fn admin(name: &str) -> Principal {
        Principal::new(name, &[Role::Administrator])
    }

    /// The identity that applies date-driven transitions.
    #[must_use]
    pub fn scheduler() -> Principal {
        Principal::new(crate::key::lifecycle::SCHEDULER, &[Role::Operator])
    }

    /// The principal's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it holds `role`.
    #[must_use]
    pub fn has_role(&self, role: Role) -> bool {
        self.roles & role.bit() != 0
    }

    /// Whether it holds any of `roles`.
    #[must_use]
    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.has_role(*r))
    }

    /// Its roles.
    #[must_use]
    pub fn roles(&self) -> Vec<Role> {
        [
            Role::Administrator,
            Role::Operator,
            Role::Application,
            Role::Auditor,
            Role::Custodian,
        ]
        .into_iter()
        .filter(|r| self.has_role(*r))
        .collect()
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("name", &self.name)
            .field("roles", &self.roles())
            .finish()
    }
}
