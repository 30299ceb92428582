//! The privileges the engine keeps incrementally equal a straightforward model (loop
//! over groups and roles: active, and in Admins or in a group holding a role that grants
//! it) after random sequences of member, membership, rule, role and assignment changes;
//! the predicted change log of role assignments equals the difference each write makes;
//! and a rebuild from the snapshot agrees.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeSet;

use common::{member, rule, schema};
use proptest::prelude::*;
use roster_engine::WorkspaceState;
use roster_model::{
    ChangeKind, DefaultGroup, Event, Grant, GrantMask, Group, Id, Member, MemberKind, MemberState,
    Membership, MembershipSource, PropertyDef, PropertyType, PropertyValue, Role, RoleAssignment,
    StaticMembership, Workspace,
};
use roster_rules::{check, Expr, Value};

const MEMBERS: usize = 10;
/// Custom groups; two more follow them: Admins and All Users.
const GROUPS: usize = 4;
const ADMINS: usize = GROUPS;
const ALL_USERS: usize = GROUPS + 1;
const ROLES: usize = 3;

#[derive(Debug, Clone)]
enum Step {
    Upsert(usize, Vec<(&'static str, Option<Value>)>),
    SetState(usize, bool),
    SetRule(usize, Expr),
    MakeStatic(usize),
    DeleteGroup(usize),
    Record(usize, usize, bool),
    SetRole(usize, GrantMask),
    DeleteRole(usize),
    Assign(usize, usize, bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..MEMBERS, member()).prop_map(|(m, a)| Step::Upsert(m, a)),
        2 => (0..MEMBERS, any::<bool>()).prop_map(|(m, a)| Step::SetState(m, a)),
        2 => (0..GROUPS, rule()).prop_map(|(g, r)| Step::SetRule(g, r)),
        1 => (0..GROUPS).prop_map(Step::MakeStatic),
        1 => (0..GROUPS).prop_map(Step::DeleteGroup),
        3 => (0..=ADMINS, 0..MEMBERS, any::<bool>()).prop_map(|(g, m, add)| Step::Record(g, m, add)),
        2 => (0..ROLES, any::<u16>()).prop_map(|(r, mask)| Step::SetRole(r, mask)),
        1 => (0..ROLES).prop_map(Step::DeleteRole),
        4 => (0..=ALL_USERS, 0..ROLES, any::<bool>()).prop_map(|(g, r, on)| Step::Assign(g, r, on)),
    ]
}

fn at() -> roster_model::Timestamp {
    roster_model::from_micros(0)
}

struct World {
    state: WorkspaceState,
    revision: i64,
    members: Vec<Id>,
    groups: Vec<Id>,
    roles: Vec<Id>,
}

impl World {
    fn new() -> Self {
        let workspace = Workspace {
            id: roster_model::new_id(),
            name: "w".into(),
            created_at: at(),
        };
        let mut world = World {
            state: WorkspaceState::empty(workspace, 0),
            revision: 0,
            members: (0..MEMBERS).map(|_| roster_model::new_id()).collect(),
            groups: (0..=ALL_USERS).map(|_| roster_model::new_id()).collect(),
            roles: (0..ROLES).map(|_| roster_model::new_id()).collect(),
        };
        let mut events: Vec<Event> = [
            ("dept", PropertyType::Text),
            ("level", PropertyType::Number),
            ("flag", PropertyType::Boolean),
        ]
        .into_iter()
        .map(|(name, value_type)| Event::PropertyUpserted {
            property: PropertyDef {
                id: roster_model::new_id(),
                name: name.into(),
                applies_to: MemberKind::User,
                value_type,
                description: String::new(),
                created_at: at(),
            },
        })
        .collect();
        for (which, key) in [
            (ADMINS, DefaultGroup::Admins),
            (ALL_USERS, DefaultGroup::AllUsers),
        ] {
            let mut group = world.group(which, None);
            group.default_group = Some(key);
            group.name = key.name().into();
            events.push(Event::GroupUpserted { group });
        }
        world.write(&events).unwrap();
        world
    }

    fn member(&self, which: usize) -> Member {
        let id = self.members[which];
        self.state
            .member(&id)
            .unwrap_or_else(|| common::new_user(id, which))
    }

    fn group(&self, which: usize, rule: Option<String>) -> Group {
        common::user_group(self.groups[which], which, rule)
    }

    fn role(&self, which: usize, mask: GrantMask) -> Role {
        Role {
            id: self.roles[which],
            name: format!("r{which}"),
            description: String::new(),
            privileges: Grant::of_mask(mask).collect(),
            default: false,
            version: 1,
            created_at: at(),
            updated_at: at(),
        }
    }

    fn assignments(&self) -> BTreeSet<(Id, Id)> {
        self.state
            .permissions()
            .assignments()
            .map(|a| (a.group_id, a.role_id))
            .collect()
    }

    fn write(&mut self, events: &[Event]) -> Result<(), TestCaseError> {
        let predicted: BTreeSet<(Id, Id, ChangeKind)> = self
            .state
            .role_changes(events)
            .into_iter()
            .map(|c| (c.group_id, c.role_id, c.change))
            .collect();
        let before = self.assignments();
        self.revision += 1;
        self.state.apply(self.revision, events);
        let after = self.assignments();
        let actual =
            common::difference(&before, &after, (ChangeKind::Assigned, ChangeKind::Revoked));
        prop_assert_eq!(predicted, actual, "predicted role changes");
        check_model(&self.state)
    }
}

/// The model: loop over every member, grant, group and role.
fn check_model(state: &WorkspaceState) -> Result<(), TestCaseError> {
    let permissions = state.permissions();
    let admins = state.default_group(DefaultGroup::Admins);
    for grant in Grant::all() {
        let mut expected = BTreeSet::new();
        for member in state.members_after(None) {
            let in_admins = admins.is_some_and(|g| state.is_effective_member(g, &member.id));
            let through_role = state.groups_after(None).any(|group| {
                state.is_effective_member(group, &member.id)
                    && permissions.assignments_of(&group.id).any(|a| {
                        permissions
                            .role(&a.role_id)
                            .is_some_and(|r| r.privileges.contains(&grant))
                    })
            });
            let allowed = member.is_active() && (in_admins || through_role);
            prop_assert_eq!(
                state.allows(&member.id, grant),
                allowed,
                "{:?} for {}",
                grant,
                member.display_name
            );
            if allowed {
                expected.insert(member.id);
            }
        }
        let holders: BTreeSet<Id> = state.ids_of(&permissions.holders(grant)).collect();
        prop_assert_eq!(holders, expected, "holders of {:?}", grant);
    }
    Ok(())
}

fn to_property(value: &Value) -> PropertyValue {
    match value {
        Value::Text(t) => PropertyValue::Text(t.clone()),
        Value::Number(n) => PropertyValue::Number(*n),
        Value::Bool(b) => PropertyValue::Boolean(*b),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn kept_privileges_equal_the_model(steps in proptest::collection::vec(step(), 1..40)) {
        let mut world = World::new();
        for step in steps {
            let events = match step {
                Step::Upsert(at, attributes) => {
                    let mut member = world.member(at);
                    for (name, value) in attributes {
                        match value {
                            Some(v) => member.properties.insert(name.to_owned(), to_property(&v)),
                            None => member.properties.remove(name),
                        };
                    }
                    vec![Event::MemberUpserted { member }]
                }
                Step::SetState(at, active) => {
                    let mut member = world.member(at);
                    member.state = if active { MemberState::Active } else { MemberState::Deactivated };
                    vec![Event::MemberUpserted { member }]
                }
                Step::SetRule(at, tree) => {
                    check(&tree, &schema()).map_err(|e| TestCaseError::fail(format!("{tree}: {e:?}")))?;
                    vec![Event::GroupUpserted { group: world.group(at, Some(tree.to_string())) }]
                }
                Step::MakeStatic(at) => vec![Event::GroupUpserted { group: world.group(at, None) }],
                Step::DeleteGroup(at) => {
                    // As the operations do: the group's roles are revoked first.
                    let group_id = world.groups[at];
                    let mut events: Vec<Event> = world
                        .state
                        .permissions()
                        .assignments_of(&group_id)
                        .map(|a| Event::RoleRevoked { group_id, role_id: a.role_id })
                        .collect();
                    events.push(Event::GroupDeleted { id: group_id });
                    events
                }
                Step::Record(group, member, add) => {
                    let group_id = world.groups[group];
                    let member_id = world.members[member];
                    let hand_kept = world.state.group(&group_id).is_some_and(|g| g.membership == Membership::Static);
                    if !hand_kept || !world.state.has_member(&member_id) {
                        continue;
                    }
                    if add {
                        vec![Event::MembershipAdded { membership: StaticMembership {
                            group_id, member_id, source: MembershipSource::Manual, added_by: None, added_at: at(),
                        } }]
                    } else {
                        vec![Event::MembershipRemoved { group_id, member_id }]
                    }
                }
                Step::SetRole(which, mask) => vec![Event::RoleUpserted { role: world.role(which, mask) }],
                Step::DeleteRole(which) => {
                    let role_id = world.roles[which];
                    if world.state.permissions().role(&role_id).is_none() {
                        continue;
                    }
                    let mut events: Vec<Event> = world
                        .state
                        .permissions()
                        .groups_of_role(&role_id)
                        .map(|group_id| Event::RoleRevoked { group_id: *group_id, role_id })
                        .collect();
                    events.push(Event::RoleDeleted { id: role_id });
                    events
                }
                Step::Assign(group, role, on) => {
                    let group_id = world.groups[group];
                    let role_id = world.roles[role];
                    if world.state.group(&group_id).is_none() || world.state.permissions().role(&role_id).is_none() {
                        continue;
                    }
                    if on {
                        vec![Event::RoleAssigned { assignment: RoleAssignment {
                            group_id, role_id, assigned_by: None, assigned_at: at(),
                        } }]
                    } else {
                        vec![Event::RoleRevoked { group_id, role_id }]
                    }
                }
            };
            world.write(&events)?;
        }
        let rebuilt = WorkspaceState::from_snapshot(world.state.snapshot()).unwrap();
        check_model(&rebuilt)?;
        for grant in Grant::all() {
            // Slots differ between the two; ids do not.
            let rebuilt_ids: BTreeSet<Id> = rebuilt.ids_of(&rebuilt.permissions().holders(grant)).collect();
            let kept_ids: BTreeSet<Id> = world.state.ids_of(&world.state.permissions().holders(grant)).collect();
            prop_assert_eq!(rebuilt_ids, kept_ids, "rebuilt holders of {:?}", grant);
        }
    }
}
