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

/// A value of a custom property, as JSON carries it: a boolean, a number or a string,
/// told apart by the JSON type (see the `Deserialize` impl below).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PropertyValue {
    /// A boolean value.
    Boolean(bool),
    /// A numeric value.
    Number(f64),
    /// A text value.
    Text(String),
}

/// Reads the value straight from the JSON type. `#[serde(untagged)]` would buffer every
/// value and try each variant in turn, which made decoding a stored member (twenty
/// properties) several times slower: what a large workspace's start-up is made of.
impl<'de> Deserialize<'de> for PropertyValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = PropertyValue;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a boolean, a number or a string")
            }

            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Boolean(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Number(v as f64))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Number(v as f64))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Number(v))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Text(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Text(v))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_by_their_json_type_and_written_back_the_same() {
        let read: Vec<PropertyValue> =
            serde_json::from_str(r#"[true, 3, -2, 2.5, "x", "true", "3"]"#).unwrap_or_default();
        assert_eq!(
            read,
            vec![
                PropertyValue::Boolean(true),
                PropertyValue::Number(3.0),
                PropertyValue::Number(-2.0),
                PropertyValue::Number(2.5),
                PropertyValue::Text("x".into()),
                PropertyValue::Text("true".into()),
                PropertyValue::Text("3".into()),
            ]
        );
        let written = serde_json::to_string(&read).unwrap_or_default();
        assert_eq!(written, r#"[true,3.0,-2.0,2.5,"x","true","3"]"#);
        for bad in ["null", "[1]", "{}"] {
            assert!(serde_json::from_str::<PropertyValue>(bad).is_err(), "{bad}");
        }
    }
}
