use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Revision;
use time::OffsetDateTime;
use uuid::Uuid;

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// A member acting through an API token.
    Member {
        /// The acting member.
        id: Uuid,
    },
    /// An identity provider over SCIM, through one of its tokens.
    IdentityProvider {
        /// The SCIM token it presented.
        token: Uuid,
    },
    /// An operator at the command line, with direct access to the database.
    Cli,
    /// Roster itself (first-start bootstrap).
    System,
}

impl Actor {
    /// The acting member, if a member acts.
    pub fn member_id(self) -> Option<Uuid> {
        match self {
            Actor::Member { id } => Some(id),
            _ => None,
        }
    }
}

/// One change as an operation describes it, before the store stamps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Who made the change.
    pub actor: Actor,
    /// What was done, as `object.verb` (for instance `group.member_add`).
    pub action: String,
    /// The kind of object changed.
    pub target_type: String,
    /// The object changed.
    pub target_id: Option<Uuid>,
    /// The object before the change, when it existed.
    pub before: Option<serde_json::Value>,
    /// The object after the change, when it still exists.
    pub after: Option<serde_json::Value>,
}

/// A stored audit entry: the entry with the revision of the write and its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    /// The workspace revision the change produced.
    pub revision: Revision,
    /// Position within that revision's entries.
    pub seq: i32,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who made the change.
    pub actor: Actor,
    /// What was done, as `object.verb`.
    pub action: String,
    /// The kind of object changed.
    pub target_type: String,
    /// The object changed.
    pub target_id: Option<Uuid>,
    /// The object before the change.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The object after the change.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}
