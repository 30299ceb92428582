//! Members' attributes in columnar, dictionary-encoded form, with posting sets per value,
//! so that a rule over every member costs set operations about the size of the answer
//! rather than members × conditions. Columns are addressed by a dense attribute number,
//! so that the per-member path of a compiled rule never hashes a name.

mod boolean;
mod compiled;
mod number;
mod postings;
mod program;
mod text;

use std::collections::HashMap;

use boolean::BoolColumn;
use number::NumberColumn;
use text::TextColumn;

pub use compiled::{Cells, CompiledRule, SharedAnswers};
pub(crate) use postings::add;
pub(crate) use program::{Pair, Programs};

/// "No id": a slot without a value, or a text that is not in a dictionary.
pub(crate) const NONE: u32 = u32::MAX;

/// A number as a map key: ordered by `f64::total_cmp`, with `-0.0` folded into `0.0` so
/// that equal numbers share one key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NumberKey(f64);

impl NumberKey {
    pub(crate) fn new(value: f64) -> Self {
        NumberKey(if value == 0.0 { 0.0 } else { value })
    }

    pub(crate) fn value(self) -> f64 {
        self.0
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

impl std::hash::Hash for NumberKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// One member's value of one attribute as rules read it: text lower-cased, with its
/// dictionary id when it has one ([`NONE`] for a value no member holds yet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// The member lacks the attribute.
    Missing,
    /// Text, lower-cased.
    Text {
        /// The dictionary id of the lower-cased text, or `u32::MAX`.
        id: u32,
        /// The lower-cased text.
        folded: &'a str,
    },
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

/// A member's value as given (text in its original case), borrowed from wherever it
/// lives: the columns keep the original so that a member can be rebuilt from them.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    /// Text as given.
    Text(&'a str),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

impl ValueRef<'_> {
    /// Whether two values are the same value exactly (case and the sign of zero count),
    /// which is when a write changes nothing the member shows.
    pub fn same(self, other: ValueRef<'_>) -> bool {
        match (self, other) {
            (ValueRef::Text(a), ValueRef::Text(b)) => a == b,
            (ValueRef::Number(a), ValueRef::Number(b)) => a.to_bits() == b.to_bits(),
            (ValueRef::Bool(a), ValueRef::Bool(b)) => a == b,
            _ => false,
        }
    }
}

/// One attribute's values; a slot has a value in at most one of the three parts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Column {
    pub(crate) text: TextColumn,
    pub(crate) number: NumberColumn,
    pub(crate) boolean: BoolColumn,
}

impl Column {
    fn cell(&self, slot: u32) -> Cell<'_> {
        if let Some((id, folded)) = self.text.folded(slot) {
            Cell::Text { id, folded }
        } else if let Some(n) = self.number.get(slot) {
            Cell::Number(n)
        } else if let Some(b) = self.boolean.get(slot) {
            Cell::Bool(b)
        } else {
            Cell::Missing
        }
    }

    fn value(&self, slot: u32) -> Option<ValueRef<'_>> {
        if let Some(text) = self.text.exact(slot) {
            Some(ValueRef::Text(text))
        } else if let Some(n) = self.number.get(slot) {
            Some(ValueRef::Number(n))
        } else {
            self.boolean.get(slot).map(ValueRef::Bool)
        }
    }

    fn set(&mut self, slot: u32, value: Option<ValueRef<'_>>) {
        self.text.clear(slot);
        self.number.clear(slot);
        self.boolean.clear(slot);
        match value {
            Some(ValueRef::Text(t)) => self.text.set(slot, Some(t)),
            Some(ValueRef::Number(n)) => self.number.set(slot, Some(n)),
            Some(ValueRef::Bool(b)) => self.boolean.set(slot, Some(b)),
            None => {}
        }
    }
}

/// The attributes of the members of one kind, by slot.
#[derive(Debug, Clone, Default)]
pub struct AttributeIndex {
    numbers: HashMap<Box<str>, usize>,
    names: Vec<Box<str>>,
    columns: Vec<Column>,
}

impl AttributeIndex {
    /// The number of an attribute that has a column.
    pub fn attribute(&self, name: &str) -> Option<usize> {
        self.numbers.get(name).copied()
    }

    /// The number of an attribute, giving it a column if it has none.
    pub fn attribute_or_insert(&mut self, name: &str) -> usize {
        if let Some(number) = self.attribute(name) {
            return number;
        }
        let number = self.columns.len();
        self.numbers.insert(name.into(), number);
        self.names.push(name.into());
        self.columns.push(Column::default());
        number
    }

    /// Every attribute with a column, by number.
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }

    pub(crate) fn column(&self, attribute: usize) -> Option<&Column> {
        self.columns.get(attribute)
    }

    /// A member's value of an attribute as rules read it.
    pub fn cell(&self, attribute: usize, slot: u32) -> Cell<'_> {
        self.columns
            .get(attribute)
            .map_or(Cell::Missing, |c| c.cell(slot))
    }

    /// A member's value of an attribute as given.
    pub fn value(&self, attribute: usize, slot: u32) -> Option<ValueRef<'_>> {
        self.columns.get(attribute)?.value(slot)
    }

    /// Sets (or, with `None`, removes) a member's value of an attribute.
    pub fn set(&mut self, attribute: usize, slot: u32, value: Option<ValueRef<'_>>) {
        if let Some(column) = self.columns.get_mut(attribute) {
            column.set(slot, value);
        }
    }

    /// Files many new members' values at once: each column is filled by one task over
    /// all the members, the tasks spread over the machine's cores. Loading a workspace
    /// does this; filing a million members one at a time, each attribute in turn, was
    /// most of the start-up. Every attribute must already have its column, and the
    /// slots must hold no values yet.
    pub(crate) fn load<T: Sync>(
        &mut self,
        rows: &[(u32, T)],
        value: impl for<'t> Fn(&'t T, &str) -> Option<ValueRef<'t>> + Sync,
    ) {
        let tasks: Vec<(&str, &mut Column)> = self
            .names
            .iter()
            .map(|n| &**n)
            .zip(self.columns.iter_mut())
            .collect();
        let fill = |(name, column): (&str, &mut Column)| {
            for (slot, row) in rows {
                if let Some(value) = value(row, name) {
                    column.set(*slot, Some(value));
                }
            }
        };
        crate::cores::spread(tasks.into_iter(), fill);
    }

    /// The dictionary id of a lower-cased text value of an attribute, added if new.
    pub(crate) fn intern(&mut self, attribute: usize, folded: &str) -> u32 {
        self.columns
            .get_mut(attribute)
            .map_or(NONE, |c| c.text.intern_value(folded))
    }

    /// Keeps the sorted orders of an attribute's text values, which `STARTS WITH` and
    /// `ENDS WITH` then answer by a range instead of testing every distinct value.
    /// Building them costs about forty such tests per value, so the engine keeps them
    /// only where many rules would otherwise scan; answers are the same either way.
    pub fn keep_orders(&mut self, attribute: usize) {
        if let Some(column) = self.columns.get_mut(attribute) {
            column.text.keep_orders();
        }
    }

    /// The dictionary id of a lower-cased text value, or `u32::MAX` when unknown.
    pub fn text_id(&self, attribute: usize, folded: &str) -> u32 {
        self.columns
            .get(attribute)
            .map_or(NONE, |c| c.text.value_id(folded))
    }

    /// Some member whose text value of the attribute folds to `folded`: how a member is
    /// found by email without a second map of every address.
    pub fn text_holder(&self, attribute: usize, folded: &str) -> Option<u32> {
        self.columns.get(attribute)?.text.holder(folded)
    }

    /// Every member with a value of the attribute, in slot order.
    pub fn holders(&self, attribute: usize) -> Vec<u32> {
        let Some(c) = self.columns.get(attribute) else {
            return Vec::new();
        };
        let mut slots: Vec<u32> = c
            .text
            .holders()
            .chain(c.number.holders())
            .chain(c.boolean.holders())
            .collect();
        slots.sort_unstable();
        slots
    }
}

/// One member's cells read straight from the index.
pub struct SlotCells<'a> {
    /// The index.
    pub index: &'a AttributeIndex,
    /// The member's slot.
    pub slot: u32,
}

impl Cells for SlotCells<'_> {
    fn cell(&self, attribute: usize) -> Cell<'_> {
        self.index.cell(attribute, self.slot)
    }
}
