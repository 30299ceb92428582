//! What Okta and Microsoft Entra ID send, as they send it (from their SCIM provisioning
//! documentation), each accepted without special settings.

use serde_json::json;

use crate::client::{fails, ids, ok, Scim, ENTERPRISE, GROUP, PATCH_OP, USER};
use crate::conformance::urlencode;
use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    okta_creates_looks_up_and_deactivates_users,
    okta_manages_groups,
    entra_provisions_users_with_its_patch_habits,
    entra_adds_and_removes_members_in_one_request,
);

async fn okta_creates_looks_up_and_deactivates_users(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    // Okta first looks the user up by userName.
    let lookup = format!(
        "/Users?filter={}&startIndex=1&count=100",
        urlencode("userName eq \"okta@acme.test\"")
    );
    assert_eq!(
        ok(scim.get(&lookup).await, 200).body["totalResults"],
        json!(0)
    );
    // Then creates it with a password, empty groups and roles, and extra schemas.
    let created = ok(
        scim.post(
            "/Users",
            json!({
                "schemas": [USER, "urn:okta:custom:schema:1.0"],
                "userName": "okta@acme.test",
                "name": {"givenName": "Okta", "familyName": "User"},
                "emails": [{"primary": true, "value": "okta@acme.test", "type": "work"}],
                "displayName": "Okta User",
                "locale": "en-US",
                "externalId": "00u1okta",
                "groups": [],
                "roles": [],
                "password": "tlpWENT2m",
                "active": true,
                "meta": {"resourceType": "User", "created": "2020-01-01T00:00:00Z"},
                "urn:okta:custom:schema:1.0": {"anything": 1}
            }),
        )
        .await,
        201,
    );
    let id = created.id();
    assert!(
        created.body.get("password").is_none(),
        "never returned, never kept"
    );
    assert_ne!(
        created.body["meta"]["created"],
        json!("2020-01-01T00:00:00Z"),
        "client meta is ignored"
    );
    assert_eq!(ids(&ok(scim.get(&lookup).await, 200)), vec![id.clone()]);
    // Deactivation by PATCH without path; 200 with the resource.
    let patched = ok(
        scim.patch(
            &format!("/Users/{id}"),
            json!({"schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"active": false}}]}),
        )
        .await,
        200,
    );
    assert_eq!(patched.body["active"], json!(false));
    assert_eq!(patched.body["id"], json!(id));
    // Still readable while inactive, by id and by filter.
    assert_eq!(
        ok(scim.get(&format!("/Users/{id}")).await, 200).body["active"],
        json!(false)
    );
    assert_eq!(ids(&ok(scim.get(&lookup).await, 200)), vec![id.clone()]);
    let member = s
        .get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(member.body["state"], json!("deactivated"));
    // A full PUT that carries read-only id, meta and groups reactivates.
    let mut whole = ok(scim.get(&format!("/Users/{id}")).await, 200).body;
    whole["active"] = json!(true);
    whole["groups"] = json!([{"value": "whatever"}]);
    whole["name"]["$ref"] = json!(null);
    let put = ok(scim.put(&format!("/Users/{id}"), whole).await, 200);
    assert_eq!(put.body["active"], json!(true));
    let member = s
        .get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(member.body["state"], json!("active"));
    // Deactivation by PUT with `active: false`.
    let mut whole = put.body.clone();
    whole["active"] = json!(false);
    assert_eq!(
        ok(scim.put(&format!("/Users/{id}"), whole).await, 200).body["active"],
        json!(false)
    );
}

async fn okta_manages_groups(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let a = scim.user("a@acme.test").await;
    let b = scim.user("b@acme.test").await;
    let group = ok(
        scim.post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Okta Group", "members": []}),
        )
        .await,
        201,
    )
    .id();
    // Okta looks groups up by displayName without their members.
    let found = ok(
        scim.get(&format!(
            "/Groups?filter={}&excludedAttributes=members",
            urlencode("displayName eq \"okta group\"")
        ))
        .await,
        200,
    );
    assert_eq!(ids(&found), vec![group.clone()]);
    assert!(found.body["Resources"][0].get("members").is_none());
    // Adds members with display names, removes one by value filter.
    ok(
        scim.patch(&format!("/Groups/{group}"), json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": a, "display": "a@acme.test"}, {"value": b, "display": "b@acme.test"}]}]}))
            .await,
        200,
    );
    ok(
        scim.patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{a}\"]")}]}),
        )
        .await,
        200,
    );
    assert_eq!(s.effective_members(&group).await, vec![b.clone()]);
    // Renames with a value object that repeats the id.
    let renamed = ok(
        scim.patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "value": {"id": group, "displayName": "Okta Renamed"}}]}),
        )
        .await,
        200,
    );
    assert_eq!(renamed.body["displayName"], json!("Okta Renamed"));
    assert_eq!(s.effective_members(&group).await, vec![b]);
}

async fn entra_provisions_users_with_its_patch_habits(db: TestDb) {
    let s = Server::start(db).await;
    s.user_properties(&[("department", "text")]).await;
    let scim = Scim::new(&s).await;
    // Entra ID probes with a random filter first.
    let probe = format!(
        "/Users?filter={}",
        urlencode("userName eq \"non-existent user 7f3a\"")
    );
    assert_eq!(
        ok(scim.get(&probe).await, 200).body["totalResults"],
        json!(0)
    );
    let created = ok(
        scim.post("/Users", json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "userName": "Test_User_ab6490ee@acme.test",
            "active": true,
            "displayName": "Test User",
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@acme.test"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
            "roles": [],
            ENTERPRISE: {"department": "Sales", "manager": {"value": "", "$ref": null}},
            "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {"tag": "x"}
        }))
        .await,
        201,
    );
    let id = created.id();
    let path = format!("/Users/{id}");
    // Look-ups by externalId and by the work email's value path.
    let by_external = format!(
        "/Users?filter={}",
        urlencode("externalId eq \"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\"")
    );
    assert_eq!(
        ids(&ok(scim.get(&by_external).await, 200)),
        vec![id.clone()]
    );
    let by_email = format!(
        "/Users?filter={}",
        urlencode("emails[type eq \"work\"].value eq \"test_user_fd0ea19b@acme.test\"")
    );
    assert_eq!(ids(&ok(scim.get(&by_email).await, 200)), vec![id.clone()]);
    // Capitalised operations, "True"/"False" strings, Add meaning Replace, URN paths.
    let patched = ok(
        scim.patch(&path, json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": "displayName", "value": "Renamed"},
            {"op": "Add", "path": "nickName", "value": "First"},
            {"op": "Add", "path": "nickName", "value": "Second"},
            {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Engineering"},
            {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "home@home.test"},
            {"op": "Replace", "path": "emails[type eq \"work\"].primary", "value": "True"},
        ]}))
        .await,
        200,
    );
    assert_eq!(patched.body["displayName"], json!("Renamed"));
    assert_eq!(patched.body["nickName"], json!("Second"));
    assert_eq!(patched.body[ENTERPRISE]["department"], json!("Engineering"));
    let emails = patched.body["emails"].as_array().unwrap();
    assert_eq!(
        emails.len(),
        2,
        "the home email was created from the filter"
    );
    assert_eq!(emails[0]["primary"], json!(true), "\"True\" is a boolean");
    let member = s
        .get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(
        member.body["properties"]["department"],
        json!("Engineering")
    );
    assert_eq!(member.body["display_name"], json!("Renamed"));
    // No path, with dotted and URN-prefixed names and the unchanged id.
    let patched = ok(
        scim.patch(
            &path,
            json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "value": {
                "id": id,
                "name.givenName": "Given",
                "name.familyName": "Family",
                format!("{ENTERPRISE}:department"): "Support",
                "urn:ietf:params:scim:schemas:core:2.0:User:title": "Agent",
            }}]}),
        )
        .await,
        200,
    );
    assert_eq!(patched.body["name"]["givenName"], json!("Given"));
    assert_eq!(
        patched.body["name"]["formatted"],
        json!("Test User"),
        "other sub-attributes are kept"
    );
    assert_eq!(patched.body[ENTERPRISE]["department"], json!("Support"));
    assert_eq!(patched.body["title"], json!("Agent"));
    // Deactivation with a string boolean; readable while inactive.
    let off = ok(
        scim.patch(
            &path,
            json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .await,
        200,
    );
    assert_eq!(off.body["active"], json!(false));
    assert_eq!(ok(scim.get(&path).await, 200).body["active"], json!(false));
    // The same request again changes nothing and still answers 200.
    ok(
        scim.patch(
            &path,
            json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .await,
        200,
    );
    fails(
        scim.get("/Users/00000000-0000-0000-0000-000000000000")
            .await,
        404,
        None,
    );
}

async fn entra_adds_and_removes_members_in_one_request(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let a = scim.user("a@acme.test").await;
    let b = scim.user("b@acme.test").await;
    let c = scim.user("c@acme.test").await;
    let group = scim.group("Entra Group", &[&a, &b]).await;
    let by_name = format!(
        "/Groups?filter={}&excludedAttributes=members",
        urlencode("displayName eq \"Entra Group\"")
    );
    assert_eq!(ids(&ok(scim.get(&by_name).await, 200)), vec![group.clone()]);
    // Remove with a value list removes only those listed; Add in the same request.
    ok(
        scim.patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Remove", "path": "members", "value": [{"value": a}]},
                {"op": "Add", "path": "members", "value": [{"value": c}]},
            ]}),
        )
        .await,
        200,
    );
    let mut members = s.effective_members(&group).await;
    members.sort();
    let mut want = vec![b.clone(), c.clone()];
    want.sort();
    assert_eq!(members, want, "never emptied");
    // Adding a member already there changes nothing.
    ok(
        scim.patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Add", "path": "members", "value": [{"value": b}]}]}),
        )
        .await,
        200,
    );
    assert_eq!(s.effective_members(&group).await.len(), 2);
}
