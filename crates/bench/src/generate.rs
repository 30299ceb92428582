//! A seeded generator of a large workspace: users with 20 properties (text of
//! cardinality 2 to 100,000, numbers, booleans), emails over 1,000 domains, and dynamic
//! groups with random rules of 1 to 8 conditions using every operator and parentheses.
//! The same seed gives the same workspace on every machine.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use roster_model::{
    new_id, Event, Grant, Group, Id, ManagedBy, Member, MemberKind, MemberState, Membership,
    MembershipSource, PropertyDef, PropertyType, PropertyValue, Role, RoleAssignment,
    StaticMembership, UserType,
};
use roster_rules::{AttrType, Condition, Expr, Literal, Op, Span};

/// Text properties and their cardinality (distinct values).
pub const TEXT_PROPERTIES: &[(&str, u32)] = &[
    ("tier", 2),
    ("region", 5),
    ("team", 10),
    ("role", 20),
    ("office", 50),
    ("department", 100),
    ("project", 1_000),
    ("manager", 10_000),
    ("cost_center", 100_000),
];
/// Number properties and the range of their values.
pub const NUMBER_PROPERTIES: &[(&str, u32)] = &[
    ("level", 10),
    ("tenure_years", 40),
    ("age", 70),
    ("score", 1_000),
    ("salary_band", 20),
    ("floor", 60),
];
/// Boolean properties.
pub const BOOLEAN_PROPERTIES: &[&str] = &["contractor", "remote", "on_call", "mfa", "manager_role"];
/// How many email domains members are spread over.
pub const DOMAINS: u32 = 1_000;
/// The chance that a member has a given property at all.
pub const PRESENCE: f64 = 0.9;

/// The workspace's property definitions.
pub fn properties() -> Vec<PropertyDef> {
    let now = roster_model::from_micros(0);
    let def = |name: &str, value_type| PropertyDef {
        id: new_id(),
        name: name.to_owned(),
        applies_to: MemberKind::User,
        value_type,
        description: String::new(),
        created_at: now,
    };
    TEXT_PROPERTIES
        .iter()
        .map(|(n, _)| def(n, PropertyType::Text))
        .chain(
            NUMBER_PROPERTIES
                .iter()
                .map(|(n, _)| def(n, PropertyType::Number)),
        )
        .chain(
            BOOLEAN_PROPERTIES
                .iter()
                .map(|n| def(n, PropertyType::Boolean)),
        )
        .collect()
}

fn text_value(name: &str, i: u32) -> String {
    format!("{name}-{i}")
}

/// Member `i` of the workspace, drawn from `rng`.
pub fn member(rng: &mut StdRng, i: u32) -> Member {
    let now = roster_model::from_micros(0);
    let mut properties = BTreeMap::new();
    for (name, cardinality) in TEXT_PROPERTIES {
        if rng.gen_bool(PRESENCE) {
            properties.insert(
                (*name).to_owned(),
                PropertyValue::Text(text_value(name, rng.gen_range(0..*cardinality))),
            );
        }
    }
    for (name, range) in NUMBER_PROPERTIES {
        if rng.gen_bool(PRESENCE) {
            properties.insert(
                (*name).to_owned(),
                PropertyValue::Number(f64::from(rng.gen_range(0..*range))),
            );
        }
    }
    for name in BOOLEAN_PROPERTIES {
        if rng.gen_bool(PRESENCE) {
            properties.insert(
                (*name).to_owned(),
                PropertyValue::Boolean(rng.gen_bool(0.5)),
            );
        }
    }
    Member {
        id: new_id(),
        kind: MemberKind::User,
        user_type: Some(UserType::TeamMember),
        email: Some(format!(
            "user{i}@domain{}.example",
            rng.gen_range(0..DOMAINS)
        )),
        display_name: format!("User {i}"),
        state: MemberState::Active,
        account: None,
        email_verified: None,
        properties,
        created_at: now,
        updated_at: now,
    }
}

/// A random new value for one property of a member: what an attribute change writes.
pub fn change(rng: &mut StdRng, member: &Member) -> Member {
    let mut changed = member.clone();
    let all = TEXT_PROPERTIES.len() + NUMBER_PROPERTIES.len() + BOOLEAN_PROPERTIES.len();
    let pick = rng.gen_range(0..all);
    if let Some((name, cardinality)) = TEXT_PROPERTIES.get(pick) {
        changed.properties.insert(
            (*name).to_owned(),
            PropertyValue::Text(text_value(name, rng.gen_range(0..*cardinality))),
        );
    } else if let Some((name, range)) = NUMBER_PROPERTIES.get(pick - TEXT_PROPERTIES.len()) {
        changed.properties.insert(
            (*name).to_owned(),
            PropertyValue::Number(f64::from(rng.gen_range(0..*range))),
        );
    } else if let Some(name) =
        BOOLEAN_PROPERTIES.get(pick - TEXT_PROPERTIES.len() - NUMBER_PROPERTIES.len())
    {
        let flipped = !matches!(
            changed.properties.get(*name),
            Some(PropertyValue::Boolean(true))
        );
        changed
            .properties
            .insert((*name).to_owned(), PropertyValue::Boolean(flipped));
    }
    changed
}

/// What kind of property a [`change`] wrote, for reporting times by kind: text of low
/// (at most 100 values) or high cardinality, number or boolean.
pub fn change_class(before: &Member, after: &Member) -> &'static str {
    let changed = after
        .properties
        .iter()
        .find(|(name, value)| before.properties.get(*name) != Some(value))
        .map(|(name, _)| name.as_str());
    let Some(name) = changed else {
        return "no change";
    };
    if let Some((_, cardinality)) = TEXT_PROPERTIES.iter().find(|(n, _)| *n == name) {
        if *cardinality <= 100 {
            "text, 2 to 100 values"
        } else {
            "text, 1,000 to 100,000 values"
        }
    } else if NUMBER_PROPERTIES.iter().any(|(n, _)| *n == name) {
        "number"
    } else {
        "boolean"
    }
}

fn literal_text(s: String) -> Literal {
    Literal::Text(s, Span::default())
}

fn literal_number(n: u32) -> Literal {
    Literal::Number {
        value: f64::from(n),
        raw: n.to_string(),
        span: Span::default(),
    }
}

fn condition(rng: &mut StdRng) -> Expr {
    let span = Span::default();
    let kinds = TEXT_PROPERTIES.len() + NUMBER_PROPERTIES.len() + BOOLEAN_PROPERTIES.len() + 1;
    let pick = rng.gen_range(0..kinds);
    let (attribute, op, values) = if let Some((name, cardinality)) = TEXT_PROPERTIES.get(pick) {
        let value =
            |rng: &mut StdRng| literal_text(text_value(name, rng.gen_range(0..*cardinality)));
        let op = *AttrType::Text.operators().choose(rng).unwrap_or(&Op::Eq);
        let values = match op {
            Op::In | Op::NotIn => (0..rng.gen_range(2..6)).map(|_| value(rng)).collect(),
            Op::StartsWith => vec![literal_text(format!("{name}-{}", rng.gen_range(1..10)))],
            Op::EndsWith => vec![literal_text(format!(
                "-{}",
                rng.gen_range(0..*cardinality.min(&100))
            ))],
            Op::Contains => vec![literal_text(format!("{}", rng.gen_range(0..10)))],
            _ => vec![value(rng)],
        };
        ((*name).to_owned(), op, values)
    } else if let Some((name, range)) = NUMBER_PROPERTIES.get(pick - TEXT_PROPERTIES.len()) {
        let op = *AttrType::Number.operators().choose(rng).unwrap_or(&Op::Eq);
        let values = match op {
            Op::In | Op::NotIn => (0..rng.gen_range(2..6))
                .map(|_| literal_number(rng.gen_range(0..*range)))
                .collect(),
            _ => vec![literal_number(rng.gen_range(0..*range))],
        };
        ((*name).to_owned(), op, values)
    } else if let Some(name) =
        BOOLEAN_PROPERTIES.get(pick - TEXT_PROPERTIES.len() - NUMBER_PROPERTIES.len())
    {
        let op = *[Op::Eq, Op::Ne].choose(rng).unwrap_or(&Op::Eq);
        (
            (*name).to_owned(),
            op,
            vec![Literal::Bool(rng.gen_bool(0.5), span)],
        )
    } else {
        let op = *[Op::Eq, Op::In, Op::Ne].choose(rng).unwrap_or(&Op::Eq);
        let count = if matches!(op, Op::In) {
            rng.gen_range(2..20)
        } else {
            1
        };
        let values = (0..count)
            .map(|_| literal_text(format!("domain{}.example", rng.gen_range(0..DOMAINS))))
            .collect();
        ("email_domain".to_owned(), op, values)
    };
    Expr::Cond(Condition {
        attribute,
        attribute_span: span,
        op,
        op_span: span,
        values,
        span,
    })
}

/// A random rule of 1 to 8 conditions joined by AND and OR in a random tree, which the
/// printer parenthesizes where the tree needs it. `or_share` is the chance that a join is
/// an OR: with OR as likely as AND the rules select 41% of members on average, far
/// broader than the department-and-location rules groups are made of, so the benchmark
/// defaults to 0.3 and prints the resulting density.
pub fn rule(rng: &mut StdRng, or_share: f64) -> String {
    let count = rng.gen_range(1..=8);
    let mut items: Vec<Expr> = (0..count).map(|_| condition(rng)).collect();
    while items.len() > 1 {
        let at = rng.gen_range(0..items.len() - 1);
        let right = items.remove(at + 1);
        let left = items.remove(at);
        let joined = if rng.gen_bool(or_share) {
            Expr::Or(vec![left, right], Span::default())
        } else {
            Expr::And(vec![left, right], Span::default())
        };
        items.insert(at, joined);
    }
    items.pop().map(|e| e.to_string()).unwrap_or_default()
}

/// Dynamic group `i` of the workspace, with its rule.
pub fn group(i: usize, rule: &str) -> Group {
    let now = roster_model::from_micros(0);
    Group {
        id: new_id(),
        name: format!("dynamic {i}"),
        description: String::new(),
        member_kind: MemberKind::User,
        membership: Membership::Dynamic,
        rule: Some(rule.to_owned()),
        owner: None,
        default_group: None,
        managed_by: ManagedBy::Roster,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// The events that define the workspace's properties.
pub fn property_events() -> Vec<Event> {
    properties()
        .into_iter()
        .map(|property| Event::PropertyUpserted { property })
        .collect()
}

/// The events that create one dynamic group per rule.
pub fn group_events(rules: &[String]) -> Vec<Event> {
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| Event::GroupUpserted {
            group: group(i, rule),
        })
        .collect()
}

/// The size of the static group the access benchmark assigns a role to while timing.
pub const TARGET_GROUP_SIZE: usize = 100_000;

/// Static groups for the access benchmark: the first holds exactly
/// [`TARGET_GROUP_SIZE`] members (the one a role is assigned to while timed); the others
/// hold from 1 to 10,000 random members, log-uniformly. Returns the group events followed
/// by the membership events.
pub fn static_groups(rng: &mut StdRng, count: usize, members: &[Id]) -> Vec<Event> {
    let now = roster_model::from_micros(0);
    let mut groups = Vec::with_capacity(count);
    let mut records = Vec::new();
    for i in 0..count {
        let group = Group {
            name: format!("static {i}"),
            membership: Membership::Static,
            rule: None,
            ..self::group(i, "")
        };
        let size = if i == 0 {
            TARGET_GROUP_SIZE
        } else {
            let exponent = rng.gen_range(0.0..4.0_f64);
            10f64.powf(exponent).round() as usize
        };
        for member_id in members
            .choose_multiple(rng, size.min(members.len()))
            .copied()
        {
            records.push(Event::MembershipAdded {
                membership: StaticMembership {
                    group_id: group.id,
                    member_id,
                    source: MembershipSource::Manual,
                    added_by: None,
                    added_at: now,
                },
            });
        }
        groups.push(Event::GroupUpserted { group });
    }
    groups.extend(records);
    groups
}

/// Roles for the access benchmark, each granting one to three random privileges of the
/// 16, as focused roles do ("ticket triage", "issue reader").
pub fn roles(rng: &mut StdRng, count: usize) -> Vec<Role> {
    let now = roster_model::from_micros(0);
    let all: Vec<Grant> = Grant::all().collect();
    (0..count)
        .map(|i| {
            let size = rng.gen_range(1..=3);
            let mut privileges: Vec<Grant> = all.choose_multiple(rng, size).copied().collect();
            privileges.sort();
            Role {
                id: new_id(),
                name: format!("role {i}"),
                description: String::new(),
                privileges,
                default: false,
                version: 1,
                created_at: now,
                updated_at: now,
            }
        })
        .collect()
}

/// `count` distinct random assignments of `roles` to groups: a share `dynamic_share` to
/// `dynamic` groups, the rest to `fixed` (static) ones. Generated dynamic groups hold a
/// quarter of all members each, so a few roles on them already grant nearly everyone
/// nearly everything; most roles sit on hand-kept groups, as in practice.
pub fn assignments(
    rng: &mut StdRng,
    count: usize,
    (dynamic, fixed): (&[Id], &[Id]),
    dynamic_share: f64,
    roles: &[Id],
) -> Vec<RoleAssignment> {
    let now = roster_model::from_micros(0);
    let mut seen = std::collections::HashSet::new();
    let wanted = count.min((dynamic.len() + fixed.len()) * roles.len());
    let mut out = Vec::with_capacity(wanted);
    while out.len() < wanted {
        let pool = if rng.gen_bool(dynamic_share) || fixed.is_empty() {
            dynamic
        } else {
            fixed
        };
        let (Some(group_id), Some(role_id)) = (pool.choose(rng), roles.choose(rng)) else {
            break;
        };
        if seen.insert((*group_id, *role_id)) {
            out.push(RoleAssignment {
                group_id: *group_id,
                role_id: *role_id,
                assigned_by: None,
                assigned_at: now,
            });
        }
    }
    out
}

/// The ids of the groups some events create, in order.
pub fn group_ids(events: &[Event]) -> Vec<Id> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::GroupUpserted { group } => Some(group.id),
            _ => None,
        })
        .collect()
}

/// The generator's random source for a seed.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}
