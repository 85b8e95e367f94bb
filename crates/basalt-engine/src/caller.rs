//! Who is calling: the identity the server resolved from keys and session token.

use std::sync::Arc;

use basalt_core::acl::Access;
use serde_json::{Map, Value};

/// The caller of an engine operation.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// Holds the master key: bypasses ACLs and class-level permissions.
    pub is_master: bool,
    /// The logged-in user's objectId.
    pub user_id: Option<String>,
    /// `role:<name>` for every role the user has.
    pub roles: Vec<String>,
    pub installation_id: Option<String>,
    /// The session token the caller presented (when logged in).
    pub session_token: Option<String>,
    /// When that session expires (Unix milliseconds), if it does.
    pub session_expires_at: Option<i64>,
    /// The client's `context` (`_context` in the body or `X-Parse-Cloud-Context`), handed to
    /// triggers as `request.context`.
    pub context: Option<Arc<Map<String, Value>>>,
}

impl Caller {
    pub fn master() -> Caller {
        Caller { is_master: true, ..Caller::default() }
    }

    pub fn anonymous() -> Caller {
        Caller::default()
    }

    /// The check of every master-only operation (schemas, config writes, aggregate, hooks,
    /// jobs, purge, file deletion, server info), made by the engine method itself.
    ///
    /// # Errors
    /// `ParseError::master_key_required` without the master key.
    pub fn require_master(&self) -> basalt_core::ParseResult<()> {
        if self.is_master {
            return Ok(());
        }
        Err(basalt_core::ParseError::master_key_required())
    }

    /// The ACL permission keys of this caller.
    pub fn access(&self) -> Access {
        if self.is_master {
            return Access::Master;
        }
        let mut keys = vec!["*".to_owned()];
        if let Some(user_id) = &self.user_id {
            keys.push(user_id.clone());
        }
        keys.extend(self.roles.iter().cloned());
        Access::Keys(keys)
    }
}
