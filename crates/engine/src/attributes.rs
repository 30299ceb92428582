//! Members' attributes in columnar, dictionary-encoded form, with a roaring posting set
//! per value, so that a rule over every member costs set operations about the size of
//! the answer rather than members × conditions.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use roaring::RoaringBitmap;
use roster_rules::{Attributes, Node, Op, Rule, Value};

/// A number as a map key: ordered by `f64::total_cmp`, with `-0.0` folded into `0.0` so
/// that equal numbers share one key.
#[derive(Debug, Clone, Copy, PartialEq)]
struct NumberKey(f64);

impl NumberKey {
    fn new(value: f64) -> Self {
        NumberKey(if value == 0.0 { 0.0 } else { value })
    }
}

impl Eq for NumberKey {}

impl PartialOrd for NumberKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NumberKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// One attribute's values.
#[derive(Debug, Default, Clone)]
struct Column {
    /// Text, lower-cased: value id per distinct value, and its postings.
    text_ids: HashMap<String, u32>,
    text_values: Vec<String>,
    text_postings: Vec<RoaringBitmap>,
    /// Numbers, ordered for range conditions.
    numbers: BTreeMap<NumberKey, RoaringBitmap>,
    /// Booleans.
    trues: RoaringBitmap,
    falses: RoaringBitmap,
    /// Each member's value, by slot.
    by_slot: HashMap<u32, Value>,
}

impl Column {
    fn remove(&mut self, slot: u32) {
        match self.by_slot.remove(&slot) {
            Some(Value::Text(text)) => {
                if let Some(id) = self.text_ids.get(&text) {
                    if let Some(postings) = self.text_postings.get_mut(*id as usize) {
                        postings.remove(slot);
                    }
                }
            }
            Some(Value::Number(n)) => {
                let key = NumberKey::new(n);
                if let Some(postings) = self.numbers.get_mut(&key) {
                    postings.remove(slot);
                    if postings.is_empty() {
                        self.numbers.remove(&key);
                    }
                }
            }
            Some(Value::Bool(b)) => {
                if b { &mut self.trues } else { &mut self.falses }.remove(slot);
            }
            None => {}
        }
    }

    fn insert(&mut self, slot: u32, value: Value) {
        let value = match value {
            Value::Text(text) => {
                let text = text.to_lowercase();
                let id = match self.text_ids.get(&text) {
                    Some(id) => *id,
                    None => {
                        let id = u32::try_from(self.text_values.len()).unwrap_or(u32::MAX);
                        self.text_ids.insert(text.clone(), id);
                        self.text_values.push(text.clone());
                        self.text_postings.push(RoaringBitmap::new());
                        id
                    }
                };
                if let Some(postings) = self.text_postings.get_mut(id as usize) {
                    postings.insert(slot);
                }
                Value::Text(text)
            }
            Value::Number(n) => {
                self.numbers
                    .entry(NumberKey::new(n))
                    .or_default()
                    .insert(slot);
                Value::Number(n)
            }
            Value::Bool(b) => {
                if b { &mut self.trues } else { &mut self.falses }.insert(slot);
                Value::Bool(b)
            }
        };
        self.by_slot.insert(slot, value);
    }

    /// Members whose value equals `value`.
    fn equal(&self, value: &Value) -> RoaringBitmap {
        match value {
            Value::Text(text) => self
                .text_ids
                .get(text)
                .and_then(|id| self.text_postings.get(*id as usize))
                .cloned()
                .unwrap_or_default(),
            Value::Number(n) => self
                .numbers
                .get(&NumberKey::new(*n))
                .cloned()
                .unwrap_or_default(),
            Value::Bool(true) => self.trues.clone(),
            Value::Bool(false) => self.falses.clone(),
        }
    }

    /// Members whose number lies in a range.
    fn range(&self, op: Op, bound: f64) -> RoaringBitmap {
        let key = NumberKey::new(bound);
        let range = match op {
            Op::Lt => (Bound::Unbounded, Bound::Excluded(key)),
            Op::Le => (Bound::Unbounded, Bound::Included(key)),
            Op::Gt => (Bound::Excluded(key), Bound::Unbounded),
            _ => (Bound::Included(key), Bound::Unbounded),
        };
        self.numbers
            .range(range)
            .map(|(_, postings)| postings)
            .fold(RoaringBitmap::new(), |acc, p| acc | p)
    }

    /// Members whose text passes a test: one test per distinct value, not per member.
    fn text_matching(&self, test: impl Fn(&str) -> bool) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for (value, postings) in self.text_values.iter().zip(&self.text_postings) {
            if test(value) {
                out |= postings;
            }
        }
        out
    }
}

/// One member's attributes, read from the index in place.
struct SlotView<'a> {
    index: &'a AttributeIndex,
    slot: u32,
}

impl Attributes for SlotView<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        self.index.get(self.slot, name)
    }

    fn visit<R>(&self, name: &str, f: impl FnOnce(Option<&Value>) -> R) -> R {
        f(self
            .index
            .columns
            .get(name)
            .and_then(|c| c.by_slot.get(&self.slot)))
    }
}

/// The attributes of the members of one kind, by slot.
#[derive(Debug, Default, Clone)]
pub struct AttributeIndex {
    columns: HashMap<String, Column>,
}

impl AttributeIndex {
    /// Sets (or, with `None`, removes) a member's value of an attribute.
    pub fn set(&mut self, slot: u32, attribute: &str, value: Option<Value>) {
        let column = self.columns.entry(attribute.to_owned()).or_default();
        column.remove(slot);
        if let Some(value) = value {
            column.insert(slot, value);
        }
    }

    /// A member's value of an attribute (text lower-cased).
    pub fn get(&self, slot: u32, attribute: &str) -> Option<Value> {
        self.columns.get(attribute)?.by_slot.get(&slot).cloned()
    }

    /// Whether a rule holds for one member: the incremental path. Values are read in
    /// place, already lower-cased, without copies.
    pub fn matches(&self, rule: &Rule, slot: u32) -> bool {
        rule.matches(&SlotView { index: self, slot })
    }

    /// Every member of `universe` for which the rule holds, by set algebra over postings.
    pub fn evaluate(&self, rule: &Rule, universe: &RoaringBitmap) -> RoaringBitmap {
        self.node(rule.root(), universe)
    }

    fn node(&self, node: &Node, universe: &RoaringBitmap) -> RoaringBitmap {
        match node {
            Node::Or(items) => items
                .iter()
                .fold(RoaringBitmap::new(), |acc, n| acc | self.node(n, universe)),
            Node::And(items) => {
                let mut acc = universe.clone();
                for item in items {
                    if acc.is_empty() {
                        break;
                    }
                    acc &= self.node(item, &acc);
                }
                acc
            }
            Node::Cond {
                attribute,
                op,
                values,
            } => {
                let column = self.columns.get(attribute);
                let positive = match column {
                    None => RoaringBitmap::new(),
                    Some(column) => condition(column, *op, values),
                };
                match op {
                    Op::Ne | Op::NotIn => universe - positive,
                    _ => positive & universe,
                }
            }
        }
    }
}

/// The members a condition's positive form selects; `!=` and `NOT IN` are the
/// complement of `=` and `IN` within the universe, which is how a member lacking the
/// attribute passes them.
fn condition(column: &Column, op: Op, values: &[Value]) -> RoaringBitmap {
    let first = values.first();
    match (op, first) {
        (Op::Eq | Op::Ne, Some(value)) => column.equal(value),
        (Op::In | Op::NotIn, _) => values
            .iter()
            .fold(RoaringBitmap::new(), |acc, v| acc | column.equal(v)),
        (Op::Lt | Op::Le | Op::Gt | Op::Ge, Some(Value::Number(bound))) => column.range(op, *bound),
        (Op::StartsWith, Some(Value::Text(t))) => {
            column.text_matching(|v| v.starts_with(t.as_str()))
        }
        (Op::EndsWith, Some(Value::Text(t))) => column.text_matching(|v| v.ends_with(t.as_str())),
        (Op::Contains, Some(Value::Text(t))) => column.text_matching(|v| v.contains(t.as_str())),
        _ => RoaringBitmap::new(),
    }
}
