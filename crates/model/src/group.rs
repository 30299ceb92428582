use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::MemberKind;
use time::OffsetDateTime;
use uuid::Uuid;

/// Whether a group's members are kept by hand or follow a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Membership {
    /// Members are added by hand, by invitation or by an identity provider.
    Static,
    /// A member belongs exactly when the group's rule holds for it.
    Dynamic,
}

/// Who keeps a group's member list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManagedBy {
    /// Roster: the API, the console and invitations.
    Roster,
    /// An identity provider over SCIM; members are not edited by hand.
    Scim,
}

/// The eight groups every workspace starts with. Their identity is this key, not their
/// name, so that rules about them never depend on a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefaultGroup {
    /// Workspace admins; they hold every privilege.
    Admins,
    /// Every internal user, maintained by Roster.
    AllUsers,
    /// Every team member joins it; pre-filled in invitations.
    PlatformUsers,
    /// Those who receive updates about support conversations.
    Support,
    /// Those who administer agents and automations.
    AgentAdmins,
    /// Every customer, maintained by Roster.
    Customers,
    /// Customers who manage their account's inquiries.
    CustomerAdmins,
    /// Customers whose email is verified: dynamic, `email_verified = true`.
    VerifiedCustomers,
}

impl DefaultGroup {
    /// All default groups, in the order they are created.
    pub const ALL: [DefaultGroup; 8] = [
        DefaultGroup::Admins,
        DefaultGroup::AllUsers,
        DefaultGroup::PlatformUsers,
        DefaultGroup::Support,
        DefaultGroup::AgentAdmins,
        DefaultGroup::Customers,
        DefaultGroup::CustomerAdmins,
        DefaultGroup::VerifiedCustomers,
    ];

    /// The group's name as SPEC §1 gives it.
    pub fn name(self) -> &'static str {
        match self {
            DefaultGroup::Admins => "Admins",
            DefaultGroup::AllUsers => "All Users",
            DefaultGroup::PlatformUsers => "Platform Users",
            DefaultGroup::Support => "Support",
            DefaultGroup::AgentAdmins => "Agent and Automations Admin",
            DefaultGroup::Customers => "Customers",
            DefaultGroup::CustomerAdmins => "Customer Admins",
            DefaultGroup::VerifiedCustomers => "Verified Customers",
        }
    }

    /// What the group is for, shown as its description.
    pub fn description(self) -> &'static str {
        match self {
            DefaultGroup::Admins => "Workspace admins. They hold every privilege; only admins add or remove members.",
            DefaultGroup::AllUsers => "Every internal user of the workspace, maintained by Roster.",
            DefaultGroup::PlatformUsers => "Every new team member joins this group.",
            DefaultGroup::Support => "Members receive updates about conversations in the support inbox.",
            DefaultGroup::AgentAdmins => "Administrators of agents and automations.",
            DefaultGroup::Customers => "Every customer of the workspace, maintained by Roster; governs access to the public portal.",
            DefaultGroup::CustomerAdmins => "Customers who manage their account's inquiries.",
            DefaultGroup::VerifiedCustomers => "Customers whose email address is verified.",
        }
    }

    /// The kind of member the group holds.
    pub fn member_kind(self) -> MemberKind {
        match self {
            DefaultGroup::Customers
            | DefaultGroup::CustomerAdmins
            | DefaultGroup::VerifiedCustomers => MemberKind::Customer,
            _ => MemberKind::User,
        }
    }

    /// The rule of the dynamic default group.
    pub fn rule(self) -> Option<&'static str> {
        match self {
            DefaultGroup::VerifiedCustomers => Some("email_verified = true"),
            _ => None,
        }
    }

    /// Groups whose members Roster keeps itself; nobody edits them by hand.
    pub fn is_maintained(self) -> bool {
        matches!(self, DefaultGroup::AllUsers | DefaultGroup::Customers)
    }
}

/// A named set of members of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    /// The group's id.
    pub id: Uuid,
    /// Unique per workspace, compared case-insensitively.
    pub name: String,
    /// What the group is for.
    #[serde(default)]
    pub description: String,
    /// The kind of member the group holds.
    pub member_kind: MemberKind,
    /// `static` or `dynamic`.
    pub membership: Membership,
    /// The rule of a dynamic group.
    #[serde(default)]
    pub rule: Option<String>,
    /// User groups: the internal user who is always a member.
    #[serde(default)]
    pub owner: Option<Uuid>,
    /// Which default group this is, if it is one.
    #[serde(default)]
    pub default_group: Option<DefaultGroup>,
    /// Who keeps the member list.
    pub managed_by: ManagedBy,
    /// Changes on every update; served as the ETag.
    pub version: i64,
    /// When the group was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the group last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Group {
    /// The case-insensitive key under which names are unique.
    pub fn name_key(&self) -> String {
        self.name.to_lowercase()
    }

    /// Whether this is one of the groups every workspace starts with.
    pub fn is_default(&self) -> bool {
        self.default_group.is_some()
    }

    /// Whether Roster keeps the member list itself (All Users, Customers).
    pub fn is_maintained(&self) -> bool {
        self.default_group.is_some_and(DefaultGroup::is_maintained)
    }
}

/// How a member came into a static group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MembershipSource {
    /// Added by someone through the API or the console.
    Manual,
    /// Joined by accepting an invitation.
    Invitation,
    /// Provisioned by an identity provider.
    Scim,
    /// Added by Roster itself (bootstrap, a new team member joining Platform Users, the
    /// members frozen when a dynamic group becomes static). An owner is recorded as
    /// `manual`, added by the admin who named it.
    System,
}

/// A member's recorded place in a static group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StaticMembership {
    /// The group.
    pub group_id: Uuid,
    /// The member.
    pub member_id: Uuid,
    /// How the member came in.
    pub source: MembershipSource,
    /// Who added it, when a member did.
    #[serde(default)]
    pub added_by: Option<Uuid>,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}
