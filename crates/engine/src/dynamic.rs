//! Dynamic groups: each member kind's attributes in an [`AttributeIndex`], each dynamic
//! group's rule compiled against it with its member set, and an index from attribute to
//! the conditions that read it. A member write tests only those conditions, with the
//! old and the new value; only a rule one of whose conditions flips is evaluated again,
//! for that one member.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use roaring::RoaringBitmap;
use roster_model::{
    Group, Id, Member, MemberKind, Membership, PropertyDef, PropertyType, PropertyValue, UserType,
};
use roster_rules::{AttrType, Op, Rule, Schema, Value};

use crate::index::{
    AttributeIndex, Cell, Cells, CompiledRule, Pair, Programs, SharedAnswers, ValueRef, NONE,
};
use crate::readers::{AttributeReaders, Reader};

/// The built-in attributes of SPEC §1, per member kind.
pub fn builtins(kind: MemberKind) -> &'static [(&'static str, AttrType)] {
    match kind {
        MemberKind::User => &[
            ("email", AttrType::Text),
            ("email_domain", AttrType::Text),
            ("display_name", AttrType::Text),
            ("type", AttrType::Text),
        ],
        MemberKind::Customer => &[
            ("email", AttrType::Text),
            ("email_domain", AttrType::Text),
            ("display_name", AttrType::Text),
            ("account", AttrType::Text),
            ("email_verified", AttrType::Boolean),
        ],
    }
}

/// Whether a name is a built-in attribute of a kind, which no property may take.
pub fn is_builtin(kind: MemberKind, name: &str) -> bool {
    builtins(kind).iter().any(|(n, _)| *n == name)
}

/// What a rule of a member kind may read: the built-ins and the kind's properties.
pub fn schema<'a>(kind: MemberKind, properties: impl Iterator<Item = &'a PropertyDef>) -> Schema {
    let mut schema = Schema::new();
    for (name, ty) in builtins(kind) {
        schema = schema.with(*name, *ty);
    }
    for property in properties.filter(|p| p.applies_to == kind) {
        let ty = match property.value_type {
            PropertyType::Text => AttrType::Text,
            PropertyType::Number => AttrType::Number,
            PropertyType::Boolean => AttrType::Boolean,
        };
        schema = schema.with(property.name.clone(), ty);
    }
    schema
}

fn user_type_name(t: UserType) -> &'static str {
    match t {
        UserType::TeamMember => "team_member",
        UserType::Agent => "agent",
    }
}

/// A member's value of one attribute, built-in or property, borrowed from the member.
/// `email_domain` is the part after the last `@` as written; rules compare it folded.
pub fn member_value<'m>(member: &'m Member, name: &str) -> Option<ValueRef<'m>> {
    let text = |s: Option<&'m str>| s.map(ValueRef::Text);
    match (member.kind, name) {
        (_, "email") => text(member.email.as_deref()),
        (_, "email_domain") => text(
            member
                .email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d),
        ),
        (_, "display_name") => Some(ValueRef::Text(&member.display_name)),
        (MemberKind::User, "type") => member.user_type.map(|t| ValueRef::Text(user_type_name(t))),
        (MemberKind::Customer, "account") => text(member.account.as_deref()),
        (MemberKind::Customer, "email_verified") => member.email_verified.map(ValueRef::Bool),
        _ => member.properties.get(name).map(|v| match v {
            PropertyValue::Text(t) => ValueRef::Text(t),
            PropertyValue::Number(n) => ValueRef::Number(*n),
            PropertyValue::Boolean(b) => ValueRef::Bool(*b),
        }),
    }
}

/// Every attribute value a member has, built-ins and properties, as rules read them:
/// what the reference evaluator is given.
pub fn attribute_values(member: &Member) -> BTreeMap<String, Value> {
    let names = builtins(member.kind)
        .iter()
        .map(|(n, _)| *n)
        .chain(member.properties.keys().map(String::as_str));
    names
        .filter_map(|name| {
            let value = match member_value(member, name)? {
                ValueRef::Text(t) => Value::Text(roster_rules::fold(t).into_owned()),
                ValueRef::Number(n) => Value::Number(n),
                ValueRef::Bool(b) => Value::Bool(b),
            };
            Some((name.to_owned(), value))
        })
        .collect()
}

/// A cell whose text the write brings, lower-cased and owned.
#[derive(Debug)]
enum PendingCell<'m> {
    Missing,
    Text(u32, Cow<'m, str>),
    Number(f64),
    Bool(bool),
}

/// One member's cells as a write will leave them: the changed attributes over the
/// index's current values. Nothing is applied; a dry run and the real write share it.
pub struct PendingMember<'a> {
    index: &'a AttributeIndex,
    slot: u32,
    /// Sorted by attribute.
    changed: Vec<(usize, PendingCell<'a>)>,
}

impl Cells for PendingMember<'_> {
    fn cell(&self, attribute: usize) -> Cell<'_> {
        match self.changed.binary_search_by_key(&attribute, |(a, _)| *a) {
            Ok(at) => match &self.changed[at].1 {
                PendingCell::Missing => Cell::Missing,
                PendingCell::Text(id, folded) => Cell::Text { id: *id, folded },
                PendingCell::Number(n) => Cell::Number(*n),
                PendingCell::Bool(b) => Cell::Bool(*b),
            },
            Err(_) => self.index.cell(attribute, self.slot),
        }
    }
}

impl<'a> PendingMember<'a> {
    /// `member` as it will be, in `slot` (a slot with no values for a new member).
    fn new(index: &'a AttributeIndex, slot: u32, member: &'a Member) -> Self {
        let changed = index
            .names()
            .iter()
            .enumerate()
            .filter_map(|(attribute, name)| {
                let new = member_value(member, name);
                let old = index.value(attribute, slot);
                let same = match (old, new) {
                    (Some(a), Some(b)) => a.same(b),
                    (None, None) => true,
                    _ => false,
                };
                if same {
                    return None;
                }
                let cell = match new {
                    None => PendingCell::Missing,
                    Some(ValueRef::Text(t)) => {
                        let folded = roster_rules::fold(t);
                        PendingCell::Text(index.text_id(attribute, &folded), folded)
                    }
                    Some(ValueRef::Number(n)) => PendingCell::Number(n),
                    Some(ValueRef::Bool(b)) => PendingCell::Bool(b),
                };
                Some((attribute, cell))
            })
            .collect();
        PendingMember {
            index,
            slot,
            changed,
        }
    }

    fn changed(&self) -> impl Iterator<Item = usize> + '_ {
        self.changed.iter().map(|(a, _)| *a)
    }
}

/// The numbers of the set bits of a bit array, in order.
fn set_bits(words: &[u64]) -> Vec<usize> {
    let mut out = Vec::new();
    for (at, word) in words.iter().enumerate() {
        let mut word = *word;
        while word != 0 {
            out.push(at * 64 + word.trailing_zeros() as usize);
            word &= word - 1;
        }
    }
    out
}

/// A member's cells gathered in one place.
struct Materialized<'a>(Vec<Cell<'a>>);

impl Cells for Materialized<'_> {
    fn cell(&self, attribute: usize) -> Cell<'_> {
        self.0.get(attribute).copied().unwrap_or(Cell::Missing)
    }
}

/// One dynamic group's compiled rule and the members (of its kind, active or not) for
/// which the rule holds.
#[derive(Debug, Clone)]
struct DynamicGroup {
    id: Id,
    kind: MemberKind,
    rule_text: String,
    /// `None` when the stored rule does not check against the schema (it was saved by a
    /// newer version, say): the group then has no members rather than wrong ones.
    rule: Option<(Rule, CompiledRule)>,
    members: RoaringBitmap,
}

/// Per attribute number: the conditions that read it.
type Readers = Vec<AttributeReaders>;

/// The dynamic-group side of a workspace's engine.
#[derive(Debug, Clone, Default)]
pub struct DynamicGroups {
    users: AttributeIndex,
    customers: AttributeIndex,
    groups: Vec<Option<DynamicGroup>>,
    numbers: HashMap<Id, usize>,
    free: Vec<usize>,
    user_readers: Readers,
    customer_readers: Readers,
    /// The groups' rules as programs in one arena, by group number: what a member
    /// write re-tests.
    programs: Programs,
}

/// How many rules of one batch must read an attribute with `STARTS WITH` or `ENDS WITH`
/// before its values are kept in sorted orders (see `keep_orders_that_pay`).
const ORDERS_PAY_AT: usize = 40;

fn kind_at(kind: MemberKind) -> usize {
    match kind {
        MemberKind::User => 0,
        MemberKind::Customer => 1,
    }
}

impl DynamicGroups {
    /// The attributes of the members of a kind.
    pub fn attributes(&self, kind: MemberKind) -> &AttributeIndex {
        match kind {
            MemberKind::User => &self.users,
            MemberKind::Customer => &self.customers,
        }
    }

    fn readers(&self, kind: MemberKind) -> &Readers {
        match kind {
            MemberKind::User => &self.user_readers,
            MemberKind::Customer => &self.customer_readers,
        }
    }

    fn group(&self, number: usize) -> Option<&DynamicGroup> {
        self.groups.get(number).and_then(Option::as_ref)
    }

    /// The dynamic groups of the member's kind whose membership of it the write will
    /// flip, and whether the member will then be in: only groups with a condition on a
    /// changed attribute whose truth changes are evaluated (all of the kind's groups for
    /// a member the index has not seen).
    fn flips(
        &self,
        pending: &PendingMember<'_>,
        kind: MemberKind,
        fresh: bool,
    ) -> Vec<(usize, bool)> {
        let width = pending.index.names().len();
        let after = Materialized((0..width).map(|a| pending.cell(a)).collect());
        if fresh {
            return (0..self.groups.len())
                .filter_map(|number| {
                    let group = self.group(number).filter(|g| g.kind == kind)?;
                    let holds = group.rule.as_ref().is_some_and(|(_, c)| c.holds(&after));
                    (holds != group.members.contains(pending.slot)).then_some((number, holds))
                })
                .collect();
        }
        let readers = self.readers(kind);
        let index = pending.index;
        let mut named = Vec::new();
        for attribute in pending.changed() {
            if let Some(readers) = readers.get(attribute) {
                readers.flipped(
                    index.cell(attribute, pending.slot),
                    pending.cell(attribute),
                    &mut named,
                );
            }
        }
        if named.is_empty() {
            return Vec::new();
        }
        // A bit per group with a flipped condition, and one per group with more than
        // one: those are run whole, before and after; the others are decided from the
        // one condition.
        let words = self.groups.len().div_ceil(64);
        let mut seen = vec![0u64; words];
        let mut several = vec![0u64; words];
        for reader in &named {
            let (word, bit) = (reader.group as usize / 64, 1u64 << (reader.group % 64));
            if let (Some(seen), Some(several)) = (seen.get_mut(word), several.get_mut(word)) {
                if *seen & bit != 0 {
                    *several |= bit;
                }
                *seen |= bit;
            }
        }
        let before = Materialized((0..width).map(|a| index.cell(a, pending.slot)).collect());
        let mut changed = vec![false; width];
        for attribute in pending.changed() {
            if let Some(flag) = changed.get_mut(attribute) {
                *flag = true;
            }
        }
        let pair = Pair {
            before: &before,
            after: &after,
            changed: &changed,
        };
        // A group's member set is exactly where its rule holds, so the rule over the
        // member's cells before and after the write tells whether it flips, without
        // reading the group's member set.
        let whole = |number: usize| -> Option<bool> {
            let (held, holds) = match self.programs.holds_pair(number, &pair) {
                Some(answers) => answers,
                None => {
                    let (_, rule) = self.group(number)?.rule.as_ref()?;
                    (rule.holds(&before), rule.holds(&after))
                }
            };
            (held != holds).then_some(holds)
        };
        let mut flips = Vec::new();
        for reader in &named {
            let number = reader.group as usize;
            let alone = several
                .get(number / 64)
                .is_some_and(|w| w & (1 << (number % 64)) == 0);
            if !alone {
                continue;
            }
            let decided = match self.programs.decide(number, reader.step, &pair) {
                Some(decided) => decided,
                None => whole(number),
            };
            if let Some(holds) = decided {
                flips.push((number, holds));
            }
        }
        for number in set_bits(&several) {
            if let Some(holds) = whole(number) {
                flips.push((number, holds));
            }
        }
        flips.sort_unstable_by_key(|(number, _)| *number);
        flips
    }

    /// What a write of `member` would do to dynamic groups, without doing it.
    pub fn preview_member<'a>(
        &'a self,
        slot: Option<u32>,
        member: &'a Member,
    ) -> MemberPreview<'a> {
        let index = self.attributes(member.kind);
        MemberPreview {
            groups: self,
            kind: member.kind,
            fresh: slot.is_none(),
            pending: PendingMember::new(index, slot.unwrap_or(NONE), member),
        }
    }

    /// Files a member's attributes and updates the groups whose rules can change for it.
    /// `fresh` says the member is new to the engine.
    /// Returns the groups whose rule outcome for the member flipped, with the outcome.
    pub fn upsert_member(&mut self, slot: u32, fresh: bool, member: &Member) -> Vec<(Id, bool)> {
        let kind = member.kind;
        self.index_mut(kind);
        let no_rules = self.readers(kind).iter().all(AttributeReaders::is_empty);
        let (changed, flips) = if fresh && no_rules {
            // Loading: nothing to evaluate, every attribute is new.
            (
                (0..self.attributes(kind).names().len()).collect(),
                Vec::new(),
            )
        } else {
            let pending = PendingMember::new(self.attributes(kind), slot, member);
            let changed: Vec<usize> = pending.changed().collect();
            (changed, self.flips(&pending, kind, fresh))
        };
        let index = match kind {
            MemberKind::User => &mut self.users,
            MemberKind::Customer => &mut self.customers,
        };
        let values: Vec<(usize, Option<ValueRef<'_>>)> = changed
            .into_iter()
            .map(|attribute| {
                let name = index.names().get(attribute).map_or("", |n| &**n);
                (attribute, member_value(member, name))
            })
            .collect();
        for (attribute, value) in values {
            index.set(attribute, slot, value);
        }
        // Properties no rule has read yet get a column now, so that the member can be
        // rebuilt from the index.
        for name in member.properties.keys() {
            if index.attribute(name).is_none() {
                let attribute = index.attribute_or_insert(name);
                index.set(attribute, slot, member_value(member, name));
            }
        }
        let mut flipped = Vec::with_capacity(flips.len());
        for (number, holds) in flips {
            if let Some(Some(group)) = self.groups.get_mut(number) {
                if holds {
                    group.members.insert(slot);
                } else {
                    group.members.remove(slot);
                }
                flipped.push((group.id, holds));
            }
        }
        flipped
    }

    /// Files many new members at once (`rows` of slot and member, slots never used),
    /// before any rule of their kind is saved: how a workspace is loaded, its groups
    /// after its members. The columns are filled in parallel; with rules in place each
    /// member is filed as a write is.
    pub fn load_members(&mut self, rows: &[(u32, &Member)]) {
        for kind in [MemberKind::User, MemberKind::Customer] {
            let rows: Vec<(u32, &Member)> = rows
                .iter()
                .filter(|(_, m)| m.kind == kind)
                .copied()
                .collect();
            if rows.is_empty() {
                continue;
            }
            if !self.readers(kind).iter().all(AttributeReaders::is_empty) {
                for (slot, member) in rows {
                    self.upsert_member(slot, true, member);
                }
                continue;
            }
            let index = self.index_mut(kind);
            for (_, member) in &rows {
                for name in member.properties.keys() {
                    if index.attribute(name).is_none() {
                        index.attribute_or_insert(name);
                    }
                }
            }
            index.load(&rows, |member, name| member_value(member, name));
        }
    }

    /// The attributes of a kind, for writing; the built-ins get their columns first.
    fn index_mut(&mut self, kind: MemberKind) -> &mut AttributeIndex {
        let index = match kind {
            MemberKind::User => &mut self.users,
            MemberKind::Customer => &mut self.customers,
        };
        if index.names().is_empty() {
            for (name, _) in builtins(kind) {
                index.attribute_or_insert(name);
            }
        }
        index
    }

    /// Takes note of groups as they now are: a dynamic group whose rule is new or
    /// changed is evaluated over every member of its kind (`universe(kind)`), the groups
    /// spread over the machine's cores; a group that is not dynamic (any more) is
    /// forgotten here.
    pub fn upsert_groups(
        &mut self,
        groups: &[&Group],
        schema: impl Fn(MemberKind) -> Schema,
        universe: impl Fn(MemberKind) -> RoaringBitmap,
    ) {
        let mut fresh: Vec<DynamicGroup> = Vec::new();
        for group in groups {
            let rule_text = match (&group.membership, &group.rule) {
                (Membership::Dynamic, Some(rule)) => rule.clone(),
                _ => {
                    self.remove_group(&group.id);
                    continue;
                }
            };
            let unchanged = self
                .numbers
                .get(&group.id)
                .and_then(|n| self.group(*n))
                .is_some_and(|g| g.rule_text == rule_text);
            if unchanged {
                continue;
            }
            self.remove_group(&group.id);
            fresh.retain(|g| g.id != group.id);
            let kind = group.member_kind;
            let rule = roster_rules::compile(&rule_text, &schema(kind))
                .ok()
                .map(|rule| {
                    let compiled = CompiledRule::compile(&rule, self.index_mut(kind));
                    (rule, compiled)
                });
            fresh.push(DynamicGroup {
                id: group.id,
                kind,
                rule_text,
                rule,
                members: RoaringBitmap::new(),
            });
        }
        self.keep_orders_that_pay(&fresh);
        let universes = [universe(MemberKind::User), universe(MemberKind::Customer)];
        let shared = SharedAnswers::default();
        let evaluate = |group: &mut DynamicGroup| {
            if let Some((_, compiled)) = &group.rule {
                let universe = &universes[kind_at(group.kind)];
                group.members =
                    compiled.evaluate_sharing(self.attributes(group.kind), universe, &shared);
            }
        };
        // Several chunks per core, so that a core left with cheap rules takes more.
        let chunk = fresh.len().div_ceil(crate::cores::count() * 4).max(1);
        crate::cores::spread(fresh.chunks_mut(chunk), |chunk| {
            chunk.iter_mut().for_each(evaluate);
        });
        for group in fresh {
            self.insert_group(group);
        }
    }

    /// Keeps sorted orders for the attributes that enough of a batch's rules read with
    /// `STARTS WITH` or `ENDS WITH`. Building the two orders sorts the attribute's
    /// distinct values twice, about as costly as [`ORDERS_PAY_AT`] scans of them: a
    /// million emails take a second to order and 13 ms to scan. So one saved rule
    /// scans, and a start-up with many such rules orders once and answers each by a
    /// range. Either way gives the same members.
    fn keep_orders_that_pay(&mut self, fresh: &[DynamicGroup]) {
        let mut readers: HashMap<(MemberKind, usize), usize> = HashMap::new();
        for group in fresh {
            let Some((_, compiled)) = &group.rule else {
                continue;
            };
            for condition in compiled.conditions() {
                if matches!(condition.op, Op::StartsWith | Op::EndsWith) {
                    *readers
                        .entry((group.kind, condition.attribute))
                        .or_default() += 1;
                }
            }
        }
        for ((kind, attribute), count) in readers {
            if count >= ORDERS_PAY_AT {
                self.index_mut(kind).keep_orders(attribute);
            }
        }
    }

    fn insert_group(&mut self, group: DynamicGroup) {
        let number = self.free.pop().unwrap_or(self.groups.len());
        if let Some((_, compiled)) = &group.rule {
            self.programs.insert(number, compiled.program());
            let readers = match group.kind {
                MemberKind::User => &mut self.user_readers,
                MemberKind::Customer => &mut self.customer_readers,
            };
            for (at, condition) in compiled.conditions().iter().enumerate() {
                let attribute = condition.attribute;
                if attribute == usize::MAX {
                    continue;
                }
                if readers.len() <= attribute {
                    readers.resize_with(attribute + 1, AttributeReaders::default);
                }
                let reader = Reader {
                    group: number as u32,
                    step: compiled.program().leaf_step(at),
                };
                readers[attribute].add(reader, condition.op, &condition.values, &condition.ids);
            }
        }
        self.numbers.insert(group.id, number);
        if number == self.groups.len() {
            self.groups.push(Some(group));
        } else if let Some(place) = self.groups.get_mut(number) {
            *place = Some(group);
        }
    }

    /// Forgets a group.
    pub fn remove_group(&mut self, id: &Id) {
        let Some(number) = self.numbers.remove(id) else {
            return;
        };
        let Some(group) = self.groups.get_mut(number).and_then(Option::take) else {
            return;
        };
        self.programs.remove(number);
        if let Some((_, compiled)) = &group.rule {
            let readers = match group.kind {
                MemberKind::User => &mut self.user_readers,
                MemberKind::Customer => &mut self.customer_readers,
            };
            for attribute in compiled.attributes() {
                if let Some(list) = readers.get_mut(attribute) {
                    list.remove_group(number as u32);
                }
            }
        }
        self.free.push(number);
    }

    fn by_id(&self, id: &Id) -> Option<&DynamicGroup> {
        self.numbers.get(id).and_then(|n| self.group(*n))
    }

    /// The checked rule of a dynamic group, if its text is `text`.
    pub fn compiled(&self, id: &Id, text: &str) -> Option<&Rule> {
        self.by_id(id)
            .filter(|g| g.rule_text == text)
            .and_then(|g| g.rule.as_ref())
            .map(|(rule, _)| rule)
    }

    /// The members for which a dynamic group's rule holds (active or not).
    pub fn members(&self, id: &Id) -> Option<&RoaringBitmap> {
        self.by_id(id).map(|g| &g.members)
    }

    /// The dynamic groups of a kind whose rules read an attribute.
    pub fn readers_of(&self, kind: MemberKind, attribute: &str) -> Vec<Id> {
        let Some(number) = self.attributes(kind).attribute(attribute) else {
            return Vec::new();
        };
        let mut ids: Vec<Id> = self
            .readers(kind)
            .get(number)
            .into_iter()
            .flat_map(AttributeReaders::all)
            .filter_map(|r| self.group(r.group as usize).map(|g| g.id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// At most what evaluating a rule over `members` members of a kind costs, in the
    /// units of [`CompiledRule::cost`], without evaluating it.
    pub fn evaluation_cost(&self, kind: MemberKind, rule: &Rule, members: u64) -> u64 {
        let index = self.attributes(kind);
        CompiledRule::compile_frozen(rule, index).cost(index, members)
    }

    /// Evaluates a rule over a universe without saving anything: what a preview needs.
    pub fn evaluate(
        &self,
        kind: MemberKind,
        rule: &Rule,
        universe: &RoaringBitmap,
    ) -> RoaringBitmap {
        let index = self.attributes(kind);
        CompiledRule::compile_frozen(rule, index).evaluate(index, universe)
    }
}

/// What a member write would do to the dynamic groups of its kind, before it is applied.
pub struct MemberPreview<'a> {
    groups: &'a DynamicGroups,
    kind: MemberKind,
    fresh: bool,
    pending: PendingMember<'a>,
}

impl MemberPreview<'_> {
    /// The groups whose rule outcome for the member the write flips, with the outcome.
    pub fn flips(&self) -> Vec<(Id, bool)> {
        self.groups
            .flips(&self.pending, self.kind, self.fresh)
            .into_iter()
            .filter_map(|(n, holds)| self.groups.group(n).map(|g| (g.id, holds)))
            .collect()
    }

    /// Whether a dynamic group's rule (as the engine holds it) will hold for the member;
    /// `None` for a group the engine holds no rule for.
    pub fn holds(&self, group: &Id) -> Option<bool> {
        let group = self.groups.by_id(group)?;
        if group.kind != self.kind {
            return Some(false);
        }
        Some(
            group
                .rule
                .as_ref()
                .is_some_and(|(_, c)| c.holds(&self.pending)),
        )
    }
}
