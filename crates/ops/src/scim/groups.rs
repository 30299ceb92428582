//! Groups provisioned over SCIM: static user groups with `managed_by: "scim"`, whose
//! members are provisioned users. Roles are assigned to them in the Roster API as to any
//! group; their members are edited only here.

use std::collections::BTreeSet;

use roster_model::{
    new_id, Event, Group, Id, ManagedBy, MemberKind, Membership, MembershipSource, ScimResource,
    ScimResourceType,
};
use roster_scim::patch::{self, Operation};
use roster_scim::schema::group_resource;
use roster_scim::{ScimError, ScimType};
use serde_json::{json, Map, Value};

use super::{check_etag, invalid_value, render, require_provider, scim};
use crate::{validate, Ctx, OpError, Outcome, NOTHING};

/// Most members one request may add to or remove from a group (a `POST`, `PUT` or
/// `PATCH` of `/Groups`, or one operation of `/Bulk`). Each change is a membership
/// event, an audit entry and a change of effective membership decided and committed
/// while the workspace's writes wait; identity providers send member changes in batches
/// well below this, and a larger change is sent as several requests.
pub const MAX_MEMBER_CHANGES: usize = 1000;

/// Creates a group from a `POST /Groups` body.
pub fn create(ctx: &Ctx, body: Value) -> Result<Outcome<Id>, OpError> {
    require_provider(ctx)?;
    let resource = normalized(body)?;
    commit(ctx, None, resource)
}

/// Replaces a group (its name, `externalId` and whole member list).
pub fn replace(
    ctx: &Ctx,
    id: Id,
    body: Value,
    if_match: Option<&str>,
) -> Result<Outcome<Id>, OpError> {
    require_provider(ctx)?;
    at_version(ctx, id, if_match)?;
    let resource = normalized(body)?;
    commit(ctx, Some(id), resource)
}

/// Applies PATCH operations to a group: member additions and removals (by list or by
/// value filter), renames, `externalId`.
pub fn patch(
    ctx: &Ctx,
    id: Id,
    operations: &[Operation],
    if_match: Option<&str>,
) -> Result<Outcome<Id>, OpError> {
    require_provider(ctx)?;
    let (existing, group) = at_version(ctx, id, if_match)?;
    let mut resource = Map::new();
    resource.insert("displayName".into(), Value::from(group.name.clone()));
    if let Some(external) = &existing.external_id {
        resource.insert("externalId".into(), Value::from(external.clone()));
    }
    let members: Vec<Value> = ctx
        .state
        .static_memberships(&id)
        .map(|r| json!({"value": r.member_id.to_string()}))
        .collect();
    if !members.is_empty() {
        resource.insert("members".into(), Value::Array(members));
    }
    patch::apply(&mut resource, operations, &group_resource()).map_err(scim)?;
    commit(ctx, Some(id), resource)
}

/// Deletes a group with its roles and memberships.
pub fn delete(ctx: &Ctx, id: Id, if_match: Option<&str>) -> Result<Outcome<()>, OpError> {
    require_provider(ctx)?;
    let (_, group) = at_version(ctx, id, if_match)?;
    Ok(crate::groups::deletion(ctx, group))
}

/// A SCIM-managed group and its resource; 404 for any other group or id.
pub fn provisioned<'s>(ctx: &Ctx<'s>, id: Id) -> Result<(&'s ScimResource, &'s Group), OpError> {
    let not_found = || scim(ScimError::not_found("group"));
    let resource = ctx
        .state
        .scim()
        .resource(&id)
        .filter(|r| r.resource_type == ScimResourceType::Group)
        .ok_or_else(not_found)?;
    let group = ctx.state.group(&id).ok_or_else(not_found)?;
    Ok((resource, group))
}

/// A SCIM-managed group at the version `If-Match` names (any version without one).
fn at_version<'s>(
    ctx: &Ctx<'s>,
    id: Id,
    if_match: Option<&str>,
) -> Result<(&'s ScimResource, &'s Group), OpError> {
    let (resource, group) = provisioned(ctx, id)?;
    check_etag(&render::group_version(resource, group), if_match)?;
    Ok((resource, group))
}

fn normalized(body: Value) -> Result<Map<String, Value>, OpError> {
    let Value::Object(mut resource) = body else {
        return Err(scim(ScimError::bad(
            ScimType::InvalidSyntax,
            "a Group is a JSON object",
        )));
    };
    patch::normalize(&mut resource, &group_resource()).map_err(scim)?;
    Ok(resource)
}

/// The member ids a resource lists; each must be a provisioned user.
fn member_ids(ctx: &Ctx, resource: &Map<String, Value>) -> Result<BTreeSet<Id>, OpError> {
    let mut ids = BTreeSet::new();
    let items = resource
        .get("members")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for item in items {
        let raw = item
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_value("each of `members` needs a `value`: a user's id"))?;
        let id = Id::parse_str(raw.trim())
            .ok()
            .filter(|id| {
                ctx.state
                    .scim()
                    .resource(id)
                    .is_some_and(|r| r.resource_type == ScimResourceType::User)
            })
            .ok_or_else(|| {
                invalid_value(format!("`{raw}` in `members` is not a provisioned user"))
            })?;
        ids.insert(id);
    }
    Ok(ids)
}

fn commit(
    ctx: &Ctx,
    id: Option<Id>,
    mut resource: Map<String, Value>,
) -> Result<Outcome<Id>, OpError> {
    let name = resource
        .get("displayName")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_value("`displayName` is required"))?;
    let name = validate::name("displayName", name).map_err(|e| invalid_value(e.to_string()))?;
    if let Some(other) = ctx.state.group_by_name(&name) {
        if Some(other.id) != id {
            return Err(scim(ScimError::uniqueness(format!(
                "a group named `{name}` already exists"
            ))));
        }
    }
    let wanted = member_ids(ctx, &resource)?;
    let external_id = resource
        .remove("externalId")
        .and_then(|v| v.as_str().map(str::to_owned));
    let before = id.and_then(|id| ctx.state.group(&id));
    let mut group = before.cloned().unwrap_or_else(|| Group {
        id: new_id(),
        name: name.clone(),
        description: String::new(),
        member_kind: MemberKind::User,
        membership: Membership::Static,
        rule: None,
        owner: None,
        default_group: None,
        managed_by: ManagedBy::Scim,
        version: 1,
        created_at: ctx.now,
        updated_at: ctx.now,
    });
    group.name = name;
    let mut outcome = Outcome::unchanged(group.id);
    let group_changed = before != Some(&group);
    if group_changed {
        if before.is_some() {
            group.version += 1;
            group.updated_at = ctx.now;
        }
        outcome.audit.push(ctx.audit(
            if before.is_none() {
                "group.create"
            } else {
                "group.update"
            },
            "group",
            Some(group.id),
            before,
            Some(&group),
        ));
        outcome.events.push(Event::GroupUpserted {
            group: group.clone(),
        });
    }
    let current: BTreeSet<Id> = match before {
        Some(_) => ctx
            .state
            .static_memberships(&group.id)
            .map(|r| r.member_id)
            .collect(),
        None => BTreeSet::new(),
    };
    let changing = current.symmetric_difference(&wanted).count();
    if changing > MAX_MEMBER_CHANGES {
        return Err(scim(ScimError::bad(
            ScimType::TooMany,
            format!(
                "one request changes at most {MAX_MEMBER_CHANGES} members of a group and \
                 this one changes {changing}; send the rest in another request"
            ),
        )));
    }
    for gone in current.difference(&wanted) {
        if let Some(record) = ctx.state.static_membership(&group.id, gone) {
            outcome.audit.push(ctx.audit(
                "group.member_remove",
                "group",
                Some(group.id),
                Some(record),
                NOTHING,
            ));
        }
        outcome.events.push(Event::MembershipRemoved {
            group_id: group.id,
            member_id: *gone,
        });
    }
    for added in wanted.difference(&current) {
        crate::groups::record_member(ctx, &mut outcome, &group, *added, MembershipSource::Scim);
    }
    let previous = ctx.state.scim().resource(&group.id);
    let members_changed = current != wanted;
    if !group_changed && !members_changed && previous.is_some_and(|p| p.external_id == external_id)
    {
        return Ok(outcome);
    }
    let record = ScimResource {
        id: group.id,
        resource_type: ScimResourceType::Group,
        user_name: None,
        external_id,
        attributes: Map::new(),
        version: previous.map_or(1, |p| p.version + 1),
        created_at: previous.map_or(ctx.now, |p| p.created_at),
        updated_at: ctx.now,
        linked: None,
    };
    outcome
        .events
        .push(Event::ScimResourceUpserted { resource: record });
    Ok(outcome)
}
