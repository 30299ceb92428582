//! What a write will do to effective memberships, computed *before* it is committed, so
//! that the change log is written in the same transaction as the write while the engine
//! itself only ever holds committed state.
//!
//! The events are folded into an overlay (members, groups and static records as they will
//! be); every group the write touches is recomputed whole, and every member it touches is
//! re-examined in the groups it could enter or leave. Members and groups the write does
//! not touch cannot change. The model test in `roster-ops` checks the result against the
//! difference of the engine's memberships before and after applying the events.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use roaring::RoaringBitmap;
use roster_model::{
    ChangeKind, DefaultGroup, Event, Group, Id, Member, MemberKind, MemberState, Membership,
    MembershipChange, MembershipSource, PropertyDef, RoleChange,
};
use roster_rules::Rule;

use crate::dynamic::{attribute_values, schema, MemberPreview};
use crate::WorkspaceState;

/// The write's facts, as they will be once committed.
#[derive(Default)]
struct Overlay {
    members: BTreeMap<Id, Member>,
    /// Groups as they will be (`None`: deleted), in the order the write touched them.
    groups: Vec<(Id, Option<Group>)>,
    records: BTreeMap<(Id, Id), Option<MembershipSource>>,
    properties: BTreeMap<Id, Option<PropertyDef>>,
}

impl Overlay {
    fn fold(events: &[Event]) -> Overlay {
        let mut overlay = Overlay::default();
        for event in events {
            match event {
                Event::MemberUpserted { member } => {
                    overlay.members.insert(member.id, member.clone());
                }
                Event::GroupUpserted { group } => overlay.set_group(group.id, Some(group.clone())),
                Event::GroupDeleted { id } => overlay.set_group(*id, None),
                Event::MembershipAdded { membership } => {
                    overlay.records.insert(
                        (membership.group_id, membership.member_id),
                        Some(membership.source),
                    );
                }
                Event::MembershipRemoved {
                    group_id,
                    member_id,
                } => {
                    overlay.records.insert((*group_id, *member_id), None);
                }
                Event::PropertyUpserted { property } => {
                    overlay
                        .properties
                        .insert(property.id, Some(property.clone()));
                }
                Event::PropertyDeleted { id } => {
                    overlay.properties.insert(*id, None);
                }
                Event::WorkspaceCreated { .. }
                | Event::TokenCreated { .. }
                | Event::TokenRevoked { .. }
                | Event::RoleUpserted { .. }
                | Event::RoleDeleted { .. }
                | Event::RoleAssigned { .. }
                | Event::RoleRevoked { .. }
                | Event::InvitationUpserted { .. }
                | Event::ScimTokenCreated { .. }
                | Event::ScimTokenRevoked { .. }
                | Event::ScimResourceUpserted { .. }
                | Event::ScimResourceDeleted { .. }
                | Event::ScimMappingSet { .. } => {}
            }
        }
        overlay
    }

    fn set_group(&mut self, id: Id, group: Option<Group>) {
        match self.groups.iter_mut().find(|(g, _)| *g == id) {
            Some(entry) => entry.1 = group,
            None => self.groups.push((id, group)),
        }
    }

    fn group_touched(&self, id: &Id) -> bool {
        self.groups.iter().any(|(g, _)| g == id)
    }
}

/// The dry run's view: the state with the overlay on top.
struct After<'a> {
    state: &'a WorkspaceState,
    overlay: &'a Overlay,
    rules: HashMap<Id, Option<Rule>>,
}

impl After<'_> {
    fn member(&self, id: &Id) -> Option<Member> {
        match self.overlay.members.get(id) {
            Some(member) => Some(member.clone()),
            None => self.state.member(id),
        }
    }

    fn properties(&self) -> Vec<PropertyDef> {
        let mut all: BTreeMap<Id, PropertyDef> =
            self.state.properties().map(|p| (p.id, p.clone())).collect();
        for (id, property) in &self.overlay.properties {
            match property {
                Some(p) => all.insert(*id, p.clone()),
                None => all.remove(id),
            };
        }
        all.into_values().collect()
    }

    /// The checked rule of a group the write touches, compiled against the schema as the
    /// write leaves it.
    fn rule(&mut self, group: &Group) -> Option<&Rule> {
        if !self.rules.contains_key(&group.id) {
            let compiled = group.rule.as_deref().and_then(|text| {
                let properties = self.properties();
                roster_rules::compile(text, &schema(group.member_kind, properties.iter())).ok()
            });
            self.rules.insert(group.id, compiled);
        }
        self.rules.get(&group.id).and_then(Option::as_ref)
    }

    fn recorded(&self, group: &Id, member: &Id) -> bool {
        match self.overlay.records.get(&(*group, *member)) {
            Some(source) => source.is_some(),
            None => self.state.static_membership(group, member).is_some(),
        }
    }

    /// Whether `member` counts in `group` once the write is committed. `preview` is the
    /// member's write as the engine sees it, which answers for the dynamic groups the
    /// write leaves alone.
    fn holds(&mut self, group: &Group, member: &Member, preview: Option<&MemberPreview>) -> bool {
        if member.state != MemberState::Active || member.kind != group.member_kind {
            return false;
        }
        match group.default_group {
            Some(DefaultGroup::AllUsers) | Some(DefaultGroup::Customers) => true,
            _ if group.membership == Membership::Dynamic => {
                let untouched = !self.overlay.group_touched(&group.id);
                if let Some(holds) = preview
                    .filter(|_| untouched)
                    .and_then(|p| p.holds(&group.id))
                {
                    return holds;
                }
                let values = attribute_values(member);
                self.rule(group)
                    .is_some_and(|rule| rule.matches(&|name: &str| values.get(name).cloned()))
            }
            _ => self.recorded(&group.id, &member.id),
        }
    }

    /// The members the write does not touch that count in a group once it is committed,
    /// by slot. Their facts do not change, so only the group's definition matters.
    fn untouched_members_of(&mut self, group: &Group, touched: &RoaringBitmap) -> RoaringBitmap {
        let state = self.state;
        let mut out = match group.default_group {
            Some(DefaultGroup::AllUsers) | Some(DefaultGroup::Customers) => {
                state.kind_set(group.member_kind).clone()
            }
            _ if group.membership == Membership::Dynamic => {
                let unchanged = state
                    .group(&group.id)
                    .is_some_and(|g| g.membership == Membership::Dynamic && g.rule == group.rule);
                match (unchanged, state.dynamic().members(&group.id)) {
                    (true, Some(set)) => set.clone(),
                    _ => match self.rule(group) {
                        Some(rule) => state.dynamic().evaluate(
                            group.member_kind,
                            rule,
                            state.kind_set(group.member_kind),
                        ),
                        None => RoaringBitmap::new(),
                    },
                }
            }
            _ => state.static_set(&group.id).cloned().unwrap_or_default(),
        };
        out -= touched;
        out &= state.active_set();
        out
    }
}

fn member_cause(before: Option<&Member>, after: &Member) -> &'static str {
    match before {
        None => "member_created",
        Some(b) if b.is_active() && !after.is_active() => "member_deactivated",
        Some(b) if !b.is_active() && after.is_active() => "member_reactivated",
        Some(_) => "attributes_changed",
    }
}

fn group_cause(before: Option<&Group>, after: Option<&Group>) -> &'static str {
    match (before, after) {
        (None, _) => "group_created",
        (Some(_), None) => "group_deleted",
        (Some(b), Some(a)) if b.membership != a.membership => "converted",
        (Some(_), Some(_)) => "rule_changed",
    }
}

fn source_cause(source: Option<MembershipSource>) -> &'static str {
    match source {
        Some(MembershipSource::Manual) => "manual",
        Some(MembershipSource::Invitation) => "invitation",
        Some(MembershipSource::Scim) => "scim",
        Some(MembershipSource::System) => "system",
        None => "membership_removed",
    }
}

fn change(group_id: Id, member_id: Id, added: bool, cause: &str) -> MembershipChange {
    MembershipChange {
        group_id,
        member_id,
        change: if added {
            ChangeKind::Added
        } else {
            ChangeKind::Removed
        },
        cause: cause.to_owned(),
    }
}

impl WorkspaceState {
    /// The changes of role assignment that committing `events` will make: an
    /// assignment of a role the group does not hold yet, a revocation of one it holds.
    /// A revocation's cause says whether the role or the group is being deleted.
    pub fn role_changes(&self, events: &[Event]) -> Vec<RoleChange> {
        let deleted_roles: BTreeSet<Id> = events
            .iter()
            .filter_map(|e| match e {
                Event::RoleDeleted { id } => Some(*id),
                _ => None,
            })
            .collect();
        let deleted_groups: BTreeSet<Id> = events
            .iter()
            .filter_map(|e| match e {
                Event::GroupDeleted { id } => Some(*id),
                _ => None,
            })
            .collect();
        let mut held: HashMap<(Id, Id), bool> = HashMap::new();
        let mut changes = Vec::new();
        for event in events {
            let (group_id, role_id, assign) = match event {
                Event::RoleAssigned { assignment } => {
                    (assignment.group_id, assignment.role_id, true)
                }
                Event::RoleRevoked { group_id, role_id } => (*group_id, *role_id, false),
                _ => continue,
            };
            let was = *held
                .entry((group_id, role_id))
                .or_insert_with(|| self.permissions().is_assigned(&group_id, &role_id));
            if was == assign {
                continue;
            }
            held.insert((group_id, role_id), assign);
            let cause = if assign {
                "role_assigned"
            } else if deleted_roles.contains(&role_id) {
                "role_deleted"
            } else if deleted_groups.contains(&group_id) {
                "group_deleted"
            } else {
                "role_revoked"
            };
            changes.push(RoleChange {
                group_id,
                role_id,
                change: if assign {
                    ChangeKind::Assigned
                } else {
                    ChangeKind::Revoked
                },
                cause: cause.to_owned(),
            });
        }
        changes
    }

    /// The changes of effective membership that committing `events` will make, in a
    /// stable order: groups the write touches first (by member id within a group), then
    /// the members it touches.
    pub fn membership_changes(&self, events: &[Event]) -> Vec<MembershipChange> {
        let overlay = Overlay::fold(events);
        let mut after = After {
            state: self,
            overlay: &overlay,
            rules: HashMap::new(),
        };
        let touched: BTreeSet<Id> = overlay
            .members
            .keys()
            .copied()
            .chain(overlay.records.keys().map(|(_, m)| *m))
            .collect();
        let touched_slots: RoaringBitmap = touched.iter().filter_map(|id| self.slot(id)).collect();
        let touched_members: Vec<(Id, Option<Member>, Option<Member>)> = touched
            .iter()
            .map(|id| (*id, self.member(id), after.member(id)))
            .collect();
        let mut changes = Vec::new();
        for (group_id, group) in &overlay.groups {
            let before_group = self.group(group_id);
            let before = before_group
                .map(|g| self.effective_members(g) - &touched_slots)
                .unwrap_or_default();
            let now = match group {
                Some(g) => after.untouched_members_of(g, &touched_slots),
                None => RoaringBitmap::new(),
            };
            let cause = group_cause(before_group, group.as_ref());
            let mut found: Vec<MembershipChange> = self
                .ids_of(&(&now - &before))
                .map(|id| change(*group_id, id, true, cause))
                .chain(
                    self.ids_of(&(&before - &now))
                        .map(|id| change(*group_id, id, false, cause)),
                )
                .collect();
            for (id, _, member) in &touched_members {
                let was = before_group.is_some_and(|g| self.is_effective_member(g, id));
                let is = match (group, member) {
                    (Some(g), Some(m)) => after.holds(g, m, None),
                    _ => false,
                };
                if was != is {
                    found.push(change(*group_id, *id, is, cause));
                }
            }
            found.sort_by_key(|c| c.member_id);
            changes.extend(found);
        }
        for (member_id, before_member, member) in &touched_members {
            let Some(member) = member else {
                continue;
            };
            let before_member = before_member.as_ref();
            let written = overlay.members.contains_key(member_id);
            let preview =
                written.then(|| self.dynamic().preview_member(self.slot(member_id), member));
            // The groups whose membership of this member the write can change: those it
            // records or unrecords the member in; on a new member or a change of state,
            // every group it is or could be in; on a change of attributes, the dynamic
            // groups one of whose conditions on a changed attribute flips.
            let mut candidates: BTreeSet<Id> = overlay
                .records
                .keys()
                .filter(|(_, m)| m == member_id)
                .map(|(g, _)| *g)
                .collect();
            if let Some(preview) = &preview {
                let broad = before_member.is_none_or(|b| b.state != member.state);
                if broad {
                    let kind: MemberKind = member.kind;
                    candidates.extend(self.groups_of(*member_id).map(|g| g.id));
                    // A reactivated member counts again where it is recorded.
                    candidates.extend(
                        self.groups_after(None)
                            .filter(|g| self.static_membership(&g.id, member_id).is_some())
                            .map(|g| g.id),
                    );
                    candidates.extend(
                        self.groups_after(None)
                            .filter(|g| {
                                g.member_kind == kind
                                    && (g.membership == Membership::Dynamic || g.is_maintained())
                            })
                            .map(|g| g.id),
                    );
                } else if member.is_active() {
                    // Same state, active: the rule outcomes that flip are the changes,
                    // except where the write also records the member or touches the
                    // group, which the general path below decides.
                    let mut flipped: Vec<MembershipChange> = preview
                        .flips()
                        .into_iter()
                        .filter(|(group, _)| {
                            !candidates.contains(group) && !overlay.group_touched(group)
                        })
                        .map(|(group, holds)| {
                            let cause = member_cause(before_member, member);
                            change(group, *member_id, holds, cause)
                        })
                        .collect();
                    flipped.sort_by_key(|c| c.group_id);
                    changes.extend(flipped);
                }
            }
            for group_id in candidates {
                if overlay.group_touched(&group_id) {
                    continue;
                }
                let Some(group) = self.group(&group_id) else {
                    continue;
                };
                let was = self.is_effective_member(group, member_id);
                let is = after.holds(group, member, preview.as_ref());
                if was != is {
                    let cause = match overlay.records.get(&(group_id, *member_id)) {
                        Some(source) => source_cause(*source),
                        None => overlay
                            .members
                            .get(member_id)
                            .map_or("attributes_changed", |m| member_cause(before_member, m)),
                    };
                    changes.push(change(group_id, *member_id, is, cause));
                }
            }
        }
        changes
    }
}
