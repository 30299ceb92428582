//! RFC 7644, section by section.

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{bulk_statuses, fails, ids, ok, Scim, ENTERPRISE, GROUP, PATCH_OP, USER};
use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    s2_only_scim_tokens_are_accepted,
    s4_discovery_tells_what_the_server_does,
    s3_users_are_created_read_replaced_and_deleted,
    s3_4_lists_filter_sort_page_and_project,
    s3_5_2_patch_adds_replaces_and_removes,
    s3_14_versions_guard_writes,
    s3_groups_are_static_groups_managed_by_scim,
    s3_7_bulk_resolves_bulk_ids_and_stops_on_errors,
    concurrent_writes_commit_together_and_usernames_stay_unique,
    s3_12_errors_use_the_scim_error_schema,
    provisioned_attributes_drive_dynamic_groups_and_access,
    a_provisioning_write_the_store_refuses_leaves_no_trace,
);

async fn s2_only_scim_tokens_are_accepted(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    // No token, an API token: 401 in SCIM's error schema.
    let none = s.call(Method::GET, "/scim/v2/Users", None, None).await;
    fails(none, 401, None);
    let api = s
        .call(Method::GET, "/scim/v2/Users", Some(&s.admin_token), None)
        .await;
    fails(api, 401, None);
    // A SCIM token on the Roster API: 401.
    let refused = s.get("/api/v1/groups", &scim.token).await;
    assert_eq!(refused.status.as_u16(), 401);
    ok(scim.get("/Users").await, 200);
    // Listed for admins without its secret, revoked at once.
    let listed = s
        .get("/api/v1/scim/tokens", &s.admin_token)
        .await
        .expect(200);
    assert_eq!(listed.body[0]["id"], json!(scim.token_id));
    assert!(listed.body[0].get("token").is_none());
    s.delete(
        &format!("/api/v1/scim/tokens/{}", scim.token_id),
        &s.admin_token,
    )
    .await
    .expect(200);
    fails(scim.get("/Users").await, 401, None);
    // Only admins make SCIM tokens.
    let (_, bob) = s.user("bob@acme.test").await;
    s.post("/api/v1/scim/tokens", &bob, json!({}))
        .await
        .expect(403);
}

async fn s4_discovery_tells_what_the_server_does(db: TestDb) {
    let s = Server::start(db).await;
    s.user_properties(&[("department", "text"), ("level", "number")])
        .await;
    let scim = Scim::new(&s).await;
    let config = ok(scim.get("/ServiceProviderConfig").await, 200).body;
    for feature in ["patch", "bulk", "filter", "sort", "etag"] {
        assert_eq!(config[feature]["supported"], json!(true), "{feature}");
    }
    assert_eq!(config["changePassword"]["supported"], json!(false));
    assert_eq!(config["bulk"]["maxOperations"], json!(1000));
    assert_eq!(config["filter"]["maxResults"], json!(1000));
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        json!("oauthbearertoken")
    );
    let types = ok(scim.get("/ResourceTypes").await, 200).body;
    assert_eq!(types["totalResults"], json!(2));
    let user = ok(scim.get("/ResourceTypes/User").await, 200).body;
    assert_eq!(user["endpoint"], json!("/Users"));
    assert_eq!(user["schemaExtensions"][0]["schema"], json!(ENTERPRISE));
    let schemas = ok(scim.get("/Schemas").await, 200).body;
    let names: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(names.contains(&USER) && names.contains(&GROUP) && names.contains(&ENTERPRISE));
    let roster = ok(
        scim.get("/Schemas/urn:ietf:params:scim:schemas:extension:roster:2.0:User")
            .await,
        200,
    )
    .body;
    let attrs = roster["attributes"].as_array().unwrap();
    let level = attrs.iter().find(|a| a["name"] == json!("level")).unwrap();
    assert_eq!(level["type"], json!("decimal"));
    let department = attrs
        .iter()
        .find(|a| a["name"] == json!("department"))
        .unwrap();
    assert_eq!(department["type"], json!("string"));
    let core = ok(scim.get(&format!("/Schemas/{USER}")).await, 200).body;
    let user_name = core["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == json!("userName"))
        .unwrap()
        .clone();
    assert_eq!(user_name["uniqueness"], json!("server"));
    assert_eq!(user_name["caseExact"], json!(false));
    // Read-only endpoints and /Me.
    fails(
        scim.post("/ServiceProviderConfig", json!({})).await,
        405,
        None,
    );
    fails(scim.put("/Schemas", json!({})).await, 405, None);
    fails(scim.get("/Me").await, 501, None);
}

async fn s3_users_are_created_read_replaced_and_deleted(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let created = ok(
        scim.post(
            "/Users",
            json!({
                "schemas": [USER],
                "userName": "Ada.Lovelace@Acme.test",
                "externalId": "00u1",
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "emails": [{"value": "ada@acme.test", "type": "work", "primary": true},
                           {"value": "ada@home.test", "type": "home"}],
                "phoneNumbers": [{"value": "+1 555", "type": "work"}],
            }),
        )
        .await,
        201,
    );
    let id = created.id();
    let location = created.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("{}/scim/v2/Users/{id}", s.base));
    assert_eq!(created.body["meta"]["location"], json!(location));
    assert_eq!(created.body["meta"]["resourceType"], json!("User"));
    assert!(created.body["meta"]["created"].is_string());
    assert!(created.body["meta"]["lastModified"].is_string());
    let etag = created.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(created.body["meta"]["version"], json!(etag));
    assert_eq!(
        created.body["userName"],
        json!("Ada.Lovelace@Acme.test"),
        "kept as given"
    );
    assert_eq!(created.body["active"], json!(true));
    assert_eq!(created.body["phoneNumbers"][0]["value"], json!("+1 555"));
    // The member: a team member with the primary email and the name, in the default groups.
    let member = s
        .get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(member.body["email"], json!("ada@acme.test"));
    assert_eq!(member.body["display_name"], json!("Ada Lovelace"));
    assert_eq!(member.body["type"], json!("team_member"));
    for group in ["All Users", "Platform Users"] {
        let members = s.effective_members(&s.group_named(group).await).await;
        assert!(members.contains(&id), "{group}");
    }
    // userName is unique case-insensitively.
    let taken = scim
        .post("/Users", json!({"schemas": [USER], "userName": "ada.lovelace@acme.TEST", "emails": [{"value": "x@acme.test"}]}))
        .await;
    fails(taken, 409, Some("uniqueness"));
    // Read.
    let read = ok(scim.get(&format!("/Users/{id}")).await, 200);
    assert_eq!(read.body["externalId"], json!("00u1"));
    assert_eq!(read.headers["etag"].to_str().unwrap(), etag);
    // Replace: what is not sent is gone.
    let replaced = ok(
        scim.put(
            &format!("/Users/{id}"),
            json!({"schemas": [USER], "userName": "Ada.Lovelace@Acme.test", "displayName": "Countess",
                   "emails": [{"value": "countess@acme.test", "primary": true}]}),
        )
        .await,
        200,
    );
    assert!(replaced.body.get("phoneNumbers").is_none());
    assert!(replaced.body.get("externalId").is_none());
    assert_ne!(replaced.headers["etag"].to_str().unwrap(), etag);
    let member = s
        .get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(member.body["email"], json!("countess@acme.test"));
    // Look-ups by email follow the replaced addresses.
    let by_email = |address: &str| {
        format!(
            "/Users?filter={}",
            urlencode(&format!("emails.value eq \"{address}\""))
        )
    };
    assert_eq!(
        ok(scim.get(&by_email("ada@acme.test")).await, 200).body["totalResults"],
        json!(0)
    );
    assert_eq!(
        ids(&ok(scim.get(&by_email("COUNTESS@acme.test")).await, 200)),
        vec![id.clone()]
    );
    assert_eq!(member.body["display_name"], json!("Countess"));
    // Delete: gone from SCIM, deactivated in Roster.
    let deleted = scim.delete(&format!("/Users/{id}")).await;
    assert_eq!(deleted.status.as_u16(), 204);
    fails(scim.get(&format!("/Users/{id}")).await, 404, None);
    fails(scim.delete(&format!("/Users/{id}")).await, 404, None);
    assert_eq!(
        ok(scim.get(&by_email("countess@acme.test")).await, 200).body["totalResults"],
        json!(0)
    );
    let member = s
        .get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(member.body["state"], json!("deactivated"));
    // The member stays in Roster; provisioning its address again does not claim it by
    // email: an admin links it, and the identity provider then finds it by userName.
    let again = scim
        .post("/Users", json!({"schemas": [USER], "userName": "ada2", "emails": [{"value": "countess@acme.test"}]}))
        .await;
    let refused = fails(again, 409, Some("uniqueness"));
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("POST /api/v1/scim/links"));
    s.post(
        "/api/v1/scim/links",
        &s.admin_token,
        json!({"member_id": id, "user_name": "ada2"}),
    )
    .await
    .expect(201);
    let found = ok(
        scim.get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"ada2\"")
        ))
        .await,
        200,
    );
    assert_eq!(ids(&found), vec![id.clone()]);
    let reactivated = scim
        .put(
            &format!("/Users/{id}"),
            json!({"schemas": [USER], "userName": "ada2", "emails": [{"value": "countess@acme.test"}], "active": true}),
        )
        .await;
    assert_eq!(ok(reactivated, 200).body["active"], json!(true));
}

async fn s3_4_lists_filter_sort_page_and_project(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let mut all = Vec::new();
    for name in [
        "carol@acme.test",
        "alice@acme.test",
        "dave@globex.test",
        "bob@acme.test",
        "erin@acme.test",
    ] {
        all.push(scim.user(name).await);
    }
    let list = ok(scim.get("/Users").await, 200).body;
    assert_eq!(
        list["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(list["totalResults"], json!(5));
    assert_eq!(list["startIndex"], json!(1));
    assert_eq!(list["itemsPerPage"], json!(5));
    let find = |filter: &str| {
        let filter = filter.to_owned();
        let scim = &scim;
        async move {
            let path = format!("/Users?filter={}", urlencode(&filter));
            ids(&ok(scim.get(&path).await, 200))
        }
    };
    assert_eq!(
        find("userName eq \"ALICE@acme.test\"").await,
        vec![all[1].clone()],
        "userName is case-insensitive"
    );
    assert_eq!(find("userName sw \"d\"").await, vec![all[2].clone()]);
    assert_eq!(
        find("userName ew \"globex.test\"").await,
        vec![all[2].clone()]
    );
    assert_eq!(find("userName co \"RO\"").await, vec![all[0].clone()]);
    assert_eq!(
        find("emails[type eq \"work\" and value co \"bob\"]").await,
        vec![all[3].clone()]
    );
    assert_eq!(
        find("emails.value eq \"erin@acme.test\"").await,
        vec![all[4].clone()]
    );
    assert_eq!(
        find("name.familyName eq \"carol@acme.test\"").await,
        vec![all[0].clone()]
    );
    assert_eq!(find("externalId pr").await.len(), 0);
    assert_eq!(
        find("userName pr and not (userName ew \"acme.test\")").await,
        vec![all[2].clone()]
    );
    assert_eq!(
        find("userName eq \"bob@acme.test\" or userName eq \"erin@acme.test\"")
            .await
            .len(),
        2
    );
    assert_eq!(find("meta.resourceType eq \"User\"").await.len(), 5);
    assert_eq!(
        find("meta.created gt \"2000-01-01T00:00:00Z\"").await.len(),
        5
    );
    // Sorting and paging.
    let sorted = ok(
        scim.get("/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=2")
            .await,
        200,
    );
    assert_eq!(sorted.body["totalResults"], json!(5));
    assert_eq!(sorted.body["startIndex"], json!(2));
    assert_eq!(
        ids(&sorted),
        vec![all[2].clone(), all[0].clone()],
        "erin | dave, carol | bob, alice"
    );
    let counted = ok(scim.get("/Users?count=0").await, 200).body;
    assert_eq!(counted["totalResults"], json!(5));
    assert_eq!(counted["Resources"], json!([]));
    let past = ok(scim.get("/Users?startIndex=10").await, 200).body;
    assert_eq!(past["Resources"], json!([]));
    // Projection.
    let only = ok(scim.get("/Users?attributes=userName&count=1").await, 200).body;
    let first = only["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, vec!["id", "schemas", "userName"]);
    let without = ok(
        scim.get(&format!(
            "/Users/{}?excludedAttributes=emails,name.givenName",
            all[0]
        ))
        .await,
        200,
    )
    .body;
    assert!(without.get("emails").is_none());
    assert!(
        without["name"].get("givenName").is_none() && without["name"]["familyName"].is_string()
    );
    assert!(without["id"].is_string(), "id is always returned");
    // POST /.search.
    let searched = ok(
        scim.post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": "userName sw \"a\"", "attributes": ["userName"], "startIndex": 1, "count": 10}),
        )
        .await,
        200,
    );
    assert_eq!(ids(&searched), vec![all[1].clone()]);
    // A malformed filter, an operator that does not fit.
    fails(
        scim.get(&format!("/Users?filter={}", urlencode("userName eq")))
            .await,
        400,
        Some("invalidFilter"),
    );
    fails(
        scim.get(&format!("/Users?filter={}", urlencode("active gt true")))
            .await,
        400,
        Some("invalidFilter"),
    );
}

async fn s3_5_2_patch_adds_replaces_and_removes(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let id = scim.user("pat@acme.test").await;
    let path = format!("/Users/{id}");
    let patched = ok(
        scim.patch(
            &path,
            json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "nickName", "value": "P"},
                {"op": "add", "path": "emails", "value": [{"value": "pat@home.test", "type": "home"}]},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "pat.work@acme.test"},
                {"op": "replace", "value": {"displayName": "Pat Q", "title": "Engineer"}},
                {"op": "remove", "path": "name.givenName"},
            ]}),
        )
        .await,
        200,
    );
    let body = &patched.body;
    assert_eq!(body["nickName"], json!("P"));
    assert_eq!(body["emails"].as_array().unwrap().len(), 2);
    assert_eq!(body["emails"][0]["value"], json!("pat.work@acme.test"));
    assert_eq!(body["displayName"], json!("Pat Q"));
    assert_eq!(body["title"], json!("Engineer"));
    assert!(body["name"].get("givenName").is_none());
    let member = s
        .get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(
        member.body["email"],
        json!("pat.work@acme.test"),
        "the primary email follows"
    );
    assert_eq!(member.body["display_name"], json!("Pat Q"));
    // Remove by value filter; deactivate.
    let patched = ok(
        scim.patch(
            &path,
            json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "remove", "path": "emails[type eq \"home\"]"},
                {"op": "replace", "path": "active", "value": false},
            ]}),
        )
        .await,
        200,
    );
    assert_eq!(patched.body["emails"].as_array().unwrap().len(), 1);
    assert_eq!(patched.body["active"], json!(false));
    let member = s
        .get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(member.body["state"], json!("deactivated"));
    // Errors: remove without path, a path to nothing, a bad op, no Operations.
    let bad = |ops: Value| scim.patch(&path, json!({"schemas": [PATCH_OP], "Operations": ops}));
    fails(bad(json!([{"op": "remove"}])).await, 400, Some("noTarget"));
    fails(
        bad(json!([{"op": "replace", "path": "nosuch", "value": 1}])).await,
        400,
        Some("invalidPath"),
    );
    fails(
        bad(json!([{"op": "replace", "path": "emails[type eq", "value": 1}])).await,
        400,
        Some("invalidPath"),
    );
    fails(
        bad(json!([{"op": "move", "path": "nickName"}])).await,
        400,
        Some("invalidSyntax"),
    );
    fails(bad(json!([{"op": "replace", "path": "emails[type eq \"fax\"]", "value": {"display": "x"}}])).await, 400, Some("noTarget"));
    fails(
        scim.patch(&path, json!({"schemas": [PATCH_OP]})).await,
        400,
        Some("invalidSyntax"),
    );
    // A failed PATCH changes nothing.
    let after = ok(scim.get(&path).await, 200);
    assert_eq!(after.body["nickName"], json!("P"));
}

async fn s3_14_versions_guard_writes(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let id = scim.user("eve@acme.test").await;
    let path = format!("/Users/{id}");
    let etag = ok(scim.get(&path).await, 200).headers["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(etag.starts_with("W/\""));
    let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "nickName", "value": "E"}]});
    let stale = scim
        .send(
            Method::PATCH,
            &path,
            Some(body.clone()),
            &[("if-match", "W/\"0-0\"")],
        )
        .await;
    fails(stale, 412, None);
    let fresh = ok(
        scim.send(Method::PATCH, &path, Some(body), &[("if-match", &etag)])
            .await,
        200,
    );
    let newer = fresh.headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(newer, etag);
    let put = json!({"schemas": [USER], "userName": "eve@acme.test"});
    fails(
        scim.send(
            Method::PUT,
            &path,
            Some(put.clone()),
            &[("if-match", &etag)],
        )
        .await,
        412,
        None,
    );
    ok(
        scim.send(Method::PUT, &path, Some(put), &[("if-match", &newer)])
            .await,
        200,
    );
    fails(
        scim.send(Method::DELETE, &path, None, &[("if-match", &etag)])
            .await,
        412,
        None,
    );
}

async fn s3_groups_are_static_groups_managed_by_scim(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let a = scim.user("a@acme.test").await;
    let b = scim.user("b@acme.test").await;
    let c = scim.user("c@acme.test").await;
    let created = ok(
        scim.post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Engineering", "externalId": "g1",
            "members": [{"value": a}, {"value": b}]}),
        )
        .await,
        201,
    );
    let group = created.id();
    assert_eq!(created.body["members"].as_array().unwrap().len(), 2);
    assert!(created.headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/Groups/{group}")));
    // In the Roster API: a static user group managed by SCIM, not edited by hand.
    let shown = s
        .get(&format!("/api/v1/groups/{group}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(shown.body["managed_by"], json!("scim"));
    assert_eq!(shown.body["membership"], json!("static"));
    assert_eq!(shown.body["member_kind"], json!("user"));
    s.add(&group, &c, &s.admin_token).await.expect(409);
    s.remove(&group, &a, &s.admin_token).await.expect(409);
    // Roles can be assigned, and grant to its members.
    let role = s.role("Tickets", &[("ticket", "read")]).await;
    s.put(
        &format!("/api/v1/groups/{group}/roles/{role}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    assert!(s.allowed(&s.admin_token, &a, "read", "ticket").await);
    assert!(!s.allowed(&s.admin_token, &c, "read", "ticket").await);
    // The user shows its groups.
    let user = ok(scim.get(&format!("/Users/{a}")).await, 200).body;
    assert_eq!(user["groups"][0]["value"], json!(group));
    assert_eq!(user["groups"][0]["display"], json!("Engineering"));
    // PATCH members: add one, remove one by value filter.
    ok(
        scim.patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": c}]},
                {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
            ]}),
        )
        .await,
        200,
    );
    let mut members = s.effective_members(&group).await;
    members.sort();
    let mut want = vec![b.clone(), c.clone()];
    want.sort();
    assert_eq!(members, want);
    assert!(
        !s.allowed(&s.admin_token, &a, "read", "ticket").await,
        "access follows before the response"
    );
    assert!(s.allowed(&s.admin_token, &c, "read", "ticket").await);
    // Only SCIM-managed groups are listed; a default group's id is not a SCIM group.
    let listed = ok(scim.get("/Groups").await, 200);
    assert_eq!(ids(&listed), vec![group.clone()]);
    let all_users = s.group_named("All Users").await;
    fails(scim.get(&format!("/Groups/{all_users}")).await, 404, None);
    // Names are unique with Roster's own groups.
    fails(
        scim.post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "admins"}),
        )
        .await,
        409,
        Some("uniqueness"),
    );
    // A member that is not a provisioned user.
    fails(
        scim.post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "X", "members": [{"value": s.admin}]}),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    // Replace renames and sets the whole list.
    let replaced = ok(
        scim.put(
            &format!("/Groups/{group}"),
            json!({"schemas": [GROUP], "displayName": "Eng", "members": [{"value": a}]}),
        )
        .await,
        200,
    );
    assert_eq!(replaced.body["displayName"], json!("Eng"));
    assert_eq!(s.effective_members(&group).await, vec![a.clone()]);
    // Delete.
    assert_eq!(
        scim.delete(&format!("/Groups/{group}"))
            .await
            .status
            .as_u16(),
        204
    );
    s.get(&format!("/api/v1/groups/{group}"), &s.admin_token)
        .await
        .expect(404);
    assert!(!s.allowed(&s.admin_token, &a, "read", "ticket").await);
}

async fn s3_7_bulk_resolves_bulk_ids_and_stops_on_errors(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let answer = ok(
        scim.post("/Bulk", json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "u1",
                 "data": {"schemas": [USER], "userName": "bulk1@acme.test"}},
                {"method": "POST", "path": "/Groups", "bulkId": "g1",
                 "data": {"schemas": [GROUP], "displayName": "Bulk", "members": [{"value": "bulkId:u1"}]}},
                {"method": "PATCH", "path": "/Users/bulkId:u1",
                 "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "nickName", "value": "B"}]}},
            ]}))
            .await,
        200,
    );
    let ops = answer.body["Operations"].as_array().unwrap();
    assert_eq!(
        answer.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );
    assert_eq!(
        ops.iter()
            .map(|o| o["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["201", "201", "200"]
    );
    let user = ops[0]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let group = ops[1]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(s.effective_members(&group).await, vec![user.clone()]);
    assert_eq!(
        ok(scim.get(&format!("/Users/{user}")).await, 200).body["nickName"],
        json!("B")
    );
    // failOnErrors: 1 stops after the first error.
    let answer = ok(
        scim.post("/Bulk", json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1,
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"schemas": [USER]}},
                {"method": "POST", "path": "/Users", "bulkId": "y", "data": {"schemas": [USER], "userName": "never@acme.test"}},
            ]}))
            .await,
        200,
    );
    let ops = answer.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["status"], json!("400"));
    assert_eq!(ops[0]["response"]["scimType"], json!("invalidValue"));
    let found = ok(
        scim.get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"never@acme.test\"")
        ))
        .await,
        200,
    );
    assert_eq!(found.body["totalResults"], json!(0));
    // Without failOnErrors, a failed operation leaves the others applied.
    let answer = ok(
        scim.post("/Bulk", json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "first@acme.test"}},
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "FIRST@acme.test"}},
                {"method": "PATCH", "path": "/Users/bulkId:nope", "data": {"Operations": [{"op": "remove", "path": "nickName"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"userName": "third@acme.test"}},
            ]}))
            .await,
        200,
    );
    let statuses = bulk_statuses(&answer);
    assert_eq!(statuses, vec!["201", "409", "409", "201"]);
    assert_eq!(
        answer.body["Operations"][1]["response"]["scimType"],
        json!("uniqueness")
    );
    for name in ["first@acme.test", "third@acme.test"] {
        let found = ok(
            scim.get(&format!(
                "/Users?filter={}",
                urlencode(&format!("userName eq \"{name}\""))
            ))
            .await,
            200,
        );
        assert_eq!(found.body["totalResults"], json!(1), "{name}");
    }
    // Too many operations.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
        .collect();
    fails(
        scim.post("/Bulk", json!({"Operations": many})).await,
        413,
        Some("tooMany"),
    );
}

async fn concurrent_writes_commit_together_and_usernames_stay_unique(db: TestDb) {
    let mut s = Server::start(db).await;
    let token = Scim::new(&s).await.token;
    // Writes that arrive together are committed together; each is still decided
    // against the ones before it, so a userName taken in the same batch is refused.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let name = if i < 4 {
            "same@acme.test".to_owned()
        } else {
            format!("user{i}@acme.test")
        };
        let request = s
            .client
            .post(format!("{}/scim/v2/Users", s.base))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(json!({"schemas": [USER], "userName": name}).to_string());
        tasks.push(tokio::spawn(async move {
            Server::answer(request.send().await.unwrap()).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let created = answers.iter().filter(|a| a.status.as_u16() == 201).count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.status.as_u16() == 409)
        .collect();
    assert_eq!(
        created, 21,
        "20 distinct users and one of the four with the same name"
    );
    assert_eq!(refused.len(), 3);
    assert!(refused
        .iter()
        .all(|a| a.body["scimType"] == json!("uniqueness")));
    let scim = Scim {
        s: &s,
        token: token.clone(),
        token_id: String::new(),
    };
    let listed = ok(scim.get("/Users?count=0").await, 200);
    assert_eq!(listed.body["totalResults"], json!(21));
    let all_users = s.effective_members(&s.group_named("All Users").await).await;
    assert_eq!(
        all_users.len(),
        22,
        "the admin and the 21 provisioned users"
    );
    // Every write's revision is in the change log, and a restart rebuilds the same.
    let changes = s
        .get("/api/v1/changes?after=0&limit=1000", &s.admin_token)
        .await
        .expect(200);
    assert!(changes.body["items"].as_array().unwrap().len() >= 42);
    let before = ok(scim.get("/Users?sortBy=userName").await, 200).body;
    drop(scim);
    s.restart(roster::mail::InviteSettings::default(), None)
        .await;
    let scim = Scim {
        s: &s,
        token,
        token_id: String::new(),
    };
    let mut after = ok(scim.get("/Users?sortBy=userName").await, 200).body;
    // Locations name the server's new port; everything else is what the store held.
    let mut before = before;
    for list in [&mut before, &mut after] {
        for r in list["Resources"].as_array_mut().unwrap() {
            r["meta"]["location"] = Value::Null;
        }
    }
    assert_eq!(
        before, after,
        "a restart rebuilds the SCIM resources from the store"
    );
}

async fn s3_12_errors_use_the_scim_error_schema(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let raw = s
        .client
        .post(format!("{}/scim/v2/Users", s.base))
        .bearer_auth(&scim.token)
        .header("content-type", "application/scim+json")
        .body("{\"userName\": ")
        .send()
        .await
        .unwrap();
    fails(Server::answer(raw).await, 400, Some("invalidSyntax"));
    let text = s
        .client
        .post(format!("{}/scim/v2/Users", s.base))
        .bearer_auth(&scim.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    fails(Server::answer(text).await, 415, None);
    // Plain JSON is accepted.
    let plain = s
        .client
        .post(format!("{}/scim/v2/Users", s.base))
        .bearer_auth(&scim.token)
        .json(&json!({"userName": "plain@acme.test"}))
        .send()
        .await
        .unwrap();
    ok(Server::answer(plain).await, 201);
    fails(
        scim.post(
            "/Users",
            json!({"schemas": [USER], "displayName": "No name"}),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    fails(
        scim.post(
            "/Users",
            json!({"schemas": [USER], "userName": "not-an-email"}),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    fails(
        scim.post(
            "/Users",
            json!({"schemas": [USER], "userName": "x@acme.test", "active": "maybe"}),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    fails(scim.get("/Users/not-an-id").await, 404, None);
    fails(
        scim.get("/Users/0190a1b2-0000-7000-8000-000000000000")
            .await,
        404,
        None,
    );
    fails(scim.get(&format!("/Users/{}", s.admin)).await, 404, None);
    fails(scim.get("/Nothing").await, 404, None);
    fails(
        scim.get("/Users?count=lots").await,
        400,
        Some("invalidValue"),
    );
    // The email of a customer is not taken over.
    s.customer("cust@globex.test", "Globex").await;
    fails(
        scim.post(
            "/Users",
            json!({"schemas": [USER], "userName": "cust@globex.test"}),
        )
        .await,
        409,
        Some("uniqueness"),
    );
}

async fn provisioned_attributes_drive_dynamic_groups_and_access(db: TestDb) {
    let s = Server::start(db).await;
    s.user_properties(&[
        ("department", "text"),
        ("cost_center", "text"),
        ("team", "text"),
    ])
    .await;
    let sales = s
        .post(
            "/api/v1/groups",
            &s.admin_token,
            json!({"name": "Sales", "member_kind": "user",
            "membership": "dynamic", "rule": "department = \"Sales\""}),
        )
        .await
        .expect(201)
        .id();
    let role = s.role("Opportunities", &[("opportunity", "update")]).await;
    s.put(
        &format!("/api/v1/groups/{sales}/roles/{role}"),
        &s.admin_token,
    )
    .await
    .expect(201);
    let scim = Scim::new(&s).await;
    let id = ok(
        scim.post(
            "/Users",
            json!({"schemas": [USER, ENTERPRISE], "userName": "sam@acme.test",
            ENTERPRISE: {"department": "Sales", "costCenter": "CC-1"}}),
        )
        .await,
        201,
    )
    .id();
    let member = s
        .get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(member.body["properties"]["department"], json!("Sales"));
    assert_eq!(member.body["properties"]["cost_center"], json!("CC-1"));
    assert_eq!(
        s.effective_members(&sales).await,
        vec![id.clone()],
        "before the response"
    );
    assert!(
        s.allowed(&s.admin_token, &id, "update", "opportunity")
            .await
    );
    ok(
        scim.patch(&format!("/Users/{id}"), json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Engineering"}]}))
            .await,
        200,
    );
    assert!(s.effective_members(&sales).await.is_empty());
    assert!(
        !s.allowed(&s.admin_token, &id, "update", "opportunity")
            .await
    );
    // Admins see and change the mapping: the department now fills `team`.
    let mapping = s
        .get("/api/v1/scim/mapping", &s.admin_token)
        .await
        .expect(200);
    let department = mapping.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["attribute"] == json!(format!("{ENTERPRISE}:department")))
        .unwrap()
        .clone();
    assert_eq!(department["property"], json!("department"));
    assert_eq!(department["source"], json!("default"));
    s.call(
        Method::PUT,
        "/api/v1/scim/mapping",
        Some(&s.admin_token),
        Some(json!({"overrides": {format!("{ENTERPRISE}:department"): "team"}})),
    )
    .await
    .expect(200);
    let bad = s
        .call(
            Method::PUT,
            "/api/v1/scim/mapping",
            Some(&s.admin_token),
            Some(json!({"overrides": {"title": "nope"}})),
        )
        .await;
    bad.expect(422);
    ok(
        scim.patch(
            &format!("/Users/{id}"),
            json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}]}),
        )
        .await,
        200,
    );
    let member = s
        .get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(member.body["properties"]["team"], json!("Sales"));
    assert!(member.body["properties"].get("department").is_none());
    assert!(s.effective_members(&sales).await.is_empty());
    // The audit log names the identity provider.
    let audit = s
        .get("/api/v1/audit?limit=200", &s.admin_token)
        .await
        .expect(200);
    let by_idp = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == json!("member.create"))
        .unwrap()
        .clone();
    assert_eq!(by_idp["actor"]["type"], json!("identity_provider"));
    assert_eq!(by_idp["actor"]["token"], json!(scim.token_id));
}

/// Percent-encodes a query value.
pub fn urlencode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SCIM writes are committed in batches (group commit), which the engine applies as
/// they are decided, before the commit ends. When the store refuses the commit, the
/// engine is rebuilt from the store: the refused user is nowhere, not in the SCIM
/// listing, not among the members, not in All Users, and no revision was spent.
async fn a_provisioning_write_the_store_refuses_leaves_no_trace(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let before = s.get("/api/v1/workspace", &s.admin_token).await.expect(200);
    let before = before.body["revision"].as_i64().unwrap();
    crate::support::refuse_writes_mentioning(&s.db, "poisoned").await;

    let refused = scim
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "poisoned@acme.test", "active": true}),
        )
        .await;
    assert_eq!(refused.status, 500, "{}", refused.body);
    let listed = ok(
        scim.get("/Users?filter=userName%20eq%20%22poisoned@acme.test%22")
            .await,
        200,
    );
    assert_eq!(listed.body["totalResults"], 0, "{}", listed.body);
    let members = s.get("/api/v1/members", &s.admin_token).await.expect(200);
    assert!(
        !members.body.to_string().contains("poisoned"),
        "the refused user is not a member: {}",
        members.body
    );
    let all_users = s.group_named("All Users").await;
    assert_eq!(
        s.effective_members(&all_users).await,
        vec![s.admin.clone()],
        "All Users did not take the refused user"
    );
    let workspace = s.get("/api/v1/workspace", &s.admin_token).await.expect(200);
    assert_eq!(workspace.body["revision"], before, "no revision was spent");

    let ann = scim.user("ann@acme.test").await;
    let workspace = s.get("/api/v1/workspace", &s.admin_token).await.expect(200);
    assert_eq!(workspace.body["revision"], before + 1);
    let mut all = s.effective_members(&all_users).await;
    all.sort();
    let mut expected = vec![s.admin.clone(), ann];
    expected.sort();
    assert_eq!(all, expected);
}
