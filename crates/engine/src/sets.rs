use std::collections::HashMap;

use roaring::RoaringBitmap;
use roster_model::{Id, Member, MemberKind};

/// The member sets every group's effective membership is derived from, keyed by a dense
/// slot per member. Slots are assigned on first sight and never reused, so a bitmap built
/// at any time stays meaningful.
#[derive(Debug, Default, Clone)]
pub struct MemberSets {
    /// Hashed with foldhash rather than SipHash: ids come from the store, not from an
    /// attacker choosing collisions, and this lookup is most of an access check.
    slots: HashMap<Id, u32, foldhash::fast::RandomState>,
    ids: Vec<Id>,
    /// Members whose state is `active`.
    pub active: RoaringBitmap,
    /// Members of kind `user`.
    pub users: RoaringBitmap,
    /// Members of kind `customer`.
    pub customers: RoaringBitmap,
}

impl MemberSets {
    /// The slot of a member, assigning one if the member is new.
    pub fn slot_or_insert(&mut self, id: Id) -> u32 {
        if let Some(slot) = self.slots.get(&id) {
            return *slot;
        }
        let slot = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.slots.insert(id, slot);
        self.ids.push(id);
        slot
    }

    /// The slot of a known member.
    pub fn slot(&self, id: &Id) -> Option<u32> {
        self.slots.get(id).copied()
    }

    /// The member in a slot.
    pub fn id(&self, slot: u32) -> Option<Id> {
        self.ids.get(slot as usize).copied()
    }

    /// Files a member, as it now is, into the built-in sets.
    pub fn index(&mut self, member: &Member) {
        let slot = self.slot_or_insert(member.id);
        set(&mut self.active, slot, member.is_active());
        set(&mut self.users, slot, member.kind == MemberKind::User);
        set(
            &mut self.customers,
            slot,
            member.kind == MemberKind::Customer,
        );
    }
}

fn set(bitmap: &mut RoaringBitmap, slot: u32, present: bool) {
    if present {
        crate::index::add(bitmap, slot);
    } else {
        bitmap.remove(slot);
    }
}
