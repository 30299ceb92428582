//! Fuzzes the check every JSON request body passes (`/api/v1` and `/scim/v2`): it never
//! panics, however deep or malformed the input; it refuses only a key named twice; and
//! any JSON value, written out, passes it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_model::json::check_unique_keys;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let verdict = check_unique_keys(data);
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        // A value's objects hold each key once, so writing it out gives a document
        // the check passes.
        let written = serde_json::to_vec(&value).expect("a value writes out");
        assert!(check_unique_keys(&written).is_ok(), "{value}");
    }
    if let Err(error) = verdict {
        assert!(error.0.contains("appears twice"), "a refusal names the key: {error}");
    }
});
