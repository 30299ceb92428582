//! The incrementally kept dynamic memberships equal a full recomputation after random
//! sequences of member creations, attribute changes, deactivations, rule changes,
//! conversions and deletions; and the change log predicted before each write equals the
//! difference the write makes.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeSet;

use common::{member, rule, schema};
use proptest::prelude::*;
use roster_engine::{dynamic, Loader, WorkspaceState};
use roster_model::{
    ChangeKind, Event, Group, Id, Member, MemberKind, MemberState, PropertyDef, PropertyType,
    PropertyValue, Workspace,
};
use roster_rules::{check, Expr, Value};

const MEMBERS: usize = 12;
const GROUPS: usize = 4;

#[derive(Debug, Clone)]
enum Step {
    Upsert(usize, Vec<(&'static str, Option<Value>)>),
    SetState(usize, bool),
    SetRule(usize, Expr),
    MakeStatic(usize),
    Delete(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..MEMBERS, member()).prop_map(|(m, a)| Step::Upsert(m, a)),
        2 => (0..MEMBERS, any::<bool>()).prop_map(|(m, a)| Step::SetState(m, a)),
        2 => (0..GROUPS, rule()).prop_map(|(g, r)| Step::SetRule(g, r)),
        1 => (0..GROUPS).prop_map(Step::MakeStatic),
        1 => (0..GROUPS).prop_map(Step::Delete),
    ]
}

struct World {
    state: WorkspaceState,
    revision: i64,
    members: Vec<Id>,
    groups: Vec<Id>,
}

fn at() -> roster_model::Timestamp {
    roster_model::from_micros(0)
}

fn to_property(value: &Value) -> PropertyValue {
    match value {
        Value::Text(t) => PropertyValue::Text(t.clone()),
        Value::Number(n) => PropertyValue::Number(*n),
        Value::Bool(b) => PropertyValue::Boolean(*b),
    }
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
            groups: (0..GROUPS).map(|_| roster_model::new_id()).collect(),
        };
        let properties = [
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
        .collect::<Vec<_>>();
        world.write(&properties).unwrap();
        world
    }

    fn memberships(&self) -> BTreeSet<(Id, Id)> {
        self.state
            .groups_after(None)
            .flat_map(|g| {
                self.state
                    .ids_of(&self.state.effective_members(g))
                    .map(|m| (g.id, m))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn write(&mut self, events: &[Event]) -> Result<(), TestCaseError> {
        let predicted: BTreeSet<(Id, Id, ChangeKind)> = self
            .state
            .membership_changes(events)
            .into_iter()
            .map(|c| (c.group_id, c.member_id, c.change))
            .collect();
        let before = self.memberships();
        self.revision += 1;
        self.state.apply(self.revision, events);
        let after = self.memberships();
        let actual = common::difference(&before, &after, (ChangeKind::Added, ChangeKind::Removed));
        prop_assert_eq!(predicted, actual, "predicted changes");
        self.check()
    }

    /// Every dynamic group's kept members equal the reference evaluator run over every
    /// member, and the compiled set evaluation agrees.
    fn check(&self) -> Result<(), TestCaseError> {
        let state = &self.state;
        for group in state.groups_after(None) {
            let Some(text) = group.rule.as_deref() else {
                continue;
            };
            let rule = roster_rules::compile(text, &state.schema(group.member_kind)).unwrap();
            let expected: BTreeSet<Id> = state
                .members_after(None)
                .filter(|m| {
                    let values = dynamic::attribute_values(m);
                    rule.matches(&|name: &str| values.get(name).cloned())
                })
                .map(|m| m.id)
                .collect();
            let kept: BTreeSet<Id> = state
                .ids_of(state.dynamic().members(&group.id).unwrap())
                .collect();
            prop_assert_eq!(&kept, &expected, "kept members of `{}`", text);
            let fresh: BTreeSet<Id> = state
                .ids_of(&state.dynamic().evaluate(
                    MemberKind::User,
                    &rule,
                    state.kind_set(MemberKind::User),
                ))
                .collect();
            prop_assert_eq!(&fresh, &expected, "recomputed members of `{}`", text);
        }
        Ok(())
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
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn incremental_memberships_equal_a_full_recomputation(
        steps in proptest::collection::vec(step(), 1..40),
        chunk in 1usize..4,
    ) {
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
                Step::Delete(at) => vec![Event::GroupDeleted { id: world.groups[at] }],
            };
            world.write(&events)?;
        }
        // A rebuild from the snapshot holds the same memberships.
        let rebuilt = WorkspaceState::from_snapshot(world.state.snapshot()).unwrap();
        let again = World { state: rebuilt, revision: world.revision, members: world.members.clone(), groups: world.groups.clone() };
        prop_assert_eq!(again.memberships(), world.memberships());
        again.check()?;
        // So does one whose members arrive in chunks first, as a server's load has them.
        let mut snapshot = world.state.snapshot();
        let members = std::mem::take(&mut snapshot.members);
        let mut loader = Loader::default();
        for part in members.chunks(chunk) {
            loader.members(part);
        }
        let streamed = loader.finish(snapshot).unwrap();
        let streamed = World { state: streamed, revision: world.revision, members: world.members.clone(), groups: world.groups.clone() };
        prop_assert_eq!(streamed.memberships(), world.memberships());
        streamed.check()?;
    }
}
