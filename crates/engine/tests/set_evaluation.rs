//! The set evaluator (postings and bitmap algebra) agrees with the per-member reference
//! evaluator on random rules over random members, including after random updates.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use common::{member, rule, schema};
use proptest::prelude::*;
use roaring::RoaringBitmap;
use roster_engine::{AttributeIndex, CompiledRule, SharedAnswers, SlotCells, ValueRef};
use roster_rules::{check, Value};

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
    // Within a batch, answers of text operators and comparisons are shared: the second
    // evaluation reads every such answer from what the first left.
    let shared = SharedAnswers::default();
    for pass in 0..2 {
        let by_sets = compiled
            .clone()
            .with_filter_below(0)
            .evaluate_sharing(index, universe, &shared);
        prop_assert_eq!(&by_sets, &by_member, "sharing, pass {}", pass);
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
        // From here on `STARTS WITH` and `ENDS WITH` read the sorted orders, which the
        // updates below must keep in step.
        for attribute in 0..index.names().len() {
            index.keep_orders(attribute);
        }
        agree(&index, &universe, &rule)?;
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
