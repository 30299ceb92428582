//! What evaluating a rule costs: the estimate a request is budgeted by grows with what
//! the evaluation really does, and the sorted orders that make `STARTS WITH` and
//! `ENDS WITH` cheap are kept only where enough rules pay for them, with the same
//! members either way.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use common::{new_user, user_group};
use roster_engine::WorkspaceState;
use roster_model::{Event, MemberKind, Workspace};

fn workspace(members: usize) -> WorkspaceState {
    let mut state = WorkspaceState::empty(
        Workspace {
            id: roster_model::new_id(),
            name: "costs".into(),
            created_at: roster_model::from_micros(0),
        },
        0,
    );
    let events: Vec<Event> = (0..members)
        .map(|i| Event::MemberUpserted {
            member: new_user(roster_model::new_id(), i),
        })
        .collect();
    state.apply(1, &events);
    state
}

fn cost(state: &WorkspaceState, text: &str) -> u64 {
    let rule = roster_rules::compile(text, &state.schema(MemberKind::User)).unwrap();
    let members = state.kind_set(MemberKind::User).len();
    state
        .dynamic()
        .evaluation_cost(MemberKind::User, &rule, members)
}

#[test]
fn a_scan_costs_its_distinct_values_and_a_look_up_its_listed_ones() {
    let small = workspace(1_000);
    let large = workspace(10_000);
    // Every email is distinct (and stored lower-cased beside its given form).
    let contains = |s: &WorkspaceState| cost(s, "email contains m12");
    assert!(contains(&small) >= 1_000, "{}", contains(&small));
    assert!(contains(&large) >= 10 * contains(&small) - 100);
    let two = cost(&large, "email contains m12 or email contains m13");
    assert!(two >= 2 * contains(&large) - 10, "two scans cost twice one");
    let equal = cost(&large, "email = m12@example.test");
    assert!(
        equal * 100 < contains(&large),
        "a look-up is not a scan: {equal}"
    );
    let listed = cost(&large, "email in (a@b.c, d@e.f, g@h.i)");
    assert!(listed > equal && listed * 100 < contains(&large));
}

#[test]
fn orders_are_kept_only_for_a_batch_of_many_readers_with_the_same_members() {
    let prefixes: Vec<String> = (0..45).map(|i| format!("m{i}")).collect();
    let expected = |state: &WorkspaceState, prefix: &str| -> std::collections::BTreeSet<_> {
        state
            .ids_of(state.kind_set(MemberKind::User))
            .filter(|id| {
                state
                    .member(id)
                    .and_then(|m| m.email)
                    .is_some_and(|e| e.to_lowercase().starts_with(prefix))
            })
            .collect()
    };
    let mut one_by_one = workspace(2_000);
    let scan_cost = cost(&one_by_one, "email starts with m1");
    let mut batched = workspace(2_000);
    let groups: Vec<_> = prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            user_group(
                roster_model::new_id(),
                i,
                Some(format!("email starts with {p}")),
            )
        })
        .collect();
    for (i, group) in groups.iter().enumerate() {
        one_by_one.apply(
            2 + i as roster_model::Revision,
            &[Event::GroupUpserted {
                group: group.clone(),
            }],
        );
    }
    // One group at a time never pays for the orders: a rule still scans.
    assert_eq!(cost(&one_by_one, "email starts with m1"), scan_cost);
    let events: Vec<Event> = groups
        .iter()
        .map(|group| Event::GroupUpserted {
            group: group.clone(),
        })
        .collect();
    batched.apply(2, &events);
    // Forty-five readers in one batch do: a prefix is now a range, far below a scan.
    assert!(cost(&batched, "email starts with m1") * 10 < scan_cost);
    for state in [&one_by_one, &batched] {
        for (group, prefix) in groups.iter().zip(&prefixes) {
            let group = state.group(&group.id).unwrap();
            let found: std::collections::BTreeSet<_> =
                state.ids_of(&state.effective_members(group)).collect();
            assert_eq!(found, expected(state, prefix), "{prefix}");
        }
    }
    // New values keep the orders in step.
    let later = new_user(roster_model::new_id(), 10_000);
    batched.apply(
        3,
        &[Event::MemberUpserted {
            member: later.clone(),
        }],
    );
    let group = batched.group(&groups[1].id).unwrap();
    let found: Vec<_> = batched.ids_of(&batched.effective_members(group)).collect();
    assert!(found.contains(&later.id), "m10000 starts with m1");
}

#[test]
fn a_scan_of_long_values_costs_their_length() {
    let long = |i: usize| {
        let mut member = new_user(roster_model::new_id(), i);
        member.display_name = format!("{i}{}", "x".repeat(4_000));
        member
    };
    let mut state = workspace(0);
    let events: Vec<Event> = (0..1_000)
        .map(|i| Event::MemberUpserted { member: long(i) })
        .collect();
    state.apply(2, &events);
    let short = workspace(1_000);
    let contains = "display_name contains zzz";
    assert!(
        cost(&state, contains) > 50 * cost(&short, contains),
        "4,000-byte names cost {} against {}",
        cost(&state, contains),
        cost(&short, contains)
    );
}
