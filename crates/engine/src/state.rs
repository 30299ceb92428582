use std::collections::{BTreeMap, HashMap};

use roaring::RoaringBitmap;
use roster_model::{
    DefaultGroup, Event, GrantMask, Group, Id, Member, MemberKind, MemberState, Membership,
    PropertyDef, PropertyValue, Revision, Snapshot, StaticMembership, Timestamp, TokenRecord,
    UserType, Workspace,
};

use crate::dynamic::{self, DynamicGroups};
use crate::index::ValueRef;
use crate::invitations::Invitations;
use crate::permissions::{Permissions, Regrant};
use crate::scim::ScimDirectory;
use crate::MemberSets;

/// What the engine keeps of a member beside its attributes: the attributes (email,
/// display name, account and properties) live in the kind's columns only, and a
/// [`Member`] is rebuilt from both when asked for. Keeping whole records as well cost
/// about two kilobytes per member.
#[derive(Debug, Clone)]
struct MemberCore {
    kind: MemberKind,
    user_type: Option<UserType>,
    state: MemberState,
    email_verified: Option<bool>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// Why a revision could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A snapshot without its workspace cannot start an engine.
    #[error("the snapshot holds no workspace")]
    MissingWorkspace,
}

/// Everything a server knows about one workspace, at one revision of the store.
#[derive(Debug, Clone)]
pub struct WorkspaceState {
    workspace: Workspace,
    revision: Revision,
    /// By slot.
    cores: Vec<Option<MemberCore>>,
    /// Every member's slot, in id order (creation order) for listing.
    order: BTreeMap<Id, u32>,
    properties: BTreeMap<Id, PropertyDef>,
    groups: BTreeMap<Id, Group>,
    group_names: HashMap<String, Id>,
    defaults: HashMap<DefaultGroup, Id>,
    static_members: HashMap<Id, BTreeMap<Id, StaticMembership>>,
    static_sets: HashMap<Id, RoaringBitmap>,
    sets: MemberSets,
    dynamic: DynamicGroups,
    tokens: HashMap<Id, TokenRecord>,
    token_hashes: HashMap<String, Id>,
    permissions: Permissions,
    invitations: Invitations,
    scim: ScimDirectory,
}

impl WorkspaceState {
    /// Builds the state of a workspace from what the store holds at one revision.
    pub fn from_snapshot(mut snapshot: Snapshot) -> Result<Self, ApplyError> {
        let mut loader = Loader::default();
        // The decoded members go as soon as their columns are built, before the rules'
        // member sets are: a million of them hold about two gigabytes.
        let members = std::mem::take(&mut snapshot.members);
        loader.members(&members);
        drop(members);
        loader.finish(snapshot)
    }

    /// The rest of a snapshot, over the members already loaded.
    fn finish_load(mut state: Self, snapshot: Snapshot) -> Result<Self, ApplyError> {
        state.workspace = snapshot.workspace.ok_or(ApplyError::MissingWorkspace)?;
        state.revision = snapshot.revision;
        for property in snapshot.properties {
            state.properties.insert(property.id, property);
        }
        state.load_members(&snapshot.members);
        let groups: Vec<&Group> = snapshot.groups.iter().collect();
        state.upsert_groups(&groups);
        for membership in snapshot.memberships {
            state.add_membership(membership);
        }
        for token in snapshot.tokens {
            state.add_token(token);
        }
        for invitation in &snapshot.invitations {
            state.invitations.upsert(invitation);
        }
        for token in &snapshot.scim_tokens {
            state.scim.add_token(token);
        }
        for resource in &snapshot.scim_resources {
            state.scim.upsert(resource);
        }
        state.scim.set_mapping(&snapshot.scim_mapping);
        // Last, so that each assignment grants over memberships already built.
        for role in &snapshot.roles {
            state.upsert_role(role);
        }
        for assignment in &snapshot.assignments {
            state.assign(assignment);
        }
        Ok(state)
    }

    /// A state holding only the workspace, at the given revision.
    pub fn empty(workspace: Workspace, revision: Revision) -> Self {
        WorkspaceState {
            workspace,
            revision,
            cores: Vec::new(),
            order: BTreeMap::new(),
            properties: BTreeMap::new(),
            groups: BTreeMap::new(),
            group_names: HashMap::new(),
            defaults: HashMap::new(),
            static_members: HashMap::new(),
            static_sets: HashMap::new(),
            sets: MemberSets::default(),
            dynamic: DynamicGroups::default(),
            tokens: HashMap::new(),
            token_hashes: HashMap::new(),
            permissions: Permissions::default(),
            invitations: Invitations::default(),
            scim: ScimDirectory::default(),
        }
    }

    /// Applies the events of one committed revision. Revisions at or below the current
    /// one were already applied and are skipped, so a revision that reaches the engine
    /// twice (from the writer and from the follower) changes nothing the second time.
    /// Returns whether anything was applied.
    pub fn apply(&mut self, revision: Revision, events: &[Event]) -> bool {
        if revision <= self.revision {
            return false;
        }
        self.apply_unchecked(revision, events);
        true
    }

    /// Applies one more part of the revision being written (or of a later one): how a
    /// batched write lets each of its operations see the ones before it, before the
    /// revision commits. The caller rebuilds the state from the store if the commit
    /// fails. Returns whether anything was applied.
    pub fn apply_part(&mut self, revision: Revision, events: &[Event]) -> bool {
        if revision < self.revision {
            return false;
        }
        self.apply_unchecked(revision, events);
        true
    }

    fn apply_unchecked(&mut self, revision: Revision, events: &[Event]) {
        let mut at = 0;
        while let Some(event) = events.get(at) {
            // A run of group upserts (an import, a bootstrap) is evaluated as one batch,
            // spread over the cores.
            let run: Vec<&Group> = events
                .get(at..)
                .unwrap_or_default()
                .iter()
                .map_while(|e| match e {
                    Event::GroupUpserted { group } => Some(group),
                    _ => None,
                })
                .collect();
            if run.len() > 1 {
                at += run.len();
                self.upsert_groups(&run);
                continue;
            }
            self.apply_event(event);
            at += 1;
        }
        self.revision = revision;
    }

    fn apply_event(&mut self, event: &Event) {
        match event {
            Event::WorkspaceCreated { workspace } => self.workspace = workspace.clone(),
            Event::MemberUpserted { member } => self.upsert_member(member),
            Event::PropertyUpserted { property } => {
                self.properties.insert(property.id, property.clone());
            }
            Event::PropertyDeleted { id } => {
                self.properties.remove(id);
            }
            Event::GroupUpserted { group } => self.upsert_groups(&[group]),
            Event::GroupDeleted { id } => {
                self.delete_group(id);
                self.scim.remove(id);
            }
            Event::MembershipAdded { membership } => self.add_membership(membership.clone()),
            Event::MembershipRemoved {
                group_id,
                member_id,
            } => self.remove_membership(group_id, member_id),
            Event::TokenCreated { token } => self.add_token(token.clone()),
            Event::TokenRevoked { id } => {
                if let Some(token) = self.tokens.remove(id) {
                    self.token_hashes.remove(&token.hash);
                }
            }
            Event::RoleUpserted { role } => self.upsert_role(role),
            Event::RoleDeleted { id } => {
                let regrants = self.permissions.delete_role(id);
                self.regrant(regrants);
            }
            Event::RoleAssigned { assignment } => self.assign(assignment),
            Event::InvitationUpserted { invitation } => self.invitations.upsert(invitation),
            Event::ScimTokenCreated { token } => self.scim.add_token(token),
            Event::ScimTokenRevoked { id } => self.scim.revoke_token(id),
            Event::ScimResourceUpserted { resource } => self.scim.upsert(resource),
            Event::ScimResourceDeleted { id } => self.scim.remove(id),
            Event::ScimMappingSet { mapping } => self.scim.set_mapping(mapping),
            Event::RoleRevoked { group_id, role_id } => {
                let regrant = self.permissions.revoke(group_id, role_id);
                self.regrant(regrant);
            }
        }
    }

    fn upsert_role(&mut self, role: &roster_model::Role) {
        let regrants = self.permissions.upsert_role(role);
        self.regrant(regrants);
    }

    fn assign(&mut self, assignment: &roster_model::RoleAssignment) {
        let regrant = self.permissions.assign(assignment);
        self.regrant(regrant);
    }

    /// Moves the grant counts of a group's raw members from its old mask to its new.
    fn regrant(&mut self, regrants: impl IntoIterator<Item = Regrant>) {
        for (group_id, before, after) in regrants {
            let Some(group) = self.groups.get(&group_id) else {
                continue;
            };
            let members = self.raw_members(group);
            self.permissions
                .adjust_all(&members, before & !after, false);
            self.permissions.adjust_all(&members, after & !before, true);
        }
    }

    /// The set a group's membership is read from, before deactivated members are left
    /// out: its static records, its rule's answer, or every member of its kind. `None`
    /// for a group with no such set yet (no records, no rule the engine holds).
    fn raw_set(&self, group: &Group) -> Option<&RoaringBitmap> {
        match group.default_group {
            Some(DefaultGroup::AllUsers) => Some(&self.sets.users),
            Some(DefaultGroup::Customers) => Some(&self.sets.customers),
            _ if group.membership == Membership::Dynamic => self.dynamic.members(&group.id),
            _ => self.static_sets.get(&group.id),
        }
    }

    /// The members a group counts before deactivated members are left out (see
    /// `raw_set`), active or not: what its grants are counted over.
    pub fn raw_members(&self, group: &Group) -> RoaringBitmap {
        self.raw_set(group).cloned().unwrap_or_default()
    }

    fn raw_contains(&self, group: &Group, slot: u32) -> bool {
        self.raw_set(group).is_some_and(|set| set.contains(slot))
    }

    /// Whether a group's raw membership is its static records.
    fn counts_records(&self, group: &Id) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| g.membership == Membership::Static && !g.is_maintained())
    }

    /// The roles, assignments and grants of the workspace.
    pub fn permissions(&self) -> &Permissions {
        &self.permissions
    }

    /// Whether a member may do something: active, and holding the grant through a group
    /// (Admins grant everything).
    pub fn allows(&self, member_id: &Id, grant: roster_model::Grant) -> bool {
        self.allows_member(member_id, grant) == Some(true)
    }

    /// [`allows`](Self::allows) for a member that exists; `None` for one that does not:
    /// one lookup for both questions a check asks.
    pub fn allows_member(&self, member_id: &Id, grant: roster_model::Grant) -> Option<bool> {
        self.permissions.answer(self.sets.slot(member_id)?, grant)
    }

    /// [`allows_member`](Self::allows_member) for many questions. The members' slots
    /// are looked up in one pass and their words read in a second: the loads of one pass
    /// do not wait on each other, so the processor overlaps them, where asking one
    /// question after another waits for each lookup and then for each word.
    pub fn allows_many(&self, questions: &[(Id, roster_model::Grant)]) -> Vec<Option<bool>> {
        let slots: Vec<Option<u32>> = questions.iter().map(|(id, _)| self.sets.slot(id)).collect();
        slots
            .into_iter()
            .zip(questions)
            .map(|(slot, (_, grant))| self.permissions.answer(slot?, *grant))
            .collect()
    }
    fn upsert_member(&mut self, member: &Member) {
        let (slot, fresh) = self.slot_of(member);
        let flipped = self.dynamic.upsert_member(slot, fresh, member);
        if !self.permissions.grants_nothing() {
            for (group, holds) in flipped {
                let mask = self.permissions.mask(&group);
                self.permissions.adjust(slot, mask, holds);
            }
        }
        self.file_core(slot, member);
    }

    /// Files the members of a snapshot before its groups: what each needs beside its
    /// attributes one by one, then the attribute columns all at once, in parallel.
    fn load_members(&mut self, members: &[Member]) {
        let mut rows = Vec::with_capacity(members.len());
        let mut again = Vec::new();
        for member in members {
            let (slot, fresh) = self.slot_of(member);
            if fresh {
                self.file_core(slot, member);
                rows.push((slot, member));
            } else {
                again.push(member);
            }
        }
        self.dynamic.load_members(&rows);
        for member in again {
            self.upsert_member(member);
        }
    }

    /// The member's slot, and whether the engine holds nothing of it yet; files it into
    /// the built-in sets.
    fn slot_of(&mut self, member: &Member) -> (u32, bool) {
        self.sets.index(member);
        let slot = self.sets.slot_or_insert(member.id);
        let at = slot as usize;
        if self.cores.len() <= at {
            self.cores.resize(at + 1, None);
        }
        (slot, self.cores.get(at).is_none_or(Option::is_none))
    }

    /// Keeps what the engine holds of a member beside its attributes, and the grants of
    /// the kind's maintained group.
    fn file_core(&mut self, slot: u32, member: &Member) {
        let at = slot as usize;
        let kind_before = self.cores.get(at).and_then(Option::as_ref).map(|c| c.kind);
        if kind_before != Some(member.kind) {
            // Joined the kind's maintained group (All Users or Customers), and left the
            // other kind's if it was one.
            let maintained = |kind| match kind {
                MemberKind::User => DefaultGroup::AllUsers,
                MemberKind::Customer => DefaultGroup::Customers,
            };
            if let Some(old) = kind_before.and_then(|k| self.defaults.get(&maintained(k))) {
                let mask = self.permissions.mask(old);
                self.permissions.adjust(slot, mask, false);
            }
            if let Some(new) = self.defaults.get(&maintained(member.kind)) {
                let mask = self.permissions.mask(new);
                self.permissions.adjust(slot, mask, true);
            }
        }
        self.permissions.set_member(slot, member.is_active());
        self.order.insert(member.id, slot);
        if let Some(core) = self.cores.get_mut(at) {
            *core = Some(MemberCore {
                kind: member.kind,
                user_type: member.user_type,
                state: member.state,
                email_verified: member.email_verified,
                created_at: member.created_at,
                updated_at: member.updated_at,
            });
        }
    }

    fn upsert_groups(&mut self, groups: &[&Group]) {
        // Groups that grant something keep their members' grants current: their raw
        // membership before, to compare with after.
        let granting: Vec<(Id, GrantMask, RoaringBitmap)> = groups
            .iter()
            .filter_map(|g| {
                let mask = self.permissions.mask(&g.id);
                let before = self.groups.get(&g.id)?;
                (mask != 0).then(|| (g.id, mask, self.raw_members(before)))
            })
            .collect();
        for group in groups {
            if let Some(old) = self.groups.get(&group.id) {
                self.group_names.remove(&old.name_key());
            }
            self.group_names.insert(group.name_key(), group.id);
            if let Some(key) = group.default_group {
                self.defaults.insert(key, group.id);
            }
            self.groups.insert(group.id, (*group).clone());
        }
        let properties: Vec<PropertyDef> = self.properties.values().cloned().collect();
        let sets = &self.sets;
        self.dynamic.upsert_groups(
            groups,
            |kind| dynamic::schema(kind, properties.iter()),
            |kind| match kind {
                MemberKind::User => sets.users.clone(),
                MemberKind::Customer => sets.customers.clone(),
            },
        );
        for (id, mask, before) in granting {
            let Some(group) = self.groups.get(&id) else {
                continue;
            };
            let after = self.raw_members(group);
            self.permissions
                .adjust_all(&(&before - &after), mask, false);
            self.permissions.adjust_all(&(&after - &before), mask, true);
        }
        if let Some(admins) = groups
            .iter()
            .find(|g| g.default_group == Some(DefaultGroup::Admins))
        {
            let regrants = self.permissions.set_admins(admins.id);
            self.regrant(regrants);
        }
    }

    /// Rebuilds the member in a slot from its core and its kind's columns.
    fn member_at(&self, slot: u32) -> Option<Member> {
        let core = self.cores.get(slot as usize)?.as_ref()?;
        let id = self.sets.id(slot)?;
        let index = self.dynamic.attributes(core.kind);
        let text = |name: &str| match index.attribute(name).and_then(|a| index.value(a, slot)) {
            Some(ValueRef::Text(t)) => Some(t.to_owned()),
            _ => None,
        };
        let properties = index
            .names()
            .iter()
            .enumerate()
            .filter(|(_, name)| !dynamic::is_builtin(core.kind, name))
            .filter_map(|(attribute, name)| {
                let value = match index.value(attribute, slot)? {
                    ValueRef::Text(t) => PropertyValue::Text(t.to_owned()),
                    ValueRef::Number(n) => PropertyValue::Number(n),
                    ValueRef::Bool(b) => PropertyValue::Boolean(b),
                };
                Some((name.to_string(), value))
            })
            .collect();
        Some(Member {
            id,
            kind: core.kind,
            user_type: core.user_type,
            email: text("email"),
            display_name: text("display_name").unwrap_or_default(),
            state: core.state,
            account: match core.kind {
                MemberKind::Customer => text("account"),
                MemberKind::User => None,
            },
            email_verified: core.email_verified,
            properties,
            created_at: core.created_at,
            updated_at: core.updated_at,
        })
    }

    /// What a rule over members of a kind may read: built-ins and the kind's properties.
    pub fn schema(&self, kind: MemberKind) -> roster_rules::Schema {
        dynamic::schema(kind, self.properties.values())
    }

    /// Every active member.
    pub fn active_set(&self) -> &RoaringBitmap {
        &self.sets.active
    }

    /// Every member of a kind, active or not.
    pub fn kind_set(&self, kind: MemberKind) -> &RoaringBitmap {
        match kind {
            MemberKind::User => &self.sets.users,
            MemberKind::Customer => &self.sets.customers,
        }
    }

    /// The dynamic-group side of the engine.
    pub fn dynamic(&self) -> &DynamicGroups {
        &self.dynamic
    }

    /// A member's slot, the position of its bit in every member set.
    pub fn slot(&self, id: &Id) -> Option<u32> {
        self.sets.slot(id)
    }

    fn delete_group(&mut self, id: &Id) {
        if let Some(group) = self.groups.get(id) {
            let members = self.raw_members(group);
            let mask = self.permissions.forget_group(id);
            self.permissions.adjust_all(&members, mask, false);
        }
        if let Some(group) = self.groups.remove(id) {
            self.group_names.remove(&group.name_key());
            if let Some(key) = group.default_group {
                self.defaults.remove(&key);
            }
        }
        self.static_members.remove(id);
        self.static_sets.remove(id);
        self.dynamic.remove_group(id);
    }

    fn add_membership(&mut self, membership: StaticMembership) {
        let slot = self.sets.slot_or_insert(membership.member_id);
        let inserted = self
            .static_sets
            .entry(membership.group_id)
            .or_default()
            .insert(slot);
        if inserted && self.counts_records(&membership.group_id) {
            let mask = self.permissions.mask(&membership.group_id);
            self.permissions.adjust(slot, mask, true);
        }
        self.static_members
            .entry(membership.group_id)
            .or_default()
            .insert(membership.member_id, membership);
    }

    fn remove_membership(&mut self, group_id: &Id, member_id: &Id) {
        if let Some(records) = self.static_members.get_mut(group_id) {
            records.remove(member_id);
        }
        let counts = self.counts_records(group_id);
        if let (Some(set), Some(slot)) = (
            self.static_sets.get_mut(group_id),
            self.sets.slot(member_id),
        ) {
            if set.remove(slot) && counts {
                let mask = self.permissions.mask(group_id);
                self.permissions.adjust(slot, mask, false);
            }
        }
    }

    fn add_token(&mut self, token: TokenRecord) {
        self.token_hashes.insert(token.hash.clone(), token.id);
        self.tokens.insert(token.id, token);
    }

    /// Everything the state holds, in the form the store loads it: rebuilding a state
    /// from it gives the same state, which is how the tests show that nothing derived is
    /// ever needed from the store.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            workspace: Some(self.workspace.clone()),
            revision: self.revision,
            members: self.members_after(None).collect(),
            properties: self.properties.values().cloned().collect(),
            groups: self.groups.values().cloned().collect(),
            memberships: self
                .groups
                .keys()
                .flat_map(|g| self.static_memberships(g).cloned())
                .collect(),
            tokens: self.tokens().into_iter().cloned().collect(),
            roles: self.permissions.roles_after(None).cloned().collect(),
            assignments: self.permissions.assignments().cloned().collect(),
            invitations: self.invitations.after(None).cloned().collect(),
            scim_tokens: self.scim.tokens().cloned().collect(),
            scim_resources: self.scim.all().cloned().collect(),
            scim_mapping: self.scim.mapping().clone(),
        }
    }

    /// The workspace's SCIM tokens, provisioned resources and mapping.
    pub fn scim(&self) -> &ScimDirectory {
        &self.scim
    }

    /// The workspace's invitations.
    pub fn invitations(&self) -> &Invitations {
        &self.invitations
    }

    /// The workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The last revision applied.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// A member by id, rebuilt from the engine's columns.
    pub fn member(&self, id: &Id) -> Option<Member> {
        self.member_at(self.sets.slot(id)?)
    }

    /// Whether a member exists (one hash lookup: a batch of checks asks it per question).
    pub fn has_member(&self, id: &Id) -> bool {
        self.sets
            .slot(id)
            .is_some_and(|slot| self.cores.get(slot as usize).is_some_and(Option::is_some))
    }

    /// A member by email, compared case-insensitively: found through the email column's
    /// postings rather than a second map of every address.
    pub fn member_by_email(&self, email: &str) -> Option<Member> {
        let folded = email.to_lowercase();
        [MemberKind::User, MemberKind::Customer]
            .into_iter()
            .find_map(|kind| {
                let index = self.dynamic.attributes(kind);
                index.text_holder(index.attribute("email")?, &folded)
            })
            .and_then(|slot| self.member_at(slot))
    }

    /// Members in id order (creation order), starting after `after`.
    pub fn members_after(&self, after: Option<Id>) -> impl Iterator<Item = Member> + '_ {
        self.members_of_kind_after(None, after)
    }

    /// The members whose slots are in `set`, in id order, starting after `after`: how a
    /// derived set (the holders of a privilege, say) is listed page by page.
    pub fn members_in_after<'a>(
        &'a self,
        set: &'a RoaringBitmap,
        after: Option<Id>,
    ) -> impl Iterator<Item = Member> + 'a {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.order
            .range((start, Bound::Unbounded))
            .filter(|(_, slot)| set.contains(**slot))
            .filter_map(|(_, slot)| self.member_at(*slot))
    }

    /// One page of members in id order after `after`, of a kind and in a set when given,
    /// visiting at most `visit` members: a page of a sparse kind or set costs the same
    /// bounded walk however large the workspace. Returns the page (at most `limit`) and
    /// where the next page starts: the last member shown when more follow, or the last
    /// member visited when the walk stopped first (the page is then shorter); `None` at
    /// the end.
    pub fn page_after(
        &self,
        after: Option<Id>,
        kind: Option<MemberKind>,
        set: Option<&RoaringBitmap>,
        limit: usize,
        visit: usize,
    ) -> (Vec<Member>, Option<Id>) {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut page = Vec::new();
        let (mut visited, mut last) = (0usize, after);
        for (id, slot) in self.order.range((start, Bound::Unbounded)) {
            if visited >= visit.max(1) {
                return (page, last);
            }
            visited += 1;
            last = Some(*id);
            let wanted = set.is_none_or(|s| s.contains(*slot))
                && kind.is_none_or(|k| {
                    self.cores
                        .get(*slot as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|c| c.kind == k)
                });
            if !wanted {
                continue;
            }
            if page.len() == limit {
                let next = page.last().map(|m: &Member| m.id);
                return (page, next);
            }
            if let Some(member) = self.member_at(*slot) {
                page.push(member);
            }
        }
        (page, None)
    }

    /// Members of a kind (or of both) in id order, starting after `after`; members of
    /// the other kind are skipped before anything is rebuilt.
    pub fn members_of_kind_after(
        &self,
        kind: Option<MemberKind>,
        after: Option<Id>,
    ) -> impl Iterator<Item = Member> + '_ {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.order
            .range((start, Bound::Unbounded))
            .filter(move |(_, slot)| {
                kind.is_none_or(|k| {
                    self.cores
                        .get(**slot as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|c| c.kind == k)
                })
            })
            .filter_map(|(_, slot)| self.member_at(*slot))
    }

    /// Whether a member exists and is active: what every authenticated request asks.
    pub fn is_active_member(&self, id: &Id) -> bool {
        self.sets
            .slot(id)
            .is_some_and(|slot| self.sets.active.contains(slot))
    }

    /// Every property definition.
    pub fn properties(&self) -> impl Iterator<Item = &PropertyDef> {
        self.properties.values()
    }

    /// A property definition by id.
    pub fn property(&self, id: &Id) -> Option<&PropertyDef> {
        self.properties.get(id)
    }

    /// The definition of a property of a member kind, by name.
    pub fn property_named(&self, kind: MemberKind, name: &str) -> Option<&PropertyDef> {
        self.properties
            .values()
            .find(|p| p.applies_to == kind && p.name == name)
    }

    /// A group by id.
    pub fn group(&self, id: &Id) -> Option<&Group> {
        self.groups.get(id)
    }

    /// A group by name, compared case-insensitively.
    pub fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.group_names
            .get(&name.to_lowercase())
            .and_then(|id| self.groups.get(id))
    }

    /// One of the default groups.
    pub fn default_group(&self, key: DefaultGroup) -> Option<&Group> {
        self.defaults.get(&key).and_then(|id| self.groups.get(id))
    }

    /// Groups in id order, starting after `after`.
    pub fn groups_after(&self, after: Option<Id>) -> impl Iterator<Item = &Group> {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.groups.range((start, Bound::Unbounded)).map(|(_, g)| g)
    }

    /// The recorded (static) membership of a member in a group, active or not.
    pub fn static_membership(&self, group_id: &Id, member_id: &Id) -> Option<&StaticMembership> {
        self.static_members.get(group_id)?.get(member_id)
    }

    /// How many members are recorded in a group, active or not: what writing the
    /// group's whole member list costs, known without walking it.
    pub fn static_member_count(&self, group_id: &Id) -> usize {
        self.static_members.get(group_id).map_or(0, BTreeMap::len)
    }

    /// The members recorded in a group in member id order, starting after `after`: a
    /// page of a large static group without walking the members before it.
    pub fn static_memberships_after(
        &self,
        group_id: &Id,
        after: Option<Id>,
    ) -> impl Iterator<Item = &StaticMembership> {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.static_members
            .get(group_id)
            .into_iter()
            .flat_map(move |m| m.range((start, Bound::Unbounded)).map(|(_, r)| r))
    }

    /// The slots of the members recorded in a group, active or not.
    pub(crate) fn static_set(&self, group_id: &Id) -> Option<&RoaringBitmap> {
        self.static_sets.get(group_id)
    }

    /// Every recorded membership of a static group, in member-id order.
    pub fn static_memberships(&self, group_id: &Id) -> impl Iterator<Item = &StaticMembership> {
        self.static_members
            .get(group_id)
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// The group's effective members: who counts as a member right now. Deactivated
    /// members never count; All Users, Customers and Verified Customers are derived.
    pub fn effective_members(&self, group: &Group) -> RoaringBitmap {
        self.raw_set(group)
            .map_or_else(RoaringBitmap::new, |set| set & &self.sets.active)
    }

    /// Whether a member effectively belongs to a group right now.
    pub fn is_effective_member(&self, group: &Group, member_id: &Id) -> bool {
        self.sets
            .slot(member_id)
            .is_some_and(|slot| self.sets.active.contains(slot) && self.raw_contains(group, slot))
    }

    /// The member ids of a set of slots, in slot order.
    pub fn ids_of<'a>(&'a self, set: &'a RoaringBitmap) -> impl Iterator<Item = Id> + 'a {
        set.iter().filter_map(|slot| self.sets.id(slot))
    }

    /// Whether a member is an active admin.
    pub fn is_admin(&self, member_id: &Id) -> bool {
        self.default_group(DefaultGroup::Admins)
            .is_some_and(|admins| self.is_effective_member(admins, member_id))
    }

    /// Whether the member is recorded in Admins, active or deactivated: an account that
    /// holds every privilege again the moment it is reactivated, so what guards admins
    /// from a SCIM token guards it too.
    pub fn is_recorded_admin(&self, member_id: &Id) -> bool {
        self.default_group(DefaultGroup::Admins)
            .is_some_and(|admins| self.static_membership(&admins.id, member_id).is_some())
    }

    /// How many active admins the workspace has.
    pub fn active_admin_count(&self) -> u64 {
        self.default_group(DefaultGroup::Admins)
            .map_or(0, |admins| self.effective_members(admins).len())
    }

    /// The groups a member effectively belongs to.
    pub fn groups_of(&self, member_id: Id) -> impl Iterator<Item = &Group> + '_ {
        self.groups
            .values()
            .filter(move |g| self.is_effective_member(g, &member_id))
    }

    /// Members whose properties carry a value for a property name of a kind, read from
    /// the property's column.
    pub fn members_with_property(&self, kind: MemberKind, name: &str) -> Vec<Member> {
        if dynamic::is_builtin(kind, name) {
            return Vec::new();
        }
        let index = self.dynamic.attributes(kind);
        let Some(attribute) = index.attribute(name) else {
            return Vec::new();
        };
        index
            .holders(attribute)
            .into_iter()
            .filter_map(|slot| self.member_at(slot))
            .collect()
    }

    /// A token by the hash of its secret.
    pub fn token_by_hash(&self, hash: &str) -> Option<&TokenRecord> {
        self.token_hashes
            .get(hash)
            .and_then(|id| self.tokens.get(id))
    }

    /// A token by id.
    pub fn token(&self, id: &Id) -> Option<&TokenRecord> {
        self.tokens.get(id)
    }

    /// Every live token, in id order.
    pub fn tokens(&self) -> Vec<&TokenRecord> {
        let mut tokens: Vec<_> = self.tokens.values().collect();
        tokens.sort_by_key(|t| t.id);
        tokens
    }
}

/// Builds a workspace's state from a snapshot whose members come first, in chunks, as
/// the store decodes them (`Store::load_streaming`), and the rest after: the server
/// never holds every decoded member at once.
pub struct Loader {
    state: WorkspaceState,
}

impl Default for Loader {
    fn default() -> Self {
        let placeholder = Workspace {
            id: Id::nil(),
            name: String::new(),
            created_at: roster_model::from_micros(0),
        };
        Loader {
            state: WorkspaceState::empty(placeholder, 0),
        }
    }
}

impl Loader {
    /// Files a chunk of the snapshot's members.
    pub fn members(&mut self, members: &[Member]) {
        self.state.load_members(members);
    }

    /// The state, once the rest of the snapshot (its workspace, properties, groups and
    /// so on, and any members it still holds) is in.
    pub fn finish(self, snapshot: Snapshot) -> Result<WorkspaceState, ApplyError> {
        WorkspaceState::finish_load(self.state, snapshot)
    }
}

#[cfg(test)]
mod tests {
    use roster_model::{
        DefaultGroup, Event, Group, ManagedBy, Member, MemberKind, MemberState, Membership,
        MembershipSource, StaticMembership, UserType, Workspace,
    };

    use super::WorkspaceState;

    fn at() -> roster_model::Timestamp {
        roster_model::from_micros(0)
    }

    fn member(kind: MemberKind, verified: bool) -> Member {
        Member {
            id: roster_model::new_id(),
            kind,
            user_type: (kind == MemberKind::User).then_some(UserType::TeamMember),
            email: Some(format!("{}@x.test", roster_model::new_id())),
            display_name: "m".into(),
            state: MemberState::Active,
            account: None,
            email_verified: (kind == MemberKind::Customer).then_some(verified),
            properties: Default::default(),
            created_at: at(),
            updated_at: at(),
        }
    }

    fn group(key: Option<DefaultGroup>, kind: MemberKind) -> Group {
        Group {
            id: roster_model::new_id(),
            name: format!("g{}", roster_model::new_id()),
            description: String::new(),
            member_kind: kind,
            membership: if key.and_then(DefaultGroup::rule).is_some() {
                Membership::Dynamic
            } else {
                Membership::Static
            },
            rule: key.and_then(DefaultGroup::rule).map(str::to_owned),
            owner: None,
            default_group: key,
            managed_by: ManagedBy::Roster,
            version: 1,
            created_at: at(),
            updated_at: at(),
        }
    }

    fn state() -> WorkspaceState {
        let workspace = Workspace {
            id: roster_model::new_id(),
            name: "w".into(),
            created_at: at(),
        };
        WorkspaceState::empty(workspace, 0)
    }

    #[test]
    fn a_revision_applies_once() {
        let mut state = state();
        let m = member(MemberKind::User, false);
        assert!(state.apply(1, &[Event::MemberUpserted { member: m.clone() }]));
        let mut renamed = m.clone();
        renamed.display_name = "later".into();
        assert!(
            !state.apply(1, &[Event::MemberUpserted { member: renamed }]),
            "a revision seen twice is skipped"
        );
        assert_eq!(
            state.member(&m.id).map(|m| m.display_name),
            Some("m".to_owned())
        );
        assert_eq!(state.revision(), 1);
    }

    #[test]
    fn derived_groups_follow_kind_state_and_verification() {
        let mut state = state();
        let all = group(Some(DefaultGroup::AllUsers), MemberKind::User);
        let verified = group(Some(DefaultGroup::VerifiedCustomers), MemberKind::Customer);
        let team = group(None, MemberKind::User);
        let (user, mut customer) = (
            member(MemberKind::User, false),
            member(MemberKind::Customer, false),
        );
        state.apply(
            1,
            &[
                Event::GroupUpserted { group: all.clone() },
                Event::GroupUpserted {
                    group: verified.clone(),
                },
                Event::GroupUpserted {
                    group: team.clone(),
                },
                Event::MemberUpserted {
                    member: user.clone(),
                },
                Event::MemberUpserted {
                    member: customer.clone(),
                },
                Event::MembershipAdded {
                    membership: StaticMembership {
                        group_id: team.id,
                        member_id: user.id,
                        source: MembershipSource::Manual,
                        added_by: None,
                        added_at: at(),
                    },
                },
            ],
        );
        assert!(state.is_effective_member(&all, &user.id));
        assert!(!state.is_effective_member(&all, &customer.id));
        assert!(!state.is_effective_member(&verified, &customer.id));
        customer.email_verified = Some(true);
        state.apply(
            2,
            &[Event::MemberUpserted {
                member: customer.clone(),
            }],
        );
        assert!(state.is_effective_member(&verified, &customer.id));
        let mut gone = user.clone();
        gone.state = MemberState::Deactivated;
        state.apply(3, &[Event::MemberUpserted { member: gone }]);
        assert!(
            !state.is_effective_member(&team, &user.id),
            "deactivated members count nowhere"
        );
        assert!(
            state.static_membership(&team.id, &user.id).is_some(),
            "but their record stays"
        );
        assert_eq!(state.effective_members(&all).len(), 0);
        state.apply(4, &[Event::GroupDeleted { id: team.id }]);
        assert!(state.static_membership(&team.id, &user.id).is_none());
    }
}
