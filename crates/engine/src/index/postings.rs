//! The members holding one value of an attribute.

use roaring::{MultiOps, RoaringBitmap};

/// A posting set. Most values of a high-cardinality attribute (emails, names, cost
/// centres) are held by exactly one member, and a bitmap for each would cost about a
/// hundred bytes where a `u32` does.
#[derive(Debug, Clone, Default)]
pub(crate) enum Postings {
    /// Nobody holds the value (any more).
    #[default]
    Empty,
    /// One member holds it.
    One(u32),
    /// Several do.
    Many(Box<RoaringBitmap>),
}

/// Adds a slot to a bitmap, appending when it is past the largest (how slots arrive
/// while members are loaded) instead of searching for its place.
pub(crate) fn add(set: &mut RoaringBitmap, slot: u32) {
    if !set.push(slot) {
        set.insert(slot);
    }
}

impl Postings {
    pub(crate) fn insert(&mut self, slot: u32) {
        match self {
            Postings::Empty => *self = Postings::One(slot),
            Postings::One(only) if *only == slot => {}
            Postings::One(only) => {
                let mut set = RoaringBitmap::new();
                set.insert(*only);
                set.insert(slot);
                *self = Postings::Many(Box::new(set));
            }
            Postings::Many(set) => add(set, slot),
        }
    }

    pub(crate) fn remove(&mut self, slot: u32) {
        match self {
            Postings::One(only) if *only == slot => *self = Postings::Empty,
            Postings::Many(set) => {
                set.remove(slot);
                if set.len() <= 1 {
                    *self = set.min().map_or(Postings::Empty, Postings::One);
                }
            }
            _ => {}
        }
    }

    /// Some member holding the value.
    pub(crate) fn first(&self) -> Option<u32> {
        match self {
            Postings::Empty => None,
            Postings::One(only) => Some(*only),
            Postings::Many(set) => set.min(),
        }
    }

    /// How many members hold the value.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Postings::Empty => 0,
            Postings::One(_) => 1,
            Postings::Many(set) => set.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Postings::Empty)
    }

    pub(crate) fn to_bitmap(&self) -> RoaringBitmap {
        match self {
            Postings::Empty => RoaringBitmap::new(),
            Postings::One(only) => std::iter::once(*only).collect(),
            Postings::Many(set) => set.as_ref().clone(),
        }
    }
}

/// The union of many values' postings. Merging hundreds of small sets one by one into a
/// growing bitmap is what made text conditions slow; instead the slots of small sets are
/// collected and their bitmap built in one pass: from the sorted slots when they are few,
/// from a dense bit array (an eighth of a byte per member) when they are many, which
/// avoids the sort. Large sets are merged all at once ([`MultiOps::union`]), which turns
/// a chunk into a bit array once instead of merging sorted arrays pair by pair.
pub(crate) fn union<'a>(postings: impl IntoIterator<Item = &'a Postings>) -> RoaringBitmap {
    let mut large: Vec<&RoaringBitmap> = Vec::new();
    let mut slots: Vec<u32> = Vec::new();
    for p in postings {
        match p {
            Postings::Empty => {}
            Postings::One(only) => slots.push(*only),
            Postings::Many(set) if set.len() > 4096 => large.push(set),
            Postings::Many(set) => slots.extend(set.iter()),
        }
    }
    let small = from_slots(slots);
    match large.as_slice() {
        [] => small,
        [one] => small | *one,
        _ => std::iter::once(&small).chain(large).union(),
    }
}

/// The set of some slots, in any order and possibly repeated.
fn from_slots(mut slots: Vec<u32>) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    if slots.len() > 4096 {
        let highest = slots.iter().copied().max().unwrap_or(0) as usize;
        let mut bytes = vec![0u8; highest / 8 + 1];
        for slot in &slots {
            if let Some(byte) = bytes.get_mut(*slot as usize / 8) {
                *byte |= 1 << (slot % 8);
            }
        }
        out |= RoaringBitmap::from_lsb0_bytes(0, &bytes);
    } else if !slots.is_empty() {
        slots.sort_unstable();
        slots.dedup();
        out |= RoaringBitmap::from_sorted_iter(slots).unwrap_or_default();
    }
    out
}

/// The slots whose value passes a test, built through a dense bit array: a scan of a
/// column, which beats walking postings once the answer is a sizeable share of the
/// members (sequential, branch-free reads against one random read per member).
pub(crate) fn scan<T: Copy>(values: &[T], test: impl Fn(T) -> bool) -> RoaringBitmap {
    let mut bytes = Vec::with_capacity(values.len().div_ceil(8));
    for chunk in values.chunks(8) {
        let mut bits = 0u8;
        for (bit, value) in chunk.iter().enumerate() {
            bits |= u8::from(test(*value)) << bit;
        }
        bytes.push(bits);
    }
    RoaringBitmap::from_lsb0_bytes(0, &bytes)
}

/// Whether an answer of `answer` members among `slots` is better found by a scan.
pub(crate) fn worth_scanning(answer: u64, slots: usize) -> bool {
    answer.saturating_mul(8) > slots as u64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn postings_move_between_one_and_many() {
        let mut p = Postings::default();
        p.insert(7);
        assert!(matches!(p, Postings::One(7)));
        p.insert(9);
        assert!(matches!(p, Postings::Many(_)));
        p.remove(7);
        assert!(matches!(p, Postings::One(9)));
        p.remove(9);
        assert!(p.is_empty());
    }

    #[test]
    fn union_equals_the_plain_union() {
        let sets: Vec<Postings> = (0..50u32)
            .map(|i| {
                let mut p = Postings::default();
                for s in (i..60_000).step_by(1 + i as usize) {
                    p.insert(s * 3);
                }
                p
            })
            .collect();
        let plain = sets
            .iter()
            .fold(RoaringBitmap::new(), |acc, p| acc | p.to_bitmap());
        assert_eq!(union(&sets), plain);
    }
}
