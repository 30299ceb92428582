//! The SCIM filter language: what RFC 7644 §3.4.2.2 and real identity providers write
//! parses to the tree it means; printing a tree gives text that parses back to it; no
//! input makes the parser panic or overflow its stack.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use proptest::prelude::*;
use roster_scim::{parse, AttrPath, CompareOp, Filter, Value};

fn path(name: &str) -> AttrPath {
    AttrPath {
        uri: None,
        name: name.to_owned(),
        sub: None,
    }
}

fn eq(name: &str, value: &str) -> Filter {
    Filter::Compare(path(name), CompareOp::Eq, Value::String(value.to_owned()))
}

#[test]
fn the_rfc_examples_and_provider_habits_parse() {
    let examples = [
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        "title pr",
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        r#"externalId eq "00ub0oNGTSWTBKOLGLNR""#,
        r#"displayName eq "Engineering""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#,
        "members[value eq \"2819c223\"]",
        "active eq true",
        "loginCount gt 10",
        "score le -1.5e3",
        "manager eq null",
    ];
    for text in examples {
        let filter = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parse(&filter.to_string()).unwrap(), filter, "{text}");
    }
}

#[test]
fn keywords_and_operators_are_read_in_any_case() {
    for text in [
        r#"userName Eq "x""#,
        r#"USERNAME EQ "x""#,
        r#"userName eq "x" AND active Eq True"#,
    ] {
        let filter = parse(text).unwrap();
        match filter {
            Filter::Compare(_, CompareOp::Eq, _) | Filter::And(..) => {}
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn and_binds_tighter_than_or_and_both_group_left() {
    let a = || eq("a", "1");
    let b = || eq("b", "2");
    let c = || eq("c", "3");
    assert_eq!(
        parse(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap(),
        Filter::Or(
            Box::new(a()),
            Box::new(Filter::And(Box::new(b()), Box::new(c())))
        )
    );
    assert_eq!(
        parse(r#"a eq "1" or b eq "2" or c eq "3""#).unwrap(),
        Filter::Or(
            Box::new(Filter::Or(Box::new(a()), Box::new(b()))),
            Box::new(c())
        )
    );
}

#[test]
fn a_value_path_with_a_sub_attribute_means_a_condition_inside_the_brackets() {
    // What Microsoft Entra ID sends to find a user by work email.
    let entra = parse(r#"emails[type eq "work"].value eq "ada@example.com""#).unwrap();
    let rfc = parse(r#"emails[type eq "work" and value eq "ada@example.com"]"#).unwrap();
    assert_eq!(entra, rfc);
    assert_eq!(
        parse(r#"emails[type eq "work"].value pr"#).unwrap(),
        Filter::ValuePath(
            path("emails"),
            Box::new(Filter::And(
                Box::new(eq("type", "work")),
                Box::new(Filter::Present(path("value")))
            ))
        )
    );
}

#[test]
fn paths_split_into_uri_name_and_sub_attribute() {
    let filter =
        parse(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr"#)
            .unwrap();
    assert_eq!(
        filter,
        Filter::Present(AttrPath {
            uri: Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()),
            name: "manager".into(),
            sub: Some("value".into()),
        })
    );
    assert_eq!(
        parse(r#"members.$ref pr"#).unwrap(),
        Filter::Present(AttrPath {
            uri: None,
            name: "members".into(),
            sub: Some("$ref".into()),
        })
    );
}

#[test]
fn strings_are_json_strings() {
    assert_eq!(
        parse(r#"displayName eq "say \"hi\" \\ \u00e9""#).unwrap(),
        eq("displayName", "say \"hi\" \\ é")
    );
}

#[test]
fn bad_filters_say_where() {
    for (text, at) in [
        ("", 0),
        ("userName", 8),
        (r#"userName xx "a""#, 9),
        (r#"userName eq"#, 11),
        (r#"userName eq "open"#, 12),
        (r#"userName eq "a" and"#, 19),
        (r#"(userName eq "a""#, 16),
        (r#"emails[type eq "work""#, 21),
        (r#"userName eq "a" garbage"#, 16),
        (r#"userName eq bare"#, 12),
        (r#"1abc eq "x""#, 0),
        (r#"emails[type eq "work"]. eq "x""#, 23),
        ("not userName pr", 4),
    ] {
        let error = parse(text).expect_err(text);
        assert_eq!(error.at, at, "{text}: {error}");
        assert!(!error.message.is_empty());
    }
}

#[test]
fn limits_are_errors_not_overflows() {
    let deep = format!("{}title pr{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&deep).is_err());
    let nested = format!("{}title pr{}", "not (".repeat(65), ")".repeat(65));
    assert!(parse(&nested).is_err());
    let fine = format!("{}title pr{}", "not (".repeat(64), ")".repeat(64));
    assert!(parse(&fine).is_ok());
    let long = format!(r#"userName eq "{}""#, "x".repeat(9000));
    assert!(parse(&long).is_err());
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("userName".to_owned()),
        Just("emails".to_owned()),
        Just("name".to_owned()),
        Just("active".to_owned()),
        Just("meta".to_owned()),
        Just("$ref".to_owned()),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (
        proptest::option::of(prop_oneof![
            Just("urn:ietf:params:scim:schemas:core:2.0:User".to_owned()),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned()),
        ]),
        name(),
        proptest::option::of(name()),
    )
        .prop_map(|(uri, name, sub)| AttrPath { uri, name, sub })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<String>().prop_map(Value::String),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        attr_path().prop_map(Filter::Present),
        (
            attr_path(),
            proptest::sample::select(CompareOp::ALL.to_vec()),
            value()
        )
            .prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
    ];
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.clone().prop_map(|a| Filter::Not(Box::new(a))),
            (attr_path(), inner).prop_map(|(p, f)| Filter::ValuePath(p, Box::new(f))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn printing_then_parsing_gives_the_same_tree(tree in filter()) {
        let text = tree.to_string();
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(parsed, tree, "{}", text);
    }

    #[test]
    fn no_input_makes_the_parser_panic(text in ".{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn no_edit_of_a_valid_filter_makes_the_parser_panic(
        tree in filter(),
        cut in any::<prop::sample::Index>(),
        insert in "[\\[\\]()\". a-z]{0,3}",
    ) {
        let text = tree.to_string();
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let edited = format!("{}{insert}{}", &text[..at], &text[at..]);
        let _ = parse(&edited);
    }
}

#[test]
fn patch_paths_parse_and_print_back() {
    use roster_scim::parse_path;
    let members =
        parse_path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#).unwrap();
    assert_eq!(members.attr, path("members"));
    assert_eq!(
        members.filter,
        Some(eq("value", "2819c223-7f76-453a-919d-413861904646"))
    );
    assert_eq!(members.sub, None);

    let work = parse_path(r#"emails[type eq "work"].value"#).unwrap();
    assert_eq!(work.filter, Some(eq("type", "work")));
    assert_eq!(work.sub.as_deref(), Some("value"));

    let department =
        parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
            .unwrap();
    assert_eq!(department.attr.name, "department");
    assert!(department.attr.uri.is_some());
    assert_eq!(
        parse_path("name.givenName").unwrap().attr.sub.as_deref(),
        Some("givenName")
    );

    for text in [
        r#"members[value eq "x"]"#,
        r#"emails[type eq "work" and primary eq true].value"#,
        "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
    ] {
        assert_eq!(parse_path(text).unwrap().to_string(), text);
    }
    for bad in [
        "",
        "members[",
        r#"members[value eq "x"] extra"#,
        "emails[type pr].",
        "1x",
    ] {
        assert!(parse_path(bad).is_err(), "{bad}");
    }
}

/// Found by the `scim_filter` fuzz target: an integer too large for 64 bits is read as
/// a float, printed, and must read back as the same float (serde_json parses floats
/// with exact rounding here, `float_roundtrip`).
#[test]
fn large_numbers_print_and_parse_back() {
    for text in [
        "z GE444444444444444444444444",
        "level gt 4.4444444444444444e+23",
        "level lt 0.30000000000000004",
    ] {
        let tree = parse(text).unwrap();
        assert_eq!(parse(&tree.to_string()).unwrap(), tree, "{text}");
    }
}

/// What testing a filter against one resource costs, for the budget of a scan: each
/// comparison once, wherever it sits.
#[test]
fn terms_count_every_comparison() {
    assert_eq!(parse(r#"userName eq "a""#).unwrap().terms(), 1);
    assert_eq!(
        parse(r#"not (a pr or b co "x") and emails[type eq "work" and value sw "y"]"#)
            .unwrap()
            .terms(),
        4
    );
    let chain: Vec<String> = (0..512).map(|i| format!("id co \"q{i}\"")).collect();
    assert_eq!(parse(&chain.join(" or ")).unwrap().terms(), 512);
}
