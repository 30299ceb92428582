//! The schemas of RFC 7643 as data: what the service provider serves at `/Schemas`, and
//! what filters, PATCH and attribute projection consult for an attribute's type,
//! case-exactness, plurality, mutability and when it is returned.

use std::sync::{Arc, LazyLock};

use serde_json::{json, Map, Value};

/// The core User schema.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The Enterprise User extension.
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The core Group schema.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Roster's own User extension: the workspace's user properties.
pub const ROSTER_USER: &str = "urn:ietf:params:scim:schemas:extension:roster:2.0:User";
/// The list response message.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The PATCH request message.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The error message.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The search request message.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// The bulk request message.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The bulk response message.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A JSON number with a fraction.
    Decimal,
    /// A JSON number without one.
    Integer,
    /// An RFC 3339 timestamp, as a string.
    DateTime,
    /// A URI naming another resource.
    Reference,
    /// An object of sub-attributes.
    Complex,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::Decimal => "decimal",
            Kind::Integer => "integer",
            Kind::DateTime => "dateTime",
            Kind::Reference => "reference",
            Kind::Complex => "complex",
        }
    }
}

/// Who may write an attribute (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// The service provider sets it; what a client sends is ignored.
    ReadOnly,
    /// Clients set and change it.
    ReadWrite,
    /// Set once (unused by Roster's schemas but part of the vocabulary).
    Immutable,
    /// Accepted but never returned (`password`).
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// Always, whatever `attributes` says.
    Always,
    /// Unless excluded.
    Default,
    /// Only when asked for.
    Request,
    /// Never.
    Never,
}

/// One attribute of a schema.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// Its name, in canonical case.
    pub name: String,
    /// Its data type.
    pub kind: Kind,
    /// Whether it holds a list.
    pub multi: bool,
    /// Whether string comparisons respect case.
    pub case_exact: bool,
    /// Who may write it.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// Whether it must be given.
    pub required: bool,
    /// `server` when unique within the service provider.
    pub unique: bool,
    /// The sub-attributes of a complex attribute.
    pub subs: Vec<Attribute>,
    /// What it means, for people.
    pub description: String,
}

impl Attribute {
    fn new(name: &str, kind: Kind, description: &str) -> Self {
        Attribute {
            name: name.to_owned(),
            kind,
            multi: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            required: false,
            unique: false,
            subs: Vec::new(),
            description: description.to_owned(),
        }
    }

    fn text(name: &str, description: &str) -> Self {
        Attribute::new(name, Kind::String, description)
    }

    fn multi(mut self) -> Self {
        self.multi = true;
        self
    }

    fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }

    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn with(mut self, subs: Vec<Attribute>) -> Self {
        self.subs = subs;
        self
    }

    /// A sub-attribute by name, compared case-insensitively.
    pub fn sub(&self, name: &str) -> Option<&Attribute> {
        self.subs.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn to_json(&self) -> Value {
        let mut out = json!({
            "name": self.name,
            "type": self.kind.as_str(),
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": match self.mutability {
                Mutability::ReadOnly => "readOnly",
                Mutability::ReadWrite => "readWrite",
                Mutability::Immutable => "immutable",
                Mutability::WriteOnly => "writeOnly",
            },
            "returned": match self.returned {
                Returned::Always => "always",
                Returned::Default => "default",
                Returned::Request => "request",
                Returned::Never => "never",
            },
            "uniqueness": if self.unique { "server" } else { "none" },
        });
        if let Some(object) = out.as_object_mut() {
            if self.kind == Kind::Complex {
                object.insert(
                    "subAttributes".into(),
                    Value::Array(self.subs.iter().map(Attribute::to_json).collect()),
                );
            }
            if self.kind == Kind::Reference {
                object.insert("referenceTypes".into(), json!(["User", "Group", "uri"]));
            }
        }
        out
    }
}

/// A schema: its URN, name and attributes.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The URN resources name it by.
    pub id: String,
    /// A short name.
    pub name: String,
    /// What it describes.
    pub description: String,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// An attribute by name, compared case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The schema as `/Schemas/{id}` serves it.
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(Attribute::to_json).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", self.id)},
        })
    }
}

/// A resource type: its core schema and the extensions it may carry.
#[derive(Debug, Clone)]
pub struct ResourceSchema {
    /// `User` or `Group`.
    pub name: String,
    /// Where resources of the type live, below the base URL (`/Users`).
    pub endpoint: String,
    /// The core schema.
    pub core: Arc<Schema>,
    /// The extension schemas, keyed in resources by their URN.
    pub extensions: Vec<Arc<Schema>>,
    common: Arc<Vec<Attribute>>,
}

/// Where an attribute path leads: the extension (if any) whose object holds the
/// attribute, the attribute, and the sub-attribute.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'s> {
    /// The extension URN under which the attribute sits; `None` for the core schema.
    pub extension: Option<&'s str>,
    /// The attribute.
    pub attribute: &'s Attribute,
    /// The sub-attribute, when the path names one.
    pub sub: Option<&'s Attribute>,
}

impl Resolved<'_> {
    /// The attribute the path ends at: the sub-attribute when there is one.
    pub fn leaf(&self) -> &Attribute {
        self.sub.unwrap_or(self.attribute)
    }
}

impl ResourceSchema {
    /// The URNs a resource of this type lists in `schemas`.
    pub fn schema_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.core.id.as_str()).chain(self.extensions.iter().map(|e| e.id.as_str()))
    }

    /// An extension by URN, compared case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(urn))
            .map(|e| &**e)
    }

    /// Resolves an attribute path, qualified by a schema URN or not. `None` when the
    /// resource type has no such attribute.
    pub fn resolve(
        &self,
        uri: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Option<Resolved<'_>> {
        let (extension, attribute) = match uri {
            Some(uri) if uri.eq_ignore_ascii_case(&self.core.id) => {
                (None, self.core.attribute(name)?)
            }
            Some(uri) => {
                let schema = self.extension(uri)?;
                (Some(schema.id.as_str()), schema.attribute(name)?)
            }
            None => {
                let found = self.core.attribute(name).or_else(|| {
                    self.common
                        .iter()
                        .find(|a| a.name.eq_ignore_ascii_case(name))
                });
                (None, found?)
            }
        };
        let sub = match sub {
            Some(sub) => Some(attribute.sub(sub)?),
            None => None,
        };
        Some(Resolved {
            extension,
            attribute,
            sub,
        })
    }

    /// Splits a full attribute name as PATCH and `attributes` write it
    /// (`urn:…:enterprise:2.0:User:department`, `name.givenName`, `userName`) into the
    /// schema URN, the attribute and the sub-attribute, and resolves it.
    pub fn resolve_name(&self, full: &str) -> Option<Resolved<'_>> {
        for schema in std::iter::once(&self.core).chain(&self.extensions) {
            let id = &schema.id;
            if full.len() > id.len()
                && full.is_char_boundary(id.len())
                && full[..id.len()].eq_ignore_ascii_case(id)
                && full[id.len()..].starts_with(':')
            {
                let rest = &full[id.len() + 1..];
                let (name, sub) = split_sub(rest);
                return self.resolve(Some(id), name, sub);
            }
        }
        let (name, sub) = split_sub(full);
        self.resolve(None, name, sub)
    }

    /// The resource type as `/ResourceTypes/{name}` serves it.
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.core.description,
            "schema": self.core.id,
            "schemaExtensions": self.extensions.iter()
                .map(|e| json!({"schema": e.id, "required": false}))
                .collect::<Vec<_>>(),
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", self.name)},
        })
    }
}

fn split_sub(name: &str) -> (&str, Option<&str>) {
    match name.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (name, None),
    }
}

/// `id`, `externalId` and `meta`: part of every resource, in no schema (RFC 7643 §3.1).
fn common() -> Vec<Attribute> {
    let mut id = Attribute::text("id", "The service provider's identifier.")
        .case_exact()
        .read_only();
    id.returned = Returned::Always;
    id.unique = true;
    let external = Attribute::text("externalId", "The client's identifier.").case_exact();
    let date = |name: &str, description: &str| {
        Attribute::new(name, Kind::DateTime, description).read_only()
    };
    let meta = Attribute::new("meta", Kind::Complex, "Resource metadata.")
        .read_only()
        .with(vec![
            Attribute::text("resourceType", "User or Group.")
                .case_exact()
                .read_only(),
            date("created", "When the resource was created."),
            date("lastModified", "When the resource last changed."),
            Attribute::new("location", Kind::Reference, "The resource's URI.")
                .case_exact()
                .read_only(),
            Attribute::text("version", "The resource's entity tag.")
                .case_exact()
                .read_only(),
        ]);
    vec![id, external, meta]
}

/// `value`, `display`, `type` and `primary`: the sub-attributes of a multi-valued
/// complex attribute such as `emails`.
fn plural(name: &str, description: &str, types: &str) -> Attribute {
    let mut primary = Attribute::new(
        "primary",
        Kind::Boolean,
        "Whether this is the preferred value.",
    );
    primary.case_exact = false;
    Attribute::new(name, Kind::Complex, description)
        .multi()
        .with(vec![
            Attribute::text("value", description),
            Attribute::text("display", "A label for display."),
            Attribute::text("type", types),
            primary,
        ])
}

/// The core User schema, as Roster keeps it.
pub fn user() -> Schema {
    let mut user_name = Attribute::text(
        "userName",
        "The unique name the identity provider signs the user in with; unique case-insensitively.",
    )
    .required();
    user_name.unique = true;
    let mut password = Attribute::text(
        "password",
        "Accepted and ignored: Roster keeps no passwords.",
    );
    password.mutability = Mutability::WriteOnly;
    password.returned = Returned::Never;
    let name_subs = [
        ("formatted", "The full name."),
        ("familyName", "The family name."),
        ("givenName", "The given name."),
        ("middleName", "The middle name."),
        ("honorificPrefix", "For instance `Ms.`."),
        ("honorificSuffix", "For instance `III`."),
    ]
    .into_iter()
    .map(|(n, d)| Attribute::text(n, d))
    .collect();
    let group_ref = Attribute::new("groups", Kind::Complex, "The SCIM groups the user is in.")
        .multi()
        .read_only()
        .with(vec![
            Attribute::text("value", "The group's id.").read_only(),
            Attribute::new("$ref", Kind::Reference, "The group's URI.").read_only(),
            Attribute::text("display", "The group's name.").read_only(),
            Attribute::text("type", "`direct`.").read_only(),
        ]);
    let attributes = vec![
        user_name,
        Attribute::new("name", Kind::Complex, "The user's name.").with(name_subs),
        Attribute::text(
            "displayName",
            "The name shown to people; becomes the member's display name.",
        ),
        Attribute::text("nickName", "A casual name."),
        Attribute::new("profileUrl", Kind::Reference, "A profile page."),
        Attribute::text("title", "The job title."),
        Attribute::text("userType", "For instance `Employee`."),
        Attribute::text("preferredLanguage", "For instance `en-US`."),
        Attribute::text("locale", "For instance `en-US`."),
        Attribute::text("timezone", "For instance `Europe/Paris`."),
        Attribute::new(
            "active",
            Kind::Boolean,
            "`false` deactivates the member; `true` reactivates it.",
        ),
        password,
        plural(
            "emails",
            "Email addresses; the primary (or first work) one becomes the member's email.",
            "`work`, `home` or `other`.",
        ),
        plural(
            "phoneNumbers",
            "Phone numbers.",
            "`work`, `mobile`, `home`, …",
        ),
        plural(
            "ims",
            "Instant messaging addresses.",
            "For instance `xmpp`.",
        ),
        plural("photos", "Photo URLs.", "`photo` or `thumbnail`."),
        Attribute::new("addresses", Kind::Complex, "Postal addresses.")
            .multi()
            .with(
                [
                    "formatted",
                    "streetAddress",
                    "locality",
                    "region",
                    "postalCode",
                    "country",
                    "type",
                ]
                .into_iter()
                .map(|n| Attribute::text(n, "Part of the address."))
                .chain([Attribute::new(
                    "primary",
                    Kind::Boolean,
                    "Whether this is the preferred address.",
                )])
                .collect(),
            ),
        group_ref,
        plural("entitlements", "Entitlements.", "A label."),
        plural(
            "roles",
            "Roles as the identity provider names them (kept, not Roster roles).",
            "A label.",
        ),
    ];
    Schema {
        id: USER.into(),
        name: "User".into(),
        description: "A team member provisioned by the identity provider.".into(),
        attributes,
    }
}

/// The Enterprise User extension.
pub fn enterprise() -> Schema {
    let manager = Attribute::new("manager", Kind::Complex, "The user's manager.").with(vec![
        Attribute::text("value", "The manager's id."),
        Attribute::new("$ref", Kind::Reference, "The manager's URI."),
        Attribute::text("displayName", "The manager's name.").read_only(),
    ]);
    Schema {
        id: ENTERPRISE.into(),
        name: "EnterpriseUser".into(),
        description: "Enterprise attributes; each fills the user property of the same snake_case name by default.".into(),
        attributes: vec![
            Attribute::text("employeeNumber", "The employee number."),
            Attribute::text("costCenter", "The cost center."),
            Attribute::text("organization", "The organization."),
            Attribute::text("division", "The division."),
            Attribute::text("department", "The department."),
            manager,
        ],
    }
}

/// The type a Roster property has in the Roster extension schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyKind {
    /// A text property: a string.
    Text,
    /// A number property: a decimal.
    Number,
    /// A boolean property.
    Boolean,
}

/// Roster's User extension: one attribute per user property of the workspace.
pub fn roster_user<'p>(
    properties: impl IntoIterator<Item = (&'p str, PropertyKind, &'p str)>,
) -> Schema {
    Schema {
        id: ROSTER_USER.into(),
        name: "RosterUser".into(),
        description: "The workspace's user properties, by name.".into(),
        attributes: properties
            .into_iter()
            .map(|(name, kind, description)| {
                let kind = match kind {
                    PropertyKind::Text => Kind::String,
                    PropertyKind::Number => Kind::Decimal,
                    PropertyKind::Boolean => Kind::Boolean,
                };
                Attribute::new(name, kind, description)
            })
            .collect(),
    }
}

/// The core Group schema.
pub fn group() -> Schema {
    let mut display_name = Attribute::text(
        "displayName",
        "The group's name; unique case-insensitively.",
    )
    .required();
    display_name.unique = true;
    Schema {
        id: GROUP.into(),
        name: "Group".into(),
        description: "A static user group managed by the identity provider.".into(),
        attributes: vec![
            display_name,
            Attribute::new("members", Kind::Complex, "The group's members: SCIM users.")
                .multi()
                .with(vec![
                    Attribute::text("value", "The user's id.").case_exact(),
                    Attribute::new("$ref", Kind::Reference, "The user's URI."),
                    Attribute::text("display", "The user's display name.").read_only(),
                    Attribute::text("type", "`User`."),
                ]),
        ],
    }
}

/// The schemas that never change, built once: every request reads them.
static USER_SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| Arc::new(user()));
static ENTERPRISE_SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| Arc::new(enterprise()));
static GROUP_SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| Arc::new(group()));
static COMMON: LazyLock<Arc<Vec<Attribute>>> = LazyLock::new(|| Arc::new(common()));

/// The User resource type with its extensions.
pub fn user_resource(roster: Schema) -> ResourceSchema {
    ResourceSchema {
        name: "User".into(),
        endpoint: "/Users".into(),
        core: USER_SCHEMA.clone(),
        extensions: vec![ENTERPRISE_SCHEMA.clone(), Arc::new(roster)],
        common: COMMON.clone(),
    }
}

/// The Group resource type.
pub fn group_resource() -> ResourceSchema {
    ResourceSchema {
        name: "Group".into(),
        endpoint: "/Groups".into(),
        core: GROUP_SCHEMA.clone(),
        extensions: Vec::new(),
        common: COMMON.clone(),
    }
}

/// A resource type whose attributes are a complex attribute's sub-attributes, so that
/// the filter of a value path (`emails[type eq "work"]`) is evaluated on one value.
pub fn element_resource(attribute: &Attribute) -> ResourceSchema {
    ResourceSchema {
        name: attribute.name.clone(),
        endpoint: String::new(),
        core: Arc::new(Schema {
            id: String::new(),
            name: attribute.name.clone(),
            description: attribute.description.clone(),
            attributes: attribute.subs.clone(),
        }),
        extensions: Vec::new(),
        common: Arc::new(Vec::new()),
    }
}

/// A JSON object's member by key, compared case-insensitively (SCIM attribute names are).
pub fn get_ci<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}
