//! What Roster keeps for SCIM provisioning: the identity provider's tokens, the
//! SCIM side of provisioned users and groups, and the mapping from SCIM attributes to
//! member properties.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Id, Timestamp};

/// A token an identity provider presents at `/scim/v2`. It acts as the identity
/// provider, not as a member, and is refused on `/api/v1`. Only the SHA-256 of the secret
/// is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimToken {
    /// The token's id, used to revoke it and named in the audit log.
    pub id: Id,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    /// A label chosen by its creator (for instance `Okta`).
    #[serde(default)]
    pub name: Option<String>,
    /// The admin who created it; `None` for the command line.
    #[serde(default)]
    pub created_by: Option<Id>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

/// The two SCIM resource types Roster serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum ScimResourceType {
    /// A team member.
    User,
    /// A static user group managed by the identity provider.
    Group,
}

/// The SCIM side of a provisioned member or group: what the identity provider sent that
/// Roster's own records do not hold (`userName`, `externalId`, names, phone numbers,
/// enterprise attributes…), so that reads give back what was written. The member or
/// group itself stays the source of what Roster acts on (email, display name, state,
/// properties, memberships).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimResource {
    /// The member's or group's id: SCIM ids are Roster ids.
    pub id: Id,
    /// `User` or `Group`.
    pub resource_type: ScimResourceType,
    /// The user's `userName` as given; unique case-insensitively among SCIM users.
    #[serde(default)]
    pub user_name: Option<String>,
    /// The identity provider's own id for the resource.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The resource's other attributes as last written, normalised (names in schema
    /// case, read-only and write-only attributes dropped). Groups keep none: their name
    /// and members are the group's.
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Incremented on every SCIM write; part of the ETag.
    pub version: i64,
    /// When it was provisioned.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// When the identity provider last changed it.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    /// Set when an admin linked the member to the identity provider by hand. Only a
    /// linked user may be written over SCIM while it is an admin: the link is the
    /// admin's explicit, audited consent that the identity provider holding a SCIM token
    /// manages an account with every privilege.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked: Option<ScimLink>,
}

/// An admin's link of an existing member to the identity provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimLink {
    /// The admin who linked it; `None` for the command line.
    #[serde(default)]
    pub by: Option<Id>,
    /// When it was linked.
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}

impl ScimResource {
    /// The key under which `userName`s are unique.
    pub fn user_name_key(&self) -> Option<String> {
        self.user_name.as_deref().map(str::to_lowercase)
    }
}

/// Which member property a SCIM attribute fills, where admins chose otherwise than the
/// default (a SCIM attribute fills the property of the same snake_case name). A `None`
/// turns an attribute's default off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScimMapping {
    /// By full SCIM attribute name (`urn:…:enterprise:2.0:User:department`,
    /// `title`, `name.givenName`).
    pub overrides: BTreeMap<String, Option<String>>,
}
