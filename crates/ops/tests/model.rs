//! Random sequences of operations by random actors, checked after every step against the
//! invariants of SPEC §1 and a straightforward model of the §2 membership rules.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use roster_engine::WorkspaceState;
use roster_model::{Actor, ChangeKind, DefaultGroup, Id, MemberKind, Membership};
use roster_ops::{groups, members, Ctx, OpError, Outcome};
use serde_json::json;

#[derive(Debug, Clone)]
enum Step {
    CreateUser,
    CreateCustomer { account: u8 },
    CreateGroup { actor: u8, customer: bool },
    Add { actor: u8, group: u8, member: u8 },
    Remove { actor: u8, group: u8, member: u8 },
    SetState { actor: u8, member: u8, active: bool },
    ChangeOwner { actor: u8, group: u8, owner: u8 },
    DeleteGroup { actor: u8, group: u8 },
    CreateDynamic { rule: u8, customer: bool },
    SetTier { member: u8, tier: Option<u8> },
    ChangeRule { group: u8, rule: u8 },
    Convert { group: u8, rule: u8 },
}

/// Rules over the user property `tier`, the customer property `tier` and built-ins.
const RULES: &[&str] = &[
    "tier = gold",
    "tier != gold",
    "tier in (gold, SILVER)",
    "tier not in (gold)",
    "tier starts with g OR email_domain = w.test",
    "(tier = bronze OR tier = silver) AND display_name contains 1",
    "email ends with 3@w.test",
];
const TIERS: &[&str] = &["gold", "Silver", "bronze", "GOLD"];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::CreateUser),
        1 => (0u8..2).prop_map(|account| Step::CreateCustomer { account }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(actor, customer)| Step::CreateGroup { actor, customer }),
        6 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(actor, group, member)| Step::Add { actor, group, member }),
        4 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(actor, group, member)| Step::Remove { actor, group, member }),
        2 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(actor, member, active)| Step::SetState { actor, member, active }),
        1 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(actor, group, owner)| Step::ChangeOwner { actor, group, owner }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(actor, group)| Step::DeleteGroup { actor, group }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(rule, customer)| Step::CreateDynamic { rule, customer }),
        4 => (any::<u8>(), proptest::option::of(any::<u8>())).prop_map(|(member, tier)| Step::SetTier { member, tier }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(group, rule)| Step::ChangeRule { group, rule }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(group, rule)| Step::Convert { group, rule }),
    ]
}

struct World {
    state: WorkspaceState,
    revision: i64,
    counter: usize,
}

impl World {
    fn new() -> World {
        let outcome = roster_ops::new_workspace(
            "W",
            "admin@w.test",
            "h".into(),
            Actor::Cli,
            roster_model::now(),
        )
        .unwrap();
        let mut state = WorkspaceState::empty(outcome.value.workspace.clone(), 0);
        state.apply(1, &outcome.events);
        let mut world = World {
            state,
            revision: 1,
            counter: 0,
        };
        for kind in ["user", "customer"] {
            let input =
                serde_json::from_value(json!({"name": "tier", "applies_to": kind, "type": "text"}))
                    .unwrap();
            world
                .run(Actor::Cli, |ctx| roster_ops::properties::create(ctx, input))
                .unwrap();
        }
        world
    }

    fn member_ids(&self) -> Vec<Id> {
        self.state.members_after(None).map(|m| m.id).collect()
    }

    fn group_ids(&self) -> Vec<Id> {
        self.state.groups_after(None).map(|g| g.id).collect()
    }

    fn pick<T: Copy>(items: &[T], i: u8) -> T {
        items[i as usize % items.len()]
    }

    fn actor(&self, i: u8) -> Actor {
        Actor::Member {
            id: Self::pick(&self.member_ids(), i),
        }
    }

    fn run<T>(
        &mut self,
        actor: Actor,
        op: impl FnOnce(&Ctx) -> Result<Outcome<T>, OpError>,
    ) -> Result<T, OpError> {
        let outcome = op(&Ctx {
            state: &self.state,
            actor,
            now: roster_model::now(),
        })?;
        if !outcome.events.is_empty() {
            assert_eq!(
                outcome.events.is_empty(),
                outcome.audit.is_empty(),
                "every change has its audit entry"
            );
            // The change log predicted before the commit equals what applying does.
            let predicted: BTreeSet<(Id, Id, ChangeKind)> = self
                .state
                .membership_changes(&outcome.events)
                .into_iter()
                .map(|c| (c.group_id, c.member_id, c.change))
                .collect();
            let before = self.memberships();
            self.revision += 1;
            self.state.apply(self.revision, &outcome.events);
            let after = self.memberships();
            let mut actual = BTreeSet::new();
            for pair in after.difference(&before) {
                actual.insert((pair.0, pair.1, ChangeKind::Added));
            }
            for pair in before.difference(&after) {
                actual.insert((pair.0, pair.1, ChangeKind::Removed));
            }
            assert_eq!(
                predicted,
                actual,
                "predicted membership changes of {:?}",
                outcome
                    .events
                    .iter()
                    .map(std::mem::discriminant)
                    .collect::<Vec<_>>()
            );
        }
        Ok(outcome.value)
    }

    /// Every (group, member) pair of effective membership.
    fn memberships(&self) -> BTreeSet<(Id, Id)> {
        self.state
            .groups_after(None)
            .flat_map(|g| {
                self.state
                    .ids_of(&self.state.effective_members(g))
                    .map(move |m| (g.id, m))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The §2 rule for adding or removing, written out plainly.
    fn may_edit(&self, actor: Actor, group: Id, member: Id) -> bool {
        let state = &self.state;
        let actor_id = actor.member_id().unwrap();
        let group = state.group(&group).unwrap();
        let target = state.member(&member).unwrap();
        let actor_member = &state.member(&actor_id).unwrap();
        let admins = state.default_group(DefaultGroup::Admins).unwrap();
        let in_group = |g: &roster_model::Group, who: &roster_model::Member| {
            who.is_active() && state.static_membership(&g.id, &who.id).is_some()
        };
        let actor_is_admin = in_group(admins, actor_member);
        if actor_is_admin {
            return true;
        }
        match group.default_group {
            Some(DefaultGroup::Admins) => false,
            Some(DefaultGroup::CustomerAdmins) => {
                actor_member.kind == MemberKind::Customer
                    && actor_member.account.is_some()
                    && actor_member.account == target.account
                    && in_group(group, actor_member)
            }
            _ => in_group(group, actor_member),
        }
    }

    fn check_invariants(&self) {
        let state = &self.state;
        assert!(
            state.active_admin_count() >= 1,
            "an active admin always remains"
        );
        for group in state.groups_after(None) {
            let recorded: Vec<_> = state.static_memberships(&group.id).collect();
            for record in &recorded {
                let member = state.member(&record.member_id).unwrap();
                assert_eq!(member.kind, group.member_kind, "kinds never mix");
            }
            if let (Some(owner), Membership::Static) = (group.owner, group.membership) {
                assert!(
                    state.static_membership(&group.id, &owner).is_some(),
                    "the owner of a static group is always a member"
                );
            }
            // Effective membership, computed the slow way: each rule evaluated per member
            // from the member record itself.
            let rule = group
                .rule
                .as_deref()
                .map(|text| roster_rules::compile(text, &state.schema(group.member_kind)).unwrap());
            let expected: BTreeSet<Id> = state
                .members_after(None)
                .filter(|m| m.is_active())
                .filter(|m| match (group.default_group, &rule) {
                    (Some(DefaultGroup::AllUsers), _) => m.kind == MemberKind::User,
                    (Some(DefaultGroup::Customers), _) => m.kind == MemberKind::Customer,
                    (_, Some(rule)) => {
                        let values = roster_engine::dynamic::attribute_values(m);
                        m.kind == group.member_kind
                            && rule.matches(&|name: &str| values.get(name).cloned())
                    }
                    _ => state.static_membership(&group.id, &m.id).is_some(),
                })
                .map(|m| m.id)
                .collect();
            let actual: BTreeSet<Id> = state.ids_of(&state.effective_members(group)).collect();
            assert_eq!(actual, expected, "effective members of {}", group.name);
            if group.membership == Membership::Dynamic || group.is_maintained() {
                assert!(recorded.is_empty(), "derived groups record nobody");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn operations_keep_invariants_and_follow_the_membership_rules(steps in proptest::collection::vec(step(), 1..60)) {
        let mut world = World::new();
        for step in steps {
            world.counter += 1;
            let n = world.counter;
            match step {
                Step::CreateUser => {
                    let input = serde_json::from_value(json!({"kind": "user", "email": format!("u{n}@w.test")})).unwrap();
                    world.run(Actor::Cli, |ctx| members::create(ctx, input)).unwrap();
                }
                Step::CreateCustomer { account } => {
                    let input = serde_json::from_value(json!({"kind": "customer", "email": format!("c{n}@x.test"), "account": format!("acct{account}")})).unwrap();
                    world.run(Actor::Cli, |ctx| members::create(ctx, input)).unwrap();
                }
                Step::CreateGroup { actor, customer } => {
                    let actor = world.actor(actor);
                    let kind = if customer { "customer" } else { "user" };
                    let input = serde_json::from_value(json!({"name": format!("g{n}"), "member_kind": kind})).unwrap();
                    let result = world.run(actor, |ctx| groups::create(ctx, input));
                    let is_admin = world.state.is_admin(&actor.member_id().unwrap());
                    prop_assert_eq!(result.is_ok(), is_admin, "only admins create groups");
                }
                Step::Add { actor, group, member } => {
                    let actor = world.actor(actor);
                    let group = World::pick(&world.group_ids(), group);
                    let member = World::pick(&world.member_ids(), member);
                    let allowed = world.may_edit(actor, group, member);
                    let g = world.state.group(&group).unwrap().clone();
                    let kind_ok = world.state.member(&member).unwrap().kind == g.member_kind;
                    let hand_kept = !g.is_maintained() && g.membership == Membership::Static;
                    match world.run(actor, |ctx| groups::add_member(ctx, group, member)) {
                        Ok(_) => prop_assert!(allowed && kind_ok && hand_kept),
                        Err(OpError::Forbidden(_)) => prop_assert!(!allowed && hand_kept),
                        Err(OpError::Conflict(_)) => prop_assert!(!hand_kept),
                        Err(OpError::Invalid { .. }) => prop_assert!(allowed && !kind_ok),
                        Err(other) => prop_assert!(false, "unexpected {other:?}"),
                    }
                }
                Step::Remove { actor, group, member } => {
                    let actor = world.actor(actor);
                    let group = World::pick(&world.group_ids(), group);
                    let member = World::pick(&world.member_ids(), member);
                    let recorded = world.state.static_membership(&group, &member).is_some();
                    let allowed = world.may_edit(actor, group, member);
                    match world.run(actor, |ctx| groups::remove_member(ctx, group, member)) {
                        Ok(()) => prop_assert!(recorded && allowed),
                        Err(OpError::NotFound(_)) => prop_assert!(!recorded),
                        Err(OpError::Forbidden(_)) => prop_assert!(!allowed),
                        Err(OpError::Conflict(_)) => {}
                        Err(other) => prop_assert!(false, "unexpected {other:?}"),
                    }
                }
                Step::SetState { actor, member, active } => {
                    let actor = world.actor(actor);
                    let member = World::pick(&world.member_ids(), member);
                    let state = if active { "active" } else { "deactivated" };
                    let patch = serde_json::from_value(json!({"state": state})).unwrap();
                    let is_admin = world.state.is_admin(&actor.member_id().unwrap());
                    let result = world.run(actor, |ctx| members::update(ctx, member, patch));
                    if !is_admin {
                        prop_assert!(matches!(result, Err(OpError::Forbidden(_))));
                    }
                }
                Step::ChangeOwner { actor, group, owner } => {
                    let actor = world.actor(actor);
                    let group = World::pick(&world.group_ids(), group);
                    let owner = World::pick(&world.member_ids(), owner);
                    let patch = serde_json::from_value(json!({"owner": owner})).unwrap();
                    let _ = world.run(actor, |ctx| groups::update(ctx, group, patch, None));
                }
                Step::CreateDynamic { rule, customer } => {
                    let kind = if customer { "customer" } else { "user" };
                    let text = RULES[rule as usize % RULES.len()];
                    let input = serde_json::from_value(json!({"name": format!("d{n}"), "member_kind": kind, "rule": text})).unwrap();
                    world.run(Actor::Cli, |ctx| groups::create(ctx, input)).unwrap();
                }
                Step::SetTier { member, tier } => {
                    let member = World::pick(&world.member_ids(), member);
                    let tier = tier.map(|t| TIERS[t as usize % TIERS.len()]);
                    let patch = serde_json::from_value(json!({"properties": {"tier": tier}})).unwrap();
                    world.run(Actor::Cli, |ctx| members::update(ctx, member, patch)).unwrap();
                }
                Step::ChangeRule { group, rule } => {
                    let group = World::pick(&world.group_ids(), group);
                    let text = RULES[rule as usize % RULES.len()];
                    let patch = serde_json::from_value(json!({"rule": text})).unwrap();
                    let dynamic_custom = world.state.group(&group).is_some_and(|g| g.membership == Membership::Dynamic && !g.is_default());
                    let result = world.run(Actor::Cli, |ctx| groups::update(ctx, group, patch, None));
                    prop_assert_eq!(result.is_ok(), dynamic_custom, "{:?}", result.err());
                }
                Step::Convert { group, rule } => {
                    let group = World::pick(&world.group_ids(), group);
                    let g = world.state.group(&group).unwrap().clone();
                    let before: BTreeSet<Id> = world.state.ids_of(&world.state.effective_members(&g)).collect();
                    let patch = match g.membership {
                        Membership::Static => json!({"membership": "dynamic", "rule": RULES[rule as usize % RULES.len()]}),
                        Membership::Dynamic => json!({"membership": "static"}),
                    };
                    let result = world.run(Actor::Cli, |ctx| groups::update(ctx, group, serde_json::from_value(patch).unwrap(), None));
                    if g.is_default() {
                        prop_assert!(result.is_err());
                    } else {
                        let (saved, effect) = result.unwrap();
                        let after: BTreeSet<Id> = world.state.ids_of(&world.state.effective_members(&saved)).collect();
                        let effect = effect.unwrap();
                        prop_assert_eq!(effect.added as usize, after.difference(&before).count(), "added");
                        prop_assert_eq!(effect.removed as usize, before.difference(&after).count(), "removed");
                        if g.membership == Membership::Dynamic {
                            prop_assert!(before.is_subset(&after), "freezing keeps every member");
                        }
                    }
                }
                Step::DeleteGroup { actor, group } => {
                    let actor = world.actor(actor);
                    let group = World::pick(&world.group_ids(), group);
                    let is_default = world.state.group(&group).unwrap().is_default();
                    let result = world.run(actor, |ctx| groups::delete(ctx, group, None));
                    if is_default {
                        prop_assert!(result.is_err(), "default groups are never deleted");
                    }
                }
            }
            world.check_invariants();
        }
        // What the engine derived incrementally equals a rebuild from what it stores.
        let rebuilt = WorkspaceState::from_snapshot(world.state.snapshot()).unwrap();
        prop_assert_eq!(rebuilt.revision(), world.state.revision());
        for group in world.state.groups_after(None) {
            let again = rebuilt.group(&group.id).unwrap();
            let before: BTreeSet<Id> = world.state.ids_of(&world.state.effective_members(group)).collect();
            let after: BTreeSet<Id> = rebuilt.ids_of(&rebuilt.effective_members(again)).collect();
            prop_assert_eq!(before, after);
        }
        prop_assert_eq!(rebuilt.members_after(None).count(), world.state.members_after(None).count());
        // An export imports back, checks, and exports the same again.
        let exported = roster_ops::transfer::export(&world.state);
        let imported = roster_ops::transfer::import(exported.clone(), Actor::Cli, roster_model::now()).unwrap();
        let mut again = WorkspaceState::empty(imported.value.0.clone(), 0);
        again.apply(1, &imported.events);
        prop_assert_eq!(roster_ops::transfer::export(&again), exported);
    }
}
