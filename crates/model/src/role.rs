//! Roles and privileges (SPEC §1 "Roles and privileges"): a role is a named set of
//! privileges, each a verb on an object type; groups hold roles.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// The kinds of object a privilege is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectType {
    /// A support conversation (category Support).
    Conversation,
    /// A support ticket (category Support).
    Ticket,
    /// An issue (category Build).
    Issue,
    /// A sales opportunity (category Grow).
    Opportunity,
}

/// The product area an object type belongs to; default roles give one full-access role
/// per category.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Conversations and tickets.
    Support,
    /// Issues.
    Build,
    /// Opportunities.
    Grow,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 3] = [Category::Support, Category::Build, Category::Grow];

    /// The category as the API names it, capitalized for display.
    pub fn title(self) -> &'static str {
        match self {
            Category::Support => "Support",
            Category::Build => "Build",
            Category::Grow => "Grow",
        }
    }
}

impl ObjectType {
    /// Every object type.
    pub const ALL: [ObjectType; 4] = [
        ObjectType::Conversation,
        ObjectType::Ticket,
        ObjectType::Issue,
        ObjectType::Opportunity,
    ];

    /// The category the object type belongs to.
    pub fn category(self) -> Category {
        match self {
            ObjectType::Conversation | ObjectType::Ticket => Category::Support,
            ObjectType::Issue => Category::Build,
            ObjectType::Opportunity => Category::Grow,
        }
    }

    fn index(self) -> u8 {
        match self {
            ObjectType::Conversation => 0,
            ObjectType::Ticket => 1,
            ObjectType::Issue => 2,
            ObjectType::Opportunity => 3,
        }
    }
}

/// What a privilege allows on an object type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Privilege {
    /// Create objects.
    Create,
    /// Read objects.
    Read,
    /// Update objects.
    Update,
    /// Delete objects.
    Delete,
}

impl Privilege {
    /// Every privilege.
    pub const ALL: [Privilege; 4] = [
        Privilege::Create,
        Privilege::Read,
        Privilege::Update,
        Privilege::Delete,
    ];

    fn index(self) -> u8 {
        match self {
            Privilege::Create => 0,
            Privilege::Read => 1,
            Privilege::Update => 2,
            Privilege::Delete => 3,
        }
    }
}

/// One privilege on one object type: what a role grants and what a check asks about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The object type.
    pub object_type: ObjectType,
    /// The privilege.
    pub privilege: Privilege,
}

/// A set of grants as one bit each: how the engine keeps what a role, a group or a
/// member holds, so that a check is one load and one mask.
pub type GrantMask = u16;

impl Grant {
    /// Every grant: 4 object types × 4 privileges.
    pub fn all() -> impl Iterator<Item = Grant> {
        ObjectType::ALL.into_iter().flat_map(|object_type| {
            Privilege::ALL.into_iter().map(move |privilege| Grant {
                object_type,
                privilege,
            })
        })
    }

    /// The grant's position, 0 to 15: its bit in a [`GrantMask`].
    pub fn index(self) -> u8 {
        self.object_type.index() * 4 + self.privilege.index()
    }

    /// The grant's bit.
    pub fn bit(self) -> GrantMask {
        1 << self.index()
    }

    /// The grants of a mask, in order.
    pub fn of_mask(mask: GrantMask) -> impl Iterator<Item = Grant> {
        Grant::all().filter(move |g| mask & g.bit() != 0)
    }

    /// The mask of some grants.
    pub fn mask<'a>(grants: impl IntoIterator<Item = &'a Grant>) -> GrantMask {
        grants.into_iter().fold(0, |mask, g| mask | g.bit())
    }
}

/// A role: a named set of privileges that admins assign to groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Role {
    /// The role's id.
    pub id: Uuid,
    /// Unique per workspace, case-insensitively.
    pub name: String,
    /// What the role is for.
    pub description: String,
    /// What it grants, sorted, each once.
    pub privileges: Vec<Grant>,
    /// Whether the workspace started with it (admins may still edit or delete it).
    pub default: bool,
    /// Changes on every update; served as the ETag.
    pub version: i64,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Role {
    /// The key names are unique by.
    pub fn name_key(&self) -> String {
        self.name.to_lowercase()
    }

    /// What the role grants, as a mask.
    pub fn mask(&self) -> GrantMask {
        Grant::mask(&self.privileges)
    }
}

/// A role held by a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoleAssignment {
    /// The group.
    pub group_id: Uuid,
    /// The role.
    pub role_id: Uuid,
    /// The admin who assigned it (none for the workspace's own set-up).
    pub assigned_by: Option<Uuid>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub assigned_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_has_its_own_bit() {
        let mask = Grant::all().fold(0u16, |m, g| {
            assert_eq!(m & g.bit(), 0, "{g:?} shares a bit");
            m | g.bit()
        });
        assert_eq!(mask, u16::MAX);
        assert_eq!(Grant::of_mask(mask).count(), 16);
    }
}
