//! Random rules over random members, end to end: every dynamic group's members, read over
//! HTTP, equal the reference evaluator applied to the members as the API returns them —
//! after creation and again after random attribute changes.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use roster_rules::{AttrType, Schema, Value};
use serde_json::{json, Value as Json};

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(random_rules_agree_with_the_reference_evaluator);

const DEPARTMENTS: &[&str] = &[
    "Sales",
    "sales",
    "Ops",
    "R&D",
    "Eng",
    "eng-platform",
    "Straße",
    "STRASSE",
    "Zoë",
    "ZOE\u{308}",
];
const DOMAINS: &[&str] = &["acme.test", "globex.test", "initech.test"];

fn random_rule(rng: &mut StdRng) -> String {
    let condition = |rng: &mut StdRng| -> String {
        let dept = DEPARTMENTS.choose(rng).copied().unwrap_or("x");
        match rng.gen_range(0..11) {
            0 => format!("department = \"{dept}\""),
            1 => format!("department != \"{dept}\""),
            2 => format!("department in (\"{dept}\", ops)"),
            3 => format!("department not in (\"{dept}\")"),
            4 => "department starts with eng".to_owned(),
            5 => "department ends with LES".to_owned(),
            6 => "department contains \"&\"".to_owned(),
            7 => format!(
                "level {} {}",
                ["<", "<=", ">", ">="].choose(rng).copied().unwrap_or("<"),
                rng.gen_range(0..6)
            ),
            8 => format!("contractor = {}", rng.gen_bool(0.5)),
            9 => format!(
                "email_domain = {}",
                DOMAINS.choose(rng).copied().unwrap_or("acme.test")
            ),
            _ => format!(
                "level in ({}, {})",
                rng.gen_range(0..6),
                rng.gen_range(0..6)
            ),
        }
    };
    let mut text = condition(rng);
    for _ in 0..rng.gen_range(0..4) {
        let joiner = if rng.gen_bool(0.5) { "AND" } else { "OR" };
        text = if rng.gen_bool(0.3) {
            format!("({text}) {joiner} {}", condition(rng))
        } else {
            format!("{text} {joiner} {}", condition(rng))
        };
    }
    text
}

fn random_properties(rng: &mut StdRng) -> Json {
    let mut properties = serde_json::Map::new();
    if rng.gen_bool(0.8) {
        properties.insert(
            "department".into(),
            json!(DEPARTMENTS.choose(rng).copied().unwrap_or("x")),
        );
    }
    if rng.gen_bool(0.8) {
        properties.insert("level".into(), json!(rng.gen_range(0..6)));
    }
    if rng.gen_bool(0.8) {
        properties.insert("contractor".into(), json!(rng.gen_bool(0.5)));
    }
    Json::Object(properties)
}

/// The reference evaluator over a member as the API shows it.
fn expected(members: &[Json], rule: &str) -> BTreeSet<String> {
    let schema = Schema::new()
        .with("email", AttrType::Text)
        .with("email_domain", AttrType::Text)
        .with("display_name", AttrType::Text)
        .with("type", AttrType::Text)
        .with("department", AttrType::Text)
        .with("level", AttrType::Number)
        .with("contractor", AttrType::Boolean);
    let rule = roster_rules::compile(rule, &schema).unwrap();
    members
        .iter()
        .filter(|m| m["kind"] == "user" && m["state"] == "active")
        .filter(|m| {
            let member = (*m).clone();
            rule.matches(&move |name: &str| -> Option<Value> {
                let value = match name {
                    "email_domain" => {
                        return member["email"]
                            .as_str()
                            .and_then(|e| e.rsplit_once('@'))
                            .map(|(_, d)| Value::Text(d.to_lowercase()))
                    }
                    "email" | "display_name" | "type" => &member[name],
                    _ => &member["properties"][name],
                };
                match value {
                    Json::String(s) => Some(Value::Text(s.clone())),
                    Json::Number(n) => n.as_f64().map(Value::Number),
                    Json::Bool(b) => Some(Value::Bool(*b)),
                    _ => None,
                }
            })
        })
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect()
}

async fn all_members(s: &Server) -> Vec<Json> {
    s.get("/api/v1/members?limit=1000", &s.admin_token)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn random_rules_agree_with_the_reference_evaluator(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    s.user_properties(&[
        ("department", "text"),
        ("level", "number"),
        ("contractor", "boolean"),
    ])
    .await;
    let mut rng = StdRng::seed_from_u64(7);
    let mut ids = Vec::new();
    for i in 0..40 {
        let domain = DOMAINS.choose(&mut rng).copied().unwrap_or("acme.test");
        let body = json!({"kind": "user", "email": format!("m{i}@{domain}"), "properties": random_properties(&mut rng)});
        ids.push(s.post("/api/v1/members", t, body).await.expect(201).id());
    }
    let mut groups = Vec::new();
    for i in 0..60 {
        let rule = random_rule(&mut rng);
        let id = s
            .post(
                "/api/v1/groups",
                t,
                json!({"name": format!("r{i}"), "rule": rule}),
            )
            .await
            .expect(201)
            .id();
        groups.push((id, rule));
    }
    for round in 0..3 {
        let members = all_members(&s).await;
        for (id, rule) in &groups {
            let actual: BTreeSet<String> = s.effective_members(id).await.into_iter().collect();
            assert_eq!(
                actual,
                expected(&members, rule),
                "round {round}, rule `{rule}`"
            );
        }
        if round == 2 {
            break;
        }
        for _ in 0..25 {
            let id = ids.choose(&mut rng).cloned().unwrap_or_default();
            let patch = if rng.gen_bool(0.15) {
                json!({"state": if rng.gen_bool(0.5) { "deactivated" } else { "active" }})
            } else {
                json!({"properties": random_properties(&mut rng)})
            };
            s.patch(&format!("/api/v1/members/{id}"), t, patch)
                .await
                .expect(200);
        }
    }
}
