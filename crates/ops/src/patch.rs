//! JSON Merge Patch (RFC 7396) needs three states per field: absent, `null`, a value.

use serde::{Deserialize, Deserializer};

/// Deserializes a present field into `Some(value)` and an explicit `null` into `Some(None)`;
/// with `#[serde(default)]` an absent field stays `None`.
pub fn nullable<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
