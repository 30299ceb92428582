//! Which member property each SCIM attribute fills. By default a SCIM attribute fills
//! the user property of the same snake_case name when one is defined (`department`,
//! `cost_center`, `employee_number`, `title`…), and each attribute of the Roster
//! extension fills the property it is named after. Admins override single attributes:
//! point one at another property, or turn it off.

use std::collections::BTreeMap;

use roster_engine::WorkspaceState;
use roster_model::{Event, MemberKind, PropertyType, ScimMapping};
use roster_scim::schema::{ENTERPRISE, ROSTER_USER};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::access::require_admin;
use crate::{Ctx, OpError, Outcome};

/// The SCIM attributes that can fill a property, by full name, besides the Roster
/// extension's (one per property).
const MAPPABLE: &[&str] = &[
    "title",
    "userType",
    "nickName",
    "preferredLanguage",
    "locale",
    "timezone",
    "name.givenName",
    "name.familyName",
    "name.middleName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
];

/// One line of the mapping as admins see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MappingEntry {
    /// The SCIM attribute, by full name.
    pub attribute: String,
    /// The user property it fills; `null` when it fills none.
    pub property: Option<String>,
    /// `default` (same snake_case name), `override` (chosen by an admin) or `none`.
    pub source: &'static str,
}

/// The body of `PUT /api/v1/scim/mapping`: the overrides, whole. An attribute left out
/// goes back to its default.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingInput {
    /// By SCIM attribute: the property it fills, or `null` to fill none.
    #[serde(default)]
    pub overrides: BTreeMap<String, Option<String>>,
}

/// `departmentName` → `department_name`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The last segment of a full attribute name: what its default property is named after.
fn leaf(attribute: &str) -> &str {
    let tail = attribute.rsplit(':').next().unwrap_or(attribute);
    tail.rsplit('.').next().unwrap_or(tail)
}

/// Every mappable attribute of the workspace: the fixed ones and the Roster extension's.
fn attributes(state: &WorkspaceState) -> Vec<String> {
    let roster = state
        .properties()
        .filter(|p| p.applies_to == MemberKind::User)
        .map(|p| format!("{ROSTER_USER}:{}", p.name));
    MAPPABLE
        .iter()
        .map(|a| (*a).to_owned())
        .chain(roster)
        .collect()
}

/// The mapping in force, attribute by attribute.
pub fn effective(state: &WorkspaceState) -> Vec<MappingEntry> {
    let overrides = &state.scim().mapping().overrides;
    attributes(state)
        .into_iter()
        .map(|attribute| {
            if let Some(chosen) = overrides.get(&attribute) {
                return MappingEntry {
                    property: chosen.clone(),
                    source: if chosen.is_some() { "override" } else { "none" },
                    attribute,
                };
            }
            let default = snake_case(leaf(&attribute));
            let defined = state.property_named(MemberKind::User, &default).is_some();
            MappingEntry {
                property: defined.then_some(default),
                source: if defined { "default" } else { "none" },
                attribute,
            }
        })
        .collect()
}

/// Replaces the overrides. Each attribute must be mappable and each property a defined
/// user property.
pub fn set(ctx: &Ctx, input: MappingInput) -> Result<Outcome<Vec<MappingEntry>>, OpError> {
    require_admin(ctx, "only admins change the SCIM mapping")?;
    let known = attributes(ctx.state);
    let mut overrides = BTreeMap::new();
    for (attribute, property) in input.overrides {
        let Some(canonical) = known.iter().find(|k| k.eq_ignore_ascii_case(&attribute)) else {
            return Err(OpError::invalid(
                format!("overrides.{attribute}"),
                format!(
                    "`{attribute}` is not a SCIM attribute that can fill a property; these can: {}",
                    known.join(", ")
                ),
            ));
        };
        if let Some(property) = &property {
            if ctx
                .state
                .property_named(MemberKind::User, property)
                .is_none()
            {
                return Err(OpError::invalid(
                    format!("overrides.{attribute}"),
                    format!("no user property `{property}` is defined"),
                ));
            }
        }
        overrides.insert(canonical.clone(), property);
    }
    let mapping = ScimMapping { overrides };
    let before = ctx.state.scim().mapping().clone();
    if mapping == before {
        return Ok(Outcome::unchanged(effective(ctx.state)));
    }
    let audit = ctx.audit(
        "scim_mapping.set",
        "scim_mapping",
        None,
        Some(&before),
        Some(&mapping),
    );
    Ok(Outcome {
        value: Vec::new(),
        events: vec![Event::ScimMappingSet { mapping }],
        audit: vec![audit],
    })
}

/// The property writes a user resource makes: each mapped property set to the
/// attribute's value made the property's type, or removed (`null`) when the resource
/// has no value for it. The first attribute in the mapping's order that has a value
/// wins when two fill one property.
pub fn property_writes(
    state: &WorkspaceState,
    resource: &Map<String, Value>,
) -> Result<BTreeMap<String, Value>, OpError> {
    let mut writes: BTreeMap<String, Value> = BTreeMap::new();
    for entry in effective(state) {
        let Some(property) = entry.property else {
            continue;
        };
        let Some(def) = state.property_named(MemberKind::User, &property) else {
            continue;
        };
        let value = value_at(resource, &entry.attribute);
        let typed = match value {
            None | Some(Value::Null) => Value::Null,
            Some(value) => convert(def.value_type, value).ok_or_else(|| {
                super::invalid_value(format!(
                    "`{}` fills the {} property `{property}`, and {value} is not one",
                    entry.attribute,
                    def.value_type.as_str()
                ))
            })?,
        };
        match writes.get(&property) {
            Some(existing) if !existing.is_null() => {}
            _ => {
                writes.insert(property, typed);
            }
        }
    }
    Ok(writes)
}

/// A value at a full attribute name in a normalised resource.
fn value_at<'r>(resource: &'r Map<String, Value>, attribute: &str) -> Option<&'r Value> {
    for urn in [ENTERPRISE, ROSTER_USER] {
        if let Some(name) = attribute
            .strip_prefix(urn)
            .and_then(|r| r.strip_prefix(':'))
        {
            return resource.get(urn)?.as_object()?.get(name);
        }
    }
    match attribute.split_once('.') {
        Some((outer, inner)) => resource.get(outer)?.as_object()?.get(inner),
        None => resource.get(attribute),
    }
}

/// A SCIM value made a property's type, when it can be.
fn convert(kind: PropertyType, value: &Value) -> Option<Value> {
    match (kind, value) {
        (PropertyType::Text, Value::String(s)) => Some(Value::String(s.clone())),
        (PropertyType::Text, Value::Number(n)) => Some(Value::String(n.to_string())),
        (PropertyType::Text, Value::Bool(b)) => Some(Value::String(b.to_string())),
        (PropertyType::Number, Value::Number(n)) => Some(Value::Number(n.clone())),
        (PropertyType::Number, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        (PropertyType::Boolean, Value::Bool(b)) => Some(Value::Bool(*b)),
        (PropertyType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Some(Value::Bool(true))
        }
        (PropertyType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Some(Value::Bool(false))
        }
        _ => None,
    }
}
