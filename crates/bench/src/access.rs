//! The access-check benchmark: random questions, the slice the peers are
//! compared on, and the peers themselves (`casbin` and `cedar-policy`, with the `peers`
//! feature).

#[cfg(feature = "peers")]
pub mod casbin;
#[cfg(feature = "peers")]
pub mod cedar;

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use roster_engine::WorkspaceState;
use roster_model::{DefaultGroup, Grant, Id};

/// One question: may this member do this?
#[derive(Debug, Clone, Copy)]
pub struct Question {
    /// The member.
    pub member: Id,
    /// The privilege on an object type.
    pub grant: Grant,
}

/// `count` random questions about `members`, over all 16 privileges.
pub fn questions(rng: &mut StdRng, members: &[Id], count: usize) -> Vec<Question> {
    let grants: Vec<Grant> = Grant::all().collect();
    (0..count)
        .filter_map(|_| {
            Some(Question {
                member: *members.choose(rng)?,
                grant: grants[rng.gen_range(0..grants.len())],
            })
        })
        .collect()
}

/// What the peers need of a workspace to answer questions about some members: every
/// assignment (group → role's privileges), the Admins group, and which of the slice's
/// members are effective members of the groups that grant anything.
pub struct Slice {
    /// The members the questions are about.
    pub members: Vec<Id>,
    /// Per assignment: the group and the privileges of the role.
    pub assignments: Vec<(Id, Vec<Grant>)>,
    /// The Admins group.
    pub admins: Option<Id>,
    /// Per member of the slice: the granting groups (Admins included) it is in.
    pub memberships: BTreeMap<Id, Vec<Id>>,
}

impl Slice {
    /// Reads the slice of `members` off the engine.
    pub fn of(state: &WorkspaceState, members: &[Id]) -> Slice {
        let permissions = state.permissions();
        let assignments = permissions
            .assignments()
            .filter_map(|a| {
                let role = permissions.role(&a.role_id)?;
                Some((a.group_id, role.privileges.clone()))
            })
            .collect();
        let admins = state.default_group(DefaultGroup::Admins).map(|g| g.id);
        let slots: roaring::RoaringBitmap =
            members.iter().filter_map(|id| state.slot(id)).collect();
        let mut memberships: BTreeMap<Id, Vec<Id>> =
            members.iter().map(|id| (*id, Vec::new())).collect();
        for (group_id, _) in permissions.granting_groups() {
            let Some(group) = state.group(group_id) else {
                continue;
            };
            let inside = state.effective_members(group) & &slots;
            for member in state.ids_of(&inside) {
                memberships.entry(member).or_default().push(*group_id);
            }
        }
        Slice {
            members: members.to_vec(),
            assignments,
            admins,
            memberships,
        }
    }

    /// How many member-in-group links the peers load.
    pub fn links(&self) -> usize {
        self.memberships.values().map(Vec::len).sum()
    }
}

/// The name a peer gives a privilege: `ticket:read`.
pub fn action_name(grant: Grant) -> String {
    let value = |v: serde_json::Result<serde_json::Value>| {
        v.ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    format!(
        "{}:{}",
        value(serde_json::to_value(grant.object_type)),
        value(serde_json::to_value(grant.privilege))
    )
}
