//! SCIM provisioning: what an identity provider may do over `/scim/v2`, as
//! pure operations like the rest of this crate.
//!
//! A provisioned user is a Roster team member plus a [`ScimResource`] holding what the
//! identity provider sent that a member does not hold. Every write goes through the same
//! path: the resource is normalised by `roster-scim`, Roster's fields are derived from it
//! ([`users`]), and the member, the resource and any memberships are committed together,
//! so dynamic groups and access follow before the response is sent.
//!
//! [`ScimResource`]: roster_model::ScimResource

pub mod groups;
pub mod links;
pub mod mapping;
pub mod render;
pub mod tokens;
pub mod users;

use roster_engine::WorkspaceState;
use roster_model::{Actor, MemberKind, PropertyType};
use roster_scim::schema::{self, PropertyKind, ResourceSchema};
use roster_scim::{ScimError, ScimType};

use crate::{Ctx, OpError};

/// The User resource type of a workspace: the core schema, the Enterprise extension and
/// the Roster extension carrying its user properties.
pub fn user_schema(state: &WorkspaceState) -> ResourceSchema {
    let properties: Vec<_> = state
        .properties()
        .filter(|p| p.applies_to == MemberKind::User)
        .map(|p| {
            let kind = match p.value_type {
                PropertyType::Text => PropertyKind::Text,
                PropertyType::Number => PropertyKind::Number,
                PropertyType::Boolean => PropertyKind::Boolean,
            };
            (p.name.as_str(), kind, p.description.as_str())
        })
        .collect();
    schema::user_resource(schema::roster_user(properties))
}

/// Refuses unless an identity provider acts: SCIM operations are its alone.
fn require_provider(ctx: &Ctx) -> Result<(), OpError> {
    match ctx.actor {
        Actor::IdentityProvider { .. } => Ok(()),
        _ => Err(OpError::Forbidden(
            "only an identity provider, through a SCIM token, provisions over SCIM".into(),
        )),
    }
}

/// A SCIM error carried through an operation's result.
fn scim(error: ScimError) -> OpError {
    OpError::Scim(error)
}

/// A `400 invalidValue`.
fn invalid_value(detail: impl Into<String>) -> OpError {
    scim(ScimError::bad(ScimType::InvalidValue, detail))
}

/// Refuses a request whose `If-Match` names another version than the current one.
fn check_etag(current: &str, expected: Option<&str>) -> Result<(), OpError> {
    match expected {
        None => Ok(()),
        Some(expected) if expected.trim() == "*" => Ok(()),
        Some(expected) => {
            let matches = expected
                .split(',')
                .any(|tag| strip_weak(tag.trim()) == strip_weak(current));
            if matches {
                Ok(())
            } else {
                Err(OpError::PreconditionFailed(format!(
                    "the resource is at version {current}, not {expected}"
                )))
            }
        }
    }
}

/// Weak and strong tags compare equal for `If-Match` here: versions are exact.
fn strip_weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}
