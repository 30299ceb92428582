//! What the SCIM service provider reads: its tokens, the SCIM side of provisioned
//! members and groups with the indexes its look-ups need (`userName` case-insensitively,
//! `externalId`), and the attribute-to-property mapping.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use roster_model::{Id, ScimMapping, ScimResource, ScimResourceType, ScimToken};

/// Every SCIM record of a workspace.
#[derive(Debug, Clone, Default)]
pub struct ScimDirectory {
    tokens: BTreeMap<Id, ScimToken>,
    token_hashes: HashMap<String, Id>,
    resources: BTreeMap<Id, ScimResource>,
    /// Ids by type, in id order, so listing one type never walks the other.
    users: BTreeSet<Id>,
    groups: BTreeSet<Id>,
    user_names: HashMap<String, Id>,
    external_ids: HashMap<(ScimResourceType, String), Id>,
    /// Users by each address in their `emails`, lower-cased: Entra ID looks users up by
    /// `emails[type eq "work"].value eq "…"`.
    emails: HashMap<String, BTreeSet<Id>>,
    mapping: ScimMapping,
}

/// The addresses in a resource's `emails`, lower-cased.
fn email_keys(resource: &ScimResource) -> impl Iterator<Item = String> + '_ {
    resource
        .attributes
        .get("emails")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("value").and_then(serde_json::Value::as_str))
        .map(str::to_lowercase)
}

impl ScimDirectory {
    /// Records a new token.
    pub fn add_token(&mut self, token: &ScimToken) {
        self.token_hashes.insert(token.hash.clone(), token.id);
        self.tokens.insert(token.id, token.clone());
    }

    /// Forgets a revoked token.
    pub fn revoke_token(&mut self, id: &Id) {
        if let Some(token) = self.tokens.remove(id) {
            self.token_hashes.remove(&token.hash);
        }
    }

    /// A live token by the hash of its secret.
    pub fn token_by_hash(&self, hash: &str) -> Option<&ScimToken> {
        self.token_hashes
            .get(hash)
            .and_then(|id| self.tokens.get(id))
    }

    /// A live token by id.
    pub fn token(&self, id: &Id) -> Option<&ScimToken> {
        self.tokens.get(id)
    }

    /// Every live token, in id order.
    pub fn tokens(&self) -> impl Iterator<Item = &ScimToken> {
        self.tokens.values()
    }

    /// Records a resource as it now is, re-indexing its `userName` and `externalId`.
    pub fn upsert(&mut self, resource: &ScimResource) {
        self.remove(&resource.id);
        if let Some(key) = resource.user_name_key() {
            self.user_names.insert(key, resource.id);
        }
        if let Some(external) = &resource.external_id {
            self.external_ids
                .insert((resource.resource_type, external.clone()), resource.id);
        }
        for key in email_keys(resource) {
            self.emails.entry(key).or_default().insert(resource.id);
        }
        self.of_type(resource.resource_type).insert(resource.id);
        self.resources.insert(resource.id, resource.clone());
    }

    fn of_type(&mut self, kind: ScimResourceType) -> &mut BTreeSet<Id> {
        match kind {
            ScimResourceType::User => &mut self.users,
            ScimResourceType::Group => &mut self.groups,
        }
    }

    /// Forgets a resource (a deleted SCIM user, a deleted group).
    pub fn remove(&mut self, id: &Id) {
        if let Some(before) = self.resources.remove(id) {
            self.of_type(before.resource_type).remove(id);
            if let Some(key) = before.user_name_key() {
                self.user_names.remove(&key);
            }
            for key in email_keys(&before) {
                if let Some(holders) = self.emails.get_mut(&key) {
                    holders.remove(id);
                    if holders.is_empty() {
                        self.emails.remove(&key);
                    }
                }
            }
            if let Some(external) = before.external_id {
                self.external_ids.remove(&(before.resource_type, external));
            }
        }
    }

    /// A resource by its member's or group's id.
    pub fn resource(&self, id: &Id) -> Option<&ScimResource> {
        self.resources.get(id)
    }

    /// The user with a `userName`, compared case-insensitively.
    pub fn user_by_name(&self, user_name: &str) -> Option<&ScimResource> {
        self.user_names
            .get(&user_name.to_lowercase())
            .and_then(|id| self.resources.get(id))
    }

    /// The resource of a type with an `externalId` (compared exactly, as RFC 7643 says).
    pub fn by_external_id(&self, kind: ScimResourceType, external: &str) -> Option<&ScimResource> {
        self.external_ids
            .get(&(kind, external.to_owned()))
            .and_then(|id| self.resources.get(id))
    }

    /// The users with an address among their `emails`, compared case-insensitively.
    pub fn users_by_email(&self, email: &str) -> Vec<Id> {
        self.emails
            .get(&email.to_lowercase())
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Every resource of a type, in id order (creation order).
    pub fn resources(&self, kind: ScimResourceType) -> impl Iterator<Item = &ScimResource> {
        let ids = match kind {
            ScimResourceType::User => &self.users,
            ScimResourceType::Group => &self.groups,
        };
        ids.iter().filter_map(|id| self.resources.get(id))
    }

    /// How many resources of a type there are.
    pub fn count(&self, kind: ScimResourceType) -> usize {
        match kind {
            ScimResourceType::User => self.users.len(),
            ScimResourceType::Group => self.groups.len(),
        }
    }

    /// Every resource, in id order.
    pub fn all(&self) -> impl Iterator<Item = &ScimResource> {
        self.resources.values()
    }

    /// Admins' changes to which properties SCIM attributes fill.
    pub fn mapping(&self) -> &ScimMapping {
        &self.mapping
    }

    /// Replaces the mapping.
    pub fn set_mapping(&mut self, mapping: &ScimMapping) {
        self.mapping = mapping.clone();
    }
}
