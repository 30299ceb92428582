use serde::{Deserialize, Serialize};

use crate::{
    Group, Id, Invitation, Member, PropertyDef, Role, RoleAssignment, ScimMapping, ScimResource,
    ScimToken, StaticMembership, TokenRecord, Workspace,
};

/// A workspace's revision: strictly increasing, one per committed write.
pub type Revision = i64;

/// One stored fact that changed. A write is a list of events committed under one revision;
/// the store applies them to its tables and appends them to the workspace's event log,
/// which every server's engine follows. Events carry whole records, so applying one is
/// idempotent and needs nothing but the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The workspace itself was created.
    WorkspaceCreated {
        /// The new workspace.
        workspace: Workspace,
    },
    /// A member was created or changed.
    MemberUpserted {
        /// The member as it now is.
        member: Member,
    },
    /// A property definition was created or changed.
    PropertyUpserted {
        /// The definition as it now is.
        property: PropertyDef,
    },
    /// A property definition was deleted.
    PropertyDeleted {
        /// The deleted definition.
        id: Id,
    },
    /// A group was created or changed.
    GroupUpserted {
        /// The group as it now is.
        group: Group,
    },
    /// A group was deleted, with its recorded memberships.
    GroupDeleted {
        /// The deleted group.
        id: Id,
    },
    /// A member was recorded in a static group.
    MembershipAdded {
        /// The record.
        membership: StaticMembership,
    },
    /// A member's record in a static group was removed.
    MembershipRemoved {
        /// The group.
        group_id: Id,
        /// The member.
        member_id: Id,
    },
    /// An API token was issued.
    TokenCreated {
        /// The token, hashed.
        token: TokenRecord,
    },
    /// An API token was revoked.
    TokenRevoked {
        /// The revoked token.
        id: Id,
    },
    /// A role was created or changed.
    RoleUpserted {
        /// The role as it now is.
        role: Role,
    },
    /// A role was deleted (its assignments are revoked by events before this one).
    RoleDeleted {
        /// The deleted role.
        id: Id,
    },
    /// A group was given a role.
    RoleAssigned {
        /// The assignment.
        assignment: RoleAssignment,
    },
    /// A group's role was taken away.
    RoleRevoked {
        /// The group.
        group_id: Id,
        /// The role.
        role_id: Id,
    },
    /// An invitation was created or changed (accepted, revoked, resent, delivered).
    InvitationUpserted {
        /// The invitation as it now is.
        invitation: Invitation,
    },
    /// A SCIM token was issued.
    ScimTokenCreated {
        /// The token, hashed.
        token: ScimToken,
    },
    /// A SCIM token was revoked.
    ScimTokenRevoked {
        /// The revoked token.
        id: Id,
    },
    /// The SCIM side of a provisioned member or group was created or changed.
    ScimResourceUpserted {
        /// The resource as it now is.
        resource: ScimResource,
    },
    /// A provisioned user was deleted over SCIM (the member stays, deactivated), or its
    /// group was deleted.
    ScimResourceDeleted {
        /// The member's or group's id.
        id: Id,
    },
    /// Admins changed which properties SCIM attributes fill.
    ScimMappingSet {
        /// The mapping as it now is.
        mapping: ScimMapping,
    },
}

/// Everything the store holds about one workspace at one revision: what an engine is
/// built from before it follows the event log.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The workspace.
    pub workspace: Option<Workspace>,
    /// The revision the snapshot was read at.
    pub revision: Revision,
    /// Every member.
    pub members: Vec<Member>,
    /// Every property definition.
    pub properties: Vec<PropertyDef>,
    /// Every group.
    pub groups: Vec<Group>,
    /// Every static membership record.
    pub memberships: Vec<StaticMembership>,
    /// Every live token.
    pub tokens: Vec<TokenRecord>,
    /// Every role.
    pub roles: Vec<Role>,
    /// Every role assignment.
    pub assignments: Vec<RoleAssignment>,
    /// Every invitation, whatever its state.
    pub invitations: Vec<Invitation>,
    /// Every live SCIM token.
    pub scim_tokens: Vec<ScimToken>,
    /// The SCIM side of every provisioned member and group.
    pub scim_resources: Vec<ScimResource>,
    /// Which properties SCIM attributes fill, where admins changed the default.
    pub scim_mapping: ScimMapping,
}
