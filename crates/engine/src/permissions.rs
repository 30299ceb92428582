//! Roles, their assignments to groups, and what every member holds through them, kept
//! so that "may this member do this?" is one load and one mask.
//!
//! Each group has a grant mask: what its roles grant, and everything for Admins. For
//! every member and every grant the engine counts the groups with that grant whose raw
//! membership (static records, the rule's answer, or everyone of the kind; active or
//! not) includes the member, and keeps one word per member with a bit per grant whose
//! count is not zero, plus a bit for being active. Every change, of membership, rule,
//! role, assignment or state, moves the counts of just the members it touches, so the
//! words are never rebuilt from scratch on a write.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use roaring::RoaringBitmap;
use roster_model::{Grant, GrantMask, Id, Role, RoleAssignment};

/// The bit of a member's word that says it is active.
const ACTIVE: u32 = 1 << 16;
/// The bit of a slot's word that says a member holds it (a slot can be given to an id
/// seen only in a membership record).
const MEMBER: u32 = 1 << 17;

/// The bits of a word that say its member may use `grant`: active, and holding it.
fn wanted(grant: Grant) -> u32 {
    ACTIVE | u32::from(grant.bit())
}

/// Every grant.
pub const ALL_GRANTS: GrantMask = GrantMask::MAX;

/// A group whose grant mask changed, with the masks before and after.
pub(crate) type Regrant = (Id, GrantMask, GrantMask);

/// The roles of a workspace and the grants they give members.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    roles: BTreeMap<Id, Role>,
    role_names: HashMap<String, Id>,
    /// By group: its roles, with their assignment records.
    assignments: HashMap<Id, BTreeMap<Id, RoleAssignment>>,
    /// By role: the groups that hold it.
    groups_of_role: HashMap<Id, BTreeSet<Id>>,
    /// By group, when not empty: what the group grants its members. Read for every group
    /// a member write flips, hence foldhash.
    masks: HashMap<Id, GrantMask, foldhash::fast::RandomState>,
    /// The Admins group, which grants everything.
    admins: Option<Id>,
    /// Per grant, by slot: how many groups granting it hold the member. One array per
    /// grant rather than one record per member, so that granting a large group walks
    /// a few dense arrays in slot order instead of a cache line per member.
    counts: [Vec<u32>; 16],
    /// By slot: a bit per grant held, and [`ACTIVE`].
    words: Vec<u32>,
}

impl Permissions {
    /// A role by id.
    pub fn role(&self, id: &Id) -> Option<&Role> {
        self.roles.get(id)
    }

    /// A role by name, case-insensitively.
    pub fn role_named(&self, name: &str) -> Option<&Role> {
        self.role_names
            .get(&name.to_lowercase())
            .and_then(|id| self.roles.get(id))
    }

    /// Roles in id order, after a cursor.
    pub fn roles_after(&self, after: Option<Id>) -> impl Iterator<Item = &Role> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, Excluded);
        self.roles.range((start, Unbounded)).map(|(_, r)| r)
    }

    /// The roles a group holds, with their assignments, in role-id order.
    pub fn assignments_of(&self, group: &Id) -> impl Iterator<Item = &RoleAssignment> {
        self.assignments
            .get(group)
            .into_iter()
            .flat_map(|a| a.values())
    }

    /// Every assignment.
    pub fn assignments(&self) -> impl Iterator<Item = &RoleAssignment> {
        self.assignments.values().flat_map(|a| a.values())
    }

    /// Whether a group holds a role.
    pub fn is_assigned(&self, group: &Id, role: &Id) -> bool {
        self.assignments
            .get(group)
            .is_some_and(|a| a.contains_key(role))
    }

    /// The groups holding a role, in id order.
    pub fn groups_of_role(&self, role: &Id) -> impl Iterator<Item = &Id> {
        self.groups_of_role.get(role).into_iter().flatten()
    }

    /// What a group grants its members.
    pub fn mask(&self, group: &Id) -> GrantMask {
        self.masks.get(group).copied().unwrap_or(0)
    }

    /// Whether no group grants anything (a workspace without assignments, or one being
    /// loaded before its roles): member writes then have no grants to move.
    pub fn grants_nothing(&self) -> bool {
        self.masks.is_empty()
    }

    /// The groups that grant anything, with what they grant.
    pub fn granting_groups(&self) -> impl Iterator<Item = (&Id, GrantMask)> {
        self.masks.iter().map(|(g, m)| (g, *m))
    }

    /// For a slot that holds a member, whether it is active and holds `grant`; `None`
    /// for a slot without a member. One load answers both.
    pub fn answer(&self, slot: u32, grant: Grant) -> Option<bool> {
        let word = *self.words.get(slot as usize)?;
        let want = wanted(grant);
        (word & MEMBER != 0).then_some(word & want == want)
    }

    /// Every active member holding `grant`, by slot.
    pub fn holders(&self, grant: Grant) -> RoaringBitmap {
        let want = wanted(grant);
        (0u32..)
            .zip(&self.words)
            .filter(|(_, w)| **w & want == want)
            .map(|(slot, _)| slot)
            .collect()
    }

    fn computed_mask(&self, group: &Id) -> GrantMask {
        let from_roles = self
            .assignments_of(group)
            .filter_map(|a| self.roles.get(&a.role_id))
            .fold(0, |mask, role| mask | role.mask());
        if self.admins.as_ref() == Some(group) {
            ALL_GRANTS
        } else {
            from_roles
        }
    }

    /// Recomputes a group's mask; returns the change, if any.
    fn refresh(&mut self, group: Id) -> Option<Regrant> {
        let before = self.mask(&group);
        let after = self.computed_mask(&group);
        if after == 0 {
            self.masks.remove(&group);
        } else {
            self.masks.insert(group, after);
        }
        (before != after).then_some((group, before, after))
    }

    /// Names the Admins group, which grants everything; returns the groups whose masks
    /// changed.
    pub(crate) fn set_admins(&mut self, group: Id) -> Vec<Regrant> {
        let previous = self.admins.replace(group).filter(|p| *p != group);
        previous
            .into_iter()
            .chain([group])
            .filter_map(|g| self.refresh(g))
            .collect()
    }

    /// Takes a role as it now is; returns the groups whose masks changed.
    pub(crate) fn upsert_role(&mut self, role: &Role) -> Vec<Regrant> {
        if let Some(old) = self.roles.get(&role.id) {
            self.role_names.remove(&old.name_key());
        }
        self.role_names.insert(role.name_key(), role.id);
        self.roles.insert(role.id, role.clone());
        let groups: Vec<Id> = self.groups_of_role(&role.id).copied().collect();
        groups.into_iter().filter_map(|g| self.refresh(g)).collect()
    }

    /// Forgets a role and any assignment of it; returns the groups whose masks changed.
    pub(crate) fn delete_role(&mut self, id: &Id) -> Vec<Regrant> {
        if let Some(old) = self.roles.remove(id) {
            self.role_names.remove(&old.name_key());
        }
        let groups: Vec<Id> = self
            .groups_of_role
            .remove(id)
            .into_iter()
            .flatten()
            .collect();
        for group in &groups {
            if let Some(roles) = self.assignments.get_mut(group) {
                roles.remove(id);
                if roles.is_empty() {
                    self.assignments.remove(group);
                }
            }
        }
        groups.into_iter().filter_map(|g| self.refresh(g)).collect()
    }

    /// Records an assignment; returns the group's mask change.
    pub(crate) fn assign(&mut self, assignment: &RoleAssignment) -> Option<Regrant> {
        self.assignments
            .entry(assignment.group_id)
            .or_default()
            .insert(assignment.role_id, assignment.clone());
        self.groups_of_role
            .entry(assignment.role_id)
            .or_default()
            .insert(assignment.group_id);
        self.refresh(assignment.group_id)
    }

    /// Removes an assignment; returns the group's mask change.
    pub(crate) fn revoke(&mut self, group: &Id, role: &Id) -> Option<Regrant> {
        if let Some(roles) = self.assignments.get_mut(group) {
            roles.remove(role);
            if roles.is_empty() {
                self.assignments.remove(group);
            }
        }
        if let Some(groups) = self.groups_of_role.get_mut(role) {
            groups.remove(group);
            if groups.is_empty() {
                self.groups_of_role.remove(role);
            }
        }
        self.refresh(*group)
    }

    /// Forgets a deleted group's assignments; returns the mask it had.
    pub(crate) fn forget_group(&mut self, group: &Id) -> GrantMask {
        let mask = self.mask(group);
        for role in self
            .assignments
            .remove(group)
            .into_iter()
            .flat_map(BTreeMap::into_keys)
        {
            if let Some(groups) = self.groups_of_role.get_mut(&role) {
                groups.remove(group);
                if groups.is_empty() {
                    self.groups_of_role.remove(&role);
                }
            }
        }
        if self.admins.as_ref() == Some(group) {
            self.admins = None;
        }
        self.masks.remove(group);
        mask
    }

    fn word_mut(&mut self, slot: u32) -> Option<&mut u32> {
        let at = slot as usize;
        if self.words.len() <= at {
            self.words.resize(at + 1, 0);
        }
        self.words.get_mut(at)
    }

    /// The member in `slot` joined (or, with `joined` false, left) the raw membership
    /// of groups granting `mask` (once per group).
    pub(crate) fn adjust(&mut self, slot: u32, mask: GrantMask, joined: bool) {
        if mask == 0 {
            return;
        }
        let at = slot as usize;
        let mut word = self.word_mut(slot).map_or(0, |w| *w);
        for (bit, counts) in self.counts.iter_mut().enumerate() {
            if mask & (1 << bit) == 0 {
                continue;
            }
            if counts.len() <= at {
                counts.resize(at + 1, 0);
            }
            let Some(count) = counts.get_mut(at) else {
                continue;
            };
            *count = if joined {
                count.saturating_add(1)
            } else {
                count.saturating_sub(1)
            };
            if *count == 0 {
                word &= !(1 << bit);
            } else {
                word |= 1 << bit;
            }
        }
        if let Some(w) = self.word_mut(slot) {
            *w = word;
        }
    }

    /// Every member of `members` joined or left groups granting `mask`: grant by grant,
    /// each a walk of one dense array in slot order.
    pub(crate) fn adjust_all(&mut self, members: &RoaringBitmap, mask: GrantMask, joined: bool) {
        if mask == 0 {
            return;
        }
        let Some(top) = members.max() else {
            return;
        };
        let needed = top as usize + 1;
        if self.words.len() < needed {
            self.words.resize(needed, 0);
        }
        for (bit, counts) in self.counts.iter_mut().enumerate() {
            if mask & (1 << bit) == 0 {
                continue;
            }
            if counts.len() < needed {
                counts.resize(needed, 0);
            }
            for slot in members {
                let at = slot as usize;
                let (Some(count), Some(word)) = (counts.get_mut(at), self.words.get_mut(at)) else {
                    continue;
                };
                *count = if joined {
                    count.saturating_add(1)
                } else {
                    count.saturating_sub(1)
                };
                if *count == 0 {
                    *word &= !(1 << bit);
                } else {
                    *word |= 1 << bit;
                }
            }
        }
    }

    /// Records that `slot` holds a member, and whether it is active.
    pub(crate) fn set_member(&mut self, slot: u32, active: bool) {
        if let Some(word) = self.word_mut(slot) {
            *word |= MEMBER;
            if active {
                *word |= ACTIVE;
            } else {
                *word &= !ACTIVE;
            }
        }
    }
}
