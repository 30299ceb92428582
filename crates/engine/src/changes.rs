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

use roster_model::{
    ChangeKind, DefaultGroup, Event, Group, Id, Member, MemberKind, MemberState, Membership,
    MembershipChange, MembershipSource, PropertyDef,
};
use roster_rules::Rule;

use crate::dynamic::{attribute_values, schema};
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
                | Event::TokenRevoked { .. } => {}
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
    fn member(&self, id: &Id) -> Option<&Member> {
        self.overlay
            .members
            .get(id)
            .or_else(|| self.state.member(id))
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

    fn rule(&mut self, group: &Group) -> Option<&Rule> {
        // A rule the engine already holds for this text (and no property changes in this
        // write) is reused rather than compiled again.
        if self.overlay.properties.is_empty() {
            if let Some(rule) = group
                .rule
                .as_deref()
                .and_then(|text| self.state.dynamic().compiled(&group.id, text))
            {
                return Some(rule);
            }
        }
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

    /// Whether `member` counts in `group` once the write is committed.
    fn holds(&mut self, group: &Group, member_id: &Id) -> bool {
        let Some(member) = self.member(member_id) else {
            return false;
        };
        if member.state != MemberState::Active || member.kind != group.member_kind {
            return false;
        }
        let member = member.clone();
        match group.default_group {
            Some(DefaultGroup::AllUsers) | Some(DefaultGroup::Customers) => true,
            _ if group.membership == Membership::Dynamic => {
                let values = attribute_values(&member);
                self.rule(group)
                    .is_some_and(|rule| rule.matches(&|name: &str| values.get(name).cloned()))
            }
            _ => self.recorded(&group.id, member_id),
        }
    }

    /// Every member that counts in a group once the write is committed.
    fn members_of(&mut self, group: &Group, touched: &BTreeSet<Id>) -> BTreeSet<Id> {
        let state = self.state;
        let untouched = |id: &Id| !touched.contains(id);
        let active = |id: &Id| state.member(id).is_some_and(Member::is_active);
        let mut out: BTreeSet<Id> = match group.default_group {
            Some(DefaultGroup::AllUsers) | Some(DefaultGroup::Customers) => {
                state.ids_of(state.kind_set(group.member_kind)).collect()
            }
            _ if group.membership == Membership::Dynamic => {
                let unchanged = state
                    .group(&group.id)
                    .is_some_and(|g| g.membership == Membership::Dynamic && g.rule == group.rule);
                match (unchanged, state.dynamic().members(&group.id)) {
                    (true, Some(set)) => state.ids_of(set).collect(),
                    _ => match self.rule(group) {
                        Some(rule) => {
                            let set = state.dynamic().evaluate(
                                group.member_kind,
                                rule,
                                state.kind_set(group.member_kind),
                            );
                            state.ids_of(&set).collect()
                        }
                        None => BTreeSet::new(),
                    },
                }
            }
            _ => state
                .static_memberships(&group.id)
                .map(|m| m.member_id)
                .collect(),
        };
        out.retain(|id| {
            untouched(id)
                && active(id)
                && (group.membership != Membership::Static
                    || group.default_group.is_some_and(DefaultGroup::is_maintained)
                    || self.recorded(&group.id, id))
        });
        for id in touched {
            if self.holds(group, id) {
                out.insert(*id);
            }
        }
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

impl WorkspaceState {
    /// The changes of effective membership that committing `events` will make, in a
    /// stable order: groups the write touches first, then the members it touches.
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
        let mut changes = Vec::new();
        let push = |changes: &mut Vec<MembershipChange>,
                    group_id: Id,
                    member_id: Id,
                    added: bool,
                    cause: &str| {
            changes.push(MembershipChange {
                group_id,
                member_id,
                change: if added {
                    ChangeKind::Added
                } else {
                    ChangeKind::Removed
                },
                cause: cause.to_owned(),
            });
        };
        for (group_id, group) in &overlay.groups {
            let before_group = self.group(group_id);
            let before: BTreeSet<Id> = before_group
                .map(|g| self.ids_of(&self.effective_members(g)).collect())
                .unwrap_or_default();
            let now: BTreeSet<Id> = match group {
                Some(g) => after.members_of(g, &touched),
                None => BTreeSet::new(),
            };
            let cause = group_cause(before_group, group.as_ref());
            for id in now.difference(&before) {
                push(&mut changes, *group_id, *id, true, cause);
            }
            for id in before.difference(&now) {
                push(&mut changes, *group_id, *id, false, cause);
            }
        }
        for member_id in &touched {
            let Some(member) = after.member(member_id).cloned() else {
                continue;
            };
            let before_member = self.member(member_id);
            // The groups whose membership of this member the write can change: those it
            // records or unrecords the member in; on a new member or a change of state,
            // every group it is or could be in; on a change of attributes, the dynamic
            // groups whose rules read a changed attribute (nothing else reads attributes).
            let mut candidates: BTreeSet<Id> = overlay
                .records
                .keys()
                .filter(|(_, m)| m == member_id)
                .map(|(g, _)| *g)
                .collect();
            if overlay.members.contains_key(member_id) {
                let broad = before_member.is_none_or(|b| b.state != member.state);
                let kind: MemberKind = member.kind;
                if broad {
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
                } else {
                    let old = before_member.map(attribute_values).unwrap_or_default();
                    let new = attribute_values(&member);
                    let names: BTreeSet<&String> = old
                        .keys()
                        .chain(new.keys())
                        .filter(|n| old.get(*n) != new.get(*n))
                        .collect();
                    for name in names {
                        candidates.extend(self.dynamic().readers_of(kind, name));
                    }
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
                let is = after.holds(group, member_id);
                if was != is {
                    let cause = match overlay.records.get(&(group_id, *member_id)) {
                        Some(source) => source_cause(*source),
                        None => overlay
                            .members
                            .get(member_id)
                            .map_or("attributes_changed", |m| member_cause(before_member, m)),
                    };
                    push(&mut changes, group_id, *member_id, is, cause);
                }
            }
        }
        changes
    }
}
