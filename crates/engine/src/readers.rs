//! Which conditions of which dynamic groups read an attribute, arranged so that a change
//! of one member's value finds the few conditions whose truth can change without testing
//! the others: `=`/`IN` and their negations by the values they name (they can only flip
//! when the old or the new value is one of them), comparisons by their bound (only a
//! bound between the old and the new number can flip), and the text operators in a list
//! that is tested whole.

use std::collections::{BTreeMap, HashMap};

use roster_rules::{Op, Value};

use crate::index::{Cell, NumberKey, NONE};

/// A condition of a group: the group's number and the condition's place in its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Reader {
    pub(crate) group: u32,
    pub(crate) condition: u32,
}

/// The readers of one attribute.
#[derive(Debug, Clone, Default)]
pub(crate) struct AttributeReaders {
    texts: HashMap<u32, Vec<Reader>>,
    numbers: HashMap<NumberKey, Vec<Reader>>,
    bools: [Vec<Reader>; 2],
    bounds: BTreeMap<NumberKey, Vec<Reader>>,
    scanned: Vec<Reader>,
}

fn remove_from(list: &mut Vec<Reader>, group: u32) {
    list.retain(|r| r.group != group);
}

impl AttributeReaders {
    /// Files a condition: `values` as compiled, `ids` the dictionary ids of its text
    /// values.
    pub(crate) fn add(&mut self, reader: Reader, op: Op, values: &[Value], ids: &[u32]) {
        match op {
            Op::Eq | Op::Ne | Op::In | Op::NotIn => {
                for (at, value) in values.iter().enumerate() {
                    let list = match value {
                        Value::Text(_) => match ids.get(at).copied().unwrap_or(NONE) {
                            NONE => continue,
                            id => self.texts.entry(id).or_default(),
                        },
                        Value::Number(n) => self.numbers.entry(NumberKey::new(*n)).or_default(),
                        Value::Bool(b) => &mut self.bools[usize::from(*b)],
                    };
                    list.push(reader);
                }
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                if let Some(Value::Number(bound)) = values.first() {
                    self.bounds
                        .entry(NumberKey::new(*bound))
                        .or_default()
                        .push(reader);
                }
            }
            Op::StartsWith | Op::EndsWith | Op::Contains => self.scanned.push(reader),
        }
    }

    /// Forgets every condition of a group.
    pub(crate) fn remove_group(&mut self, group: u32) {
        self.texts.values_mut().for_each(|l| remove_from(l, group));
        self.texts.retain(|_, l| !l.is_empty());
        self.numbers
            .values_mut()
            .for_each(|l| remove_from(l, group));
        self.numbers.retain(|_, l| !l.is_empty());
        self.bounds.values_mut().for_each(|l| remove_from(l, group));
        self.bounds.retain(|_, l| !l.is_empty());
        self.bools.iter_mut().for_each(|l| remove_from(l, group));
        remove_from(&mut self.scanned, group);
    }

    /// Every reader, in no particular order.
    pub(crate) fn all(&self) -> impl Iterator<Item = Reader> + '_ {
        self.texts
            .values()
            .chain(self.numbers.values())
            .chain(self.bounds.values())
            .chain(&self.bools)
            .chain(std::iter::once(&self.scanned))
            .flatten()
            .copied()
    }

    /// The conditions whose truth a change from `before` to `after` can flip (a superset:
    /// the caller tests each).
    pub(crate) fn candidates(&self, before: Cell<'_>, after: Cell<'_>, out: &mut Vec<Reader>) {
        for cell in [before, after] {
            let list = match cell {
                Cell::Text { id, .. } if id != NONE => self.texts.get(&id),
                Cell::Number(n) => self.numbers.get(&NumberKey::new(n)),
                Cell::Bool(b) => self.bools.get(usize::from(b)),
                _ => None,
            };
            out.extend(list.into_iter().flatten());
        }
        match (before, after) {
            (Cell::Number(a), Cell::Number(b)) => {
                let (low, high) = if a <= b { (a, b) } else { (b, a) };
                let range = NumberKey::new(low)..=NumberKey::new(high);
                out.extend(self.bounds.range(range).flat_map(|(_, l)| l));
            }
            (Cell::Number(_), _) | (_, Cell::Number(_)) => {
                out.extend(self.bounds.values().flatten());
            }
            _ => {}
        }
        out.extend(&self.scanned);
    }
}
