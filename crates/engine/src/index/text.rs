//! A text attribute: one dictionary of the distinct strings (as given and lower-cased),
//! the dictionary id of each member's value, and postings per lower-cased value. Two
//! sorted orders of the lower-cased values answer `STARTS WITH` and `ENDS WITH` by a
//! range, not by testing every distinct value; they are kept only for attributes that
//! a saved rule reads with those operators, since keeping them for a million emails
//! nobody prefixes would cost a fifth of the load time.

use std::borrow::Cow;
use std::cmp::Ordering;

use indexmap::IndexSet;

/// The dictionary: strings by id. Hashed with foldhash: the keys are member values,
/// and loading a million members hashes each of their texts.
type Dictionary = IndexSet<Box<str>, foldhash::fast::RandomState>;
use roaring::RoaringBitmap;

use super::postings::{scan, union, worth_scanning, Postings};
use super::NONE;

/// Lower-cased dictionary ids in one order, kept sorted lazily: new ids go to a tail that
/// is merged in once it grows past an eighth of the sorted part, so that keeping the
/// order costs amortized `O(log n)` per new value rather than a sort per query.
#[derive(Debug, Clone, Default)]
struct Order {
    sorted: Vec<u32>,
    tail: Vec<u32>,
}

impl Order {
    fn push(&mut self, id: u32, strings: &Dictionary, cmp: fn(&str, &str) -> Ordering) {
        self.tail.push(id);
        if self.tail.len() > 256.max(self.sorted.len() / 8) {
            let text = |id: &u32| strings.get_index(*id as usize).map_or("", |s| s.as_ref());
            self.tail.sort_unstable_by(|a, b| cmp(text(a), text(b)));
            let mut merged = Vec::with_capacity(self.sorted.len() + self.tail.len());
            let (mut a, mut b) = (self.sorted.iter().peekable(), self.tail.iter().peekable());
            while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
                if cmp(text(x), text(y)) == Ordering::Greater {
                    merged.push(**y);
                    b.next();
                } else {
                    merged.push(**x);
                    a.next();
                }
            }
            merged.extend(a);
            merged.extend(b);
            self.sorted = merged;
            self.tail.clear();
        }
    }

    /// The ids whose string, in this order, starts with `key`: a binary search over the
    /// sorted part and a scan of the short tail.
    fn starting<'a>(
        &'a self,
        strings: &'a Dictionary,
        below: impl Fn(&str) -> bool,
        within: impl Fn(&str) -> bool + Copy + 'a,
    ) -> impl Iterator<Item = u32> + 'a {
        let text = move |id: u32| strings.get_index(id as usize).map_or("", |s| s.as_ref());
        let start = self.sorted.partition_point(|id| below(text(*id)));
        let sorted = self.sorted.get(start..).unwrap_or_default();
        sorted
            .iter()
            .copied()
            .take_while(move |id| within(text(*id)))
            .chain(
                self.tail
                    .iter()
                    .copied()
                    .filter(move |id| within(text(*id))),
            )
    }
}

fn forward(a: &str, b: &str) -> Ordering {
    a.cmp(b)
}

fn backward(a: &str, b: &str) -> Ordering {
    a.bytes().rev().cmp(b.bytes().rev())
}

/// The text values of one attribute.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextColumn {
    /// Every distinct string, as given and lower-cased; its index is its id.
    strings: Dictionary,
    /// By id: the id of the string's lower-cased form (itself when already lower-case).
    folded_of: Vec<u32>,
    /// By id: the members whose value folds to it (empty for ids that are not folded).
    postings: Vec<Postings>,
    /// By slot: the id of the member's value as given, or [`NONE`].
    by_slot: Vec<u32>,
    /// Whether the two orders are kept.
    ordered: bool,
    prefixes: Order,
    suffixes: Order,
    /// The bytes of the lower-cased values, which a scan reads.
    folded_bytes: u64,
}

/// Bytes of lower-cased values one cost unit pays for when a scan searches them (a
/// substring search reads a few bytes a nanosecond).
const BYTES_PER_UNIT: u64 = 32;

impl TextColumn {
    fn intern_folded(&mut self, folded: &str) -> u32 {
        if let Some(id) = self.strings.get_index_of(folded) {
            return id as u32;
        }
        let (id, _) = self.strings.insert_full(folded.into());
        self.folded_bytes = self.folded_bytes.saturating_add(folded.len() as u64);
        let id = id as u32;
        self.folded_of.push(id);
        self.postings.push(Postings::Empty);
        if self.ordered {
            self.prefixes.push(id, &self.strings, forward);
            self.suffixes.push(id, &self.strings, backward);
        }
        id
    }

    /// Starts keeping the sorted orders, for a rule about to read the attribute with
    /// `STARTS WITH` or `ENDS WITH`.
    pub(crate) fn keep_orders(&mut self) {
        if self.ordered {
            return;
        }
        self.ordered = true;
        let folded: Vec<u32> = self.folded_ids().collect();
        let text = |id: &u32| {
            self.strings
                .get_index(*id as usize)
                .map_or("", |s| s.as_ref())
        };
        let mut prefixes = folded.clone();
        prefixes.sort_unstable_by(|a, b| forward(text(a), text(b)));
        let mut suffixes = folded;
        suffixes.sort_unstable_by(|a, b| backward(text(a), text(b)));
        self.prefixes = Order {
            sorted: prefixes,
            tail: Vec::new(),
        };
        self.suffixes = Order {
            sorted: suffixes,
            tail: Vec::new(),
        };
    }

    /// The ids of the lower-cased values.
    fn folded_ids(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .zip(&self.folded_of)
            .filter(|(id, folded)| id == *folded)
            .map(|(id, _)| id)
    }

    /// The members whose lower-cased value passes a test, one test per distinct value.
    fn scan(&self, test: impl Fn(&str) -> bool) -> RoaringBitmap {
        let ids: Vec<u32> = self
            .folded_ids()
            .filter(|id| test(self.text(*id)))
            .collect();
        self.holding(ids)
    }

    /// The members holding one of the lower-cased values `ids`: their postings' union
    /// when few members hold them, else one pass over the members' values.
    fn holding(&self, ids: Vec<u32>) -> RoaringBitmap {
        let answer: u64 = ids
            .iter()
            .filter_map(|id| self.postings.get(*id as usize))
            .map(Postings::len)
            .sum();
        if !worth_scanning(answer, self.by_slot.len()) {
            return union(ids.iter().filter_map(|id| self.postings.get(*id as usize)));
        }
        let mut matched = vec![false; self.strings.len()];
        for id in ids {
            if let Some(m) = matched.get_mut(id as usize) {
                *m = true;
            }
        }
        // By the id of a value as given (what a slot holds), with one more entry for
        // `NONE` so that the scan reads without a branch.
        let mut by_exact: Vec<bool> = self
            .folded_of
            .iter()
            .map(|folded| matched.get(*folded as usize).copied().unwrap_or(false))
            .collect();
        let missing = by_exact.len();
        by_exact.push(false);
        scan(&self.by_slot, |id| {
            let at = (id as usize).min(missing);
            by_exact.get(at).copied().unwrap_or(false)
        })
    }

    /// The id of a string as given, adding it (and its lower-cased form) if new.
    fn intern(&mut self, text: &str) -> u32 {
        if let Some(id) = self.strings.get_index_of(text) {
            return id as u32;
        }
        let folded = match roster_rules::fold(text) {
            Cow::Borrowed(_) => return self.intern_folded(text),
            Cow::Owned(folded) => folded,
        };
        let folded_id = self.intern_folded(&folded);
        let (id, _) = self.strings.insert_full(text.into());
        self.folded_of.push(folded_id);
        self.postings.push(Postings::Empty);
        id as u32
    }

    /// The id of a lower-cased value, adding it to the dictionary (with no members) if
    /// new, so that a rule compiled now keeps comparing ids when members gain the value.
    pub(crate) fn intern_value(&mut self, folded: &str) -> u32 {
        self.intern_folded(folded)
    }

    /// The id of a lower-cased value, or [`NONE`] when no member has it and no rule named
    /// it.
    pub(crate) fn value_id(&self, folded: &str) -> u32 {
        self.strings
            .get_index_of(folded)
            .and_then(|id| self.folded_of.get(id).copied())
            .unwrap_or(NONE)
    }

    pub(crate) fn set(&mut self, slot: u32, value: Option<&str>) {
        self.clear(slot);
        let Some(value) = value else { return };
        let id = self.intern(value);
        let folded = self.folded_of.get(id as usize).copied().unwrap_or(id);
        if let Some(postings) = self.postings.get_mut(folded as usize) {
            postings.insert(slot);
        }
        let at = slot as usize;
        if self.by_slot.len() <= at {
            self.by_slot.resize(at + 1, NONE);
        }
        self.by_slot[at] = id;
    }

    pub(crate) fn clear(&mut self, slot: u32) {
        let Some(old) = self.by_slot.get_mut(slot as usize) else {
            return;
        };
        if *old == NONE {
            return;
        }
        let folded = self.folded_of.get(*old as usize).copied().unwrap_or(*old);
        *old = NONE;
        if let Some(postings) = self.postings.get_mut(folded as usize) {
            postings.remove(slot);
        }
    }

    fn text(&self, id: u32) -> &str {
        self.strings
            .get_index(id as usize)
            .map_or("", |s| s.as_ref())
    }

    /// A member's value as given.
    pub(crate) fn exact(&self, slot: u32) -> Option<&str> {
        let id = *self.by_slot.get(slot as usize)?;
        (id != NONE).then(|| self.text(id))
    }

    /// A member's value lower-cased, with its id.
    pub(crate) fn folded(&self, slot: u32) -> Option<(u32, &str)> {
        let id = *self.by_slot.get(slot as usize)?;
        if id == NONE {
            return None;
        }
        let folded = self.folded_of.get(id as usize).copied().unwrap_or(id);
        Some((folded, self.text(folded)))
    }

    /// Some member whose value folds to `folded`.
    pub(crate) fn holder(&self, folded: &str) -> Option<u32> {
        let id = self.value_id(folded);
        self.postings.get(id as usize)?.first()
    }

    /// Every member that has a text value.
    pub(crate) fn holders(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .zip(&self.by_slot)
            .filter(|(_, id)| **id != NONE)
            .map(|(slot, _)| slot)
    }

    /// Members whose value folds to one of `ids`.
    pub(crate) fn equal_any(&self, ids: &[u32]) -> RoaringBitmap {
        match ids {
            [one] => self
                .postings
                .get(*one as usize)
                .map(Postings::to_bitmap)
                .unwrap_or_default(),
            _ => union(ids.iter().filter_map(|id| self.postings.get(*id as usize))),
        }
    }

    /// What a scan of the values costs, in `CompiledRule::cost`'s units: one per string
    /// of the dictionary, and one per [`BYTES_PER_UNIT`] bytes of the values it searches,
    /// so that a few thousand very long values cost what they take.
    pub(crate) fn scan_cost(&self) -> u64 {
        (self.strings.len() as u64).saturating_add(self.folded_bytes / BYTES_PER_UNIT)
    }

    /// Whether `STARTS WITH` and `ENDS WITH` are answered from the sorted orders.
    pub(crate) fn ordered(&self) -> bool {
        self.ordered
    }

    pub(crate) fn starting_with(&self, prefix: &str) -> RoaringBitmap {
        if !self.ordered {
            return self.scan(|s| s.starts_with(prefix));
        }
        let ids = self.prefixes.starting(
            &self.strings,
            |s| s < prefix,
            move |s: &str| s.starts_with(prefix),
        );
        self.holding(ids.collect())
    }

    pub(crate) fn ending_with(&self, suffix: &str) -> RoaringBitmap {
        if !self.ordered {
            return self.scan(|s| s.ends_with(suffix));
        }
        let ids = self.suffixes.starting(
            &self.strings,
            |s| backward(s, suffix) == Ordering::Less,
            move |s: &str| s.ends_with(suffix),
        );
        self.holding(ids.collect())
    }

    pub(crate) fn containing(&self, needle: &str) -> RoaringBitmap {
        self.scan(|s| s.contains(needle))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn column(values: &[&str]) -> TextColumn {
        let mut c = TextColumn::default();
        for (slot, v) in values.iter().enumerate() {
            c.set(slot as u32, Some(v));
        }
        c
    }

    fn slots(set: RoaringBitmap) -> Vec<u32> {
        set.iter().collect()
    }

    #[test]
    fn ranges_match_a_scan_across_many_values() {
        let values: Vec<String> = (0..3000).map(|i| format!("V{}-{}", i % 37, i)).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut ordered = column(&refs[..1000]);
        ordered.keep_orders();
        for (slot, v) in refs.iter().enumerate().skip(1000) {
            ordered.set(slot as u32, Some(v));
        }
        for c in [column(&refs), ordered] {
            for probe in ["v1", "v12-", "v36-2999", "-1", "9", "x", ""] {
                let scan = |f: &dyn Fn(&str) -> bool| -> Vec<u32> {
                    (0..values.len() as u32)
                        .filter(|s| f(&roster_rules::fold(&values[*s as usize])))
                        .collect()
                };
                assert_eq!(
                    slots(c.starting_with(probe)),
                    scan(&|v| v.starts_with(probe)),
                    "{probe}"
                );
                assert_eq!(
                    slots(c.ending_with(probe)),
                    scan(&|v| v.ends_with(probe)),
                    "{probe}"
                );
                assert_eq!(
                    slots(c.containing(probe)),
                    scan(&|v| v.contains(probe)),
                    "{probe}"
                );
            }
        }
    }

    #[test]
    fn values_fold_case_and_keep_the_original() {
        let mut c = column(&["Berlin", "berlin", "BERLIN"]);
        assert_eq!(c.exact(0), Some("Berlin"));
        assert_eq!(c.folded(2).map(|(_, s)| s), Some("berlin"));
        assert_eq!(slots(c.equal_any(&[c.value_id("berlin")])), vec![0, 1, 2]);
        c.set(1, Some("Paris"));
        c.set(2, None);
        assert_eq!(slots(c.equal_any(&[c.value_id("berlin")])), vec![0]);
        assert_eq!(c.holder("paris"), Some(1));
        assert_eq!(c.holders().collect::<Vec<_>>(), vec![0, 1]);
    }
}
