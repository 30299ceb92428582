//! Roles and their assignment to groups: default roles, admins only, conflicts and
//! versions, and the audit and change logs of assignments.

use serde_json::json;

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    a_new_workspace_has_default_roles_with_categories,
    only_admins_manage_roles_and_bad_input_is_refused,
    assignments_are_idempotent_logged_and_listed,
    deleting_a_role_or_group_revokes_its_assignments_in_the_change_log,
    roles_survive_a_restart_and_an_export,
);

async fn a_new_workspace_has_default_roles_with_categories(db: TestDb) {
    let s = Server::start(db).await;
    let roles = s.get("/api/v1/roles", &s.admin_token).await.expect(200);
    let items = roles.body["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().filter_map(|r| r["name"].as_str()).collect();
    for name in [
        "Read only",
        "Full access",
        "Support full access",
        "Build full access",
        "Grow full access",
    ] {
        assert!(names.contains(&name), "default role {name} in {names:?}");
    }
    assert!(items.iter().all(|r| r["default"] == true));
    let read_only = items.iter().find(|r| r["name"] == "Read only").unwrap();
    assert_eq!(read_only["privileges"].as_array().unwrap().len(), 4);
    assert!(read_only["privileges"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["privilege"] == "read"));
    let support = items
        .iter()
        .find(|r| r["name"] == "Support full access")
        .unwrap();
    let privileges = support["privileges"].as_array().unwrap();
    assert_eq!(privileges.len(), 8, "CRUD on conversation and ticket");
    assert!(privileges.iter().all(|p| p["category"] == "support"));
    let types = s
        .get("/api/v1/object-types", &s.admin_token)
        .await
        .expect(200);
    assert_eq!(
        types.body,
        json!([
            {"object_type": "conversation", "category": "support"},
            {"object_type": "ticket", "category": "support"},
            {"object_type": "issue", "category": "build"},
            {"object_type": "opportunity", "category": "grow"},
        ])
    );
    // Admins may edit a default role.
    let id = read_only["id"].as_str().unwrap();
    let edited = s
        .patch(
            &format!("/api/v1/roles/{id}"),
            &s.admin_token,
            json!({"description": "Look, don't touch"}),
        )
        .await
        .expect(200);
    assert_eq!(edited.body["version"], 2);
}

async fn only_admins_manage_roles_and_bad_input_is_refused(db: TestDb) {
    let s = Server::start(db).await;
    let (_, user_token) = s.user("ann@acme.test").await;
    let (_, customer_token) = s.customer("cat@client.test", "client").await;
    let body =
        json!({"name": "Triage", "privileges": [{"object_type": "ticket", "privilege": "update"}]});
    s.post("/api/v1/roles", &user_token, body.clone())
        .await
        .expect(403);
    s.get("/api/v1/roles", &user_token).await.expect(200);
    s.get("/api/v1/roles", &customer_token).await.expect(403);
    let created = s
        .post("/api/v1/roles", &s.admin_token, body)
        .await
        .expect(201);
    let id = created.id();
    assert_eq!(created.body["privileges"][0]["category"], "support");
    assert!(created.body["revision"].as_i64().is_some());
    assert_eq!(
        created.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    s.post("/api/v1/roles", &s.admin_token, json!({"name": "TRIAGE"}))
        .await
        .expect(409);
    let unknown = s
        .post(
            "/api/v1/roles",
            &s.admin_token,
            json!({"name": "x", "privileges": [{"object_type": "spaceship", "privilege": "read"}]}),
        )
        .await
        .expect(422);
    assert!(
        unknown.body["detail"]
            .as_str()
            .unwrap()
            .contains("spaceship")
            || unknown.body["detail"]
                .as_str()
                .unwrap()
                .contains("object_type")
    );
    s.post(
        "/api/v1/roles",
        &s.admin_token,
        json!({"name": "x", "privileges": [{"object_type": "ticket", "privilege": "read", "scope": "all"}]}),
    )
    .await
    .expect(400);
    s.post(
        "/api/v1/roles",
        &s.admin_token,
        json!({"name": "x", "colour": "red"}),
    )
    .await
    .expect(400);
    s.post("/api/v1/roles", &s.admin_token, json!({"name": ""}))
        .await
        .expect(422);
    // Stale If-Match is 412 and changes nothing.
    let stale = s
        .client
        .patch(format!("{}/api/v1/roles/{id}", s.base))
        .bearer_auth(&s.admin_token)
        .header("if-match", "\"7\"")
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    Server::answer(stale).await.expect(412);
    let shown = s
        .get(&format!("/api/v1/roles/{id}"), &user_token)
        .await
        .expect(200);
    assert_eq!(shown.body["name"], "Triage");
    s.patch(
        &format!("/api/v1/roles/{id}"),
        &user_token,
        json!({"name": "Mine"}),
    )
    .await
    .expect(403);
    s.delete(&format!("/api/v1/roles/{id}"), &user_token)
        .await
        .expect(403);
    s.get("/api/v1/roles/not-an-id", &s.admin_token)
        .await
        .expect(404);
    s.delete(&format!("/api/v1/roles/{id}"), &s.admin_token)
        .await
        .expect(200);
    s.get(&format!("/api/v1/roles/{id}"), &s.admin_token)
        .await
        .expect(404);
}

async fn assignments_are_idempotent_logged_and_listed(db: TestDb) {
    let s = Server::start(db).await;
    let (_, user_token) = s.user("ann@acme.test").await;
    let group = s.group("Support Tier 1").await;
    let role = s.role("Ticket reader", &[("ticket", "read")]).await;
    let path = format!("/api/v1/groups/{group}/roles/{role}");
    s.put(&path, &user_token).await.expect(403);
    let first = s.put(&path, &s.admin_token).await.expect(201);
    assert_eq!(first.body["group_id"], group.as_str());
    assert_eq!(first.body["role_id"], role.as_str());
    let revision = first.body["revision"].as_i64().unwrap();
    let again = s.put(&path, &s.admin_token).await.expect(200);
    assert_eq!(
        again.body["revision"].as_i64().unwrap(),
        revision,
        "nothing new"
    );
    let listed = s
        .get(&format!("/api/v1/groups/{group}/roles"), &user_token)
        .await
        .expect(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["role"]["name"], "Ticket reader");
    // Default groups and dynamic groups take roles too.
    let all_users = s.group_named("All Users").await;
    s.put(
        &format!("/api/v1/groups/{all_users}/roles/{role}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    s.user_properties(&[("dept", "text")]).await;
    let dynamic = s
        .post(
            "/api/v1/groups",
            &s.admin_token,
            json!({"name": "Sales", "membership": "dynamic", "rule": "dept = \"sales\""}),
        )
        .await
        .expect(201)
        .id();
    s.put(
        &format!("/api/v1/groups/{dynamic}/roles/{role}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    // Unknown ids are 404.
    s.put(
        &format!("/api/v1/groups/{group}/roles/{}", roster_model::new_id()),
        &s.admin_token,
    )
    .await
    .expect(404);
    s.put(
        &format!("/api/v1/groups/{}/roles/{role}", roster_model::new_id()),
        &s.admin_token,
    )
    .await
    .expect(404);
    let revoked = s.delete(&path, &s.admin_token).await.expect(200);
    let revoke_revision = revoked.body["revision"].as_i64().unwrap();
    s.delete(&path, &s.admin_token).await.expect(404);
    let changes = s
        .get(
            &format!("/api/v1/changes?after={}", revision - 1),
            &s.admin_token,
        )
        .await
        .expect(200);
    let items = changes.body["items"].as_array().unwrap();
    let ours: Vec<_> = items
        .iter()
        .filter(|c| c["group_id"] == group.as_str())
        .collect();
    assert_eq!(ours.len(), 2, "assigned then revoked: {items:?}");
    assert_eq!(ours[0]["change"], "assigned");
    assert_eq!(ours[0]["role_id"], role.as_str());
    assert_eq!(ours[0]["cause"], "role_assigned");
    assert!(ours[0].get("member_id").is_none());
    assert_eq!(ours[1]["change"], "revoked");
    assert_eq!(ours[1]["revision"].as_i64().unwrap(), revoke_revision);
    let audit = s
        .get("/api/v1/audit?limit=20", &s.admin_token)
        .await
        .expect(200);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(actions.contains(&"role.assign"), "{actions:?}");
    assert!(actions.contains(&"role.revoke"), "{actions:?}");
}

async fn deleting_a_role_or_group_revokes_its_assignments_in_the_change_log(db: TestDb) {
    let s = Server::start(db).await;
    let (ann, _) = s.user("ann@acme.test").await;
    let first = s.group("First").await;
    let second = s.group("Second").await;
    s.add(&first, &ann, &s.admin_token).await.expect(201);
    let role = s.role("Issue writer", &[("issue", "create")]).await;
    for group in [&first, &second] {
        s.put(
            &format!("/api/v1/groups/{group}/roles/{role}"),
            &s.admin_token,
        )
        .await
        .expect(201);
    }
    assert!(s.allowed(&s.admin_token, &ann, "create", "issue").await);
    let deleted = s
        .delete(&format!("/api/v1/roles/{role}"), &s.admin_token)
        .await
        .expect(200);
    let revision = deleted.body["revision"].as_i64().unwrap();
    assert!(!s.allowed(&s.admin_token, &ann, "create", "issue").await);
    let changes = s
        .get(
            &format!("/api/v1/changes?after={}", revision - 1),
            &s.admin_token,
        )
        .await
        .expect(200);
    let items = changes.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items
        .iter()
        .all(|c| c["change"] == "revoked" && c["cause"] == "role_deleted"));
    // A group's deletion takes its roles with it.
    let other = s.role("Reader", &[("issue", "read")]).await;
    s.put(
        &format!("/api/v1/groups/{first}/roles/{other}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    assert!(s.allowed(&s.admin_token, &ann, "read", "issue").await);
    let gone = s
        .delete(&format!("/api/v1/groups/{first}"), &s.admin_token)
        .await
        .expect(200);
    assert!(!s.allowed(&s.admin_token, &ann, "read", "issue").await);
    let changes = s
        .get(
            &format!(
                "/api/v1/changes?after={}",
                gone.body["revision"].as_i64().unwrap() - 1
            ),
            &s.admin_token,
        )
        .await
        .expect(200);
    assert!(changes.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["role_id"] == other.as_str() && c["cause"] == "group_deleted"));
    let role_shown = s
        .get(&format!("/api/v1/roles/{other}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(role_shown.body["groups"], 0);
}

async fn roles_survive_a_restart_and_an_export(db: TestDb) {
    let s = Server::start(db).await;
    let (ann, _) = s.user("ann@acme.test").await;
    let group = s.group("Builders").await;
    s.add(&group, &ann, &s.admin_token).await.expect(201);
    let role = s.role("Builder", &[("issue", "update")]).await;
    s.put(
        &format!("/api/v1/groups/{group}/roles/{role}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    let restarted = roster::Roster::open(&s.db.url).await.unwrap();
    let workspace = s.workspace.parse().unwrap();
    let handle = restarted.workspace(workspace).await.unwrap();
    let state = handle.read();
    let grant = roster_model::Grant {
        object_type: roster_model::ObjectType::Issue,
        privilege: roster_model::Privilege::Update,
    };
    assert!(state.allows(&ann.parse().unwrap(), grant));
    let records = roster_ops::transfer::export(&state);
    let imported =
        roster_ops::transfer::import(records, roster_model::Actor::Cli, roster_model::now())
            .unwrap();
    assert_eq!(imported.value.1.assignments, 1);
    assert_eq!(imported.value.1.roles, 6);
}
