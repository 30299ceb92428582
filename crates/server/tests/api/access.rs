//! The access check, its explanation and who holds a privilege, through HTTP: grants
//! through static, default and dynamic groups, admins and deactivated members, who may
//! ask, batches, `at_least_revision`, and bad input.

use serde_json::json;

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    a_role_on_a_group_grants_its_members_at_once,
    dynamic_groups_grant_as_attributes_change,
    admins_hold_everything_and_deactivated_members_nothing,
    members_ask_about_themselves_and_admins_about_anyone,
    batches_answer_in_order_and_refuse_whole,
    explain_names_every_path_or_what_is_missing,
    who_lists_the_holders_page_by_page,
    at_least_revision_waits_then_refuses,
);

async fn a_role_on_a_group_grants_its_members_at_once(db: TestDb) {
    let s = Server::start(db).await;
    let (ann, ann_token) = s.user("ann@acme.test").await;
    let group = s.group("Support Tier 1").await;
    s.add(&group, &ann, &s.admin_token).await.expect(201);
    let role = s
        .role(
            "Ticket handler",
            &[("ticket", "read"), ("ticket", "update")],
        )
        .await;
    assert!(!s.allowed(&ann_token, &ann, "read", "ticket").await);
    s.put(
        &format!("/api/v1/groups/{group}/roles/{role}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    assert!(s.allowed(&ann_token, &ann, "read", "ticket").await);
    assert!(s.allowed(&ann_token, &ann, "update", "ticket").await);
    assert!(!s.allowed(&ann_token, &ann, "delete", "ticket").await);
    assert!(!s.allowed(&ann_token, &ann, "read", "conversation").await);
    // Editing the role changes what every holder may do.
    s.patch(
        &format!("/api/v1/roles/{role}"),
        &s.admin_token,
        json!({"privileges": [{"object_type": "ticket", "privilege": "delete"}]}),
    )
    .await
    .expect(200);
    assert!(!s.allowed(&ann_token, &ann, "read", "ticket").await);
    assert!(s.allowed(&ann_token, &ann, "delete", "ticket").await);
    // Leaving the group takes it away.
    s.remove(&group, &ann, &s.admin_token).await.expect(200);
    assert!(!s.allowed(&ann_token, &ann, "delete", "ticket").await);
    // A role on All Users reaches every user, new ones too.
    let all_users = s.group_named("All Users").await;
    let reader = s.role("Issue reader", &[("issue", "read")]).await;
    s.put(
        &format!("/api/v1/groups/{all_users}/roles/{reader}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    let (bob, bob_token) = s.user("bob@acme.test").await;
    assert!(s.allowed(&bob_token, &bob, "read", "issue").await);
}

async fn dynamic_groups_grant_as_attributes_change(db: TestDb) {
    let s = Server::start(db).await;
    s.user_properties(&[("dept", "text"), ("level", "number")])
        .await;
    let (ann, ann_token) = s.user("ann@acme.test").await;
    let group = s
        .post(
            "/api/v1/groups",
            &s.admin_token,
            json!({"name": "Senior sales", "membership": "dynamic", "rule": "dept = \"Sales\" AND level >= 3"}),
        )
        .await
        .expect(201)
        .id();
    let role = s.role("Deal maker", &[("opportunity", "create")]).await;
    s.put(
        &format!("/api/v1/groups/{group}/roles/{role}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    assert!(!s.allowed(&ann_token, &ann, "create", "opportunity").await);
    s.patch(
        &format!("/api/v1/members/{ann}"),
        &s.admin_token,
        json!({"properties": {"dept": "sales", "level": 4}}),
    )
    .await
    .expect(200);
    assert!(s.allowed(&ann_token, &ann, "create", "opportunity").await);
    s.patch(
        &format!("/api/v1/members/{ann}"),
        &s.admin_token,
        json!({"properties": {"level": 2}}),
    )
    .await
    .expect(200);
    assert!(!s.allowed(&ann_token, &ann, "create", "opportunity").await);
    // A rule change re-grants at once.
    s.patch(
        &format!("/api/v1/groups/{group}"),
        &s.admin_token,
        json!({"rule": "dept = \"sales\""}),
    )
    .await
    .expect(200);
    assert!(s.allowed(&ann_token, &ann, "create", "opportunity").await);
}

async fn admins_hold_everything_and_deactivated_members_nothing(db: TestDb) {
    let s = Server::start(db).await;
    for object in ["conversation", "ticket", "issue", "opportunity"] {
        for privilege in ["create", "read", "update", "delete"] {
            assert!(s.allowed(&s.admin_token, &s.admin, privilege, object).await);
        }
    }
    let (ann, _) = s.user("ann@acme.test").await;
    let all_users = s.group_named("All Users").await;
    let reader = s.role("Reader", &[("issue", "read")]).await;
    s.put(
        &format!("/api/v1/groups/{all_users}/roles/{reader}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    assert!(s.allowed(&s.admin_token, &ann, "read", "issue").await);
    s.patch(
        &format!("/api/v1/members/{ann}"),
        &s.admin_token,
        json!({"state": "deactivated"}),
    )
    .await
    .expect(200);
    assert!(!s.allowed(&s.admin_token, &ann, "read", "issue").await);
    let admins = s.group_named("Admins").await;
    s.add(&admins, &ann, &s.admin_token).await.expect(201);
    assert!(
        !s.allowed(&s.admin_token, &ann, "read", "issue").await,
        "deactivated admins hold nothing"
    );
    s.patch(
        &format!("/api/v1/members/{ann}"),
        &s.admin_token,
        json!({"state": "active"}),
    )
    .await
    .expect(200);
    assert!(
        s.allowed(&s.admin_token, &ann, "delete", "opportunity")
            .await
    );
}

async fn members_ask_about_themselves_and_admins_about_anyone(db: TestDb) {
    let s = Server::start(db).await;
    let (ann, ann_token) = s.user("ann@acme.test").await;
    let (bob, _) = s.user("bob@acme.test").await;
    let (cat, cat_token) = s.customer("cat@client.test", "client").await;
    assert!(!s.allowed(&ann_token, &ann, "read", "issue").await);
    let question =
        |member: &str| json!({"member_id": member, "privilege": "read", "object_type": "issue"});
    let refused = s
        .post("/api/v1/access/check", &ann_token, question(&bob))
        .await
        .expect(403);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("themselves"));
    s.post("/api/v1/access/check", &ann_token, question(&s.admin))
        .await
        .expect(403);
    s.post("/api/v1/access/check", &cat_token, question(&cat))
        .await
        .expect(403);
    assert!(!s.allowed(&s.admin_token, &cat, "read", "issue").await);
    s.post("/api/v1/access/explain", &ann_token, question(&bob))
        .await
        .expect(403);
    s.get(
        "/api/v1/access/who?privilege=read&object_type=issue",
        &ann_token,
    )
    .await
    .expect(403);
    // Another workspace's member is not found, as if it did not exist.
    let other = s
        .roster
        .create_workspace("Other", "root@other.test", roster_model::Actor::Cli)
        .await
        .unwrap();
    let stranger = other.0.admin.id.to_string();
    s.post("/api/v1/access/check", &s.admin_token, question(&stranger))
        .await
        .expect(404);
    s.post("/api/v1/access/check", &s.admin_token, question("nobody"))
        .await
        .expect(422);
}

async fn batches_answer_in_order_and_refuse_whole(db: TestDb) {
    let s = Server::start(db).await;
    let (ann, ann_token) = s.user("ann@acme.test").await;
    let (bob, _) = s.user("bob@acme.test").await;
    let group = s.group("Builders").await;
    s.add(&group, &ann, &s.admin_token).await.expect(201);
    let role = s.role("Builder", &[("issue", "update")]).await;
    s.put(
        &format!("/api/v1/groups/{group}/roles/{role}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    let checks: Vec<_> = [
        (&ann, "update", "issue"),
        (&bob, "update", "issue"),
        (&s.admin, "delete", "ticket"),
        (&ann, "read", "issue"),
    ]
    .iter()
    .map(|(m, p, o)| json!({"member_id": m, "privilege": p, "object_type": o}))
    .collect();
    let answer = s
        .post(
            "/api/v1/access/check",
            &s.admin_token,
            json!({"checks": checks}),
        )
        .await
        .expect(200);
    assert_eq!(
        answer.body["results"],
        json!([{"allowed": true}, {"allowed": false}, {"allowed": true}, {"allowed": false}])
    );
    assert!(answer.body["revision"].as_i64().is_some());
    // A member may batch questions about itself only.
    let own =
        json!({"checks": [{"member_id": ann, "privilege": "update", "object_type": "issue"}]});
    s.post("/api/v1/access/check", &ann_token, own)
        .await
        .expect(200);
    let forbidden = s
        .post(
            "/api/v1/access/check",
            &ann_token,
            json!({"checks": checks}),
        )
        .await
        .expect(403);
    assert!(forbidden.body["detail"]
        .as_str()
        .unwrap()
        .contains("checks[1]"));
    let missing = json!({"checks": [checks[0].clone(), {"member_id": roster_model::new_id(), "privilege": "read", "object_type": "issue"}]});
    let answer = s
        .post("/api/v1/access/check", &s.admin_token, missing)
        .await
        .expect(404);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("checks[1]"));
    // 10,000 is the limit.
    let many: Vec<_> = (0..10_000).map(|_| checks[0].clone()).collect();
    let answer = s
        .post(
            "/api/v1/access/check",
            &s.admin_token,
            json!({"checks": many}),
        )
        .await
        .expect(200);
    assert_eq!(answer.body["results"].as_array().unwrap().len(), 10_000);
    let too_many: Vec<_> = (0..10_001).map(|_| checks[0].clone()).collect();
    s.post(
        "/api/v1/access/check",
        &s.admin_token,
        json!({"checks": too_many}),
    )
    .await
    .expect(422);
    // Half a question, both forms, unknown fields and wrong types.
    s.post(
        "/api/v1/access/check",
        &s.admin_token,
        json!({"member_id": ann}),
    )
    .await
    .expect(422);
    s.post("/api/v1/access/check", &s.admin_token, json!({}))
        .await
        .expect(422);
    let both = json!({"member_id": ann, "privilege": "read", "object_type": "issue", "checks": []});
    s.post("/api/v1/access/check", &s.admin_token, both)
        .await
        .expect(422);
    let extra = json!({"member_id": ann, "privilege": "read", "object_type": "issue", "why": true});
    s.post("/api/v1/access/check", &s.admin_token, extra)
        .await
        .expect(400);
    let wrong = json!({"member_id": ann, "privilege": "fly", "object_type": "issue"});
    s.post("/api/v1/access/check", &s.admin_token, wrong)
        .await
        .expect(422);
}

async fn explain_names_every_path_or_what_is_missing(db: TestDb) {
    let s = Server::start(db).await;
    s.user_properties(&[("dept", "text")]).await;
    let (ann, ann_token) = s.user("ann@acme.test").await;
    s.patch(
        &format!("/api/v1/members/{ann}"),
        &s.admin_token,
        json!({"properties": {"dept": "Support"}}),
    )
    .await
    .expect(200);
    let manual = s.group("Tier 1").await;
    s.add(&manual, &ann, &s.admin_token).await.expect(201);
    let dynamic = s
        .post(
            "/api/v1/groups",
            &s.admin_token,
            json!({"name": "Support dept", "membership": "dynamic", "rule": "dept = \"support\""}),
        )
        .await
        .expect(201)
        .id();
    let role = s.role("Ticket reader", &[("ticket", "read")]).await;
    for group in [&manual, &dynamic] {
        s.put(
            &format!("/api/v1/groups/{group}/roles/{role}"),
            &s.admin_token,
        )
        .await
        .expect(201);
    }
    let question = json!({"member_id": ann, "privilege": "read", "object_type": "ticket"});
    let answer = s
        .post("/api/v1/access/explain", &ann_token, question)
        .await
        .expect(200);
    assert_eq!(answer.body["allowed"], true);
    let paths = answer.body["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2, "{paths:?}");
    let by_rule = paths
        .iter()
        .find(|p| p["group"]["id"] == dynamic.as_str())
        .unwrap();
    assert_eq!(by_rule["membership"]["reason"], "rule");
    assert_eq!(by_rule["membership"]["rule"], "dept = \"support\"");
    assert_eq!(by_rule["membership"]["values"], json!({"dept": "support"}));
    assert_eq!(by_rule["role"]["name"], "Ticket reader");
    assert_eq!(
        by_rule["privilege"],
        json!({"object_type": "ticket", "privilege": "read"})
    );
    let by_hand = paths
        .iter()
        .find(|p| p["group"]["id"] == manual.as_str())
        .unwrap();
    assert_eq!(by_hand["membership"]["reason"], "manual");
    // Denied: what is missing.
    let denied = s
        .post(
            "/api/v1/access/explain",
            &ann_token,
            json!({"member_id": ann, "privilege": "delete", "object_type": "ticket"}),
        )
        .await
        .expect(200);
    assert_eq!(denied.body["allowed"], false);
    assert_eq!(denied.body["paths"], json!([]));
    let granting = denied.body["missing"]["groups_granting"]
        .as_array()
        .unwrap();
    assert!(
        granting.is_empty(),
        "no group grants ticket deletion: {granting:?}"
    );
    let (bob, _) = s.user("bob@acme.test").await;
    let missing = s
        .post(
            "/api/v1/access/explain",
            &s.admin_token,
            json!({"member_id": bob, "privilege": "read", "object_type": "ticket"}),
        )
        .await
        .expect(200);
    let granting = missing.body["missing"]["groups_granting"]
        .as_array()
        .unwrap();
    assert_eq!(granting.len(), 2);
    assert_eq!(granting[0]["roles"][0]["name"], "Ticket reader");
    assert_eq!(missing.body["missing"]["deactivated"], false);
    // The admin path.
    let admin = s
        .post(
            "/api/v1/access/explain",
            &s.admin_token,
            json!({"member_id": s.admin, "privilege": "delete", "object_type": "opportunity"}),
        )
        .await
        .expect(200);
    assert_eq!(admin.body["allowed"], true);
    assert_eq!(admin.body["paths"][0]["admin"], true);
    assert_eq!(admin.body["paths"][0]["group"]["name"], "Admins");
    assert_eq!(admin.body["paths"][0]["membership"]["reason"], "system");
}

async fn who_lists_the_holders_page_by_page(db: TestDb) {
    let s = Server::start(db).await;
    let group = s.group("Readers").await;
    let mut readers = Vec::new();
    for i in 0..5 {
        let (id, _) = s.user(&format!("u{i}@acme.test")).await;
        if i % 2 == 0 {
            s.add(&group, &id, &s.admin_token).await.expect(201);
            readers.push(id);
        }
    }
    let role = s.role("Reader", &[("conversation", "read")]).await;
    s.put(
        &format!("/api/v1/groups/{group}/roles/{role}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    readers.push(s.admin.clone());
    readers.sort();
    let mut seen = Vec::new();
    let mut path = "/api/v1/access/who?privilege=read&object_type=conversation&limit=2".to_owned();
    loop {
        let page = s.get(&path, &s.admin_token).await.expect(200);
        assert_eq!(page.body["count"], 4, "three readers and the admin");
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/v1/access/who?privilege=read&object_type=conversation&limit=2&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen, readers);
    s.get("/api/v1/access/who?privilege=read", &s.admin_token)
        .await
        .expect(400);
}

async fn at_least_revision_waits_then_refuses(db: TestDb) {
    let s = Server::start(db).await;
    let (ann, _) = s.user("ann@acme.test").await;
    let group = s.group("Builders").await;
    let written = s.add(&group, &ann, &s.admin_token).await.expect(201);
    let revision = written.body["revision"].as_i64().unwrap();
    let question = |at: i64| json!({"member_id": ann, "privilege": "read", "object_type": "issue", "at_least_revision": at});
    let answer = s
        .post("/api/v1/access/check", &s.admin_token, question(revision))
        .await
        .expect(200);
    assert!(answer.body["revision"].as_i64().unwrap() >= revision);
    let started = std::time::Instant::now();
    let refused = s
        .post(
            "/api/v1/access/check",
            &s.admin_token,
            question(revision + 1000),
        )
        .await
        .expect(409);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("not applied"));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
