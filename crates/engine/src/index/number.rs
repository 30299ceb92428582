//! A number attribute: each member's value by slot, and postings per distinct value in
//! order, so that a comparison is a range of the map.

use std::collections::BTreeMap;
use std::ops::Bound;

use roaring::RoaringBitmap;
use roster_rules::Op;

use super::postings::{scan, union, worth_scanning, Postings};
use super::NumberKey;

/// The number values of one attribute.
#[derive(Debug, Clone, Default)]
pub(crate) struct NumberColumn {
    /// By slot; `NaN` where the member has no number (JSON cannot carry a `NaN`).
    by_slot: Vec<f64>,
    postings: BTreeMap<NumberKey, Postings>,
}

impl NumberColumn {
    pub(crate) fn set(&mut self, slot: u32, value: Option<f64>) {
        self.clear(slot);
        let Some(value) = value.filter(|v| !v.is_nan()) else {
            return;
        };
        self.postings
            .entry(NumberKey::new(value))
            .or_default()
            .insert(slot);
        let at = slot as usize;
        if self.by_slot.len() <= at {
            self.by_slot.resize(at + 1, f64::NAN);
        }
        self.by_slot[at] = value;
    }

    pub(crate) fn clear(&mut self, slot: u32) {
        let Some(old) = self.by_slot.get_mut(slot as usize) else {
            return;
        };
        if old.is_nan() {
            return;
        }
        let key = NumberKey::new(*old);
        *old = f64::NAN;
        if let Some(postings) = self.postings.get_mut(&key) {
            postings.remove(slot);
            if postings.is_empty() {
                self.postings.remove(&key);
            }
        }
    }

    pub(crate) fn get(&self, slot: u32) -> Option<f64> {
        self.by_slot
            .get(slot as usize)
            .copied()
            .filter(|v| !v.is_nan())
    }

    /// Every member that has a number.
    pub(crate) fn holders(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .zip(&self.by_slot)
            .filter(|(_, v)| !v.is_nan())
            .map(|(slot, _)| slot)
    }

    /// How many slots the column spans: what a scan of it reads.
    pub(crate) fn slots(&self) -> u64 {
        self.by_slot.len() as u64
    }

    /// How many distinct values members hold.
    pub(crate) fn distinct(&self) -> usize {
        self.postings.len()
    }

    /// Members whose number equals one of `values`.
    pub(crate) fn equal_any(&self, values: impl Iterator<Item = f64>) -> RoaringBitmap {
        union(values.filter_map(|v| self.postings.get(&NumberKey::new(v))))
    }

    /// Members whose number satisfies a comparison with `bound`.
    pub(crate) fn range(&self, op: Op, bound: f64) -> RoaringBitmap {
        let key = NumberKey::new(bound);
        let range = match op {
            Op::Lt => (Bound::Unbounded, Bound::Excluded(key)),
            Op::Le => (Bound::Unbounded, Bound::Included(key)),
            Op::Gt => (Bound::Excluded(key), Bound::Unbounded),
            _ => (Bound::Included(key), Bound::Unbounded),
        };
        let answer: u64 = self.postings.range(range).map(|(_, p)| p.len()).sum();
        if worth_scanning(answer, self.by_slot.len()) {
            let test = |n: f64| match op {
                Op::Lt => n < bound,
                Op::Le => n <= bound,
                Op::Gt => n > bound,
                _ => n >= bound,
            };
            // A missing value is NaN, which no comparison passes.
            return scan(&self.by_slot, test);
        }
        union(self.postings.range(range).map(|(_, p)| p))
    }
}
