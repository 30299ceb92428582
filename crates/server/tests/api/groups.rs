//! Groups and every membership rule of SPEC §2.

use serde_json::json;

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    admins_manage_custom_groups_and_owner_defaults_to_creator,
    group_names_are_unique_case_insensitively,
    default_groups_cannot_be_renamed_or_deleted,
    group_members_add_and_remove_others,
    owner_cannot_be_removed_until_changed,
    only_admins_touch_admins_and_last_admin_stays,
    maintained_and_dynamic_groups_refuse_hand_edits,
    kinds_never_mix,
    customer_admins_add_customers_of_their_own_account,
    etags_and_if_match,
    deleting_a_group_removes_its_memberships,
);

async fn admins_manage_custom_groups_and_owner_defaults_to_creator(db: TestDb) {
    let s = Server::start(db).await;
    let created = s
        .post(
            "/api/v1/groups",
            &s.admin_token,
            json!({"name": "Engineering", "description": "Builders"}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["owner"], s.admin.as_str());
    assert_eq!(created.body["default"], false);
    assert_eq!(created.body["membership"], "static");
    assert_eq!(created.body["managed_by"], "roster");
    let id = created.id();
    assert_eq!(
        s.effective_members(&id).await,
        vec![s.admin.clone()],
        "the owner is a member"
    );
    let (nia, nia_token) = s.user("nia@acme.test").await;
    s.post("/api/v1/groups", &nia_token, json!({"name": "Mine"}))
        .await
        .expect(403);
    s.add(&id, &nia, &s.admin_token).await.expect(201);
    s.patch(
        &format!("/api/v1/groups/{id}"),
        &nia_token,
        json!({"name": "Eng"}),
    )
    .await
    .expect(403);
    s.delete(&format!("/api/v1/groups/{id}"), &nia_token)
        .await
        .expect(403);
    let renamed = s
        .patch(
            &format!("/api/v1/groups/{id}"),
            &s.admin_token,
            json!({"name": "Eng", "owner": nia}),
        )
        .await
        .expect(200);
    assert_eq!(renamed.body["name"], "Eng");
    assert_eq!(renamed.body["owner"], nia.as_str());
    let customers = s
        .post(
            "/api/v1/groups",
            &s.admin_token,
            json!({"name": "VIP", "member_kind": "customer"}),
        )
        .await
        .expect(201);
    assert_eq!(
        customers.body["owner"],
        serde_json::Value::Null,
        "customer groups have no owner"
    );
    s.post(
        "/api/v1/groups",
        &s.admin_token,
        json!({"name": "Rules", "membership": "dynamic", "rule": "x = 1"}),
    )
    .await
    .expect(422);
    let (cust, _) = s.customer("c@globex.test", "Globex").await;
    s.post(
        "/api/v1/groups",
        &s.admin_token,
        json!({"name": "Bad owner", "owner": cust}),
    )
    .await
    .expect(422);
}

async fn group_names_are_unique_case_insensitively(db: TestDb) {
    let s = Server::start(db).await;
    s.group("Design").await;
    s.post("/api/v1/groups", &s.admin_token, json!({"name": "design"}))
        .await
        .expect(409);
    s.post("/api/v1/groups", &s.admin_token, json!({"name": "ADMINS"}))
        .await
        .expect(409);
    let other = s.group("Research").await;
    s.patch(
        &format!("/api/v1/groups/{other}"),
        &s.admin_token,
        json!({"name": "DESIGN"}),
    )
    .await
    .expect(409);
    s.post("/api/v1/groups", &s.admin_token, json!({"name": ""}))
        .await
        .expect(422);
}

async fn default_groups_cannot_be_renamed_or_deleted(db: TestDb) {
    let s = Server::start(db).await;
    for name in ["Admins", "All Users", "Support", "Verified Customers"] {
        let id = s.group_named(name).await;
        let rename = s
            .patch(
                &format!("/api/v1/groups/{id}"),
                &s.admin_token,
                json!({"name": "Other"}),
            )
            .await
            .expect(409);
        assert!(rename.body["detail"]
            .as_str()
            .unwrap()
            .contains("only custom groups can be updated"));
        s.delete(&format!("/api/v1/groups/{id}"), &s.admin_token)
            .await
            .expect(409);
    }
}

async fn group_members_add_and_remove_others(db: TestDb) {
    let s = Server::start(db).await;
    let team = s.group("Team").await;
    let (ola, ola_token) = s.user("ola@acme.test").await;
    let (pat, pat_token) = s.user("pat@acme.test").await;
    let (quin, _) = s.user("quin@acme.test").await;
    let refused = s.add(&team, &quin, &pat_token).await.expect(403);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("own members"));
    s.add(&team, &ola, &s.admin_token).await.expect(201);
    let again = s.add(&team, &ola, &s.admin_token).await.expect(200);
    assert_eq!(again.body["source"], "manual");
    s.add(&team, &pat, &ola_token).await.expect(201);
    s.add(&team, &quin, &pat_token).await.expect(201);
    s.remove(&team, &ola, &quin_token_of(&s, &quin).await)
        .await
        .expect(200);
    let members = s.effective_members(&team).await;
    assert!(!members.contains(&ola) && members.contains(&pat) && members.contains(&quin));
    s.remove(&team, &ola, &s.admin_token).await.expect(404);
    // Default static groups follow the same rule: Support's members add others.
    let support = s.group_named("Support").await;
    s.add(&support, &pat, &ola_token).await.expect(403);
    s.add(&support, &ola, &s.admin_token).await.expect(201);
    s.add(&support, &pat, &ola_token).await.expect(201);
    // A member of Platform Users (every team member) may add to it.
    let platform = s.group_named("Platform Users").await;
    s.remove(&platform, &quin, &ola_token).await.expect(200);
    s.add(&platform, &quin, &ola_token).await.expect(201);
}

async fn quin_token_of(s: &Server, quin: &str) -> String {
    s.token_for(quin).await
}

async fn owner_cannot_be_removed_until_changed(db: TestDb) {
    let s = Server::start(db).await;
    let (rae, _) = s.user("rae@acme.test").await;
    let group = s
        .post(
            "/api/v1/groups",
            &s.admin_token,
            json!({"name": "Owned", "owner": rae}),
        )
        .await
        .expect(201)
        .id();
    assert!(s.effective_members(&group).await.contains(&rae));
    let refused = s.remove(&group, &rae, &s.admin_token).await.expect(409);
    assert!(refused.body["detail"].as_str().unwrap().contains("owner"));
    s.patch(
        &format!("/api/v1/groups/{group}"),
        &s.admin_token,
        json!({"owner": s.admin}),
    )
    .await
    .expect(200);
    s.remove(&group, &rae, &s.admin_token).await.expect(200);
    s.patch(
        &format!("/api/v1/groups/{group}"),
        &s.admin_token,
        json!({"owner": null}),
    )
    .await
    .expect(422);
}

async fn only_admins_touch_admins_and_last_admin_stays(db: TestDb) {
    let s = Server::start(db).await;
    let admins = s.group_named("Admins").await;
    let (sam, sam_token) = s.user("sam@acme.test").await;
    let (tia, _) = s.user("tia@acme.test").await;
    s.add(&admins, &tia, &sam_token).await.expect(403);
    let last = s
        .remove(&admins, &s.admin, &s.admin_token)
        .await
        .expect(409);
    assert!(last.body["detail"]
        .as_str()
        .unwrap()
        .contains("last active admin"));
    s.patch(
        &format!("/api/v1/members/{}", s.admin),
        &s.admin_token,
        json!({"state": "deactivated"}),
    )
    .await
    .expect(409);
    s.add(&admins, &sam, &s.admin_token).await.expect(201);
    // Sam is an admin now and may do admin things.
    s.post("/api/v1/groups", &sam_token, json!({"name": "Sam's"}))
        .await
        .expect(201);
    s.patch(
        &format!("/api/v1/members/{}", s.admin),
        &sam_token,
        json!({"state": "deactivated"}),
    )
    .await
    .expect(200);
    s.remove(&admins, &sam, &sam_token).await.expect(409);
    s.patch(
        &format!("/api/v1/members/{sam}"),
        &sam_token,
        json!({"state": "deactivated"}),
    )
    .await
    .expect(409);
    // The deactivated first admin no longer counts: its token is refused.
    s.get("/api/v1/groups", &s.admin_token).await.expect(401);
}

async fn maintained_and_dynamic_groups_refuse_hand_edits(db: TestDb) {
    let s = Server::start(db).await;
    let (uma, _) = s.user("uma@acme.test").await;
    let (cas, _) = s.customer("cas@globex.test", "Globex").await;
    let all = s.group_named("All Users").await;
    let refused = s.add(&all, &uma, &s.admin_token).await.expect(409);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("maintained"));
    s.remove(&all, &uma, &s.admin_token).await.expect(409);
    s.add(&s.group_named("Customers").await, &cas, &s.admin_token)
        .await
        .expect(409);
    let dynamic = s
        .add(
            &s.group_named("Verified Customers").await,
            &cas,
            &s.admin_token,
        )
        .await
        .expect(409);
    assert!(dynamic.body["detail"].as_str().unwrap().contains("dynamic"));
}

async fn kinds_never_mix(db: TestDb) {
    let s = Server::start(db).await;
    let (vic, _) = s.user("vic@acme.test").await;
    let (cid, _) = s.customer("cid@globex.test", "Globex").await;
    let team = s.group("Team").await;
    s.add(&team, &cid, &s.admin_token).await.expect(422);
    s.add(
        &s.group_named("Customer Admins").await,
        &vic,
        &s.admin_token,
    )
    .await
    .expect(422);
    let vip = s
        .post(
            "/api/v1/groups",
            &s.admin_token,
            json!({"name": "VIP", "member_kind": "customer"}),
        )
        .await
        .expect(201)
        .id();
    s.add(&vip, &vic, &s.admin_token).await.expect(422);
    s.add(&vip, &cid, &s.admin_token).await.expect(201);
}

async fn customer_admins_add_customers_of_their_own_account(db: TestDb) {
    let s = Server::start(db).await;
    let admins = s.group_named("Customer Admins").await;
    let (ana, ana_token) = s.customer("ana@globex.test", "Globex").await;
    let (ben, _) = s.customer("ben@globex.test", "Globex").await;
    let (cy, cy_token) = s.customer("cy@initech.test", "Initech").await;
    s.add(&admins, &ben, &ana_token).await.expect(403);
    s.add(&admins, &ana, &s.admin_token).await.expect(201);
    s.add(&admins, &ben, &ana_token).await.expect(201);
    let other = s.add(&admins, &cy, &ana_token).await.expect(403);
    assert!(other.body["detail"]
        .as_str()
        .unwrap()
        .contains("same account"));
    s.add(&admins, &cy, &cy_token).await.expect(403);
    s.remove(&admins, &ben, &ana_token).await.expect(200);
}

async fn etags_and_if_match(db: TestDb) {
    let s = Server::start(db).await;
    let id = s.group("Versioned").await;
    let read = s
        .get(&format!("/api/v1/groups/{id}"), &s.admin_token)
        .await
        .expect(200);
    let etag = read
        .headers
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(etag, "\"1\"");
    let url = format!("{}/api/v1/groups/{id}", s.base);
    let ok = s
        .client
        .patch(&url)
        .bearer_auth(&s.admin_token)
        .header("if-match", &etag)
        .json(&json!({"description": "v2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        ok.headers().get("etag").unwrap(),
        "\"2\"",
        "the version changes on every update"
    );
    let stale = s
        .client
        .patch(&url)
        .bearer_auth(&s.admin_token)
        .header("if-match", &etag)
        .json(&json!({"description": "v3"}))
        .send()
        .await
        .unwrap();
    Server::answer(stale).await.expect(412);
    let stale_delete = s
        .client
        .delete(&url)
        .bearer_auth(&s.admin_token)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    Server::answer(stale_delete).await.expect(412);
}

async fn deleting_a_group_removes_its_memberships(db: TestDb) {
    let s = Server::start(db).await;
    let (wes, _) = s.user("wes@acme.test").await;
    let id = s.group("Temporary").await;
    s.add(&id, &wes, &s.admin_token).await.expect(201);
    s.delete(&format!("/api/v1/groups/{id}"), &s.admin_token)
        .await
        .expect(200);
    s.get(&format!("/api/v1/groups/{id}"), &s.admin_token)
        .await
        .expect(404);
    s.get(&format!("/api/v1/groups/{id}/members"), &s.admin_token)
        .await
        .expect(404);
    // The name is free again.
    s.group("Temporary").await;
}
