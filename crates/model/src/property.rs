use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::MemberKind;
use time::OffsetDateTime;
use uuid::Uuid;

/// The type of a custom property's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    /// A string; compared case-insensitively in rules.
    Text,
    /// A number; compared as a number.
    Number,
    /// `true` or `false`.
    Boolean,
}

impl PropertyType {
    /// The name used in the API and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            PropertyType::Text => "text",
            PropertyType::Number => "number",
            PropertyType::Boolean => "boolean",
        }
    }
}

/// A value of a custom property, as JSON carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PropertyValue {
    /// A boolean value.
    Boolean(bool),
    /// A numeric value.
    Number(f64),
    /// A text value.
    Text(String),
}

impl PropertyValue {
    /// The property type this value fits.
    pub fn value_type(&self) -> PropertyType {
        match self {
            PropertyValue::Boolean(_) => PropertyType::Boolean,
            PropertyValue::Number(_) => PropertyType::Number,
            PropertyValue::Text(_) => PropertyType::Text,
        }
    }
}

/// An admin-defined custom property of users or of customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PropertyDef {
    /// The definition's id.
    pub id: Uuid,
    /// A lower-case identifier, unique per member kind.
    pub name: String,
    /// Which kind of member carries the property.
    pub applies_to: MemberKind,
    /// The type every value must have.
    #[serde(rename = "type")]
    pub value_type: PropertyType,
    /// What the property means, for people.
    #[serde(default)]
    pub description: String,
    /// When it was defined.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
