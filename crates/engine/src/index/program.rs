//! A compiled rule as a flat program for testing one member, and the arena that keeps
//! every saved rule of a member kind side by side.
//!
//! A member write re-tests hundreds of rules for one member, so a rule is a run of
//! fixed-size steps whose subtrees follow their node (`AND`/`OR` skip what they need not
//! read), lists and operands sit inline or in small shared tables, and the arena holds
//! all of a kind's rules in one allocation ordered by group number. A rule with one
//! flipped condition is decided from that condition's place in the tree
//! ([`Programs::decide`]) rather than run whole twice.

use std::collections::HashMap;

use roster_rules::{Op, Value};

use super::compiled::Condition;
use super::{Cell, Cells, NONE};

/// One step of a program.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    /// Every one of the subtrees in the next `len` steps holds.
    All { len: u32 },
    /// At least one of the subtrees in the next `len` steps holds.
    Any { len: u32 },
    /// `=` (or with `negate`, `!=`) one interned text.
    Text {
        attribute: u32,
        id: u32,
        negate: bool,
    },
    /// `IN` (or with `negate`, `NOT IN`) the interned texts of the next `count` steps.
    TextIn {
        attribute: u32,
        count: u32,
        negate: bool,
    },
    /// A text id of the list before it.
    Id(u32),
    /// `=` or `!=` one boolean.
    Bool {
        attribute: u32,
        value: bool,
        negate: bool,
    },
    /// A comparison with one number (`=`, `!=`, `<`, `<=`, `>`, `>=`).
    Number { attribute: u32, op: Op, bound: f64 },
    /// `IN` (or with `negate`, `NOT IN`) the numbers of the next `count` steps.
    NumberIn {
        attribute: u32,
        count: u32,
        negate: bool,
    },
    /// A number of the list before it.
    Value(f64),
    /// `STARTS WITH`, `ENDS WITH` or `CONTAINS` the operand at `operand` in the
    /// program's operands.
    Scan {
        attribute: u32,
        op: Op,
        operand: u32,
    },
    /// Any other condition (one whose text values are not interned), by its place in the
    /// rule's conditions.
    General { condition: u32 },
}

impl Step {
    /// How many steps after this one belong to it.
    fn extent(self) -> usize {
        match self {
            Step::All { len } | Step::Any { len } => len as usize,
            Step::TextIn { count, .. } | Step::NumberIn { count, .. } => count as usize,
            _ => 0,
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A rule as steps, with the operands of its text operators.
#[derive(Debug, Clone, Default)]
pub(crate) struct Program {
    steps: Vec<Step>,
    operands: Vec<Box<str>>,
    /// Whether a step needs the rule's conditions ([`Step::General`]).
    general: bool,
    /// The step of each of the rule's conditions, by the condition's place.
    leaves: Vec<u32>,
}

impl Program {
    /// Starts a node of `AND` or `OR`; [`close`](Self::close) it after its children.
    pub(crate) fn open(&mut self) -> usize {
        self.steps.push(Step::All { len: 0 });
        self.steps.len() - 1
    }

    /// Ends the node opened at `at`.
    pub(crate) fn close(&mut self, at: usize, any: bool) {
        let len = count(self.steps.len() - at - 1);
        if let Some(step) = self.steps.get_mut(at) {
            *step = if any {
                Step::Any { len }
            } else {
                Step::All { len }
            };
        }
    }

    /// Adds the condition at `at` of the rule's conditions; conditions come in order.
    pub(crate) fn leaf(&mut self, condition: &Condition, at: usize) {
        if self.leaves.len() <= at {
            self.leaves.resize(at + 1, u32::MAX);
        }
        if let Some(leaf) = self.leaves.get_mut(at) {
            *leaf = count(self.steps.len());
        }
        let general = Step::General {
            condition: count(at),
        };
        let Ok(attribute) = u32::try_from(condition.attribute) else {
            self.general = true;
            self.steps.push(general);
            return;
        };
        let op = condition.op;
        let negate = matches!(op, Op::Ne | Op::NotIn);
        let interned = condition.ids.iter().all(|id| *id != NONE);
        let texts = condition.values.iter().all(|v| matches!(v, Value::Text(_)));
        let numbers: Option<Vec<f64>> = condition
            .values
            .iter()
            .map(|v| match v {
                Value::Number(n) => Some(*n),
                _ => None,
            })
            .collect();
        match (op, condition.values.as_slice()) {
            (Op::Eq | Op::Ne, [Value::Bool(value)]) => self.steps.push(Step::Bool {
                attribute,
                value: *value,
                negate,
            }),
            (Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge, [Value::Number(bound)]) => {
                self.steps.push(Step::Number {
                    attribute,
                    op,
                    bound: *bound,
                });
            }
            (Op::Eq | Op::Ne, [Value::Text(_)]) if interned => {
                let id = condition.ids.first().copied().unwrap_or(NONE);
                self.steps.push(Step::Text {
                    attribute,
                    id,
                    negate,
                });
            }
            (Op::In | Op::NotIn, _) if texts && interned => {
                self.steps.push(Step::TextIn {
                    attribute,
                    count: count(condition.ids.len()),
                    negate,
                });
                self.steps
                    .extend(condition.ids.iter().map(|id| Step::Id(*id)));
            }
            (Op::In | Op::NotIn, _) if numbers.is_some() => {
                let numbers = numbers.unwrap_or_default();
                self.steps.push(Step::NumberIn {
                    attribute,
                    count: count(numbers.len()),
                    negate,
                });
                self.steps.extend(numbers.into_iter().map(Step::Value));
            }
            (Op::StartsWith | Op::EndsWith | Op::Contains, [Value::Text(operand)]) => {
                let operand = self.operand(operand);
                self.steps.push(Step::Scan {
                    attribute,
                    op,
                    operand,
                });
            }
            _ => {
                self.general = true;
                self.steps.push(general);
            }
        }
    }

    fn operand(&mut self, text: &str) -> u32 {
        match self.operands.iter().position(|o| &**o == text) {
            Some(at) => count(at),
            None => {
                self.operands.push(text.into());
                count(self.operands.len() - 1)
            }
        }
    }

    /// Whether the rule holds for one member; `conditions` are the rule's, which only
    /// [`Step::General`] reads.
    pub(crate) fn holds(&self, conditions: &[Condition], cells: &impl Cells) -> bool {
        run(&self.steps, 0, &self.operands, conditions, cells)
    }

    /// The step of the rule's condition at `at`: where the readers point.
    pub(crate) fn leaf_step(&self, at: usize) -> u32 {
        self.leaves.get(at).copied().unwrap_or(u32::MAX)
    }

    fn operand_text(&self, at: u32) -> &str {
        self.operands.get(at as usize).map_or("", |o| o)
    }
}

/// Whether the subtree whose root is `steps[at]` holds for the member of `cells`.
fn run(
    steps: &[Step],
    at: usize,
    operands: &[Box<str>],
    conditions: &[Condition],
    cells: &impl Cells,
) -> bool {
    let Some(step) = steps.get(at).copied() else {
        return false;
    };
    match step {
        Step::All { len } | Step::Any { len } => {
            let any = matches!(step, Step::Any { .. });
            let end = at + 1 + len as usize;
            let mut child = at + 1;
            while child < end {
                if run(steps, child, operands, conditions, cells) == any {
                    return any;
                }
                child += 1 + steps.get(child).map_or(0, |s| s.extent());
            }
            !any
        }
        Step::General { condition } => conditions
            .get(condition as usize)
            .is_some_and(|c| c.test(cells.cell(c.attribute))),
        leaf => {
            let cell = leaf_attribute(leaf).map_or(Cell::Missing, |a| cells.cell(a as usize));
            test(steps, at, operands, cell)
        }
    }
}

/// Whether the subtree whose root is `steps[at]` holds for the member before and after
/// a write, in one walk: a condition on an attribute the write leaves alone (`changed`
/// says which it changes) is tested once for both.
fn run_pair(
    steps: &[Step],
    at: usize,
    operands: &[Box<str>],
    member: &Pair<'_, impl Cells, impl Cells>,
) -> (bool, bool) {
    let Some(step) = steps.get(at).copied() else {
        return (false, false);
    };
    match step {
        Step::All { len } | Step::Any { len } => {
            let any = matches!(step, Step::Any { .. });
            let end = at + 1 + len as usize;
            let mut child = at + 1;
            let (mut before, mut after) = (None, None);
            while child < end && (before.is_none() || after.is_none()) {
                let (b, a) = run_pair(steps, child, operands, member);
                if b == any {
                    before.get_or_insert(any);
                }
                if a == any {
                    after.get_or_insert(any);
                }
                child += 1 + steps.get(child).map_or(0, |s| s.extent());
            }
            (before.unwrap_or(!any), after.unwrap_or(!any))
        }
        // The arena keeps no program that needs its rule's conditions.
        Step::General { .. } => (false, false),
        leaf => {
            let Some(attribute) = leaf_attribute(leaf) else {
                return (false, false);
            };
            let before = test(steps, at, operands, member.before.cell(attribute as usize));
            let changed = member
                .changed
                .get(attribute as usize)
                .copied()
                .unwrap_or(true);
            let after = if changed {
                test(steps, at, operands, member.after.cell(attribute as usize))
            } else {
                before
            };
            (before, after)
        }
    }
}

/// A member before and after a write, and which attributes the write changes.
pub(crate) struct Pair<'a, B, A> {
    pub(crate) before: &'a B,
    pub(crate) after: &'a A,
    pub(crate) changed: &'a [bool],
}

/// The attribute a leaf step reads.
fn leaf_attribute(step: Step) -> Option<u32> {
    match step {
        Step::Text { attribute, .. }
        | Step::TextIn { attribute, .. }
        | Step::Bool { attribute, .. }
        | Step::Number { attribute, .. }
        | Step::NumberIn { attribute, .. }
        | Step::Scan { attribute, .. } => Some(attribute),
        _ => None,
    }
}

/// Whether the leaf at `steps[at]` holds for a cell: SPEC §3's semantics, the same as
/// [`Condition::test`] (a missing attribute passes only `!=` and `NOT IN`).
#[inline]
fn test(steps: &[Step], at: usize, operands: &[Box<str>], cell: Cell<'_>) -> bool {
    let Some(step) = steps.get(at).copied() else {
        return false;
    };
    let list = || steps.get(at + 1..at + 1 + step.extent()).unwrap_or(&[]);
    match step {
        Step::Text { id, negate, .. } => match cell {
            Cell::Text { id: have, .. } => (have == id) != negate,
            _ => negate,
        },
        Step::TextIn { negate, .. } => match cell {
            Cell::Text { id: have, .. } => {
                list()
                    .iter()
                    .any(|s| matches!(s, Step::Id(id) if *id == have))
                    != negate
            }
            _ => negate,
        },
        Step::Bool { value, negate, .. } => match cell {
            Cell::Bool(have) => (have == value) != negate,
            _ => negate,
        },
        Step::Number { op, bound, .. } => match cell {
            Cell::Number(n) => match op {
                Op::Eq => n == bound,
                Op::Ne => n != bound,
                Op::Lt => n < bound,
                Op::Le => n <= bound,
                Op::Gt => n > bound,
                _ => n >= bound,
            },
            _ => matches!(op, Op::Ne),
        },
        Step::NumberIn { negate, .. } => match cell {
            Cell::Number(n) => {
                list()
                    .iter()
                    .any(|s| matches!(s, Step::Value(v) if *v == n))
                    != negate
            }
            _ => negate,
        },
        Step::Scan {
            op, operand: at, ..
        } => match cell {
            Cell::Text { folded, .. } => {
                let operand = operands.get(at as usize).map_or("", |o| &**o);
                match op {
                    Op::StartsWith => folded.starts_with(operand),
                    Op::EndsWith => folded.ends_with(operand),
                    _ => folded.contains(operand),
                }
            }
            _ => false,
        },
        _ => false,
    }
}

/// Where a group's program lies in the arena.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// The programs of every saved rule of one member kind, by group number, in one
/// allocation; operands are shared by every rule that names them. A program that needs
/// its rule's conditions is not kept here ([`holds`](Self::holds) answers `None`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Programs {
    steps: Vec<Step>,
    spans: Vec<Span>,
    operands: Vec<Box<str>>,
    operand_numbers: HashMap<Box<str>, u32>,
    /// Steps of programs since removed, reclaimed once they outnumber the live ones.
    dead: usize,
}

impl Programs {
    /// Keeps `program` as group `number`'s, replacing any it had.
    pub(crate) fn insert(&mut self, number: usize, program: &Program) {
        self.remove(number);
        if program.general {
            return;
        }
        let start = count(self.steps.len());
        for step in &program.steps {
            let step = match *step {
                Step::Scan {
                    attribute,
                    op,
                    operand,
                } => Step::Scan {
                    attribute,
                    op,
                    operand: self.operand(program.operand_text(operand)),
                },
                other => other,
            };
            self.steps.push(step);
        }
        if self.spans.len() <= number {
            self.spans.resize(number + 1, Span::default());
        }
        if let Some(span) = self.spans.get_mut(number) {
            *span = Span {
                start,
                len: count(program.steps.len()),
            };
        }
    }

    fn operand(&mut self, text: &str) -> u32 {
        if let Some(at) = self.operand_numbers.get(text) {
            return *at;
        }
        let at = count(self.operands.len());
        self.operands.push(text.into());
        self.operand_numbers.insert(text.into(), at);
        at
    }

    /// Forgets group `number`'s program.
    pub(crate) fn remove(&mut self, number: usize) {
        let Some(span) = self.spans.get_mut(number) else {
            return;
        };
        self.dead += span.len as usize;
        *span = Span::default();
        if self.dead > 4096 && self.dead * 2 > self.steps.len() {
            self.compact();
        }
    }

    /// Moves the live programs together.
    fn compact(&mut self) {
        let mut steps = Vec::with_capacity(self.steps.len() - self.dead);
        for span in &mut self.spans {
            let from = span.start as usize;
            let live = self
                .steps
                .get(from..from + span.len as usize)
                .unwrap_or(&[]);
            span.start = count(steps.len());
            steps.extend_from_slice(live);
        }
        self.steps = steps;
        self.dead = 0;
    }

    /// Whether group `number`'s rule holds for the member before and after a write;
    /// `None` when the arena does not keep the group's program.
    pub(crate) fn holds_pair(
        &self,
        number: usize,
        member: &Pair<'_, impl Cells, impl Cells>,
    ) -> Option<(bool, bool)> {
        let span = self.spans.get(number).filter(|s| s.len > 0)?;
        let from = span.start as usize;
        let steps = self.steps.get(from..from + span.len as usize)?;
        Some(run_pair(steps, 0, &self.operands, member))
    }

    /// Whether a write that flips only the condition at `leaf` (a step of group
    /// `number`'s program) flips the rule, and if so whether the rule then holds; `None`
    /// when the arena does not keep the group's program.
    ///
    /// Rules are monotone in their conditions (`AND`, `OR`, no `NOT`), so the rule flips
    /// exactly when the condition decides it: every other child of each `AND` above it
    /// holds and every other child of each `OR` above it fails. Those children read no
    /// flipped condition, so they are tested once, and the walk stops at the first that
    /// settles the rule either way; most candidate rules are dismissed after a test or
    /// two instead of being run twice in full.
    pub(crate) fn decide(
        &self,
        number: usize,
        leaf: u32,
        member: &Pair<'_, impl Cells, impl Cells>,
    ) -> Option<Option<bool>> {
        let span = self.spans.get(number).filter(|s| s.len > 0)?;
        let from = span.start as usize;
        let steps = self.steps.get(from..from + span.len as usize)?;
        let leaf = leaf as usize;
        let attribute = steps.get(leaf).copied().and_then(leaf_attribute)? as usize;
        let before = test(steps, leaf, &self.operands, member.before.cell(attribute));
        let after = test(steps, leaf, &self.operands, member.after.cell(attribute));
        if before == after {
            return Some(None);
        }
        let mut at = 0;
        while at < leaf {
            let Some(step @ (Step::All { len } | Step::Any { len })) = steps.get(at).copied()
            else {
                return None;
            };
            let any = matches!(step, Step::Any { .. });
            let end = at + 1 + len as usize;
            let mut child = at + 1;
            let mut into = None;
            while child < end {
                let next = child + 1 + steps.get(child).map_or(0, |s| s.extent());
                if (child..next).contains(&leaf) {
                    into = Some(child);
                } else if run(steps, child, &self.operands, &[], member.after) == any {
                    return Some(None);
                }
                child = next;
            }
            at = into?;
        }
        (at == leaf).then_some(Some(after))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use roster_rules::{AttrType, Schema};

    use super::super::{AttributeIndex, CompiledRule, SlotCells, ValueRef};
    use super::*;

    /// Programs kept in the arena answer as their rules do, before and after most of
    /// them are removed and the arena is compacted.
    #[test]
    fn arena_answers_as_the_rules_through_removals_and_compaction() {
        let schema = Schema::new()
            .with("team", AttrType::Text)
            .with("level", AttrType::Number)
            .with("remote", AttrType::Boolean);
        let mut index = AttributeIndex::default();
        let team = index.attribute_or_insert("team");
        let level = index.attribute_or_insert("level");
        let remote = index.attribute_or_insert("remote");
        for slot in 0..20u32 {
            index.set(
                team,
                slot,
                Some(ValueRef::Text(&format!("Team-{}", slot % 4))),
            );
            index.set(level, slot, Some(ValueRef::Number(f64::from(slot % 7))));
            if slot % 3 != 0 {
                index.set(remote, slot, Some(ValueRef::Bool(slot % 2 == 0)));
            }
        }
        let texts = [
            r#"team = "team-1" OR (level >= 3 AND remote = true)"#,
            r#"team IN ("team-0", "team-2") AND level NOT IN (1, 2)"#,
            r#"team STARTS WITH "team-" AND (team ENDS WITH "3" OR remote != false)"#,
            r#"level < 4 OR team CONTAINS "2""#,
        ];
        let rules: Vec<CompiledRule> = texts
            .iter()
            .map(|t| CompiledRule::compile(&roster_rules::compile(t, &schema).unwrap(), &mut index))
            .collect();
        let mut arena = Programs::default();
        let copies = 2_000;
        for number in 0..copies {
            arena.insert(number, rules[number % rules.len()].program());
        }
        let check = |arena: &Programs, numbers: &mut dyn Iterator<Item = usize>| {
            for number in numbers {
                let rule = &rules[number % rules.len()];
                for slot in 0..20 {
                    let cells = SlotCells {
                        index: &index,
                        slot,
                    };
                    let pair = Pair {
                        before: &cells,
                        after: &cells,
                        changed: &[],
                    };
                    let expected = rule.holds(&cells);
                    assert_eq!(
                        arena.holds_pair(number, &pair),
                        Some((expected, expected)),
                        "group {number}, slot {slot}"
                    );
                }
            }
        };
        check(&arena, &mut (0..copies));
        let full = arena.steps.len();
        for number in (0..copies).filter(|n| n % 10 != 0) {
            arena.remove(number);
        }
        assert!(
            arena.steps.len() < full / 2,
            "compaction reclaimed the removed programs"
        );
        check(&arena, &mut (0..copies).filter(|n| n % 10 == 0));
        assert_eq!(
            arena.holds_pair(
                1,
                &Pair {
                    before: &SlotCells {
                        index: &index,
                        slot: 0
                    },
                    after: &SlotCells {
                        index: &index,
                        slot: 0
                    },
                    changed: &[]
                }
            ),
            None
        );
    }
}
