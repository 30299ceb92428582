use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::PropertyValue;
use time::OffsetDateTime;
use uuid::Uuid;

/// The two kinds of member; a group holds members of one kind only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberKind {
    /// An internal user: a team member or an agent.
    User,
    /// An external customer, belonging to a customer account.
    Customer,
}

impl MemberKind {
    /// The name used in the API and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::User => "user",
            MemberKind::Customer => "customer",
        }
    }
}

/// What sort of internal user a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    /// A person.
    TeamMember,
    /// An AI agent or an automation acting in the workspace; may have no email.
    Agent,
}

/// Deactivated members keep their records but hold nothing until reactivated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// Counts in groups and may act.
    Active,
    /// Left out of every group's effective membership and denied everything.
    Deactivated,
}

/// A person or agent of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// The member's id.
    pub id: Uuid,
    /// `user` or `customer`.
    pub kind: MemberKind,
    /// For users: `team_member` or `agent`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<UserType>,
    /// Unique per workspace, compared case-insensitively; kept as given.
    #[serde(default)]
    pub email: Option<String>,
    /// The name shown to people.
    pub display_name: String,
    /// `active` or `deactivated`.
    pub state: MemberState,
    /// For customers: the customer's own company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// For customers: whether the email address was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Custom properties, validated against the workspace's property definitions.
    #[serde(default)]
    pub properties: BTreeMap<String, PropertyValue>,
    /// When the member was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the member last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Member {
    /// Whether the member counts in groups and may act.
    pub fn is_active(&self) -> bool {
        self.state == MemberState::Active
    }

    /// The key under which emails are unique: the address lower-cased.
    pub fn email_key(&self) -> Option<String> {
        self.email.as_deref().map(str::to_lowercase)
    }

    /// The part after `@`, lower-cased: the built-in attribute `email_domain`.
    pub fn email_domain(&self) -> Option<String> {
        let email = self.email.as_deref()?;
        let (_, domain) = email.rsplit_once('@')?;
        Some(domain.to_lowercase())
    }
}
