//! A checked rule compiled against an [`AttributeIndex`]: attributes become column
//! numbers and text values dictionary ids, so that one member is tested by comparing
//! integers, and every member at once by set algebra over postings.

use std::collections::HashMap;
use std::sync::Arc;

use roaring::RoaringBitmap;
use roster_rules::{Node, Op, Rule, Value};

use super::program::Program;
use super::{AttributeIndex, Cell, Column, NONE};

/// Where a rule reads one member's cells: the index itself, or a write not yet applied.
pub trait Cells {
    /// The member's value of an attribute, by number.
    fn cell(&self, attribute: usize) -> Cell<'_>;
}

/// Resolves a condition's attribute to a column number and its text values to
/// dictionary ids.
type Resolve<'r> = dyn FnMut(&str, &[Option<&str>]) -> (usize, Vec<u32>) + 'r;

/// The answers of text-operator conditions (`STARTS WITH`, `ENDS WITH`, `CONTAINS`) and
/// of comparisons over numbers with few distinct values, kept while a batch of rules is
/// evaluated: each costs a pass over the attribute's distinct values or a scan of its
/// column, and the rules of one workspace repeat them (`email ENDS WITH "@example.com"`,
/// `level >= 5` in many groups). Shared by the threads of the batch, dropped after.
#[derive(Debug, Default)]
pub struct SharedAnswers {
    answers: std::sync::Mutex<HashMap<(usize, Op, Operand), Arc<RoaringBitmap>>>,
}

/// What a shared answer was computed for, besides its attribute and operator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Operand {
    /// A text operand, folded.
    Text(String),
    /// A number bound, by its bits (comparisons never see `NaN`).
    Number(u64),
}

impl SharedAnswers {
    fn get_or_compute(
        &self,
        key: (usize, Op, Operand),
        compute: impl FnOnce() -> RoaringBitmap,
    ) -> Arc<RoaringBitmap> {
        if let Some(found) = self.answers.lock().ok().and_then(|a| a.get(&key).cloned()) {
            return found;
        }
        let answer = Arc::new(compute());
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert(key, answer.clone());
        }
        answer
    }
}

/// Comparisons are shared within a batch on number attributes with at most this many
/// distinct values: a few hundred bounds, each answer at most an eighth of a byte per
/// member, stay within tens of megabytes, while a bound drawn from thousands of values
/// is rarely asked twice.
const SHARED_RANGES_UP_TO: usize = 256;

/// Bits of a member set that one cost unit (about one distinct text value tested, a few
/// tens of nanoseconds) pays for in set algebra.
const BITS_PER_UNIT: u64 = 4096;

/// Number values one cost unit pays for in a scan of a number column.
const NUMBERS_PER_UNIT: u64 = 16;

/// Below this many members, an `AND` tests its remaining conditions member by member
/// rather than building the condition's whole posting set.
const FILTER_BELOW: u64 = 512;

#[derive(Debug, Clone)]
enum Tree {
    Any(Vec<Tree>),
    All(Vec<Tree>),
    Leaf(usize),
}

/// One condition, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    /// The column it reads (`usize::MAX` when the attribute has no column).
    pub(crate) attribute: usize,
    pub(crate) op: Op,
    pub(crate) values: Vec<Value>,
    /// By value: the dictionary id of a text value, else [`NONE`].
    pub(crate) ids: Vec<u32>,
}

impl Condition {
    fn text_equals(&self, at: usize, id: u32, folded: &str) -> bool {
        let known = self.ids.get(at).copied().unwrap_or(NONE);
        if known != NONE && id != NONE {
            return known == id;
        }
        matches!(self.values.get(at), Some(Value::Text(t)) if t == folded)
    }

    fn equals(&self, at: usize, cell: Cell<'_>) -> bool {
        match (cell, self.values.get(at)) {
            (Cell::Text { id, folded }, Some(Value::Text(_))) => self.text_equals(at, id, folded),
            (Cell::Number(n), Some(Value::Number(v))) => n == *v,
            (Cell::Bool(b), Some(Value::Bool(v))) => b == *v,
            _ => false,
        }
    }

    fn first_text(&self) -> &str {
        match self.values.first() {
            Some(Value::Text(t)) => t,
            _ => "",
        }
    }

    /// Whether the condition holds for a member's cell: the semantics of SPEC §3, the
    /// same as `Rule::matches` (a missing attribute passes only `!=` and `NOT IN`).
    pub(crate) fn test(&self, cell: Cell<'_>) -> bool {
        if cell == Cell::Missing {
            return matches!(self.op, Op::Ne | Op::NotIn);
        }
        match self.op {
            Op::Eq => self.equals(0, cell),
            Op::Ne => !self.equals(0, cell),
            Op::In => (0..self.values.len()).any(|at| self.equals(at, cell)),
            Op::NotIn => !(0..self.values.len()).any(|at| self.equals(at, cell)),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => match (cell, self.values.first()) {
                (Cell::Number(a), Some(Value::Number(b))) => match self.op {
                    Op::Lt => a < *b,
                    Op::Le => a <= *b,
                    Op::Gt => a > *b,
                    _ => a >= *b,
                },
                _ => false,
            },
            Op::StartsWith | Op::EndsWith | Op::Contains => match cell {
                Cell::Text { folded, .. } => {
                    let t = self.first_text();
                    match self.op {
                        Op::StartsWith => folded.starts_with(t),
                        Op::EndsWith => folded.ends_with(t),
                        _ => folded.contains(t),
                    }
                }
                _ => false,
            },
        }
    }

    /// At most what evaluating the condition over `members` members costs, in
    /// [`CompiledRule::cost`]'s units. A text operator that cannot use a sorted order
    /// tests every distinct value of its attribute; a comparison scans the column or
    /// walks the postings in range; `=` and `IN` look up each listed value; and each
    /// condition passes once over the running answer's bits.
    fn cost(&self, index: &AttributeIndex, members: u64) -> u64 {
        let set_algebra = members / BITS_PER_UNIT + 1;
        let Some(column) = index.column(self.attribute) else {
            return set_algebra;
        };
        let own = match self.op {
            Op::Eq | Op::Ne | Op::In | Op::NotIn => {
                (self.values.len() as u64).saturating_mul(set_algebra)
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => column.number.slots() / NUMBERS_PER_UNIT,
            Op::StartsWith | Op::EndsWith if column.text.ordered() => set_algebra,
            Op::StartsWith | Op::EndsWith | Op::Contains => column.text.scan_cost(),
        };
        own.saturating_add(set_algebra)
    }

    /// The members the condition's positive form selects (`=` for `!=`, `IN` for
    /// `NOT IN`).
    fn positive(&self, column: &Column) -> RoaringBitmap {
        match self.op {
            Op::Eq | Op::Ne | Op::In | Op::NotIn => {
                let mut out = column.text.equal_any(
                    &self
                        .ids
                        .iter()
                        .copied()
                        .filter(|id| *id != NONE)
                        .collect::<Vec<_>>(),
                );
                let numbers = self.values.iter().filter_map(|v| match v {
                    Value::Number(n) => Some(*n),
                    _ => None,
                });
                out |= column.number.equal_any(numbers);
                for value in &self.values {
                    if let Value::Bool(b) = value {
                        out |= column.boolean.equal(*b);
                    }
                }
                out
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => match self.values.first() {
                Some(Value::Number(bound)) => column.number.range(self.op, *bound),
                _ => RoaringBitmap::new(),
            },
            Op::StartsWith => column.text.starting_with(self.first_text()),
            Op::EndsWith => column.text.ending_with(self.first_text()),
            Op::Contains => column.text.containing(self.first_text()),
        }
    }
}

/// A rule ready to run against one [`AttributeIndex`].
#[derive(Debug, Clone)]
pub struct CompiledRule {
    root: Tree,
    program: Program,
    conditions: Vec<Condition>,
    filter_below: u64,
}

impl CompiledRule {
    /// Compiles a rule, giving its attributes columns and its text values dictionary ids
    /// so that later member writes compare ids with it. What a saved rule does. Whether
    /// its text operators get sorted orders is the caller's choice.
    pub fn compile(rule: &Rule, index: &mut AttributeIndex) -> Self {
        let mut conditions = Vec::new();
        let root = Self::tree(rule.root(), &mut conditions, &mut |name, texts| {
            let attribute = index.attribute_or_insert(name);
            let ids = texts
                .iter()
                .map(|t| t.map_or(NONE, |t| index.intern(attribute, t)))
                .collect();
            (attribute, ids)
        });
        Self::assemble(root, conditions)
    }

    /// Compiles a rule without touching the index: what a preview or a dry run does.
    /// Values no member holds get no id and are compared as text.
    pub fn compile_frozen(rule: &Rule, index: &AttributeIndex) -> Self {
        let mut conditions = Vec::new();
        let root = Self::tree(rule.root(), &mut conditions, &mut |name, texts| {
            let attribute = index.attribute(name).unwrap_or(usize::MAX);
            let ids = texts
                .iter()
                .map(|t| t.map_or(NONE, |t| index.text_id(attribute, t)))
                .collect();
            (attribute, ids)
        });
        Self::assemble(root, conditions)
    }

    fn assemble(root: Tree, conditions: Vec<Condition>) -> Self {
        let mut program = Program::default();
        Self::flatten(&root, &conditions, &mut program);
        CompiledRule {
            root,
            program,
            conditions,
            filter_below: FILTER_BELOW,
        }
    }

    fn flatten(tree: &Tree, conditions: &[Condition], program: &mut Program) {
        match tree {
            Tree::Any(items) | Tree::All(items) => {
                let at = program.open();
                for item in items {
                    Self::flatten(item, conditions, program);
                }
                program.close(at, matches!(tree, Tree::Any(_)));
            }
            Tree::Leaf(at) => {
                if let Some(condition) = conditions.get(*at) {
                    program.leaf(condition, *at);
                }
            }
        }
    }

    /// The rule as a program for testing one member.
    pub(crate) fn program(&self) -> &Program {
        &self.program
    }

    fn tree(node: &Node, conditions: &mut Vec<Condition>, resolve: &mut Resolve<'_>) -> Tree {
        match node {
            Node::Or(items) => Tree::Any(
                items
                    .iter()
                    .map(|n| Self::tree(n, conditions, resolve))
                    .collect(),
            ),
            Node::And(items) => Tree::All(
                items
                    .iter()
                    .map(|n| Self::tree(n, conditions, resolve))
                    .collect(),
            ),
            Node::Cond {
                attribute,
                op,
                values,
            } => {
                let texts: Vec<Option<&str>> = values
                    .iter()
                    .map(|v| match (op, v) {
                        (Op::Eq | Op::Ne | Op::In | Op::NotIn, Value::Text(t)) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect();
                let (column, ids) = resolve(attribute, &texts);
                conditions.push(Condition {
                    attribute: column,
                    op: *op,
                    values: values.clone(),
                    ids,
                });
                Tree::Leaf(conditions.len() - 1)
            }
        }
    }

    /// Sets the size below which an `AND` filters member by member. Both ways give the
    /// same answer; the tests run every rule with 0 (postings only) and `u64::MAX`
    /// (filtering only) to show it.
    pub fn with_filter_below(mut self, members: u64) -> Self {
        self.filter_below = members;
        self
    }

    /// The compiled conditions, in order; each reads one attribute.
    pub(crate) fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// The columns the rule reads (a column read twice is listed twice).
    pub fn attributes(&self) -> impl Iterator<Item = usize> + '_ {
        self.conditions.iter().map(|c| c.attribute)
    }

    /// At most what [`evaluate`](Self::evaluate) costs over `members` members of this
    /// index, in units of about one distinct text value tested (a few tens of
    /// nanoseconds): what a request that evaluates a rule is budgeted by, computed from
    /// the index's sizes without evaluating anything.
    pub fn cost(&self, index: &AttributeIndex, members: u64) -> u64 {
        self.conditions
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(c.cost(index, members)))
    }

    /// Whether the rule holds for one member.
    pub fn holds(&self, cells: &impl Cells) -> bool {
        self.program.holds(&self.conditions, cells)
    }

    /// Every member of `universe` for which the rule holds.
    pub fn evaluate(&self, index: &AttributeIndex, universe: &RoaringBitmap) -> RoaringBitmap {
        self.evaluate_at(&self.root, index, universe, None)
    }

    /// [`evaluate`](Self::evaluate), reusing the answers of text operators that other
    /// rules of the same batch computed.
    pub fn evaluate_sharing(
        &self,
        index: &AttributeIndex,
        universe: &RoaringBitmap,
        shared: &SharedAnswers,
    ) -> RoaringBitmap {
        self.evaluate_at(&self.root, index, universe, Some(shared))
    }

    fn evaluate_at(
        &self,
        tree: &Tree,
        index: &AttributeIndex,
        universe: &RoaringBitmap,
        shared: Option<&SharedAnswers>,
    ) -> RoaringBitmap {
        match tree {
            Tree::Any(items) => {
                let mut acc = RoaringBitmap::new();
                for item in items {
                    acc |= self.evaluate_at(item, index, universe, shared);
                }
                acc
            }
            Tree::All(items) => {
                let mut acc = universe.clone();
                for item in items {
                    if acc.is_empty() {
                        break;
                    }
                    match item {
                        // A condition narrows the running answer in place: no copy of it
                        // per condition.
                        Tree::Leaf(at) => self.narrow(*at, index, &mut acc, shared),
                        _ => acc = self.evaluate_at(item, index, &acc, shared),
                    }
                }
                acc
            }
            Tree::Leaf(at) => {
                let mut acc = universe.clone();
                self.narrow(*at, index, &mut acc, shared);
                acc
            }
        }
    }

    /// Keeps in `acc` only the members for which condition `at` holds.
    fn narrow(
        &self,
        at: usize,
        index: &AttributeIndex,
        acc: &mut RoaringBitmap,
        shared: Option<&SharedAnswers>,
    ) {
        let Some(condition) = self.conditions.get(at) else {
            acc.clear();
            return;
        };
        if acc.len() < self.filter_below {
            let cells = |slot| index.cell(condition.attribute, slot);
            *acc = acc
                .iter()
                .filter(|slot| condition.test(cells(*slot)))
                .collect();
            return;
        }
        let Some(column) = index.column(condition.attribute) else {
            if !matches!(condition.op, Op::Ne | Op::NotIn) {
                acc.clear();
            }
            return;
        };
        let shared_key = match (condition.op, shared) {
            (Op::StartsWith | Op::EndsWith | Op::Contains, Some(shared)) => {
                Some((shared, Operand::Text(condition.first_text().to_owned())))
            }
            (Op::Lt | Op::Le | Op::Gt | Op::Ge, Some(shared))
                if column.number.distinct() <= SHARED_RANGES_UP_TO =>
            {
                let bound = match condition.values.first() {
                    Some(Value::Number(n)) => Operand::Number(n.to_bits()),
                    _ => Operand::Text(String::new()),
                };
                Some((shared, bound))
            }
            _ => None,
        };
        if let Some((shared, operand)) = shared_key {
            let key = (condition.attribute, condition.op, operand);
            let positive = shared.get_or_compute(key, || condition.positive(column));
            *acc &= positive.as_ref();
            return;
        }
        let positive = condition.positive(column);
        match condition.op {
            Op::Ne | Op::NotIn => *acc -= positive,
            _ => *acc &= positive,
        }
    }
}
