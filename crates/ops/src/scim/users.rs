//! Provisioned users: create, replace, PATCH and delete over SCIM.
//!
//! Every write ends in [`commit`]: from the normalised resource it derives the member's
//! email (the primary email, else the first work email, else the first, else an
//! email-shaped `userName`), display name (`displayName`, else `name.formatted`, else
//! given and family names, else `userName`), state (`active`) and mapped properties,
//! and commits the member with its resource.

use roster_model::{
    new_id, DefaultGroup, Event, Id, Member, MemberKind, MemberState, MembershipSource,
    ScimResource, ScimResourceType, UserType,
};
use roster_scim::patch::{self, Operation};
use roster_scim::{ScimError, ScimType};
use serde_json::{Map, Value};

use super::{check_etag, invalid_value, mapping, render, require_provider, scim, user_schema};
use crate::{validate, Ctx, OpError, Outcome, NOTHING};

/// Provisions a user from a `POST /Users` body. A member that already has the email and
/// is not provisioned is never taken over: the identity provider gets a uniqueness error
/// that says how an admin links it (see [`super::links`]).
pub fn create(ctx: &Ctx, body: Value) -> Result<Outcome<Id>, OpError> {
    require_provider(ctx)?;
    let resource = normalized(ctx, body)?;
    commit(ctx, None, resource)
}

/// Replaces a user with a `PUT /Users/{id}` body (read-only attributes in it ignored).
pub fn replace(
    ctx: &Ctx,
    id: Id,
    body: Value,
    if_match: Option<&str>,
) -> Result<Outcome<Id>, OpError> {
    require_provider(ctx)?;
    at_version(ctx, id, if_match)?;
    let resource = normalized(ctx, body)?;
    commit(ctx, Some(id), resource)
}

/// Applies PATCH operations to a user.
pub fn patch(
    ctx: &Ctx,
    id: Id,
    operations: &[Operation],
    if_match: Option<&str>,
) -> Result<Outcome<Id>, OpError> {
    require_provider(ctx)?;
    let (existing, member) = at_version(ctx, id, if_match)?;
    let mut resource = writable(existing, &member);
    patch::apply(&mut resource, operations, &user_schema(ctx.state)).map_err(scim)?;
    commit(ctx, Some(id), resource)
}

/// Deletes a provisioned user: the SCIM resource goes (the id answers 404 from then on),
/// the member is deactivated and leaves the identity provider's groups. The member's
/// record stays, as every member's does (SPEC §1: deactivated members keep their records).
pub fn delete(ctx: &Ctx, id: Id, if_match: Option<&str>) -> Result<Outcome<()>, OpError> {
    require_provider(ctx)?;
    let (existing, before) = at_version(ctx, id, if_match)?;
    let mut outcome = Outcome::unchanged(());
    if before.is_active() {
        guard_last_admin(ctx, &before)?;
        let mut member = before.clone();
        member.state = MemberState::Deactivated;
        member.updated_at = ctx.now;
        outcome.audit.push(ctx.audit(
            "member.deactivate",
            "member",
            Some(id),
            Some(&before),
            Some(&member),
        ));
        outcome.events.push(Event::MemberUpserted { member });
    }
    for group in ctx.state.scim().resources(ScimResourceType::Group) {
        if let Some(record) = ctx.state.static_membership(&group.id, &id) {
            outcome.audit.push(ctx.audit(
                "group.member_remove",
                "group",
                Some(group.id),
                Some(record),
                NOTHING,
            ));
            outcome.events.push(Event::MembershipRemoved {
                group_id: group.id,
                member_id: id,
            });
        }
    }
    outcome.audit.push(ctx.audit(
        "scim_user.delete",
        "member",
        Some(id),
        Some(existing),
        NOTHING,
    ));
    outcome.events.push(Event::ScimResourceDeleted { id });
    Ok(outcome)
}

/// A provisioned user and its member; 404 for anything else (a member never
/// provisioned, a group's id, another workspace's id).
pub fn provisioned<'s>(ctx: &Ctx<'s>, id: Id) -> Result<(&'s ScimResource, Member), OpError> {
    let resource = ctx
        .state
        .scim()
        .resource(&id)
        .filter(|r| r.resource_type == ScimResourceType::User)
        .ok_or_else(|| scim(ScimError::not_found("user")))?;
    let member = ctx
        .state
        .member(&id)
        .ok_or_else(|| scim(ScimError::not_found("user")))?;
    Ok((resource, member))
}

/// A provisioned user at the version `If-Match` names (any version without one).
fn at_version<'s>(
    ctx: &Ctx<'s>,
    id: Id,
    if_match: Option<&str>,
) -> Result<(&'s ScimResource, Member), OpError> {
    let (resource, member) = provisioned(ctx, id)?;
    check_etag(&render::user_version(resource, &member), if_match)?;
    guard_unlinked_admin(ctx, resource, &member)?;
    Ok((resource, member))
}

/// Refuses a SCIM write to an admin that no admin linked to the identity provider: a
/// SCIM token must not be able to rename, re-address, deactivate or reactivate an
/// account holding every privilege on its own. A deactivated admin counts: it is still
/// recorded in Admins, and reactivating it would hand its old credentials every
/// privilege again.
fn guard_unlinked_admin(
    ctx: &Ctx,
    resource: &ScimResource,
    member: &Member,
) -> Result<(), OpError> {
    if resource.linked.is_none()
        && (ctx.state.is_admin(&member.id) || ctx.state.is_recorded_admin(&member.id))
    {
        return Err(scim(ScimError::status(403, format!(
            "user {} is an admin of the workspace; the identity provider may change it only after an admin links it with POST /api/v1/scim/links {{\"member_id\": \"{}\"}}",
            member.id, member.id
        ))));
    }
    Ok(())
}

/// The resource as a client could write it back: stored attributes, `userName`,
/// `externalId` and `active`.
pub fn writable(resource: &ScimResource, member: &Member) -> Map<String, Value> {
    let mut out = resource.attributes.clone();
    if let Some(name) = &resource.user_name {
        out.insert("userName".into(), Value::from(name.clone()));
    }
    if let Some(external) = &resource.external_id {
        out.insert("externalId".into(), Value::from(external.clone()));
    }
    out.insert("active".into(), Value::Bool(member.is_active()));
    out
}

fn normalized(ctx: &Ctx, body: Value) -> Result<Map<String, Value>, OpError> {
    let Value::Object(mut resource) = body else {
        return Err(scim(ScimError::bad(
            ScimType::InvalidSyntax,
            "a User is a JSON object",
        )));
    };
    patch::normalize(&mut resource, &user_schema(ctx.state)).map_err(scim)?;
    Ok(resource)
}

fn text<'r>(resource: &'r Map<String, Value>, key: &str) -> Option<&'r str> {
    resource
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The member's email: the primary email, else the first work email, else the first,
/// else the `userName` when it is an address.
fn email_of(resource: &Map<String, Value>, user_name: &str) -> Result<String, OpError> {
    let emails: Vec<&Map<String, Value>> = resource
        .get("emails")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let value = |e: &&Map<String, Value>| e.get("value").and_then(Value::as_str).map(str::to_owned);
    let chosen = emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .and_then(value)
        .or_else(|| {
            emails
                .iter()
                .find(|e| {
                    e.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case("work"))
                })
                .and_then(value)
        })
        .or_else(|| emails.first().and_then(value));
    match chosen {
        Some(email) => {
            validate::email("emails", &email).map_err(|e| invalid_value(format!("`emails`: {e}")))
        }
        None => validate::email("userName", user_name).map_err(|_| {
            invalid_value(
                "a user needs an email: send `emails`, or a `userName` that is an email address",
            )
        }),
    }
}

fn display_name_of(resource: &Map<String, Value>, user_name: &str) -> String {
    if let Some(name) = text(resource, "displayName") {
        return name.to_owned();
    }
    let name = resource.get("name").and_then(Value::as_object);
    let part = |key: &str| {
        name.and_then(|n| n.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    if let Some(formatted) = part("formatted") {
        return formatted.to_owned();
    }
    let joined: Vec<&str> = [part("givenName"), part("familyName")]
        .into_iter()
        .flatten()
        .collect();
    if joined.is_empty() {
        user_name.to_owned()
    } else {
        joined.join(" ")
    }
}

fn guard_last_admin(ctx: &Ctx, member: &Member) -> Result<(), OpError> {
    if member.is_active() && ctx.state.is_admin(&member.id) && ctx.state.active_admin_count() <= 1 {
        return Err(OpError::Conflict(
            "the last active admin cannot be deactivated".into(),
        ));
    }
    Ok(())
}

/// What the audit log keeps of a SCIM resource: who it is to the identity provider.
/// What it means to Roster (email, name, state, properties) is in the member's entry.
fn summary(resource: &ScimResource) -> Value {
    serde_json::json!({
        "userName": resource.user_name,
        "externalId": resource.external_id,
        "version": resource.version,
    })
}

/// Derives the member from a normalised resource and commits both. `id` is the user
/// being written, `None` for a new one.
fn commit(
    ctx: &Ctx,
    id: Option<Id>,
    mut resource: Map<String, Value>,
) -> Result<Outcome<Id>, OpError> {
    let user_name = text(&resource, "userName")
        .map(str::to_owned)
        .ok_or_else(|| invalid_value("`userName` is required"))?;
    if let Some(other) = ctx.state.scim().user_by_name(&user_name) {
        if Some(other.id) != id {
            return Err(scim(ScimError::uniqueness(format!(
                "userName `{user_name}` is already taken"
            ))));
        }
    }
    let email = email_of(&resource, &user_name)?;
    let display_name = display_name_of(&resource, &user_name);
    // The refusal names the attribute the name came from: `userName` when nothing else
    // gave one.
    let source = if display_name == user_name && text(&resource, "displayName").is_none() {
        "userName"
    } else {
        "displayName"
    };
    let display_name =
        validate::name(source, &display_name).map_err(|e| invalid_value(e.to_string()))?;
    let active = resource
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let writes = mapping::property_writes(ctx.state, &resource)?;
    // Who the resource is: the user being written, or nobody yet. A member that holds
    // the email and is not provisioned is never taken over by email: whoever holds a SCIM
    // token could otherwise claim any account, admins included, and re-address it.
    let holder = ctx.state.member_by_email(&email);
    let before = match (id, holder) {
        (Some(id), Some(other)) if other.id != id => {
            return Err(scim(ScimError::uniqueness(format!(
                "another member already has the email `{email}`"
            ))))
        }
        (Some(id), _) => ctx.state.member(&id),
        (None, Some(other)) => {
            let unprovisioned = ctx.state.scim().resource(&other.id).is_none()
                && other.kind == MemberKind::User
                && other.user_type == Some(UserType::TeamMember);
            return Err(scim(ScimError::uniqueness(if unprovisioned {
                format!(
                    "a member with the email `{email}` already exists in Roster and is not provisioned; an admin links it to this identity provider with POST /api/v1/scim/links {{\"member_id\": \"{}\", \"user_name\": \"{user_name}\"}}, then it is found by userName",
                    other.id
                )
            } else {
                format!("another member already has the email `{email}`")
            })));
        }
        (None, None) => None,
    };
    let mut member = before.clone().unwrap_or_else(|| Member {
        id: new_id(),
        kind: MemberKind::User,
        user_type: Some(UserType::TeamMember),
        email: None,
        display_name: String::new(),
        state: MemberState::Active,
        account: None,
        email_verified: None,
        properties: Default::default(),
        created_at: ctx.now,
        updated_at: ctx.now,
    });
    member.email = Some(email);
    member.display_name = display_name;
    member.state = if active {
        MemberState::Active
    } else {
        MemberState::Deactivated
    };
    crate::validate::apply_properties(ctx.state, MemberKind::User, &mut member.properties, &writes)
        .map_err(|e| invalid_value(e.to_string()))?;
    if !active {
        if let Some(before) = &before {
            guard_last_admin(ctx, before)?;
        }
    }

    let external_id = resource
        .remove("externalId")
        .and_then(|v| v.as_str().map(str::to_owned));
    resource.remove("userName");
    resource.remove("active");
    let previous = ctx.state.scim().resource(&member.id);
    let record = ScimResource {
        id: member.id,
        resource_type: ScimResourceType::User,
        user_name: Some(user_name),
        external_id,
        attributes: resource,
        version: previous.map_or(1, |p| p.version + 1),
        created_at: previous.map_or(ctx.now, |p| p.created_at),
        updated_at: ctx.now,
        linked: previous.and_then(|p| p.linked.clone()),
    };
    let mut outcome = Outcome::unchanged(member.id);
    let member_changed = before.as_ref() != Some(&member);
    let record_changed = previous.is_none_or(|p| {
        (&p.user_name, &p.external_id, &p.attributes)
            != (&record.user_name, &record.external_id, &record.attributes)
    });
    if !member_changed && !record_changed {
        return Ok(outcome);
    }
    if member_changed {
        member.updated_at = ctx.now;
        let action = match (before.as_ref().map(|b| b.state), member.state) {
            (None, _) => "member.create",
            (Some(MemberState::Active), MemberState::Deactivated) => "member.deactivate",
            (Some(MemberState::Deactivated), MemberState::Active) => "member.reactivate",
            _ => "member.update",
        };
        outcome.audit.push(ctx.audit(
            action,
            "member",
            Some(member.id),
            before.as_ref(),
            Some(&member),
        ));
        if let Some(old) = before.as_ref().filter(|b| b.email != member.email) {
            // Said on its own, so that a re-addressed account is easy to find in the log.
            outcome.audit.push(ctx.audit(
                "member.email_change",
                "member",
                Some(member.id),
                Some(&serde_json::json!({"email": old.email})),
                Some(&serde_json::json!({"email": member.email})),
            ));
        }
        outcome.events.push(Event::MemberUpserted {
            member: member.clone(),
        });
    }
    outcome.audit.push(ctx.audit(
        if previous.is_none() {
            "scim_user.create"
        } else {
            "scim_user.update"
        },
        "member",
        Some(member.id),
        previous.map(summary).as_ref(),
        Some(&summary(&record)),
    ));
    outcome
        .events
        .push(Event::ScimResourceUpserted { resource: record });
    if before.is_none() {
        crate::members::join_default(
            ctx,
            &mut outcome,
            DefaultGroup::PlatformUsers,
            member.id,
            MembershipSource::System,
        );
    }
    Ok(outcome)
}
