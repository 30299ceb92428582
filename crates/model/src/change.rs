use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Revision;

/// Whether a member joined or left a group's effective membership.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The member now counts as a member.
    Added,
    /// The member no longer counts.
    Removed,
    /// The group was given the role.
    Assigned,
    /// The group's role was taken away.
    Revoked,
}

/// One change of effective membership, as a write produces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChange {
    /// The group.
    pub group_id: Uuid,
    /// The member.
    pub member_id: Uuid,
    /// Joined or left.
    pub change: ChangeKind,
    /// Why: `member_created`, `attributes_changed`, `member_deactivated`,
    /// `member_reactivated`, `manual`, `invitation`, `scim`, `system`,
    /// `membership_removed`, `group_created`, `rule_changed`, `converted`, `group_deleted`,
    /// `workspace_created` (a new or imported workspace's first memberships).
    pub cause: String,
}

/// One change of role assignment, as a write produces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChange {
    /// The group.
    pub group_id: Uuid,
    /// The role.
    pub role_id: Uuid,
    /// `assigned` or `revoked`.
    pub change: ChangeKind,
    /// Why: `role_assigned`, `role_revoked`, `role_deleted`, `group_deleted`,
    /// `workspace_created`.
    pub cause: String,
}

/// A stored change-log entry: the change with the revision of the write and its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangeRecord {
    /// The workspace revision the write produced.
    pub revision: Revision,
    /// Position within that revision's changes.
    pub seq: i32,
    /// The group.
    pub group_id: Uuid,
    /// The member, for a change of membership.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub member_id: Option<Uuid>,
    /// The role, for a change of role assignment.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub role_id: Option<Uuid>,
    /// `added` or `removed` (membership), `assigned` or `revoked` (role).
    pub change: ChangeKind,
    /// Why it changed.
    pub cause: String,
    /// When the write was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
