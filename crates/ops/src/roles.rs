//! Roles and their assignment to groups (SPEC §1 "Roles and privileges", §2): admins
//! create, edit and delete roles and assign them to any group, default, dynamic or
//! SCIM-managed alike.

use roster_model::{
    new_id, Category, Event, Grant, Id, Privilege, Role, RoleAssignment, Timestamp,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::access::require_admin;
use crate::{validate, Ctx, OpError, Outcome, NOTHING};

const MANAGE_RULE: &str = "only admins create, edit and delete roles";
const ASSIGN_RULE: &str = "only admins assign and revoke roles";

/// The body of `POST /roles`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// Unique per workspace, case-insensitively.
    pub name: String,
    /// What the role is for.
    #[serde(default)]
    pub description: String,
    /// What it grants; order and repeats do not matter.
    #[serde(default)]
    pub privileges: Vec<Grant>,
}

/// The body of `PATCH /roles/{id}`: the fields to change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePatch {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// The whole new set of privileges.
    #[serde(default)]
    pub privileges: Option<Vec<Grant>>,
}

/// At most this many privileges in a request: every grant is 16, so more is a mistake.
const MAX_PRIVILEGES: usize = 64;

fn privileges(list: Vec<Grant>) -> Result<Vec<Grant>, OpError> {
    if list.len() > MAX_PRIVILEGES {
        return Err(OpError::invalid(
            "privileges",
            format!("at most {MAX_PRIVILEGES} privileges"),
        ));
    }
    let mut list = list;
    list.sort();
    list.dedup();
    Ok(list)
}

fn unique_name(ctx: &Ctx, name: &str, except: Option<Id>) -> Result<(), OpError> {
    match ctx.state.permissions().role_named(name) {
        Some(other) if Some(other.id) != except => Err(OpError::conflict(format!(
            "a role named \"{}\" already exists",
            other.name
        ))),
        _ => Ok(()),
    }
}

/// The roles every new workspace starts with: read-only over everything, full access to
/// everything, and full access per category.
pub fn default_roles(now: Timestamp) -> Vec<Role> {
    let role = |name: &str, description: &str, privileges: Vec<Grant>| Role {
        id: new_id(),
        name: name.to_owned(),
        description: description.to_owned(),
        privileges,
        default: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let mut roles = vec![
        role(
            "Read only",
            "Read every kind of object",
            Grant::all()
                .filter(|g| g.privilege == Privilege::Read)
                .collect(),
        ),
        role(
            "Full access",
            "Create, read, update and delete every kind of object",
            Grant::all().collect(),
        ),
    ];
    for category in Category::ALL {
        roles.push(role(
            &format!("{} full access", category.title()),
            &format!(
                "Create, read, update and delete the objects of the {} category",
                category.title()
            ),
            Grant::all()
                .filter(|g| g.object_type.category() == category)
                .collect(),
        ));
    }
    roles
}

/// Creates a role (admins).
pub fn create(ctx: &Ctx, input: NewRole) -> Result<Outcome<Role>, OpError> {
    require_admin(ctx, MANAGE_RULE)?;
    let name = validate::name("name", &input.name)?;
    unique_name(ctx, &name, None)?;
    let role = Role {
        id: new_id(),
        name,
        description: validate::description(&input.description)?,
        privileges: privileges(input.privileges)?,
        default: false,
        version: 1,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    Ok(Outcome {
        audit: vec![ctx.audit("role.create", "role", Some(role.id), NOTHING, Some(&role))],
        events: vec![Event::RoleUpserted { role: role.clone() }],
        value: role,
    })
}

fn find(ctx: &Ctx, id: Id) -> Result<Role, OpError> {
    ctx.state
        .permissions()
        .role(&id)
        .cloned()
        .ok_or_else(|| OpError::not_found("role"))
}

fn check_version(role: &Role, expected: Option<i64>) -> Result<(), OpError> {
    validate::version("role", role.version, expected)
}

/// Renames, describes or re-grants a role (admins); every group holding it grants the
/// new set at once.
pub fn update(
    ctx: &Ctx,
    id: Id,
    patch: RolePatch,
    expected_version: Option<i64>,
) -> Result<Outcome<Role>, OpError> {
    require_admin(ctx, MANAGE_RULE)?;
    let before = find(ctx, id)?;
    check_version(&before, expected_version)?;
    let mut role = before.clone();
    if let Some(name) = patch.name {
        let name = validate::name("name", &name)?;
        unique_name(ctx, &name, Some(id))?;
        role.name = name;
    }
    if let Some(description) = patch.description {
        role.description = validate::description(&description)?;
    }
    if let Some(list) = patch.privileges {
        role.privileges = privileges(list)?;
    }
    if role == before {
        return Ok(Outcome::unchanged(role));
    }
    role.version += 1;
    role.updated_at = ctx.now;
    Ok(Outcome {
        audit: vec![ctx.audit("role.update", "role", Some(id), Some(&before), Some(&role))],
        events: vec![Event::RoleUpserted { role: role.clone() }],
        value: role,
    })
}

/// Deletes a role (admins), revoking it from every group that holds it first, each
/// revocation in the audit and change logs.
pub fn delete(ctx: &Ctx, id: Id, expected_version: Option<i64>) -> Result<Outcome<()>, OpError> {
    require_admin(ctx, MANAGE_RULE)?;
    let role = find(ctx, id)?;
    check_version(&role, expected_version)?;
    let mut outcome = Outcome::unchanged(());
    let groups: Vec<Id> = ctx
        .state
        .permissions()
        .groups_of_role(&id)
        .copied()
        .collect();
    for group_id in groups {
        revoke_into(ctx, &mut outcome, group_id, id);
    }
    outcome
        .audit
        .push(ctx.audit("role.delete", "role", Some(id), Some(&role), NOTHING));
    outcome.events.push(Event::RoleDeleted { id });
    Ok(outcome)
}

fn revoke_into(ctx: &Ctx, outcome: &mut Outcome<()>, group_id: Id, role_id: Id) {
    let record = ctx
        .state
        .permissions()
        .assignments_of(&group_id)
        .find(|a| a.role_id == role_id)
        .cloned();
    outcome.audit.push(ctx.audit(
        "role.revoke",
        "group",
        Some(group_id),
        record.as_ref(),
        NOTHING,
    ));
    outcome
        .events
        .push(Event::RoleRevoked { group_id, role_id });
}

/// The revocations that deleting a group makes: its roles go with it.
pub(crate) fn revoke_all_of_group(ctx: &Ctx, outcome: &mut Outcome<()>, group_id: Id) {
    let roles: Vec<Id> = ctx
        .state
        .permissions()
        .assignments_of(&group_id)
        .map(|a| a.role_id)
        .collect();
    for role_id in roles {
        revoke_into(ctx, outcome, group_id, role_id);
    }
}

/// Gives a group a role (admins). Returns the assignment and whether it is new: giving
/// a role the group holds already changes nothing.
pub fn assign(
    ctx: &Ctx,
    group_id: Id,
    role_id: Id,
) -> Result<Outcome<(RoleAssignment, bool)>, OpError> {
    require_admin(ctx, ASSIGN_RULE)?;
    if ctx.state.group(&group_id).is_none() {
        return Err(OpError::not_found("group"));
    }
    find(ctx, role_id)?;
    if let Some(existing) = ctx
        .state
        .permissions()
        .assignments_of(&group_id)
        .find(|a| a.role_id == role_id)
    {
        return Ok(Outcome::unchanged((existing.clone(), false)));
    }
    let assignment = RoleAssignment {
        group_id,
        role_id,
        assigned_by: ctx.actor.member_id(),
        assigned_at: ctx.now,
    };
    Ok(Outcome {
        audit: vec![ctx.audit(
            "role.assign",
            "group",
            Some(group_id),
            NOTHING,
            Some(&assignment),
        )],
        events: vec![Event::RoleAssigned {
            assignment: assignment.clone(),
        }],
        value: (assignment, true),
    })
}

/// Takes a role from a group (admins); 404 when the group does not hold it.
pub fn revoke(ctx: &Ctx, group_id: Id, role_id: Id) -> Result<Outcome<()>, OpError> {
    require_admin(ctx, ASSIGN_RULE)?;
    if ctx.state.group(&group_id).is_none() {
        return Err(OpError::not_found("group"));
    }
    find(ctx, role_id)?;
    if !ctx.state.permissions().is_assigned(&group_id, &role_id) {
        return Err(OpError::NotFound(
            "the group does not hold that role".into(),
        ));
    }
    let mut outcome = Outcome::unchanged(());
    revoke_into(ctx, &mut outcome, group_id, role_id);
    Ok(outcome)
}
