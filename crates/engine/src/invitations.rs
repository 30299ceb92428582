//! The workspace's invitations, by id and by the hash of their current token: what
//! listing, accepting and the per-member rate limit read.

use std::collections::{BTreeMap, HashMap};

use roster_model::{Id, Invitation, Timestamp};

/// Every invitation of a workspace, whatever its state.
#[derive(Debug, Clone, Default)]
pub struct Invitations {
    by_id: BTreeMap<Id, Invitation>,
    by_hash: HashMap<String, Id>,
}

impl Invitations {
    /// Records an invitation as it now is; a resend's new token replaces the old in the
    /// hash index, so the old token finds nothing.
    pub fn upsert(&mut self, invitation: &Invitation) {
        if let Some(before) = self.by_id.get(&invitation.id) {
            self.by_hash.remove(&before.token_hash);
        }
        self.by_hash
            .insert(invitation.token_hash.clone(), invitation.id);
        self.by_id.insert(invitation.id, invitation.clone());
    }

    /// An invitation by id.
    pub fn get(&self, id: &Id) -> Option<&Invitation> {
        self.by_id.get(id)
    }

    /// The invitation whose current token has this hash.
    pub fn by_token_hash(&self, hash: &str) -> Option<&Invitation> {
        self.by_hash.get(hash).and_then(|id| self.by_id.get(id))
    }

    /// Invitations in id (creation) order, starting after `after`.
    pub fn after(&self, after: Option<Id>) -> impl Iterator<Item = &Invitation> {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.by_id.range((start, Bound::Unbounded)).map(|(_, i)| i)
    }

    /// When `member` issued invitation tokens since `since` (`None`: the command line),
    /// oldest first: what the rate limit counts.
    pub fn issued_by_since(&self, member: Option<Id>, since: Timestamp) -> Vec<Timestamp> {
        let mut times: Vec<Timestamp> = self
            .by_id
            .values()
            .flat_map(|i| i.issued.iter())
            .filter(|issue| issue.by == member && issue.at > since)
            .map(|issue| issue.at)
            .collect();
        times.sort();
        times
    }
}
