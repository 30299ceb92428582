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

/// What rendering a user reads from the engine, copied out under the engine's lock so
/// that a list renders (and filters) its resources after releasing it.
#[derive(Debug, Clone)]
pub struct UserParts {
    resource: ScimResource,
    member: Member,
    /// The identity provider's groups the user is recorded in: id and name.
    groups: Vec<(roster_model::Id, String)>,
}

/// Copies what [`user_of`] needs: a few lookups per SCIM group of the workspace.
pub fn user_parts(state: &WorkspaceState, resource: &ScimResource, member: Member) -> UserParts {
    let groups = state
        .scim()
        .resources(ScimResourceType::Group)
        .filter(|g| state.static_membership(&g.id, &member.id).is_some())
        .filter_map(|g| state.group(&g.id))
        .map(|g| (g.id, g.name.clone()))
        .collect();
    UserParts {
        resource: resource.clone(),
        member,
        groups,
    }
}

/// A provisioned user as a SCIM resource, `groups` included: the identity provider's
/// groups it is recorded in, whether or not it is active.
pub fn user(state: &WorkspaceState, resource: &ScimResource, member: &Member, base: &str) -> Value {
    user_of(&user_parts(state, resource, member.clone()), base)
}

/// A user rendered from parts copied out of the engine (see [`UserParts`]).
pub fn user_of(parts: &UserParts, base: &str) -> Value {
    let UserParts {
        resource,
        member,
        groups,
    } = parts;
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
    let groups: Vec<Value> = groups
        .iter()
        .map(|(id, name)| {
            json!({
                "value": id.to_string(),
                "$ref": format!("{base}/Groups/{id}"),
                "display": name,
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

/// What rendering a group reads from the engine, copied out under the engine's lock
/// (see [`UserParts`]).
#[derive(Debug, Clone)]
pub struct GroupParts {
    resource: ScimResource,
    group: Group,
    /// Its recorded members, id and display name, when they are to be shown.
    members: Option<Vec<(roster_model::Id, Option<String>)>>,
}

impl GroupParts {
    /// How many members will be rendered: what rendering the group costs.
    pub fn member_count(&self) -> usize {
        self.members.as_ref().map_or(0, Vec::len)
    }
}

/// Copies what [`group_of`] needs; the members only when they are to be shown.
pub fn group_parts(
    state: &WorkspaceState,
    resource: &ScimResource,
    group: &Group,
    with_members: bool,
) -> GroupParts {
    let members = with_members.then(|| {
        state
            .static_memberships(&group.id)
            .map(|record| {
                let display = state.member(&record.member_id).map(|m| m.display_name);
                (record.member_id, display)
            })
            .collect()
    });
    GroupParts {
        resource: resource.clone(),
        group: group.clone(),
        members,
    }
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
    group_of(&group_parts(state, resource, group, with_members), base)
}

/// A group rendered from parts copied out of the engine (see [`GroupParts`]).
pub fn group_of(parts: &GroupParts, base: &str) -> Value {
    let GroupParts {
        resource,
        group,
        members,
    } = parts;
    let mut out = Map::new();
    out.insert("schemas".into(), json!([GROUP]));
    out.insert("id".into(), Value::from(group.id.to_string()));
    if let Some(external) = &resource.external_id {
        out.insert("externalId".into(), Value::from(external.clone()));
    }
    out.insert("displayName".into(), Value::from(group.name.clone()));
    if let Some(members) = members {
        let members: Vec<Value> = members
            .iter()
            .map(|(id, display)| {
                json!({
                    "value": id.to_string(),
                    "$ref": format!("{base}/Users/{id}"),
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
