//! The check every JSON request body passes before it is read, shared by `/api/v1` and
//! `/scim/v2` (and fuzzed on its own): no object may name a key twice.
//!
//! serde reads an object that names a key twice as its last value, silently; a client
//! that sent both meant one of them, and which one is ambiguous, so such a body is
//! refused instead. The check walks the document once with serde_json's own reader, so
//! its recursion limit (128 levels) applies and deep nesting is never a stack overflow.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON object in the document names a key twice: where, and which key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DuplicateKey(pub String);

/// Checks that no object, at any depth, names a key twice. A document that is not JSON
/// passes: reading it afterwards says what is wrong with it, in the reader's words.
pub fn check_unique_keys(bytes: &[u8]) -> Result<(), DuplicateKey> {
    match serde_json::from_slice::<UniqueKeys>(bytes) {
        Err(error) if error.is_data() => Err(DuplicateKey(error.to_string())),
        _ => Ok(()),
    }
}

/// A JSON document read only to check that no object in it names a key twice.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<UniqueKeys>()?;
            if let Some(twice) = seen.replace(key) {
                return Err(serde::de::Error::custom(format_args!(
                    "the key `{twice}` appears twice in one object"
                )));
            }
        }
        Ok(UniqueKeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_key_named_twice_at_any_depth() {
        assert!(check_unique_keys(br#"{"a": 1, "b": {"c": [{"d": 1}]}}"#).is_ok());
        assert!(check_unique_keys(br#"{"a": 1, "a": 2}"#).is_err());
        assert!(check_unique_keys(br#"[{"x": {"y": 1, "y": 1}}]"#).is_err());
        // Not JSON: left to the reader.
        assert!(check_unique_keys(b"{").is_ok());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(check_unique_keys(deep.as_bytes()).is_ok());
    }
}
