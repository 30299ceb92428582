//! Members and properties.

use serde_json::json;

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    team_members_join_all_users_and_platform_users,
    customers_join_customers_and_verified_follows_the_flag,
    emails_are_unique_case_insensitively,
    member_input_is_validated,
    properties_validate_member_writes,
    merge_patch_removes_null_properties,
    property_type_and_deletion_rules,
    only_admins_write_members_and_properties,
    deactivated_members_leave_groups_and_lose_their_tokens,
    members_list_pages_and_filters,
    customers_read_only_themselves,
);

async fn team_members_join_all_users_and_platform_users(db: TestDb) {
    let s = Server::start(db).await;
    let (bob, _) = s.user("bob@acme.test").await;
    let agent = s
        .post(
            "/api/v1/members",
            &s.admin_token,
            json!({"kind": "user", "type": "agent", "display_name": "Deploy bot"}),
        )
        .await
        .expect(201);
    assert_eq!(agent.body["email"], serde_json::Value::Null);
    let agent = agent.id();
    let all = s.effective_members(&s.group_named("All Users").await).await;
    let platform = s
        .effective_members(&s.group_named("Platform Users").await)
        .await;
    assert!(
        all.contains(&bob) && all.contains(&agent),
        "every user is in All Users"
    );
    assert!(
        platform.contains(&bob),
        "a new team member joins Platform Users"
    );
    assert!(!platform.contains(&agent), "agents are not team members");
    assert!(s
        .effective_members(&s.group_named("Customers").await)
        .await
        .is_empty());
}

async fn customers_join_customers_and_verified_follows_the_flag(db: TestDb) {
    let s = Server::start(db).await;
    let (carol, _) = s.customer("carol@globex.test", "Globex").await;
    let customers = s.group_named("Customers").await;
    let verified = s.group_named("Verified Customers").await;
    assert_eq!(s.effective_members(&customers).await, vec![carol.clone()]);
    assert!(s.effective_members(&verified).await.is_empty());
    s.patch(
        &format!("/api/v1/members/{carol}"),
        &s.admin_token,
        json!({"email_verified": true}),
    )
    .await
    .expect(200);
    assert_eq!(
        s.effective_members(&verified).await,
        vec![carol.clone()],
        "the very next read shows it"
    );
    assert!(!s
        .effective_members(&s.group_named("All Users").await)
        .await
        .contains(&carol));
}

async fn emails_are_unique_case_insensitively(db: TestDb) {
    let s = Server::start(db).await;
    s.user("dave@acme.test").await;
    let again = s
        .post(
            "/api/v1/members",
            &s.admin_token,
            json!({"kind": "customer", "email": "DAVE@Acme.Test"}),
        )
        .await
        .expect(409);
    assert!(again.body["detail"]
        .as_str()
        .unwrap()
        .contains("already exists"));
    let (erin, _) = s.user("erin@acme.test").await;
    s.patch(
        &format!("/api/v1/members/{erin}"),
        &s.admin_token,
        json!({"email": "Dave@acme.test"}),
    )
    .await
    .expect(409);
    s.patch(
        &format!("/api/v1/members/{erin}"),
        &s.admin_token,
        json!({"email": "ERIN@acme.test"}),
    )
    .await
    .expect(200);
}

async fn member_input_is_validated(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let bad = [
        (json!({"kind": "user", "email": "not-an-email"}), "email"),
        (json!({"kind": "user"}), "email"),
        (
            json!({"kind": "customer", "type": "agent", "email": "x@y.test"}),
            "type",
        ),
        (
            json!({"kind": "user", "email": "x@y.test", "account": "A"}),
            "account",
        ),
        (json!({"kind": "user", "type": "agent"}), "display_name"),
        (
            json!({"kind": "user", "email": "x@y.test", "display_name": "   "}),
            "display_name",
        ),
    ];
    for (body, field) in bad {
        let answer = s.post("/api/v1/members", t, body.clone()).await.expect(422);
        assert_eq!(answer.body["field"], field, "{body}");
    }
    s.post(
        "/api/v1/members",
        t,
        json!({"kind": "robot", "email": "x@y.test"}),
    )
    .await
    .expect(422);
    let users = s.get("/api/v1/members?kind=user", t).await.expect(200);
    assert_eq!(
        users.body["items"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );
}

async fn properties_validate_member_writes(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    for (name, ty) in [
        ("department", "text"),
        ("level", "number"),
        ("contractor", "boolean"),
    ] {
        s.post(
            "/api/v1/properties",
            t,
            json!({"name": name, "applies_to": "user", "type": ty, "description": "d"}),
        )
        .await
        .expect(201);
    }
    let dup = s
        .post(
            "/api/v1/properties",
            t,
            json!({"name": "department", "applies_to": "user", "type": "text"}),
        )
        .await;
    dup.expect(409);
    s.post(
        "/api/v1/properties",
        t,
        json!({"name": "department", "applies_to": "customer", "type": "text"}),
    )
    .await
    .expect(201);
    s.post(
        "/api/v1/properties",
        t,
        json!({"name": "Email", "applies_to": "user", "type": "text"}),
    )
    .await
    .expect(422);
    s.post(
        "/api/v1/properties",
        t,
        json!({"name": "email_domain", "applies_to": "user", "type": "text"}),
    )
    .await
    .expect(422);
    // A keyword of the rule language would make a property no rule can read.
    for keyword in [
        "and", "or", "not", "in", "starts", "ends", "with", "contains",
    ] {
        let refused = s
            .post(
                "/api/v1/properties",
                t,
                json!({"name": keyword, "applies_to": "user", "type": "text"}),
            )
            .await
            .expect(422);
        assert_eq!(refused.body["field"], "name");
        assert!(
            refused.body["detail"].as_str().unwrap().contains("keyword"),
            "{}",
            refused.body
        );
    }

    let ok = s
        .post("/api/v1/members", t, json!({"kind": "user", "email": "f@acme.test", "properties": {"department": "R&D", "level": 3, "contractor": false}}))
        .await
        .expect(201);
    assert_eq!(
        ok.body["properties"],
        json!({"department": "R&D", "level": 3.0, "contractor": false})
    );
    let unknown = s
        .post(
            "/api/v1/members",
            t,
            json!({"kind": "user", "email": "g@acme.test", "properties": {"team": "x"}}),
        )
        .await
        .expect(422);
    assert!(
        unknown.body["detail"].as_str().unwrap().contains("`team`"),
        "names the property"
    );
    assert_eq!(unknown.body["field"], "properties.team");
    let wrong = s
        .post(
            "/api/v1/members",
            t,
            json!({"kind": "user", "email": "g@acme.test", "properties": {"level": "high"}}),
        )
        .await
        .expect(422);
    assert!(wrong.body["detail"].as_str().unwrap().contains("`level`"));
    s.patch(
        &format!("/api/v1/members/{}", ok.id()),
        t,
        json!({"properties": {"contractor": "yes"}}),
    )
    .await
    .expect(422);
    let customer_prop_on_user = s
        .post(
            "/api/v1/members",
            t,
            json!({"kind": "customer", "email": "h@globex.test", "properties": {"level": 1}}),
        )
        .await
        .expect(422);
    assert!(customer_prop_on_user.body["detail"]
        .as_str()
        .unwrap()
        .contains("customers"));
    let listed = s.get("/api/v1/properties", t).await.expect(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 4);
}

async fn merge_patch_removes_null_properties(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    s.post(
        "/api/v1/properties",
        t,
        json!({"name": "department", "applies_to": "user", "type": "text"}),
    )
    .await
    .expect(201);
    s.post(
        "/api/v1/properties",
        t,
        json!({"name": "level", "applies_to": "user", "type": "number"}),
    )
    .await
    .expect(201);
    let id = s
        .post("/api/v1/members", t, json!({"kind": "user", "email": "i@acme.test", "display_name": "Ivy", "properties": {"department": "Ops", "level": 2}}))
        .await
        .expect(201)
        .id();
    let patched = s
        .patch(
            &format!("/api/v1/members/{id}"),
            t,
            json!({"display_name": "Ivy L.", "properties": {"department": null, "level": 5}}),
        )
        .await
        .expect(200);
    assert_eq!(patched.body["properties"], json!({"level": 5.0}));
    assert_eq!(patched.body["display_name"], "Ivy L.");
    assert_eq!(
        patched.body["email"], "i@acme.test",
        "fields not in the patch stay"
    );
    assert!(
        patched.body["revision"].as_i64().is_some(),
        "a write carries its revision"
    );
    assert!(patched.headers.get("roster-revision").is_some());
    s.patch(
        &format!("/api/v1/members/{id}"),
        t,
        json!({"display_name": null}),
    )
    .await
    .expect(422);
}

async fn property_type_and_deletion_rules(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let prop = s
        .post(
            "/api/v1/properties",
            t,
            json!({"name": "tier", "applies_to": "user", "type": "text"}),
        )
        .await
        .expect(201)
        .id();
    let id = s
        .post(
            "/api/v1/members",
            t,
            json!({"kind": "user", "email": "j@acme.test", "properties": {"tier": "gold"}}),
        )
        .await
        .expect(201)
        .id();
    s.patch(
        &format!("/api/v1/properties/{prop}"),
        t,
        json!({"type": "number"}),
    )
    .await
    .expect(409);
    s.patch(
        &format!("/api/v1/properties/{prop}"),
        t,
        json!({"description": "Support tier"}),
    )
    .await
    .expect(200);
    s.delete(&format!("/api/v1/properties/{prop}"), t)
        .await
        .expect(200);
    let member = s.get(&format!("/api/v1/members/{id}"), t).await.expect(200);
    assert_eq!(
        member.body["properties"],
        json!({}),
        "deleting a property removes its values"
    );
    let audit = s.get("/api/v1/audit?limit=3", t).await.expect(200);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..2],
        ["property.delete", "member.update"],
        "each stripped value has its own entry"
    );
    assert_eq!(
        audit.body["items"][1]["before"]["properties"]["tier"],
        "gold"
    );
    s.get(&format!("/api/v1/properties/{prop}"), t)
        .await
        .expect(404);
}

async fn only_admins_write_members_and_properties(db: TestDb) {
    let s = Server::start(db).await;
    let (kim, kim_token) = s.user("kim@acme.test").await;
    let denied = s
        .post(
            "/api/v1/members",
            &kim_token,
            json!({"kind": "user", "email": "l@acme.test"}),
        )
        .await
        .expect(403);
    assert!(
        denied.body["detail"]
            .as_str()
            .unwrap()
            .contains("only admins"),
        "403 names the rule"
    );
    s.patch(
        &format!("/api/v1/members/{kim}"),
        &kim_token,
        json!({"display_name": "K"}),
    )
    .await
    .expect(403);
    s.post(
        "/api/v1/properties",
        &kim_token,
        json!({"name": "x", "applies_to": "user", "type": "text"}),
    )
    .await
    .expect(403);
    s.get("/api/v1/members", &kim_token).await.expect(200);
}

async fn deactivated_members_leave_groups_and_lose_their_tokens(db: TestDb) {
    let s = Server::start(db).await;
    let (mia, mia_token) = s.user("mia@acme.test").await;
    let team = s.group("Team").await;
    s.add(&team, &mia, &s.admin_token).await.expect(201);
    s.get("/api/v1/groups", &mia_token).await.expect(200);
    s.patch(
        &format!("/api/v1/members/{mia}"),
        &s.admin_token,
        json!({"state": "deactivated"}),
    )
    .await
    .expect(200);
    for group in [
        team.clone(),
        s.group_named("All Users").await,
        s.group_named("Platform Users").await,
    ] {
        assert!(
            !s.effective_members(&group).await.contains(&mia),
            "deactivated members count nowhere"
        );
    }
    let recorded = s
        .get(&format!("/api/v1/groups/{team}/members"), &s.admin_token)
        .await
        .expect(200);
    let entry = recorded.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member_id"] == mia.as_str())
        .cloned()
        .unwrap();
    assert_eq!(entry["effective"], false, "the record stays");
    s.get("/api/v1/groups", &mia_token).await.expect(401);
    s.patch(
        &format!("/api/v1/members/{mia}"),
        &s.admin_token,
        json!({"state": "active"}),
    )
    .await
    .expect(200);
    assert!(
        s.effective_members(&team).await.contains(&mia),
        "reactivation restores membership"
    );
    s.get("/api/v1/groups", &mia_token).await.expect(200);
}

async fn members_list_pages_and_filters(db: TestDb) {
    let s = Server::start(db).await;
    for i in 0..5 {
        s.user(&format!("u{i}@acme.test")).await;
    }
    s.customer("c@globex.test", "Globex").await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/members?limit=2&cursor={c}"),
            None => "/api/v1/members?limit=2".into(),
        };
        let page = s.get(&path, &s.admin_token).await.expect(200);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(seen.len(), 7, "admin, five users and a customer, each once");
    assert_eq!(unique.len(), 7);
    let customers = s
        .get("/api/v1/members?kind=customer", &s.admin_token)
        .await
        .expect(200);
    assert_eq!(customers.body["items"].as_array().unwrap().len(), 1);
    s.get("/api/v1/members?limit=0", &s.admin_token)
        .await
        .expect(422);
    s.get("/api/v1/members?limit=5000", &s.admin_token)
        .await
        .expect(422);
    s.get("/api/v1/members?cursor=%%%", &s.admin_token)
        .await
        .expect(400);
    s.get("/api/v1/members?kind=robot", &s.admin_token)
        .await
        .expect(400);
}

async fn customers_read_only_themselves(db: TestDb) {
    let s = Server::start(db).await;
    let (carl, carl_token) = s.customer("carl@globex.test", "Globex").await;
    s.get(&format!("/api/v1/members/{carl}"), &carl_token)
        .await
        .expect(200);
    s.get(&format!("/api/v1/members/{}", s.admin), &carl_token)
        .await
        .expect(403);
    s.get("/api/v1/members", &carl_token).await.expect(403);
    s.get("/api/v1/groups", &carl_token).await.expect(403);
    s.get("/api/v1/properties", &carl_token).await.expect(403);
}
