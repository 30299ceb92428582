//! The set evaluator (postings and bitmap algebra) agrees with the per-member reference
//! evaluator on random rules over random members, including after random updates.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use proptest::prelude::*;
use roaring::RoaringBitmap;
use roster_engine::{AttributeIndex, CompiledRule, SlotCells, ValueRef};
use roster_rules::{check, AttrType, Condition, Expr, Literal, Op, Schema, Span, Value};

const TEXTS: &[&str] = &[
    "sales",
    "Sales",
    "SALES",
    "ops",
    "r&d",
    "eng",
    "engineering",
    "",
];
const NUMBERS: &[f64] = &[-1.0, 0.0, -0.0, 1.0, 2.5, 3.0, 10.0];

fn schema() -> Schema {
    Schema::new()
        .with("dept", AttrType::Text)
        .with("level", AttrType::Number)
        .with("flag", AttrType::Boolean)
}

fn value_for(attribute: &str) -> BoxedStrategy<Option<Value>> {
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

fn member() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    (value_for("dept"), value_for("level"), value_for("flag"))
        .prop_map(|(d, l, f)| vec![("dept", d), ("level", l), ("flag", f)])
}

fn literal(attribute: &'static str) -> BoxedStrategy<Literal> {
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

fn condition() -> impl Strategy<Value = Expr> {
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

fn rule() -> impl Strategy<Value = Expr> {
    condition().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4)
                .prop_map(|items| Expr::Or(items, Span::default())),
            proptest::collection::vec(inner, 2..4)
                .prop_map(|items| Expr::And(items, Span::default())),
        ]
    })
}

fn load(members: &[Vec<(&'static str, Option<Value>)>]) -> (AttributeIndex, RoaringBitmap) {
    let mut index = AttributeIndex::default();
    let mut universe = RoaringBitmap::new();
    for (slot, attributes) in members.iter().enumerate() {
        let slot = slot as u32;
        universe.insert(slot);
        for (name, value) in attributes {
            set(&mut index, slot, name, value.as_ref());
        }
    }
    // Members without attributes, so that the top of a rule works on sets large enough
    // for postings rather than member-by-member filtering.
    universe.insert_range(1000..1600);
    (index, universe)
}

fn set(index: &mut AttributeIndex, slot: u32, name: &str, value: Option<&Value>) {
    let attribute = index.attribute_or_insert(name);
    let value = value.map(|v| match v {
        Value::Text(t) => ValueRef::Text(t),
        Value::Number(n) => ValueRef::Number(*n),
        Value::Bool(b) => ValueRef::Bool(*b),
    });
    index.set(attribute, slot, value);
}

fn agree(
    index: &AttributeIndex,
    universe: &RoaringBitmap,
    rule: &roster_rules::Rule,
) -> Result<(), TestCaseError> {
    let compiled = CompiledRule::compile_frozen(rule, index);
    let by_member: RoaringBitmap = universe
        .iter()
        .filter(|slot| compiled.holds(&SlotCells { index, slot: *slot }))
        .collect();
    for filter_below in [0, 512, u64::MAX] {
        let by_sets = compiled
            .clone()
            .with_filter_below(filter_below)
            .evaluate(index, universe);
        prop_assert_eq!(&by_sets, &by_member, "filtering below {}", filter_below);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn set_and_member_evaluation_agree(
        members in proptest::collection::vec(member(), 0..80),
        tree in rule(),
        updates in proptest::collection::vec((any::<u8>(), member()), 0..20),
    ) {
        let rule = check(&tree, &schema()).map_err(|e| TestCaseError::fail(format!("{tree}: {e:?}")))?;
        let (mut index, universe) = load(&members);
        agree(&index, &universe, &rule)?;
        // The reference evaluator over the original values, not the index's copy, with
        // the rule compiled both ways (its values interned, or looked up only).
        let interned = CompiledRule::compile(&rule, &mut index);
        let frozen = CompiledRule::compile_frozen(&rule, &index);
        for (slot, attributes) in members.iter().enumerate() {
            let direct = rule.matches(&|name: &str| attributes.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.clone()));
            let cells = SlotCells { index: &index, slot: slot as u32 };
            prop_assert_eq!(direct, interned.holds(&cells));
            prop_assert_eq!(direct, frozen.holds(&cells));
        }
        if members.is_empty() {
            return Ok(());
        }
        for (which, attributes) in updates {
            let slot = u32::from(which) % members.len() as u32;
            for (name, value) in attributes {
                set(&mut index, slot, name, value.as_ref());
            }
            agree(&index, &universe, &rule)?;
            let by_member: RoaringBitmap = universe
                .iter()
                .filter(|s| interned.holds(&SlotCells { index: &index, slot: *s }))
                .collect();
            prop_assert_eq!(interned.evaluate(&index, &universe), by_member);
        }
    }
}
