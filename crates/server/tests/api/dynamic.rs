//! Dynamic groups over HTTP: rules checked on save, memberships current on the very next
//! read, conversions, previews, and the properties rules read.

use serde_json::json;

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    dynamic_groups_follow_attributes_before_the_write_returns,
    rules_that_do_not_check_are_422_with_spans,
    rule_changes_and_conversions_say_who_joined_and_left,
    properties_read_by_rules_cannot_be_deleted_or_retyped,
    preview_saves_nothing,
    the_change_log_records_every_membership_change,
    text_compares_by_unicode_caseless_matching,
    a_rule_too_costly_for_the_workspace_is_refused_before_it_runs,
);

async fn setup(s: &Server) -> (String, String, String) {
    let t = &s.admin_token;
    s.user_properties(&[("department", "text"), ("level", "number")])
        .await;
    let mk = |email: &str, dept: &str, level: i64| json!({"kind": "user", "email": email, "properties": {"department": dept, "level": level}});
    let ann = s
        .post("/api/v1/members", t, mk("ann@acme.test", "Sales", 3))
        .await
        .expect(201)
        .id();
    let ben = s
        .post("/api/v1/members", t, mk("ben@globex.test", "sales", 1))
        .await
        .expect(201)
        .id();
    let cat = s
        .post("/api/v1/members", t, mk("cat@acme.test", "Eng", 5))
        .await
        .expect(201)
        .id();
    (ann, ben, cat)
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

async fn dynamic_groups_follow_attributes_before_the_write_returns(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let (ann, ben, cat) = setup(&s).await;
    let created = s
        .post(
            "/api/v1/groups",
            t,
            json!({"name": "Sales", "rule": "department = SALES"}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["membership"], "dynamic");
    assert_eq!(created.body["added"], 2);
    assert_eq!(created.body["member_count"], 2);
    let sales = created.id();
    assert_eq!(
        sorted(s.effective_members(&sales).await),
        sorted(vec![ann.clone(), ben.clone()])
    );
    s.patch(
        &format!("/api/v1/members/{cat}"),
        t,
        json!({"properties": {"department": "sales"}}),
    )
    .await
    .expect(200);
    assert!(
        s.effective_members(&sales).await.contains(&cat),
        "the very next read shows the new membership"
    );
    s.patch(
        &format!("/api/v1/members/{ann}"),
        t,
        json!({"properties": {"department": null}}),
    )
    .await
    .expect(200);
    assert!(
        !s.effective_members(&sales).await.contains(&ann),
        "a removed attribute fails `=`"
    );
    s.patch(
        &format!("/api/v1/members/{ben}"),
        t,
        json!({"state": "deactivated"}),
    )
    .await
    .expect(200);
    assert!(!s.effective_members(&sales).await.contains(&ben));
    s.patch(
        &format!("/api/v1/members/{ben}"),
        t,
        json!({"state": "active"}),
    )
    .await
    .expect(200);
    assert!(s.effective_members(&sales).await.contains(&ben));
    let new = s.post("/api/v1/members", t, json!({"kind": "user", "email": "dan@acme.test", "properties": {"department": "Sales"}})).await.expect(201).id();
    assert!(
        s.effective_members(&sales).await.contains(&new),
        "new members join at once"
    );
    let domain = s.post("/api/v1/groups", t, json!({"name": "Globex people", "membership": "dynamic", "rule": "email_domain = GLOBEX.test"})).await.expect(201).id();
    assert_eq!(s.effective_members(&domain).await, vec![ben.clone()]);
    let hand = s.add(&sales, &ann, t).await.expect(409);
    assert!(hand.body["detail"].as_str().unwrap().contains("dynamic"));
    s.remove(&sales, &ben, t).await.expect(409);
    let members = s
        .get(&format!("/api/v1/groups/{sales}/members"), t)
        .await
        .expect(200);
    assert!(members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["source"] == "rule"));
}

async fn rules_that_do_not_check_are_422_with_spans(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    setup(&s).await;
    let unknown = s
        .post(
            "/api/v1/groups",
            t,
            json!({"name": "X", "rule": "departmnt = sales AND level > high"}),
        )
        .await
        .expect(422);
    let errors = unknown.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{}", unknown.body);
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `department`"));
    assert_eq!(errors[0]["span"], json!({"start": 0, "end": 9}));
    assert_eq!(
        errors[1]["span"],
        json!({"start": 30, "end": 34}),
        "under `high`"
    );
    let syntax = s
        .post(
            "/api/v1/groups",
            t,
            json!({"name": "X", "rule": "department = (sales"}),
        )
        .await
        .expect(422);
    assert_eq!(syntax.body["errors"].as_array().unwrap().len(), 1);
    let deep = format!("{}level = 1{}", "(".repeat(40), ")".repeat(40));
    s.post("/api/v1/groups", t, json!({"name": "X", "rule": deep}))
        .await
        .expect(422);
    s.post(
        "/api/v1/groups",
        t,
        json!({"name": "X", "rule": "x".repeat(5000)}),
    )
    .await
    .expect(422);
    s.post(
        "/api/v1/groups",
        t,
        json!({"name": "X", "membership": "dynamic"}),
    )
    .await
    .expect(422);
    s.post(
        "/api/v1/groups",
        t,
        json!({"name": "X", "membership": "static", "rule": "level = 1"}),
    )
    .await
    .expect(422);
    let customer_rule = s
        .post(
            "/api/v1/groups",
            t,
            json!({"name": "X", "member_kind": "customer", "rule": "department = sales"}),
        )
        .await
        .expect(422);
    assert!(
        customer_rule.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown attribute"),
        "properties are per member kind"
    );
    let groups = s.get("/api/v1/groups", t).await.expect(200);
    assert_eq!(
        groups.body["items"].as_array().unwrap().len(),
        8,
        "a rule that does not check is never saved"
    );
}

async fn rule_changes_and_conversions_say_who_joined_and_left(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let (ann, _ben, cat) = setup(&s).await;
    let group = s
        .post(
            "/api/v1/groups",
            t,
            json!({"name": "Senior", "rule": "level >= 3"}),
        )
        .await
        .expect(201)
        .id();
    let changed = s
        .patch(
            &format!("/api/v1/groups/{group}"),
            t,
            json!({"rule": "level >= 5 OR email ends with globex.test"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            changed.body["added"].as_u64(),
            changed.body["removed"].as_u64()
        ),
        (Some(1), Some(1)),
        "{}",
        changed.body
    );
    // Merge patch: `null` removes, and a dynamic group cannot be without its rule or
    // any group without its name; both are refused, the group untouched.
    let path = format!("/api/v1/groups/{group}");
    let ruleless = s.patch(&path, t, json!({"rule": null})).await.expect(422);
    assert_eq!(ruleless.body["field"], "rule", "{}", ruleless.body);
    let nameless = s.patch(&path, t, json!({"name": null})).await.expect(422);
    assert_eq!(nameless.body["field"], "name", "{}", nameless.body);
    let kept = s.get(&path, t).await.expect(200);
    assert_eq!(
        (&kept.body["name"], &kept.body["rule"]),
        (
            &json!("Senior"),
            &json!("level >= 5 OR email ends with globex.test")
        )
    );
    let described = s
        .patch(&path, t, json!({"description": "senior staff"}))
        .await
        .expect(200);
    assert_eq!(described.body["description"], "senior staff");
    let cleared = s
        .patch(&path, t, json!({"description": null}))
        .await
        .expect(200);
    assert_eq!(
        cleared.body["description"], "",
        "null clears the description"
    );
    // Dynamic to static freezes the current members; removing the rule in the same
    // patch says the same thing.
    let frozen = s
        .patch(
            &format!("/api/v1/groups/{group}"),
            t,
            json!({"membership": "static", "rule": null}),
        )
        .await
        .expect(200);
    assert_eq!(frozen.body["rule"], serde_json::Value::Null);
    let members = s.effective_members(&group).await;
    assert!(
        members.contains(&cat) && members.contains(&s.admin),
        "members frozen, and the owner is a member again"
    );
    assert!(!members.contains(&ann));
    s.add(&group, &ann, t).await.expect(201);
    // Static to dynamic replaces the hand-kept list by the rule's result.
    let converted = s
        .patch(
            &format!("/api/v1/groups/{group}"),
            t,
            json!({"membership": "dynamic", "rule": "department = eng"}),
        )
        .await
        .expect(200);
    assert_eq!(converted.body["member_count"], 1);
    assert_eq!(
        converted.body["removed"].as_u64(),
        Some(3),
        "{}",
        converted.body
    );
    assert_eq!(s.effective_members(&group).await, vec![cat.clone()]);
    let verified = s.group_named("Verified Customers").await;
    s.patch(
        &format!("/api/v1/groups/{verified}"),
        t,
        json!({"rule": "email_verified = false"}),
    )
    .await
    .expect(409);
    let (nia, nia_token) = s.user("nia@acme.test").await;
    let _ = nia;
    s.patch(
        &format!("/api/v1/groups/{group}"),
        &nia_token,
        json!({"rule": "level = 1"}),
    )
    .await
    .expect(403);
}

async fn properties_read_by_rules_cannot_be_deleted_or_retyped(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    setup(&s).await;
    s.post(
        "/api/v1/groups",
        t,
        json!({"name": "Levelled", "rule": "level > 2"}),
    )
    .await
    .expect(201);
    let props = s.get("/api/v1/properties", t).await.expect(200);
    let level = props.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "level")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = s
        .delete(&format!("/api/v1/properties/{level}"), t)
        .await
        .expect(409);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("`Levelled`"),
        "names the groups"
    );
    s.patch(
        &format!("/api/v1/properties/{level}"),
        t,
        json!({"type": "text"}),
    )
    .await
    .expect(409);
}

async fn preview_saves_nothing(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let (ann, ben, _) = setup(&s).await;
    let preview = s
        .post(
            "/api/v1/rules/preview",
            t,
            json!({"member_kind": "user", "rule": "department in (sales, ops)"}),
        )
        .await
        .expect(200);
    assert_eq!(preview.body["matches"], 2);
    let sample: Vec<&str> = preview.body["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(sample.contains(&ann.as_str()) && sample.contains(&ben.as_str()));
    let group = s
        .post(
            "/api/v1/groups",
            t,
            json!({"name": "Sales", "rule": "department = sales"}),
        )
        .await
        .expect(201)
        .id();
    let compared = s
        .post(
            "/api/v1/rules/preview",
            t,
            json!({"member_kind": "user", "rule": "level >= 3", "group_id": group}),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            compared.body["added"].as_u64(),
            compared.body["removed"].as_u64()
        ),
        (Some(1), Some(1)),
        "{}",
        compared.body
    );
    let bad = s
        .post(
            "/api/v1/rules/preview",
            t,
            json!({"member_kind": "user", "rule": "levl >= 3"}),
        )
        .await
        .expect(422);
    assert!(bad.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `level`"));
    let (_, ann_token) = (ann.clone(), s.token_for(&ann).await);
    s.post(
        "/api/v1/rules/preview",
        &ann_token,
        json!({"member_kind": "user", "rule": "level >= 3"}),
    )
    .await
    .expect(403);
    assert_eq!(
        s.effective_members(&group).await.len(),
        2,
        "previews change nothing"
    );
}

async fn the_change_log_records_every_membership_change(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let negative = s.get("/api/v1/changes?after=-5", t).await.expect(422);
    assert_eq!(negative.body["field"], "after", "{}", negative.body);
    let first = s.get("/api/v1/changes?after=0", t).await.expect(200);
    let boot: Vec<&serde_json::Value> = first.body["items"].as_array().unwrap().iter().collect();
    assert_eq!(
        boot.len(),
        3,
        "the admin joined Admins, All Users and Platform Users: {}",
        first.body
    );
    assert!(boot.iter().all(|c| c["revision"] == 1
        && c["change"] == "added"
        && c["member_id"] == s.admin.as_str()));
    let (ann, ben, cat) = setup(&s).await;
    let r0 = s.get("/api/v1/workspace", t).await.expect(200).body["revision"]
        .as_i64()
        .unwrap();
    let created = s
        .post(
            "/api/v1/groups",
            t,
            json!({"name": "Sales", "rule": "department = sales"}),
        )
        .await
        .expect(201);
    let (sales, r1) = (created.id(), created.body["revision"].as_i64().unwrap());
    let log = s
        .get(&format!("/api/v1/changes?after={r0}"), t)
        .await
        .expect(200);
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|c| c["revision"] == r1
        && c["group_id"] == sales.as_str()
        && c["cause"] == "group_created"));
    assert_eq!(log.body["revision"], r1);
    let patched = s
        .patch(
            &format!("/api/v1/members/{ann}"),
            t,
            json!({"properties": {"department": "ops"}}),
        )
        .await
        .expect(200);
    let r2 = patched.body["revision"].as_i64().unwrap();
    let log = s
        .get(&format!("/api/v1/changes?after={r1}"), t)
        .await
        .expect(200);
    assert_eq!(
        log.body["items"],
        json!([{"revision": r2, "seq": 0, "group_id": sales, "member_id": ann, "change": "removed", "cause": "attributes_changed", "at": log.body["items"][0]["at"]}])
    );
    let support = s.group_named("Support").await;
    let added = s.add(&support, &cat, t).await.expect(201);
    let r3 = added.body["revision"].as_i64().unwrap();
    let log = s
        .get(&format!("/api/v1/changes?after={r2}"), t)
        .await
        .expect(200);
    assert_eq!(log.body["items"][0]["cause"], "manual");
    assert_eq!(log.body["items"][0]["revision"], r3);
    s.patch(
        &format!("/api/v1/members/{ben}"),
        t,
        json!({"state": "deactivated"}),
    )
    .await
    .expect(200);
    let log = s
        .get(&format!("/api/v1/changes?after={r3}"), t)
        .await
        .expect(200);
    let mut left: Vec<String> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["change"], "removed");
            assert_eq!(c["cause"], "member_deactivated");
            c["group_id"].as_str().unwrap().to_owned()
        })
        .collect();
    left.sort();
    let mut expected = vec![
        sales.clone(),
        s.group_named("All Users").await,
        s.group_named("Platform Users").await,
    ];
    expected.sort();
    assert_eq!(
        left, expected,
        "a deactivated member leaves every group it was in"
    );
    // Paging walks the whole log exactly once, in order.
    let mut seen = Vec::new();
    let mut path = "/api/v1/changes?limit=2".to_owned();
    loop {
        let page = s.get(&path, t).await.expect(200);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["revision"].as_i64().unwrap(), c["seq"].as_i64().unwrap())),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/changes?limit=2&cursor={c}"),
            None => break,
        }
    }
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    sorted_seen.dedup();
    assert_eq!(seen, sorted_seen, "strictly increasing (revision, seq)");
    let (_, ann_token) = (ann.clone(), s.token_for(&ann).await);
    s.get("/api/v1/changes", &ann_token).await.expect(403);
}

/// SPEC §3's case-insensitive text, beyond ASCII: `ß` matches `SS`, a final `ς` matches
/// `Σ`, an accent typed as a combining mark matches the composed letter, in rules saved
/// and in previews, and a member written after the rule follows it at once.
async fn text_compares_by_unicode_caseless_matching(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    s.user_properties(&[("street", "text"), ("team", "text")])
        .await;
    let mut ids = Vec::new();
    for (email, street, team) in [
        ("a@acme.test", "Hauptstraße", "ΟΔΟΣ"),
        ("b@acme.test", "HAUPTSTRASSE", "οδος"),
        ("c@acme.test", "Hauptstrase", "Zoe\u{308}"),
    ] {
        let created = s
            .post(
                "/api/v1/members",
                t,
                json!({"kind": "user", "email": email, "properties": {"street": street, "team": team}}),
            )
            .await
            .expect(201);
        ids.push(created.id());
    }
    let (street, _) = s
        .dynamic_group("Main street", "street = \"hauptstraße\"")
        .await;
    assert_eq!(
        sorted(s.effective_members(&street).await),
        sorted(vec![ids[0].clone(), ids[1].clone()])
    );
    let ends = s
        .post(
            "/api/v1/rules/preview",
            t,
            json!({"member_kind": "user", "rule": "street ends with SSE OR team = \"οδοσ\""}),
        )
        .await
        .expect(200);
    assert_eq!(ends.body["matches"], 2, "{}", ends.body);
    let (zoe, _) = s.dynamic_group("Zoë", "team = \"ZOË\"").await;
    assert_eq!(s.effective_members(&zoe).await, vec![ids[2].clone()]);
    s.patch(
        &format!("/api/v1/members/{}", ids[0]),
        t,
        json!({"properties": {"team": "zo\u{eb}"}}),
    )
    .await
    .expect(200);
    assert_eq!(
        sorted(s.effective_members(&zoe).await),
        sorted(vec![ids[0].clone(), ids[2].clone()])
    );
}

/// A rule whose evaluation over the workspace would cost more than one request may spend
/// (here 170 `CONTAINS` over 25,000 distinct emails: 4.25 million values tested, 6.4
/// million units with their bytes) is `422`
/// on `rule` for a preview, a new group and a conversion alike, and nothing is saved;
/// the same rule is fine in a small workspace, and a cheap one in this one.
async fn a_rule_too_costly_for_the_workspace_is_refused_before_it_runs(db: TestDb) {
    let mut s = Server::start(db).await;
    let costly: String = (0..170)
        .map(|i| format!("email contains z{i:03}"))
        .collect::<Vec<_>>()
        .join(" or ");
    assert!(costly.len() <= 4096, "within the rule's size limit");
    let t = s.admin_token.clone();
    let preview = |rule: &str| json!({"member_kind": "user", "rule": rule});
    s.post("/api/v1/rules/preview", &t, preview(&costly))
        .await
        .expect(200);
    let kept = s
        .post("/api/v1/groups", &t, json!({"name": "Kept"}))
        .await
        .expect(201);
    let kept_id = kept.id();

    s.users_through_the_store(25_000, |i| format!("m{i}@cost.test"))
        .await;
    s.restart(Default::default(), None).await;
    let refused = s
        .post("/api/v1/rules/preview", &t, preview(&costly))
        .await
        .expect(422);
    assert_eq!(refused.body["field"], "rule", "{}", refused.body);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("more than the") && detail.contains("CONTAINS"),
        "says why and what to do: {detail}"
    );
    let created = s
        .post(
            "/api/v1/groups",
            &t,
            json!({"name": "Costly", "rule": costly}),
        )
        .await
        .expect(422);
    assert_eq!(created.body["field"], "rule");
    s.patch(
        &format!("/api/v1/groups/{kept_id}"),
        &t,
        json!({"membership": "dynamic", "rule": costly}),
    )
    .await
    .expect(422);
    let groups = s.get("/api/v1/groups?limit=1000", &t).await.expect(200);
    let names: Vec<&str> = groups.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"Costly"), "{names:?}");
    let still = s
        .get(&format!("/api/v1/groups/{kept_id}"), &t)
        .await
        .expect(200);
    assert_eq!(still.body["membership"], "static");
    assert_eq!(still.body["version"], kept.body["version"]);

    let cheap = s
        .post(
            "/api/v1/rules/preview",
            &t,
            preview("email contains m1999 or email ends with \"@cost.test\""),
        )
        .await
        .expect(200);
    assert_eq!(cheap.body["matches"], 25_000);
}
