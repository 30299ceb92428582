//! Provisioned users and groups as SCIM resources: what `/scim/v2` answers with.

use roster_engine::WorkspaceState;
use roster_model::{Group, Member, ScimResource, ScimResourceType};
use roster_scim::schema::{ENTERPRISE, GROUP, ROSTER_USER, USER};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;

fn timestamp(t: roster_model::Timestamp) -> Value {
    t.format(&Rfc3339).map(Value::from).unwrap_or(Value::Null)
}

/// A user's version: it changes with every SCIM write and with every change to the
/// member (a deactivation through the Roster API shows in `active`).
pub fn user_version(resource: &ScimResource, member: &Member) -> String {
    format!(
        "W/\"{}-{}\"",
        resource.version,
        roster_model::to_micros(member.updated_at)
    )
}

/// A group's version: it changes with every SCIM write and every change to the group.
pub fn group_version(resource: &ScimResource, group: &Group) -> String {
    format!("W/\"{}-{}\"", resource.version, group.version)
}

/// A provisioned user as a SCIM resource, `groups` included: the identity provider's
/// groups it is recorded in, whether or not it is active.
pub fn user(state: &WorkspaceState, resource: &ScimResource, member: &Member, base: &str) -> Value {
    let mut out = Map::new();
    let mut schemas = vec![Value::from(USER)];
    for urn in [ENTERPRISE, ROSTER_USER] {
        if resource.attributes.contains_key(urn) {
            schemas.push(Value::from(urn));
        }
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::from(member.id.to_string()));
    if let Some(external) = &resource.external_id {
        out.insert("externalId".into(), Value::from(external.clone()));
    }
    if let Some(name) = &resource.user_name {
        out.insert("userName".into(), Value::from(name.clone()));
    }
    for (k, v) in &resource.attributes {
        out.insert(k.clone(), v.clone());
    }
    out.insert("active".into(), Value::Bool(member.is_active()));
    let groups: Vec<Value> = state
        .scim()
        .resources(ScimResourceType::Group)
        .filter(|g| state.static_membership(&g.id, &member.id).is_some())
        .filter_map(|g| state.group(&g.id))
        .map(|g| {
            json!({
                "value": g.id.to_string(),
                "$ref": format!("{base}/Groups/{}", g.id),
                "display": g.name,
                "type": "direct",
            })
        })
        .collect();
    if !groups.is_empty() {
        out.insert("groups".into(), Value::Array(groups));
    }
    let modified = resource.updated_at.max(member.updated_at);
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": timestamp(resource.created_at),
            "lastModified": timestamp(modified),
            "location": format!("{base}/Users/{}", member.id),
            "version": user_version(resource, member),
        }),
    );
    Value::Object(out)
}

/// A SCIM-managed group as a SCIM resource; `members` only when asked for (a group of
/// ten thousand members is large, and clients that look groups up exclude them).
pub fn group(
    state: &WorkspaceState,
    resource: &ScimResource,
    group: &Group,
    base: &str,
    with_members: bool,
) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([GROUP]));
    out.insert("id".into(), Value::from(group.id.to_string()));
    if let Some(external) = &resource.external_id {
        out.insert("externalId".into(), Value::from(external.clone()));
    }
    out.insert("displayName".into(), Value::from(group.name.clone()));
    if with_members {
        let members: Vec<Value> = state
            .static_memberships(&group.id)
            .map(|record| {
                let display = state.member(&record.member_id).map(|m| m.display_name);
                json!({
                    "value": record.member_id.to_string(),
                    "$ref": format!("{base}/Users/{}", record.member_id),
                    "display": display,
                    "type": "User",
                })
            })
            .collect();
        out.insert("members".into(), Value::Array(members));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": timestamp(resource.created_at),
            "lastModified": timestamp(resource.updated_at.max(group.updated_at)),
            "location": format!("{base}/Groups/{}", group.id),
            "version": group_version(resource, group),
        }),
    );
    Value::Object(out)
}
