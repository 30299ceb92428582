//! Fuzzes the SCIM filter parser and evaluator: any text either fails with an error
//! whose offset lies inside it, or parses to a filter that prints and parses back to
//! itself, is checked against the User schema without panicking, and, when the check
//! passes, is evaluated against a user without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_scim::schema::{roster_user, user_resource, PropertyKind};
use roster_scim::{eval, parse};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let filter = match parse(text) {
        Err(error) => {
            assert!(error.at <= text.len(), "the offset lies inside the text");
            return;
        }
        Ok(filter) => filter,
    };
    assert!(filter.terms() >= 1, "a filter compares something");
    let printed = filter.to_string();
    if let Ok(again) = parse(&printed) {
        assert_eq!(again, filter, "print then parse is the identity: {printed}");
    }
    let schema = user_resource(roster_user([
        ("department", PropertyKind::Text, ""),
        ("level", PropertyKind::Number, ""),
        ("contractor", PropertyKind::Boolean, ""),
    ]));
    if eval::check(&filter, &schema).is_ok() {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "0190c2f0-0000-7000-8000-000000000001",
            "userName": "Ada@Example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.com", "type": "work", "primary": true},
                       {"value": "ada@home.example", "type": "home"}],
            "active": true,
            "urn:ietf:params:scim:schemas:extension:roster:2.0:User":
                {"department": "Engineering", "level": 3, "contractor": false},
            "meta": {"created": "2024-01-01T00:00:00Z", "lastModified": "2024-06-01T00:00:00Z"},
        });
        let _ = eval::matches(&filter, &user, &schema);
    }
});
