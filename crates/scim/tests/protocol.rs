//! Evaluation, PATCH and projection on resources as JSON, against an independent model
//! where the input space is large.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use proptest::prelude::*;
use roster_scim::patch::{self, Op};
use roster_scim::schema::{group_resource, roster_user, user_resource, PropertyKind, ENTERPRISE};
use roster_scim::{eval, parse, project, Filter};
use serde_json::{json, Map, Value};

fn users() -> roster_scim::schema::ResourceSchema {
    user_resource(roster_user([("level", PropertyKind::Number, "")]))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("not an object"),
    }
}

/// The three text attributes the model knows, and their values in a resource.
const ATTRS: [&str; 3] = ["userName", "displayName", "title"];

#[derive(Debug, Clone)]
enum Model {
    Cmp(usize, &'static str, String),
    Present(usize),
    And(Box<Model>, Box<Model>),
    Or(Box<Model>, Box<Model>),
    Not(Box<Model>),
}

fn model() -> impl Strategy<Value = Model> {
    let word = prop::sample::select(vec!["ab", "AB", "b", "abc", "x", ""]);
    let op = prop::sample::select(vec!["eq", "ne", "co", "sw", "ew"]);
    let leaf = prop_oneof![
        (0..3usize, op, word).prop_map(|(a, o, w)| Model::Cmp(a, o, w.to_owned())),
        (0..3usize).prop_map(Model::Present),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Model::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Model::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Model::Not(Box::new(a))),
        ]
    })
}

fn text(model: &Model) -> String {
    match model {
        Model::Cmp(a, op, w) => format!("{} {op} {}", ATTRS[*a], Value::from(w.as_str())),
        Model::Present(a) => format!("{} pr", ATTRS[*a]),
        Model::And(a, b) => format!("({} and {})", text(a), text(b)),
        Model::Or(a, b) => format!("({} or {})", text(a), text(b)),
        Model::Not(a) => format!("not ({})", text(a)),
    }
}

/// The model's own reading of RFC 7644: text is compared case-insensitively; a missing
/// attribute matches only `ne`.
fn holds(model: &Model, values: &[Option<String>; 3]) -> bool {
    match model {
        Model::Cmp(a, op, w) => match &values[*a] {
            None => *op == "ne",
            Some(v) => {
                let (v, w) = (v.to_lowercase(), w.to_lowercase());
                match *op {
                    "eq" => v == w,
                    "ne" => v != w,
                    "co" => v.contains(&w),
                    "sw" => v.starts_with(&w),
                    _ => v.ends_with(&w),
                }
            }
        },
        Model::Present(a) => values[*a].as_ref().is_some_and(|v| !v.is_empty()),
        Model::And(a, b) => holds(a, values) && holds(b, values),
        Model::Or(a, b) => holds(a, values) || holds(b, values),
        Model::Not(a) => !holds(a, values),
    }
}

fn value() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::sample::select(vec!["ab", "Abc", "xab", "B", ""]).prop_map(str::to_owned),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Filter evaluation agrees with an independent model on random filters and users.
    #[test]
    fn evaluation_agrees_with_the_model(m in model(), values in [value(), value(), value()]) {
        let mut resource = Map::new();
        for (attr, v) in ATTRS.iter().zip(&values) {
            if let Some(v) = v {
                resource.insert((*attr).to_owned(), Value::from(v.clone()));
            }
        }
        let filter: Filter = parse(&text(&m)).unwrap();
        let schema = users();
        eval::check(&filter, &schema).unwrap();
        prop_assert_eq!(eval::matches(&filter, &Value::Object(resource), &schema), holds(&m, &values));
    }

    /// Random PATCH operations never panic, and what they leave is normalised: normalising
    /// it again changes nothing.
    #[test]
    fn patch_never_panics_and_leaves_normal_resources(
        ops in prop::collection::vec(
            (
                prop::sample::select(vec!["add", "Replace", "remove"]),
                prop::option::of(prop::sample::select(vec![
                    "userName", "name.givenName", "emails", "emails[type eq \"work\"].value",
                    "emails[type eq \"home\"]", "active", "title", "groups", "id",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                    "urn:ietf:params:scim:schemas:extension:roster:2.0:User:level", "nosuch",
                    "members[value eq \"x\"]",
                ])),
                prop::sample::select(vec![
                    json!("True"), json!(false), json!("x"), json!(3), json!(null),
                    json!([{"value": "a@b.c", "type": "work", "primary": "true"}]),
                    json!({"givenName": "G", "title": "T", "name.familyName": "F"}),
                    json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D"}}),
                ]),
            ),
            1..6,
        )
    ) {
        let body = json!({"Operations": ops.iter().map(|(op, path, value)| {
            let mut o = json!({"op": op, "value": value});
            if let Some(path) = path { o["path"] = json!(path); }
            o
        }).collect::<Vec<_>>()});
        let schema = users();
        let Ok(operations) = patch::operations(&body) else { return Ok(()); };
        let mut resource = object(json!({"userName": "u", "emails": [{"value": "u@x.y", "type": "work"}]}));
        if patch::apply(&mut resource, &operations, &schema).is_ok() {
            let mut again = resource.clone();
            patch::normalize(&mut again, &schema).unwrap();
            prop_assert_eq!(again, resource);
        }
    }
}

#[test]
fn entra_habits_apply() {
    let schema = users();
    let mut resource =
        object(json!({"userName": "u", "emails": [{"value": "w@x.y", "type": "work"}]}));
    let body = json!({"Operations": [
        {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "h@x.y"},
        {"op": "Replace", "path": "emails[type eq \"work\"].primary", "value": "True"},
        {"op": "Add", "path": "title", "value": "First"},
        {"op": "Add", "path": "title", "value": "Second"},
        {"op": "Replace", "value": {"id": "ignored", "name.givenName": "G",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "D"}},
        {"op": "Replace", "path": "active", "value": "False"},
    ]});
    let operations = patch::operations(&body).unwrap();
    assert_eq!(operations[0].op, Op::Add);
    patch::apply(&mut resource, &operations, &schema).unwrap();
    assert_eq!(
        resource["emails"][1],
        json!({"type": "home", "value": "h@x.y"})
    );
    assert_eq!(resource["emails"][0]["primary"], json!(true));
    assert_eq!(resource["title"], json!("Second"));
    assert_eq!(resource["name"], json!({"givenName": "G"}));
    assert_eq!(resource[ENTERPRISE], json!({"department": "D"}));
    assert_eq!(resource["active"], json!(false));
    assert!(!resource.contains_key("id"));
}

#[test]
fn members_are_removed_by_list_or_filter_and_added_once() {
    let schema = group_resource();
    let mut group = object(
        json!({"displayName": "G", "members": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}),
    );
    let body = json!({"Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": "a"}]},
        {"op": "remove", "path": "members[value eq \"b\"]"},
        {"op": "Add", "path": "members", "value": [{"value": "c"}, {"value": "d"}]},
    ]});
    patch::apply(&mut group, &patch::operations(&body).unwrap(), &schema).unwrap();
    assert_eq!(group["members"], json!([{"value": "c"}, {"value": "d"}]));
}

#[test]
fn projection_keeps_what_is_asked_and_what_is_always_returned() {
    let schema = users();
    let full = json!({"schemas": ["s"], "id": "1", "userName": "u", "name": {"givenName": "G", "familyName": "F"},
        "emails": [{"value": "a", "type": "work"}], ENTERPRISE: {"department": "D", "division": "V"}});
    let mut only = object(full.clone());
    project::project(
        &mut only,
        &schema,
        &["name.givenName".into(), format!("{ENTERPRISE}:department")],
        &[],
    );
    assert_eq!(
        Value::Object(only),
        json!({"schemas": ["s"], "id": "1", "name": {"givenName": "G"}, ENTERPRISE: {"department": "D"}})
    );
    let mut without = object(full);
    project::project(
        &mut without,
        &schema,
        &[],
        &["emails".into(), "id".into(), "name.familyName".into()],
    );
    assert!(!without.contains_key("emails"));
    assert_eq!(without["id"], json!("1"), "id is always returned");
    assert_eq!(without["name"], json!({"givenName": "G"}));
}

#[test]
fn sort_keys_follow_case_exactness_and_primary_values() {
    let schema = users();
    let a =
        json!({"userName": "Bob", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]});
    assert_eq!(
        project::sort_key(&a, &schema, "userName"),
        Some(json!("bob"))
    );
    assert_eq!(project::sort_key(&a, &schema, "emails"), Some(json!("a@x")));
    assert_eq!(project::sort_key(&a, &schema, "externalId"), None);
}

#[test]
fn operators_that_do_not_fit_are_invalid_filters() {
    let schema = users();
    for bad in [
        "active gt true",
        "emails co \"x\" and active sw \"t\"",
        "name lt \"x\"",
    ] {
        let Ok(filter) = parse(bad) else { continue };
        assert!(eval::check(&filter, &schema).is_err(), "{bad}");
    }
    let filter =
        parse("urn:ietf:params:scim:schemas:extension:roster:2.0:User:level gt 2").unwrap();
    eval::check(&filter, &schema).unwrap();
    let user = json!({"urn:ietf:params:scim:schemas:extension:roster:2.0:User": {"level": 3}});
    assert!(eval::matches(&filter, &user, &schema));
}

/// One step of a PATCH of `members`, for the model below.
#[derive(Debug, Clone)]
enum MemberStep {
    Add(Vec<u8>),
    Replace(Vec<u8>),
    RemoveListed(Vec<u8>),
    RemoveFiltered(u8),
    RemoveAll,
    Rename,
}

fn member_step() -> impl Strategy<Value = MemberStep> {
    let ids = || proptest::collection::vec(0u8..12, 0..5);
    prop_oneof![
        ids().prop_map(MemberStep::Add),
        ids().prop_map(MemberStep::Replace),
        ids().prop_map(MemberStep::RemoveListed),
        (0u8..12).prop_map(MemberStep::RemoveFiltered),
        Just(MemberStep::RemoveAll),
        Just(MemberStep::Rename),
    ]
}

proptest! {
    /// The indexed application of member operations gives what applying them one by one
    /// to a list gives: additions once each, in order; removals by list, by filter or
    /// whole; a rename between them (which puts the list back first) changes nothing.
    #[test]
    fn member_operations_apply_as_a_list_would(
        start in proptest::collection::vec(0u8..12, 0..8),
        steps in proptest::collection::vec(member_step(), 1..20),
    ) {
        let id = |n: &u8| format!("m{n}");
        let values = |ns: &[u8]| Value::Array(ns.iter().map(|n| json!({"value": id(n)})).collect());
        let mut model: Vec<String> = Vec::new();
        for n in &start {
            model.push(id(n));
        }
        let mut group = object(json!({"displayName": "G", "members": values(&start)}));
        if start.is_empty() {
            group.remove("members");
        }
        let mut operations = Vec::new();
        for step in &steps {
            match step {
                MemberStep::Add(ns) => {
                    for n in ns {
                        if !model.contains(&id(n)) {
                            model.push(id(n));
                        }
                    }
                    operations.push(json!({"op": "add", "path": "members", "value": values(ns)}));
                }
                MemberStep::Replace(ns) => {
                    model.clear();
                    for n in ns {
                        if !model.contains(&id(n)) {
                            model.push(id(n));
                        }
                    }
                    operations.push(json!({"op": "replace", "path": "members", "value": values(ns)}));
                }
                MemberStep::RemoveListed(ns) => {
                    if ns.is_empty() {
                        model.clear();
                    } else {
                        model.retain(|m| !ns.iter().any(|n| &id(n) == m));
                    }
                    operations.push(json!({"op": "remove", "path": "members", "value": values(ns)}));
                }
                MemberStep::RemoveFiltered(n) => {
                    model.retain(|m| m != &id(n));
                    operations.push(json!({"op": "remove",
                        "path": format!("members[value eq \"{}\"]", id(n))}));
                }
                MemberStep::RemoveAll => {
                    model.clear();
                    operations.push(json!({"op": "remove", "path": "members"}));
                }
                MemberStep::Rename => {
                    operations.push(json!({"op": "replace", "value": {"displayName": "H"}}));
                }
            }
        }
        let body = json!({"Operations": operations});
        patch::apply(&mut group, &patch::operations(&body).unwrap(), &group_resource()).unwrap();
        let got: Vec<String> = group
            .get("members")
            .and_then(Value::as_array)
            .map(|items| items.iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        prop_assert_eq!(got, model);
    }
}

/// The caps: more than 1,000 operations, or more than 100 values of one attribute of a
/// user, are `tooMany` naming the cap; a group's `members` is not capped here.
#[test]
fn operations_and_values_are_capped() {
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"op": "add", "path": "title", "value": "t"}))
        .collect();
    let error = patch::operations(&json!({"Operations": many})).unwrap_err();
    assert_eq!(error.scim_type, Some(roster_scim::ScimType::TooMany));
    assert!(error.detail.contains("1000"), "{}", error.detail);

    let emails: Vec<Value> = (0..101)
        .map(|i| json!({"value": format!("e{i}@x.y")}))
        .collect();
    let mut user = object(json!({"userName": "u"}));
    let body = json!({"Operations": [{"op": "add", "path": "emails", "value": emails}]});
    let error = patch::apply(&mut user, &patch::operations(&body).unwrap(), &users()).unwrap_err();
    assert_eq!(error.scim_type, Some(roster_scim::ScimType::TooMany));
    assert!(error.detail.contains("100"), "{}", error.detail);

    let members: Vec<Value> = (0..5000)
        .map(|i| json!({"value": format!("m{i}")}))
        .collect();
    let mut group = object(json!({"displayName": "G"}));
    let body = json!({"Operations": [{"op": "add", "path": "members", "value": members}]});
    patch::apply(
        &mut group,
        &patch::operations(&body).unwrap(),
        &group_resource(),
    )
    .unwrap();
    assert_eq!(group["members"].as_array().unwrap().len(), 5000);
}

/// A thousand member additions and a thousand removals by filter, on a group of twenty
/// thousand members, apply in linear time (generously bounded: a debug build on a busy
/// machine; the figures are in docs/benchmarks.md).
#[test]
fn member_operations_are_linear() {
    let members: Vec<Value> = (0..20_000)
        .map(|i| json!({"value": format!("m{i}")}))
        .collect();
    let mut group = object(json!({"displayName": "G", "members": members}));
    let mut operations: Vec<Value> = (0..500)
        .map(|i| json!({"op": "add", "path": "members", "value": [{"value": format!("n{i}")}]}))
        .collect();
    operations.extend(
        (0..500).map(|i| json!({"op": "remove", "path": format!("members[value eq \"m{i}\"]")})),
    );
    let operations = patch::operations(&json!({"Operations": operations})).unwrap();
    let started = std::time::Instant::now();
    patch::apply(&mut group, &operations, &group_resource()).unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(group["members"].as_array().unwrap().len(), 20_000);
    assert_eq!(group["members"][0], json!({"value": "m500"}));
}
