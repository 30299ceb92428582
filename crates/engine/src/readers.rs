//! Which conditions of which dynamic groups read an attribute, arranged so that a change
//! of one member's value finds exactly the conditions whose truth it flips, without
//! reading the groups' rules: `=`/`IN` and their negations by the values they name (such
//! a condition flips when exactly one of the old and the new value is among them),
//! comparisons by their bound (only a bound between the old and the new number can
//! flip), and the text operators by operator and operand, each distinct operand tested
//! once.

use std::collections::{BTreeMap, HashMap};

use roster_rules::{Op, Value};

use crate::index::{Cell, NumberKey, NONE};

/// A condition of a group: the group's number and where the condition's step lies in
/// the group's program, which is what a flipped condition's rule is re-tested from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Reader {
    pub(crate) group: u32,
    pub(crate) step: u32,
}

/// Comparisons with one bound.
type Comparisons = Vec<(Reader, Op)>;

/// The readers of one attribute.
#[derive(Debug, Clone, Default)]
pub(crate) struct AttributeReaders {
    texts: HashMap<u32, Vec<Reader>>,
    numbers: HashMap<NumberKey, Vec<Reader>>,
    bools: [Vec<Reader>; 2],
    bounds: BTreeMap<NumberKey, Comparisons>,
    scanned: HashMap<(Op, Box<str>), Vec<Reader>>,
}

fn remove_from(list: &mut Vec<Reader>, group: u32) {
    list.retain(|r| r.group != group);
}

fn passes(op: Op, value: f64, bound: f64) -> bool {
    match op {
        Op::Lt => value < bound,
        Op::Le => value <= bound,
        Op::Gt => value > bound,
        _ => value >= bound,
    }
}

fn text_passes(op: Op, cell: Cell<'_>, operand: &str) -> bool {
    let Cell::Text { folded, .. } = cell else {
        return false;
    };
    match op {
        Op::StartsWith => folded.starts_with(operand),
        Op::EndsWith => folded.ends_with(operand),
        _ => folded.contains(operand),
    }
}

/// The readers in exactly one of two sorted lists.
fn symmetric_difference(a: &[Reader], b: &[Reader], out: &mut Vec<Reader>) {
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => {
                out.push(*x);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(*y);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    out.extend(a.get(i..).into_iter().flatten());
    out.extend(b.get(j..).into_iter().flatten());
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
                    // Once per list, however often the value is named, and sorted: a
                    // reader found in both the old and the new value's lists does not
                    // flip, which a merge of the two finds.
                    if let Err(at) = list.binary_search(&reader) {
                        list.insert(at, reader);
                    }
                }
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                if let Some(Value::Number(bound)) = values.first() {
                    self.bounds
                        .entry(NumberKey::new(*bound))
                        .or_default()
                        .push((reader, op));
                }
            }
            Op::StartsWith | Op::EndsWith | Op::Contains => {
                let operand = match values.first() {
                    Some(Value::Text(t)) => t.as_str(),
                    _ => "",
                };
                self.scanned
                    .entry((op, operand.into()))
                    .or_default()
                    .push(reader);
            }
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
        self.bounds
            .values_mut()
            .for_each(|l| l.retain(|(r, _)| r.group != group));
        self.bounds.retain(|_, l| !l.is_empty());
        self.bools.iter_mut().for_each(|l| remove_from(l, group));
        self.scanned
            .values_mut()
            .for_each(|l| remove_from(l, group));
        self.scanned.retain(|_, l| !l.is_empty());
    }

    /// Whether no condition reads the attribute.
    pub(crate) fn is_empty(&self) -> bool {
        self.texts.is_empty()
            && self.numbers.is_empty()
            && self.bools.iter().all(Vec::is_empty)
            && self.bounds.is_empty()
            && self.scanned.is_empty()
    }

    /// Every reader, in no particular order.
    pub(crate) fn all(&self) -> impl Iterator<Item = Reader> + '_ {
        self.texts
            .values()
            .chain(self.numbers.values())
            .chain(&self.bools)
            .chain(self.scanned.values())
            .flatten()
            .copied()
            .chain(self.bounds.values().flatten().map(|(r, _)| *r))
    }

    /// The conditions a change from `before` to `after` flips (a group may have more
    /// than one).
    pub(crate) fn flipped(&self, before: Cell<'_>, after: Cell<'_>, out: &mut Vec<Reader>) {
        let named = |cell: Cell<'_>| -> &[Reader] {
            let list = match cell {
                Cell::Text { id, .. } if id != NONE => self.texts.get(&id),
                Cell::Number(n) => self.numbers.get(&NumberKey::new(n)),
                Cell::Bool(b) => self.bools.get(usize::from(b)),
                _ => None,
            };
            list.map_or(&[], Vec::as_slice)
        };
        symmetric_difference(named(before), named(after), out);
        let number = |cell: Cell<'_>| match cell {
            Cell::Number(n) => Some(n),
            _ => None,
        };
        let comparisons: Box<dyn Iterator<Item = (&NumberKey, &Comparisons)>> =
            match (number(before), number(after)) {
                (None, None) => Box::new(std::iter::empty()),
                (Some(a), Some(b)) => {
                    let (low, high) = if a <= b { (a, b) } else { (b, a) };
                    Box::new(
                        self.bounds
                            .range(NumberKey::new(low)..=NumberKey::new(high)),
                    )
                }
                _ => Box::new(self.bounds.iter()),
            };
        for (bound, readers) in comparisons {
            for (reader, op) in readers {
                let was = number(before).is_some_and(|n| passes(*op, n, bound.value()));
                let is = number(after).is_some_and(|n| passes(*op, n, bound.value()));
                if was != is {
                    out.push(*reader);
                }
            }
        }
        for ((op, operand), readers) in &self.scanned {
            if text_passes(*op, before, operand) != text_passes(*op, after, operand) {
                out.extend(readers.iter());
            }
        }
    }
}
