//! Creating and changing members (SPEC §1 "Member", §2 "create members; set member
//! attributes": admins).

use std::collections::BTreeMap;

use roster_model::{
    new_id, DefaultGroup, Event, Id, Member, MemberKind, MemberState, MembershipSource, UserType,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::access::require_admin;
use crate::patch::nullable;
use crate::{validate, Ctx, OpError, Outcome, NOTHING};

const WRITE_RULE: &str = "only admins create members or set member attributes";

/// The body of `POST /members`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// `user` or `customer`.
    pub kind: MemberKind,
    /// For users: `team_member` (the default) or `agent`.
    #[serde(rename = "type", default)]
    pub user_type: Option<UserType>,
    /// Required but for agents.
    #[serde(default)]
    pub email: Option<String>,
    /// Defaults to the email address.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Customers only: the customer's account.
    #[serde(default)]
    pub account: Option<String>,
    /// Customers only; false when not given.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// Custom property values, checked against the definitions.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub properties: BTreeMap<String, Value>,
}

/// The body of `PATCH /members/{id}`: JSON Merge Patch, a property set to `null` is removed.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// A new email address (`null` only for agents).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// A new display name.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    /// `active` or `deactivated`.
    #[serde(default)]
    pub state: Option<MemberState>,
    /// Customers only.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub email_verified: Option<Option<bool>>,
    /// Customers only; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub account: Option<Option<String>>,
    /// Property writes; `null` removes a property, and `"properties": null` removes all.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Option<BTreeMap<String, Value>>>,
}

/// Creates a member. A team member joins Platform Users (and, being a user, All Users);
/// a customer joins Customers.
pub fn create(ctx: &Ctx, input: NewMember) -> Result<Outcome<Member>, OpError> {
    require_admin(ctx, WRITE_RULE)?;
    let state = ctx.state;
    let user_type = match (input.kind, input.user_type) {
        (MemberKind::User, t) => Some(t.unwrap_or(UserType::TeamMember)),
        (MemberKind::Customer, None) => None,
        (MemberKind::Customer, Some(_)) => {
            return Err(OpError::invalid("type", "`type` applies to users only"))
        }
    };
    if input.kind == MemberKind::User {
        if input.account.is_some() {
            return Err(OpError::invalid(
                "account",
                "`account` applies to customers only",
            ));
        }
        if input.email_verified.is_some() {
            return Err(OpError::invalid(
                "email_verified",
                "`email_verified` applies to customers only",
            ));
        }
    }
    let email = match input.email.as_deref() {
        Some(raw) => Some(validate::email("email", raw)?),
        None if user_type == Some(UserType::Agent) => None,
        None => {
            return Err(OpError::invalid(
                "email",
                "`email` is required (only agents may have none)",
            ))
        }
    };
    if let Some(email) = &email {
        ensure_email_free(ctx, email, None)?;
    }
    let display_name = match (input.display_name.as_deref(), &email) {
        (Some(name), _) => validate::name("display_name", name)?,
        (None, Some(email)) => email.clone(),
        (None, None) => {
            return Err(OpError::invalid(
                "display_name",
                "an agent without email needs a `display_name`",
            ))
        }
    };
    let account = match input.account.as_deref() {
        Some(raw) => Some(validate::name("account", raw)?),
        None => None,
    };
    let mut properties = BTreeMap::new();
    validate::apply_properties(state, input.kind, &mut properties, &input.properties)?;
    let member = Member {
        id: new_id(),
        kind: input.kind,
        user_type,
        email,
        display_name,
        state: MemberState::Active,
        account,
        email_verified: match input.kind {
            MemberKind::Customer => Some(input.email_verified.unwrap_or(false)),
            MemberKind::User => None,
        },
        properties,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let mut outcome = Outcome {
        events: vec![Event::MemberUpserted {
            member: member.clone(),
        }],
        audit: vec![ctx.audit(
            "member.create",
            "member",
            Some(member.id),
            NOTHING,
            Some(&member),
        )],
        value: member,
    };
    if outcome.value.user_type == Some(UserType::TeamMember) {
        let id = outcome.value.id;
        join_default(
            ctx,
            &mut outcome,
            DefaultGroup::PlatformUsers,
            id,
            MembershipSource::System,
        );
    }
    Ok(outcome)
}

/// Records a new member in a default static group, with its audit entry.
pub(crate) fn join_default<T>(
    ctx: &Ctx,
    outcome: &mut Outcome<T>,
    key: DefaultGroup,
    member_id: Id,
    source: MembershipSource,
) {
    if let Some(group) = ctx.state.default_group(key) {
        crate::groups::record_member(ctx, outcome, group, member_id, source);
    }
}

/// Refuses an email another member of the workspace already has.
fn ensure_email_free(ctx: &Ctx, email: &str, except: Option<Id>) -> Result<(), OpError> {
    match ctx.state.member_by_email(email) {
        Some(other) if Some(other.id) != except => Err(OpError::conflict(format!(
            "a member with email `{email}` already exists in this workspace"
        ))),
        _ => Ok(()),
    }
}

/// Changes a member by JSON Merge Patch.
pub fn update(ctx: &Ctx, id: Id, patch: MemberPatch) -> Result<Outcome<Member>, OpError> {
    let before = ctx
        .state
        .member(&id)
        .ok_or_else(|| OpError::not_found("member"))?;
    require_admin(ctx, WRITE_RULE)?;
    let mut member = before.clone();
    if let Some(email) = patch.email {
        member.email = match email {
            Some(raw) => {
                let email = validate::email("email", &raw)?;
                ensure_email_free(ctx, &email, Some(id))?;
                Some(email)
            }
            None if member.user_type == Some(UserType::Agent) => None,
            None => return Err(OpError::invalid("email", "only agents may have no email")),
        };
    }
    if let Some(display_name) = patch.display_name {
        let raw = display_name
            .ok_or_else(|| OpError::invalid("display_name", "`display_name` cannot be removed"))?;
        member.display_name = validate::name("display_name", &raw)?;
    }
    // Removing what a user cannot have is no change (RFC 7396); setting it is an error.
    match (patch.email_verified, member.kind) {
        (None, _) | (Some(None), MemberKind::User) => {}
        (Some(Some(_)), MemberKind::User) => {
            return Err(OpError::invalid(
                "email_verified",
                "`email_verified` applies to customers only",
            ))
        }
        (Some(None), MemberKind::Customer) => {
            return Err(OpError::invalid(
                "email_verified",
                "`email_verified` must be true or false",
            ))
        }
        (Some(Some(verified)), MemberKind::Customer) => member.email_verified = Some(verified),
    }
    match (patch.account, member.kind) {
        (None, _) | (Some(None), MemberKind::User) => {}
        (Some(Some(_)), MemberKind::User) => {
            return Err(OpError::invalid(
                "account",
                "`account` applies to customers only",
            ))
        }
        (Some(None), MemberKind::Customer) => member.account = None,
        (Some(Some(raw)), MemberKind::Customer) => {
            member.account = Some(validate::name("account", &raw)?)
        }
    }
    match &patch.properties {
        None => {}
        Some(None) => member.properties.clear(),
        Some(Some(writes)) => {
            validate::apply_properties(ctx.state, member.kind, &mut member.properties, writes)?
        }
    }
    if let Some(state) = patch.state {
        if state == MemberState::Deactivated
            && before.is_active()
            && ctx.state.is_admin(&id)
            && ctx.state.active_admin_count() <= 1
        {
            return Err(OpError::conflict(
                "the last active admin cannot be deactivated",
            ));
        }
        member.state = state;
    }
    if member == before {
        return Ok(Outcome::unchanged(member));
    }
    member.updated_at = ctx.now;
    let action = match (before.state, member.state) {
        (MemberState::Active, MemberState::Deactivated) => "member.deactivate",
        (MemberState::Deactivated, MemberState::Active) => "member.reactivate",
        _ => "member.update",
    };
    Ok(Outcome {
        events: vec![Event::MemberUpserted {
            member: member.clone(),
        }],
        audit: vec![ctx.audit(action, "member", Some(id), Some(&before), Some(&member))],
        value: member,
    })
}
