//! Random members and random rules over three attributes, one of each type, with
//! values chosen to collide (case variants, also beyond ASCII: `ß` and `SS`, composed and
//! combining accents; `0` and `-0`).

#![allow(dead_code)]

use proptest::prelude::*;
use roster_rules::{AttrType, Condition, Expr, Literal, Op, Schema, Span, Value};

pub const TEXTS: &[&str] = &[
    "sales",
    "Sales",
    "SALES",
    "ops",
    "r&d",
    "eng",
    "engineering",
    "",
    "straße",
    "STRASSE",
    "zoë",
    "ZOE\u{308}",
];
pub const NUMBERS: &[f64] = &[-1.0, 0.0, -0.0, 1.0, 2.5, 3.0, 10.0];

pub fn schema() -> Schema {
    Schema::new()
        .with("dept", AttrType::Text)
        .with("level", AttrType::Number)
        .with("flag", AttrType::Boolean)
}

pub fn value_for(attribute: &str) -> BoxedStrategy<Option<Value>> {
    match attribute {
        "dept" => proptest::option::of(
            proptest::sample::select(TEXTS).prop_map(|t| Value::Text(t.to_owned())),
        )
        .boxed(),
        "level" => {
            proptest::option::of(proptest::sample::select(NUMBERS).prop_map(Value::Number)).boxed()
        }
        _ => proptest::option::of(any::<bool>().prop_map(Value::Bool)).boxed(),
    }
}

pub fn member() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    (value_for("dept"), value_for("level"), value_for("flag"))
        .prop_map(|(d, l, f)| vec![("dept", d), ("level", l), ("flag", f)])
}

pub fn literal(attribute: &'static str) -> BoxedStrategy<Literal> {
    let span = Span::default();
    match attribute {
        "dept" => proptest::sample::select(TEXTS)
            .prop_map(move |t| Literal::Text(t.to_owned(), span))
            .boxed(),
        "level" => proptest::sample::select(NUMBERS)
            .prop_map(move |n| Literal::Number {
                value: n,
                raw: format!("{n}"),
                span,
            })
            .boxed(),
        _ => any::<bool>()
            .prop_map(move |b| Literal::Bool(b, span))
            .boxed(),
    }
}

pub fn condition() -> impl Strategy<Value = Expr> {
    prop_oneof![Just("dept"), Just("level"), Just("flag")].prop_flat_map(|attribute| {
        let ty = schema().get(attribute).unwrap_or(AttrType::Boolean);
        let ops: Vec<Op> = ty.operators().to_vec();
        (
            proptest::sample::select(ops),
            proptest::collection::vec(literal(attribute), 1..4),
        )
            .prop_map(move |(op, mut values)| {
                if !matches!(op, Op::In | Op::NotIn) {
                    values.truncate(1);
                }
                let span = Span::default();
                Expr::Cond(Condition {
                    attribute: attribute.to_owned(),
                    attribute_span: span,
                    op,
                    op_span: span,
                    values,
                    span,
                })
            })
    })
}

pub fn rule() -> impl Strategy<Value = Expr> {
    condition().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4)
                .prop_map(|items| Expr::Or(items, Span::default())),
            proptest::collection::vec(inner, 2..4)
                .prop_map(|items| Expr::And(items, Span::default())),
        ]
    })
}

/// A fresh team member `which` with id `id` and no properties, as the tests create them.
pub fn new_user(id: roster_model::Id, which: usize) -> roster_model::Member {
    let at = roster_model::from_micros(0);
    roster_model::Member {
        id,
        kind: roster_model::MemberKind::User,
        user_type: Some(roster_model::UserType::TeamMember),
        email: Some(format!("m{which}@Example.test")),
        display_name: format!("Member {which}"),
        state: roster_model::MemberState::Active,
        account: None,
        email_verified: None,
        properties: std::collections::BTreeMap::new(),
        created_at: at,
        updated_at: at,
    }
}

/// Custom user group `which` with id `id`: dynamic with `rule`, else static.
pub fn user_group(id: roster_model::Id, which: usize, rule: Option<String>) -> roster_model::Group {
    let at = roster_model::from_micros(0);
    roster_model::Group {
        id,
        name: format!("g{which}"),
        description: String::new(),
        member_kind: roster_model::MemberKind::User,
        membership: if rule.is_some() {
            roster_model::Membership::Dynamic
        } else {
            roster_model::Membership::Static
        },
        rule,
        owner: None,
        default_group: None,
        managed_by: roster_model::ManagedBy::Roster,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

/// What changed between two sets of pairs, as a change log names it: pairs only in
/// `after` with `added`, pairs only in `before` with `removed`.
pub fn difference(
    before: &std::collections::BTreeSet<(roster_model::Id, roster_model::Id)>,
    after: &std::collections::BTreeSet<(roster_model::Id, roster_model::Id)>,
    (added, removed): (roster_model::ChangeKind, roster_model::ChangeKind),
) -> std::collections::BTreeSet<(roster_model::Id, roster_model::Id, roster_model::ChangeKind)> {
    after
        .difference(before)
        .map(|(a, b)| (*a, *b, added))
        .chain(before.difference(after).map(|(a, b)| (*a, *b, removed)))
        .collect()
}
