//! A new workspace: its eight default groups and its first admin.

use serde_json::Value;

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    new_workspace_has_eight_defaults_and_an_admin,
    workspace_endpoint_names_the_token
);

async fn new_workspace_has_eight_defaults_and_an_admin(db: TestDb) {
    let s = Server::start(db).await;
    let groups = s.get("/api/v1/groups", &s.admin_token).await.expect(200);
    let items = groups.body["items"].as_array().unwrap();
    let expected = [
        ("Admins", "user", "static"),
        ("All Users", "user", "static"),
        ("Platform Users", "user", "static"),
        ("Support", "user", "static"),
        ("Agent and Automations Admin", "user", "static"),
        ("Customers", "customer", "static"),
        ("Customer Admins", "customer", "static"),
        ("Verified Customers", "customer", "dynamic"),
    ];
    assert_eq!(items.len(), expected.len());
    for (name, kind, membership) in expected {
        let group = items
            .iter()
            .find(|g| g["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(group["default"], true, "{name}");
        assert_eq!(group["member_kind"], kind, "{name}");
        assert_eq!(group["membership"], membership, "{name}");
    }
    let verified = items
        .iter()
        .find(|g| g["name"] == "Verified Customers")
        .unwrap();
    assert_eq!(verified["rule"], "email_verified = true");
    for name in ["Admins", "All Users", "Platform Users"] {
        let id = s.group_named(name).await;
        assert_eq!(
            s.effective_members(&id).await,
            vec![s.admin.clone()],
            "admin is in {name}"
        );
    }
    for name in ["Support", "Agent and Automations Admin", "Customers"] {
        let id = s.group_named(name).await;
        assert!(
            s.effective_members(&id).await.is_empty(),
            "{name} starts empty"
        );
    }
    let admin = s
        .get(&format!("/api/v1/members/{}", s.admin), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(admin.body["email"], "admin@acme.test");
    assert_eq!(admin.body["type"], "team_member");
    assert_eq!(admin.body["state"], "active");
}

async fn workspace_endpoint_names_the_token(db: TestDb) {
    let s = Server::start(db).await;
    let ws = s.get("/api/v1/workspace", &s.admin_token).await.expect(200);
    assert_eq!(ws.body["id"], Value::String(s.workspace.clone()));
    assert_eq!(ws.body["name"], "Acme");
    assert_eq!(ws.body["me"], Value::String(s.admin.clone()));
    assert!(ws.body["revision"].as_i64().unwrap() >= 1);
    let health = s.call(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status.as_u16(), 200);
    let openapi = s
        .call(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(openapi.status.as_u16(), 200);
    assert!(openapi.body["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/members",
        "/api/v1/groups/{id}/members",
        "/api/v1/properties",
        "/api/v1/tokens",
        "/api/v1/audit",
    ] {
        assert!(
            openapi.body["paths"].get(path).is_some(),
            "OpenAPI documents {path}"
        );
    }
}
