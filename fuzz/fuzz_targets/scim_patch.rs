//! Fuzzes the SCIM PATCH body reader and `apply` against the User schema: any JSON
//! body is read or refused without panicking, no more than the operations cap is ever
//! read, and the operations are applied to a user (and to a group) without panicking;
//! what `apply` returns is normalised, so normalising it again changes nothing.

#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_scim::patch::{apply, normalize, operations, MAX_OPERATIONS};
use roster_scim::schema::{group_resource, roster_user, user_resource, PropertyKind};
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(ops) = operations(&body) else {
        return;
    };
    assert!(!ops.is_empty() && ops.len() <= MAX_OPERATIONS);
    let users = user_resource(roster_user([
        ("department", PropertyKind::Text, ""),
        ("level", PropertyKind::Number, ""),
    ]));
    let user = json!({
        "userName": "ada@example.com",
        "name": {"givenName": "Ada"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:roster:2.0:User": {"department": "R&D"},
    });
    let group = json!({
        "displayName": "Engineers",
        "members": [{"value": "0190c2f0-0000-7000-8000-000000000001"},
                    {"value": "0190c2f0-0000-7000-8000-000000000002"}],
    });
    for (resource, schema) in [(user, &users), (group, &group_resource())] {
        let Value::Object(mut resource) = resource else {
            return;
        };
        if apply(&mut resource, &ops, schema).is_ok() {
            let mut again = resource.clone();
            normalize(&mut again, schema).expect("a normalised resource normalises");
            assert_eq!(again, resource, "normalising is idempotent");
        }
    }
});
