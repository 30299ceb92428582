//! Export and import of a workspace as JSON lines (SPEC §5): the records a store snapshot
//! holds, one per line, and the checks an imported file must pass before anything of it
//! is written — the same invariants the API keeps, since a file may have been edited.

use std::collections::HashSet;

use roster_engine::WorkspaceState;
use roster_model::{
    Actor, DefaultGroup, Event, Group, Member, MemberKind, Membership, PropertyDef, Role,
    RoleAssignment, ScimMapping, ScimResource, ScimResourceType, StaticMembership, Timestamp,
    UserType, Workspace,
};
use serde::{Deserialize, Serialize};

use crate::{validate, Ctx, OpError, Outcome, NOTHING};

/// The version of the export format; an importer refuses versions it does not know.
/// Version 2 added the SCIM records; version 1 files import as they always did.
pub const FORMAT: u32 = 2;

/// The oldest format this version reads.
const OLDEST_FORMAT: u32 = 1;

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// The first line: the workspace and the format version.
    Workspace {
        /// [`FORMAT`] of the file.
        format: u32,
        /// The workspace.
        #[serde(flatten)]
        workspace: Workspace,
    },
    /// A property definition.
    Property(PropertyDef),
    /// A group.
    Group(Group),
    /// A member.
    Member(Member),
    /// A member's record in a static group.
    Membership(StaticMembership),
    /// A role.
    Role(Role),
    /// A role held by a group.
    Assignment(RoleAssignment),
    /// The SCIM side of a provisioned member or group.
    ScimResource(ScimResource),
    /// Which properties SCIM attributes fill, where admins changed the default.
    ScimMapping(ScimMapping),
}

/// The records of a workspace, in the order an import needs them. Tokens, API and SCIM
/// alike, are left out (they are secrets of this installation: an identity provider
/// gets a new SCIM token after an import) and so is the audit log (it is this
/// installation's history).
pub fn export(state: &WorkspaceState) -> Vec<Record> {
    let snapshot = state.snapshot();
    let mut records = Vec::new();
    if let Some(workspace) = snapshot.workspace {
        records.push(Record::Workspace {
            format: FORMAT,
            workspace,
        });
    }
    records.extend(snapshot.properties.into_iter().map(Record::Property));
    records.extend(snapshot.groups.into_iter().map(Record::Group));
    records.extend(snapshot.members.into_iter().map(Record::Member));
    records.extend(snapshot.memberships.into_iter().map(Record::Membership));
    records.extend(snapshot.roles.into_iter().map(Record::Role));
    records.extend(snapshot.assignments.into_iter().map(Record::Assignment));
    records.extend(
        snapshot
            .scim_resources
            .into_iter()
            .map(Record::ScimResource),
    );
    if !snapshot.scim_mapping.overrides.is_empty() {
        records.push(Record::ScimMapping(snapshot.scim_mapping));
    }
    records
}

/// What an import brought in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    /// Property definitions.
    pub properties: usize,
    /// Groups, the defaults included.
    pub groups: usize,
    /// Members.
    pub members: usize,
    /// Static membership records.
    pub memberships: usize,
    /// Roles.
    pub roles: usize,
    /// Role assignments.
    pub assignments: usize,
    /// SCIM resources (provisioned users and groups).
    pub scim_resources: usize,
}

fn bad(index: usize, what: &str, message: impl std::fmt::Display) -> OpError {
    OpError::Invalid {
        field: Some(format!("record {}", index + 1)),
        message: format!("record {} ({what}): {message}", index + 1),
    }
}

/// Checks an export and turns it into the events that create its workspace, all or
/// nothing. Records are numbered from 1 in errors.
pub fn import(
    records: Vec<Record>,
    actor: Actor,
    now: Timestamp,
) -> Result<Outcome<(Workspace, Imported)>, OpError> {
    let mut records = records.into_iter().enumerate();
    let workspace = match records.next() {
        Some((_, Record::Workspace { format, workspace }))
            if (OLDEST_FORMAT..=FORMAT).contains(&format) =>
        {
            workspace
        }
        Some((i, Record::Workspace { format, .. })) => {
            return Err(bad(
                i,
                "workspace",
                format!("format {format} is not one this version reads (it reads {OLDEST_FORMAT} to {FORMAT})"),
            ))
        }
        _ => {
            return Err(bad(
                0,
                "workspace",
                "an export starts with its workspace record",
            ))
        }
    };
    let (mut properties, mut groups, mut members, mut memberships) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut roles, mut assignments) = (Vec::new(), Vec::new());
    let (mut scim_resources, mut scim_mapping) = (Vec::new(), None);
    for (i, record) in records {
        match record {
            Record::Workspace { .. } => {
                return Err(bad(i, "workspace", "a file holds one workspace"))
            }
            Record::Property(p) => properties.push((i, p)),
            Record::Group(g) => groups.push((i, g)),
            Record::Member(m) => members.push((i, m)),
            Record::Membership(m) => memberships.push((i, m)),
            Record::Role(r) => roles.push((i, r)),
            Record::Assignment(a) => assignments.push((i, a)),
            Record::ScimResource(r) => scim_resources.push((i, r)),
            Record::ScimMapping(m) if scim_mapping.is_none() => scim_mapping = Some((i, m)),
            Record::ScimMapping(_) => return Err(bad(i, "SCIM mapping", "a file holds one")),
        }
    }
    let counts = Imported {
        properties: properties.len(),
        groups: groups.len(),
        members: members.len(),
        memberships: memberships.len(),
        roles: roles.len(),
        assignments: assignments.len(),
        scim_resources: scim_resources.len(),
    };
    let mut state = WorkspaceState::empty(workspace.clone(), 0);
    let mut events = vec![Event::WorkspaceCreated {
        workspace: workspace.clone(),
    }];
    let mut step = |state: &mut WorkspaceState, event: Event| {
        let revision = state.revision() + 1;
        state.apply(revision, std::slice::from_ref(&event));
        events.push(event);
    };
    for (i, property) in properties {
        validate::property_name(&property.name).map_err(|e| bad(i, "property", e))?;
        if state
            .property_named(property.applies_to, &property.name)
            .is_some()
        {
            return Err(bad(
                i,
                "property",
                format!("`{}` is defined twice", property.name),
            ));
        }
        step(&mut state, Event::PropertyUpserted { property });
    }
    let mut defaults = HashSet::new();
    for (i, group) in groups {
        validate::name("name", &group.name).map_err(|e| bad(i, "group", e))?;
        if state.group_by_name(&group.name).is_some() {
            return Err(bad(
                i,
                "group",
                format!("the name `{}` is taken twice", group.name),
            ));
        }
        match group.default_group {
            Some(key) if !defaults.insert(key) => {
                return Err(bad(i, "group", format!("`{}` appears twice", key.name())))
            }
            Some(key)
                if key.member_kind() != group.member_kind
                    || key.rule() != group.rule.as_deref() =>
            {
                return Err(bad(
                    i,
                    "group",
                    format!(
                        "`{}` does not match the default group it claims to be",
                        group.name
                    ),
                ))
            }
            _ => {}
        }
        match (group.membership, &group.rule) {
            (Membership::Dynamic, Some(text)) => {
                if let Err(errors) = roster_rules::compile(text, &state.schema(group.member_kind)) {
                    let messages: Vec<String> = errors.into_iter().map(|e| e.message).collect();
                    return Err(bad(
                        i,
                        "group",
                        format!("its rule does not check: {}", messages.join("; ")),
                    ));
                }
            }
            (Membership::Dynamic, None) => {
                return Err(bad(i, "group", "a dynamic group needs a rule"))
            }
            (Membership::Static, Some(_)) => {
                return Err(bad(i, "group", "a static group has no rule"))
            }
            (Membership::Static, None) => {}
        }
        step(&mut state, Event::GroupUpserted { group });
    }
    if let Some(missing) = DefaultGroup::ALL
        .into_iter()
        .find(|key| !defaults.contains(key))
    {
        return Err(bad(
            0,
            "workspace",
            format!("the default group `{}` is missing", missing.name()),
        ));
    }
    for (i, member) in members {
        let label = member
            .email
            .clone()
            .unwrap_or_else(|| member.display_name.clone());
        let what = format!("member {label}");
        check_member(&state, &member).map_err(|e| bad(i, &what, e))?;
        step(&mut state, Event::MemberUpserted { member });
    }
    for (i, membership) in memberships {
        let group = state
            .group(&membership.group_id)
            .ok_or_else(|| bad(i, "membership", "its group is not in the file"))?;
        let member = state
            .member(&membership.member_id)
            .ok_or_else(|| bad(i, "membership", "its member is not in the file"))?;
        if group.is_maintained() || group.membership == Membership::Dynamic {
            return Err(bad(
                i,
                "membership",
                format!("`{}` records no members: they are derived", group.name),
            ));
        }
        if member.kind != group.member_kind {
            return Err(bad(
                i,
                "membership",
                format!(
                    "a {} cannot be in the {} group `{}`",
                    member.kind.as_str(),
                    group.member_kind.as_str(),
                    group.name
                ),
            ));
        }
        if state.static_membership(&group.id, &member.id).is_some() {
            return Err(bad(i, "membership", "it appears twice"));
        }
        step(&mut state, Event::MembershipAdded { membership });
    }
    for (i, mut role) in roles {
        role.name = validate::name("name", &role.name).map_err(|e| bad(i, "role", e))?;
        if state.permissions().role_named(&role.name).is_some() {
            return Err(bad(
                i,
                "role",
                format!("the name `{}` is taken twice", role.name),
            ));
        }
        role.privileges.sort();
        role.privileges.dedup();
        step(&mut state, Event::RoleUpserted { role });
    }
    for (i, assignment) in assignments {
        if state.group(&assignment.group_id).is_none() {
            return Err(bad(i, "assignment", "its group is not in the file"));
        }
        if state.permissions().role(&assignment.role_id).is_none() {
            return Err(bad(i, "assignment", "its role is not in the file"));
        }
        if state
            .permissions()
            .is_assigned(&assignment.group_id, &assignment.role_id)
        {
            return Err(bad(i, "assignment", "it appears twice"));
        }
        step(&mut state, Event::RoleAssigned { assignment });
    }
    for (i, resource) in scim_resources {
        check_scim_resource(&state, &resource).map_err(|e| bad(i, "SCIM resource", e))?;
        step(&mut state, Event::ScimResourceUpserted { resource });
    }
    if let Some((i, mapping)) = scim_mapping {
        for (attribute, property) in &mapping.overrides {
            if let Some(property) = property {
                if state.property_named(MemberKind::User, property).is_none() {
                    return Err(bad(
                        i,
                        "SCIM mapping",
                        format!("`{attribute}` fills `{property}`, which is not a user property in the file"),
                    ));
                }
            }
        }
        step(&mut state, Event::ScimMappingSet { mapping });
    }
    for group in state.groups_after(None) {
        if let (Some(owner), Membership::Static) = (group.owner, group.membership) {
            if state.static_membership(&group.id, &owner).is_none() {
                return Err(bad(
                    0,
                    "workspace",
                    format!(
                        "the owner of `{}` is not recorded as its member",
                        group.name
                    ),
                ));
            }
        }
    }
    if state.active_admin_count() == 0 {
        return Err(bad(0, "workspace", "no active member is in Admins"));
    }
    let ctx = Ctx {
        state: &state,
        actor,
        now,
    };
    let audit = vec![ctx.audit(
        "workspace.import",
        "workspace",
        Some(workspace.id),
        NOTHING,
        Some(&counts),
    )];
    Ok(Outcome {
        value: (workspace, counts),
        events,
        audit,
    })
}

/// A SCIM resource must name a team member (users) or a SCIM-managed group (groups) of
/// the file, once, and a user's `userName` must be free.
fn check_scim_resource(state: &WorkspaceState, resource: &ScimResource) -> Result<(), String> {
    if state.scim().resource(&resource.id).is_some() {
        return Err("it appears twice".into());
    }
    match resource.resource_type {
        ScimResourceType::User => {
            let member = state
                .member(&resource.id)
                .ok_or("its member is not in the file")?;
            if member.user_type != Some(UserType::TeamMember) {
                return Err("a SCIM user is a team member".into());
            }
            let name = resource
                .user_name
                .as_deref()
                .ok_or("a SCIM user has a userName")?;
            if state.scim().user_by_name(name).is_some() {
                return Err(format!("the userName `{name}` is taken twice"));
            }
        }
        ScimResourceType::Group => {
            let group = state
                .group(&resource.id)
                .ok_or("its group is not in the file")?;
            if group.managed_by != roster_model::ManagedBy::Scim {
                return Err(format!("`{}` is not managed by SCIM", group.name));
            }
        }
    }
    Ok(())
}

fn check_member(state: &WorkspaceState, member: &Member) -> Result<(), OpError> {
    if let Some(email) = &member.email {
        validate::email("email", email)?;
        if state.member_by_email(email).is_some() {
            return Err(OpError::invalid(
                "email",
                format!("`{email}` belongs to two members"),
            ));
        }
    } else if member.user_type != Some(UserType::Agent) {
        return Err(OpError::invalid("email", "only agents may have no email"));
    }
    validate::name("display_name", &member.display_name)?;
    match member.kind {
        MemberKind::User
            if member.user_type.is_none()
                || member.account.is_some()
                || member.email_verified.is_some() =>
        {
            Err(OpError::invalid(
                "type",
                "a user has a `type` and no customer fields",
            ))
        }
        MemberKind::Customer if member.user_type.is_some() || member.email_verified.is_none() => {
            Err(OpError::invalid(
                "type",
                "a customer has `email_verified` and no `type`",
            ))
        }
        _ => Ok(()),
    }?;
    let writes = member
        .properties
        .iter()
        .map(|(name, value)| Ok((name.clone(), serde_json::to_value(value)?)))
        .collect::<Result<_, serde_json::Error>>()
        .map_err(|e| OpError::invalid("properties", e.to_string()))?;
    let mut checked = Default::default();
    validate::apply_properties(state, member.kind, &mut checked, &writes)
}

#[cfg(test)]
mod tests {
    use roster_model::{Actor, DefaultGroup};

    use super::*;

    fn workspace() -> Vec<Record> {
        let outcome =
            crate::new_workspace("W", "a@w.test", "h".into(), Actor::Cli, roster_model::now())
                .unwrap_or_else(|e| unreachable!("{e}"));
        let mut state = WorkspaceState::empty(outcome.value.workspace.clone(), 0);
        state.apply(1, &outcome.events);
        export(&state)
    }

    fn refused(records: Vec<Record>) -> String {
        match import(records, Actor::Cli, roster_model::now()) {
            Err(OpError::Invalid { message, .. }) => message,
            other => unreachable!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_fresh_workspace_round_trips() {
        let records = workspace();
        let outcome = import(records.clone(), Actor::Cli, roster_model::now())
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(outcome.value.1.groups, 8);
        assert_eq!(outcome.value.1.members, 1);
        assert_eq!(outcome.audit.len(), 1);
    }

    #[test]
    fn broken_files_are_refused_with_the_record_named() {
        let records = workspace();
        assert!(refused(records[1..].to_vec()).contains("starts with its workspace"));
        let without_admins: Vec<Record> = records
            .iter()
            .filter(
                |r| !matches!(r, Record::Group(g) if g.default_group == Some(DefaultGroup::Admins)),
            )
            .filter(|r| !matches!(r, Record::Membership(_)))
            .cloned()
            .collect();
        assert!(refused(without_admins).contains("`Admins` is missing"));
        let mut no_admin_member = records.clone();
        no_admin_member.retain(|r| !matches!(r, Record::Membership(_)));
        assert!(refused(no_admin_member).contains("no active member is in Admins"));
        let mut twice = records.clone();
        let member = records
            .iter()
            .find(|r| matches!(r, Record::Member(_)))
            .cloned();
        twice.extend(member);
        assert!(refused(twice).contains("belongs to two members"));
        let mut future = records.clone();
        if let Some(Record::Workspace { format, .. }) = future.first_mut() {
            *format = 99;
        }
        assert!(refused(future).contains("format 99"));
        // SCIM resources must name a team member or a SCIM-managed group of the file.
        let admin = records
            .iter()
            .find_map(|r| match r {
                Record::Member(m) => Some(m.clone()),
                _ => None,
            })
            .expect("the admin");
        let scim_user = |id, user_name: &str| ScimResource {
            id,
            resource_type: ScimResourceType::User,
            user_name: Some(user_name.into()),
            external_id: None,
            attributes: Default::default(),
            version: 1,
            created_at: admin.created_at,
            updated_at: admin.created_at,
            linked: None,
        };
        let mut stray = records.clone();
        stray.push(Record::ScimResource(scim_user(roster_model::new_id(), "x")));
        assert!(refused(stray).contains("its member is not in the file"));
        let mut adopted = records.clone();
        adopted.push(Record::ScimResource(scim_user(admin.id, "admin")));
        assert!(import(adopted.clone(), Actor::Cli, admin.created_at).is_ok());
        adopted.push(Record::ScimResource(scim_user(admin.id, "again")));
        assert!(refused(adopted).contains("appears twice"));
        let not_scim = records
            .iter()
            .find_map(|r| match r {
                Record::Group(g) => Some(g.id),
                _ => None,
            })
            .expect("a default group");
        let mut group = records.clone();
        group.push(Record::ScimResource(ScimResource {
            resource_type: ScimResourceType::Group,
            user_name: None,
            ..scim_user(not_scim, "")
        }));
        assert!(refused(group).contains("is not managed by SCIM"));
        let mut mapping = records;
        mapping.push(Record::ScimMapping(ScimMapping {
            overrides: [("title".to_owned(), Some("nope".to_owned()))].into(),
        }));
        assert!(refused(mapping).contains("not a user property"));
    }
}
