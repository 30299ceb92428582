//! A boolean attribute: each member's value by slot and the two posting sets.

use roaring::RoaringBitmap;

use super::postings::add;

/// The boolean values of one attribute.
#[derive(Debug, Clone, Default)]
pub(crate) struct BoolColumn {
    /// By slot: 0 none, 1 false, 2 true.
    by_slot: Vec<u8>,
    trues: RoaringBitmap,
    falses: RoaringBitmap,
}

impl BoolColumn {
    pub(crate) fn set(&mut self, slot: u32, value: Option<bool>) {
        self.clear(slot);
        let Some(value) = value else { return };
        add(
            if value {
                &mut self.trues
            } else {
                &mut self.falses
            },
            slot,
        );
        let at = slot as usize;
        if self.by_slot.len() <= at {
            self.by_slot.resize(at + 1, 0);
        }
        self.by_slot[at] = if value { 2 } else { 1 };
    }

    pub(crate) fn clear(&mut self, slot: u32) {
        match self.get(slot) {
            Some(true) => self.trues.remove(slot),
            Some(false) => self.falses.remove(slot),
            None => return,
        };
        if let Some(cell) = self.by_slot.get_mut(slot as usize) {
            *cell = 0;
        }
    }

    pub(crate) fn get(&self, slot: u32) -> Option<bool> {
        match self.by_slot.get(slot as usize) {
            Some(2) => Some(true),
            Some(1) => Some(false),
            _ => None,
        }
    }

    /// Every member that has a boolean.
    pub(crate) fn holders(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .zip(&self.by_slot)
            .filter(|(_, v)| **v != 0)
            .map(|(slot, _)| slot)
    }

    pub(crate) fn equal(&self, value: bool) -> &RoaringBitmap {
        if value {
            &self.trues
        } else {
            &self.falses
        }
    }
}
