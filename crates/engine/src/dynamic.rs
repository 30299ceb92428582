//! Dynamic groups: each member kind's attributes in an [`AttributeIndex`], each dynamic
//! group's rule compiled against the kind's schema with its member set, and an index
//! from attribute to the rules that read it, so that an attribute change re-evaluates
//! only the rules it can change, for that one member.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use roaring::RoaringBitmap;
use roster_model::{
    Group, Id, Member, MemberKind, Membership, PropertyDef, PropertyType, PropertyValue, UserType,
};
use roster_rules::{AttrType, Rule, Schema, Value};

use crate::AttributeIndex;

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

/// Every attribute value a member has, built-ins and properties, as rules read them.
pub fn attribute_values(member: &Member) -> BTreeMap<String, Value> {
    let mut values = BTreeMap::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            values.insert(name.to_owned(), value);
        }
    };
    put("email", member.email.clone().map(Value::Text));
    put("email_domain", member.email_domain().map(Value::Text));
    put(
        "display_name",
        Some(Value::Text(member.display_name.clone())),
    );
    match member.kind {
        MemberKind::User => put(
            "type",
            member.user_type.map(|t| {
                Value::Text(match t {
                    UserType::TeamMember => "team_member".into(),
                    UserType::Agent => "agent".into(),
                })
            }),
        ),
        MemberKind::Customer => {
            put("account", member.account.clone().map(Value::Text));
            put("email_verified", member.email_verified.map(Value::Bool));
        }
    }
    for (name, value) in &member.properties {
        values.insert(
            name.clone(),
            match value {
                PropertyValue::Text(t) => Value::Text(t.clone()),
                PropertyValue::Number(n) => Value::Number(*n),
                PropertyValue::Boolean(b) => Value::Bool(*b),
            },
        );
    }
    values
}

/// One dynamic group's compiled rule and the members (of its kind, active or not) for
/// which the rule holds.
#[derive(Debug, Clone)]
struct DynamicGroup {
    kind: MemberKind,
    rule_text: String,
    /// `None` when the stored rule does not check against the schema (it was saved by a
    /// newer version, say): the group then has no members rather than wrong ones.
    rule: Option<Rule>,
    members: RoaringBitmap,
}

/// The dynamic-group side of a workspace's engine.
#[derive(Debug, Clone, Default)]
pub struct DynamicGroups {
    users: AttributeIndex,
    customers: AttributeIndex,
    groups: HashMap<Id, DynamicGroup>,
    readers: HashMap<(MemberKind, String), BTreeSet<Id>>,
}

impl DynamicGroups {
    fn index(&self, kind: MemberKind) -> &AttributeIndex {
        match kind {
            MemberKind::User => &self.users,
            MemberKind::Customer => &self.customers,
        }
    }

    fn index_mut(&mut self, kind: MemberKind) -> &mut AttributeIndex {
        match kind {
            MemberKind::User => &mut self.users,
            MemberKind::Customer => &mut self.customers,
        }
    }

    /// Files a member's attributes and updates the groups whose rules read an attribute
    /// that changed (every group of its kind when the member is new).
    pub fn upsert_member(&mut self, slot: u32, old: Option<&Member>, new: &Member) {
        let before = old.map(attribute_values).unwrap_or_default();
        let after = attribute_values(new);
        let mut changed: BTreeSet<&str> = BTreeSet::new();
        for (name, value) in &after {
            if before.get(name) != Some(value) {
                changed.insert(name);
            }
        }
        for name in before.keys() {
            if !after.contains_key(name) {
                changed.insert(name);
            }
        }
        let kind = new.kind;
        for name in &changed {
            let value = after.get(*name).cloned();
            self.index_mut(kind).set(slot, name, value);
        }
        let affected: BTreeSet<Id> = if old.is_none() {
            self.groups
                .iter()
                .filter(|(_, g)| g.kind == kind)
                .map(|(id, _)| *id)
                .collect()
        } else {
            changed
                .iter()
                .filter_map(|name| self.readers.get(&(kind, (*name).to_owned())))
                .flatten()
                .copied()
                .collect()
        };
        for id in affected {
            let holds = self
                .groups
                .get(&id)
                .and_then(|g| g.rule.as_ref())
                .is_some_and(|rule| self.index(kind).matches(rule, slot));
            if let Some(group) = self.groups.get_mut(&id) {
                if holds {
                    group.members.insert(slot);
                } else {
                    group.members.remove(slot);
                }
            }
        }
    }

    /// Takes note of a group as it now is: a dynamic group whose rule is new or changed is
    /// evaluated over every member of its kind (`universe`); a group that is not dynamic
    /// (any more) is forgotten here.
    pub fn upsert_group(&mut self, group: &Group, schema: &Schema, universe: &RoaringBitmap) {
        let rule_text = match (&group.membership, &group.rule) {
            (Membership::Dynamic, Some(rule)) => rule.clone(),
            _ => {
                self.remove_group(&group.id);
                return;
            }
        };
        if self
            .groups
            .get(&group.id)
            .is_some_and(|g| g.rule_text == rule_text)
        {
            return;
        }
        self.remove_group(&group.id);
        let rule = roster_rules::compile(&rule_text, schema).ok();
        let members = rule
            .as_ref()
            .map(|r| self.index(group.member_kind).evaluate(r, universe))
            .unwrap_or_default();
        if let Some(rule) = &rule {
            for attribute in rule.attributes() {
                self.readers
                    .entry((group.member_kind, attribute.to_owned()))
                    .or_default()
                    .insert(group.id);
            }
        }
        self.groups.insert(
            group.id,
            DynamicGroup {
                kind: group.member_kind,
                rule_text,
                rule,
                members,
            },
        );
    }

    /// Forgets a group.
    pub fn remove_group(&mut self, id: &Id) {
        if let Some(group) = self.groups.remove(id) {
            if let Some(rule) = &group.rule {
                for attribute in rule.attributes() {
                    if let Some(readers) = self.readers.get_mut(&(group.kind, attribute.to_owned()))
                    {
                        readers.remove(id);
                    }
                }
            }
        }
    }

    /// The compiled rule of a dynamic group, if its text is `text`.
    pub fn compiled(&self, id: &Id, text: &str) -> Option<&Rule> {
        self.groups
            .get(id)
            .filter(|g| g.rule_text == text)
            .and_then(|g| g.rule.as_ref())
    }

    /// The members for which a dynamic group's rule holds (active or not).
    pub fn members(&self, id: &Id) -> Option<&RoaringBitmap> {
        self.groups.get(id).map(|g| &g.members)
    }

    /// The dynamic groups of a kind whose rules read an attribute.
    pub fn readers_of(&self, kind: MemberKind, attribute: &str) -> impl Iterator<Item = Id> + '_ {
        self.readers
            .get(&(kind, attribute.to_owned()))
            .into_iter()
            .flatten()
            .copied()
    }

    /// Evaluates a rule over a universe without saving anything: what a preview needs.
    pub fn evaluate(
        &self,
        kind: MemberKind,
        rule: &Rule,
        universe: &RoaringBitmap,
    ) -> RoaringBitmap {
        self.index(kind).evaluate(rule, universe)
    }
}
