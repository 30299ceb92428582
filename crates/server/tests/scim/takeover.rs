//! The chain from a SCIM token to someone's credential, refused at each link: SCIM never
//! claims an existing member by email, never writes to an admin no admin linked, every
//! re-addressing is audited, and an invitation never yields a token for a member that
//! exists.

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{fails, ok, Scim, PATCH_OP, USER};
use crate::conformance::urlencode;
use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    scim_never_claims_an_existing_member_by_email,
    scim_never_writes_to_an_admin_no_admin_linked,
    linking_is_for_admins_and_audited,
    a_re_addressed_member_never_gets_an_invitation_token,
);

fn user_body(user_name: &str, email: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "emails": [{"value": email, "type": "work", "primary": true}],
        "active": true,
    })
}

async fn member(s: &Server, id: &str) -> Value {
    s.get(&format!("/api/v1/members/{id}"), &s.admin_token)
        .await
        .expect(200)
        .body
}

async fn audit_actions(s: &Server, target: &str) -> Vec<Value> {
    let audit = s
        .get("/api/v1/audit?limit=1000", &s.admin_token)
        .await
        .expect(200);
    audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == target)
        .cloned()
        .collect()
}

async fn scim_never_claims_an_existing_member_by_email(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let (hand_made, _) = s.user("hand@acme.test").await;
    let admin_before = member(&s, &s.admin).await;
    for (email, id) in [
        ("admin@acme.test", s.admin.clone()),
        ("hand@acme.test", hand_made.clone()),
        // Case and Unicode look-alikes of the same address find the same member.
        ("ADMIN@acme.test", s.admin.clone()),
        ("\u{ff41}dmin@acme.test", s.admin.clone()),
    ] {
        let refused = fails(
            scim.post("/Users", user_body("attacker", email)).await,
            409,
            Some("uniqueness"),
        );
        let detail = refused.body["detail"].as_str().unwrap();
        assert!(
            detail.contains("POST /api/v1/scim/links") && detail.contains(&id),
            "the refusal says how an admin links the member: {detail}"
        );
    }
    assert_eq!(
        member(&s, &s.admin).await,
        admin_before,
        "the admin is untouched"
    );
    let listed = ok(scim.get("/Users").await, 200);
    assert_eq!(
        listed.body["totalResults"],
        json!(0),
        "nothing was provisioned"
    );
}

async fn scim_never_writes_to_an_admin_no_admin_linked(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let id = ok(
        scim.post("/Users", user_body("grace", "grace@acme.test"))
            .await,
        201,
    )
    .id();
    // An admin makes the provisioned member an admin.
    let admins = s.group_named("Admins").await;
    s.add(&admins, &id, &s.admin_token).await.expect(201);
    let before = member(&s, &id).await;

    let patch = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "evil@attacker.test"}
    ]});
    let deactivate = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "active", "value": false}
    ]});
    for refused in [
        scim.patch(&format!("/Users/{id}"), patch.clone()).await,
        scim.patch(&format!("/Users/{id}"), deactivate.clone())
            .await,
        scim.put(
            &format!("/Users/{id}"),
            user_body("grace", "evil@attacker.test"),
        )
        .await,
        scim.delete(&format!("/Users/{id}")).await,
    ] {
        let refused = fails(refused, 403, None);
        assert!(refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("/api/v1/scim/links"));
    }
    assert_eq!(member(&s, &id).await, before, "nothing changed");
    // It is still readable.
    ok(scim.get(&format!("/Users/{id}")).await, 200);

    // Deactivated by an admin, it is still an admin's account: the identity provider
    // may not reactivate or re-address it (that would revive its tokens as an admin).
    let token = s.token_for(&id).await;
    s.patch(
        &format!("/api/v1/members/{id}"),
        &s.admin_token,
        json!({"state": "deactivated"}),
    )
    .await
    .expect(200);
    s.get("/api/v1/workspace", &token).await.expect(401);
    let revive = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "active", "value": true},
        {"op": "replace", "path": "emails", "value": [{"value": "evil@attacker.test", "primary": true}]}
    ]});
    for refused in [
        scim.patch(&format!("/Users/{id}"), revive.clone()).await,
        scim.put(
            &format!("/Users/{id}"),
            user_body("grace", "evil@attacker.test"),
        )
        .await,
    ] {
        fails(refused, 403, None);
    }
    s.get("/api/v1/workspace", &token).await.expect(401);
    assert_eq!(member(&s, &id).await["state"], json!("deactivated"));
    s.patch(
        &format!("/api/v1/members/{id}"),
        &s.admin_token,
        json!({"state": "active"}),
    )
    .await
    .expect(200);
    let back = member(&s, &id).await;
    assert_eq!(
        (&back["email"], &back["state"]),
        (&before["email"], &json!("active")),
        "its address is its own again"
    );

    // Linked by an admin, the identity provider manages it again; the re-addressing is
    // audited with both addresses.
    let link = s
        .post(
            "/api/v1/scim/links",
            &s.admin_token,
            json!({"member_id": id}),
        )
        .await
        .expect(201);
    assert_eq!(link.body["linked_by"], json!(s.admin));
    ok(
        scim.patch(&format!("/Users/{id}"), patch.clone()).await,
        200,
    );
    assert_eq!(member(&s, &id).await["email"], json!("evil@attacker.test"));
    let entries = audit_actions(&s, &id).await;
    let change = entries
        .iter()
        .find(|e| e["action"] == "member.email_change")
        .expect("an email change entry");
    assert_eq!(change["before"], json!({"email": "grace@acme.test"}));
    assert_eq!(change["after"], json!({"email": "evil@attacker.test"}));
    assert!(entries.iter().any(|e| e["action"] == "scim.link"));

    // Unlinked, it is refused again.
    s.delete(&format!("/api/v1/scim/links/{id}"), &s.admin_token)
        .await
        .expect(200);
    fails(
        scim.patch(&format!("/Users/{id}"), deactivate).await,
        403,
        None,
    );
    assert!(audit_actions(&s, &id)
        .await
        .iter()
        .any(|e| e["action"] == "scim.unlink"));
}

async fn linking_is_for_admins_and_audited(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let (plain, plain_token) = s.user("plain@acme.test").await;
    // Only admins link, and only team members of this workspace.
    s.post(
        "/api/v1/scim/links",
        &plain_token,
        json!({"member_id": plain}),
    )
    .await
    .expect(403);
    s.post(
        "/api/v1/scim/links",
        &s.admin_token,
        json!({"member_id": "0190a1b2-0000-7000-8000-000000000000"}),
    )
    .await
    .expect(404);
    let agent = s
        .post(
            "/api/v1/members",
            &s.admin_token,
            json!({"kind": "user", "type": "agent", "display_name": "Bot"}),
        )
        .await
        .expect(201)
        .id();
    s.post(
        "/api/v1/scim/links",
        &s.admin_token,
        json!({"member_id": agent}),
    )
    .await
    .expect(422);
    s.get("/api/v1/scim/links", &plain_token).await.expect(403);

    // A linked member is a provisioned user, found by its userName.
    s.post(
        "/api/v1/scim/links",
        &s.admin_token,
        json!({"member_id": plain, "user_name": "plain", "external_id": "okta-1"}),
    )
    .await
    .expect(201);
    let found = ok(
        scim.get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"plain\"")
        ))
        .await,
        200,
    );
    assert_eq!(found.body["Resources"][0]["id"], json!(plain));
    assert_eq!(found.body["Resources"][0]["externalId"], json!("okta-1"));
    let links = s
        .get("/api/v1/scim/links", &s.admin_token)
        .await
        .expect(200);
    assert_eq!(links.body[0]["member_id"], json!(plain));
    assert_eq!(links.body[0]["user_name"], json!("plain"));
    // Linking again changes nothing; the userName of another user is refused.
    let (other, _) = s.user("other@acme.test").await;
    s.post(
        "/api/v1/scim/links",
        &s.admin_token,
        json!({"member_id": other, "user_name": "PLAIN"}),
    )
    .await
    .expect(409);
    let audit = audit_actions(&s, &plain).await;
    let link = audit.iter().find(|e| e["action"] == "scim.link").unwrap();
    assert_eq!(link["actor"], json!({"type": "member", "id": s.admin}));
    s.call(
        Method::DELETE,
        "/api/v1/scim/links/not-an-id",
        Some(&s.admin_token),
        None,
    )
    .await
    .expect(404);
}

async fn a_re_addressed_member_never_gets_an_invitation_token(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    // Someone who may invite sends an invitation to an address nobody holds yet.
    let invited = s
        .post(
            "/api/v1/invitations",
            &s.admin_token,
            json!({"emails": ["new.hire@acme.test"]}),
        )
        .await
        .expect(201);
    let link = invited.body["results"][0]["link"].as_str().unwrap();
    let secret = link.split("token=").nth(1).unwrap().to_owned();

    // The SCIM token cannot move the admin onto that address…
    let admins_user = fails(
        scim.post("/Users", user_body("boss", "admin@acme.test"))
            .await,
        409,
        Some("uniqueness"),
    );
    assert!(admins_user.body["detail"].as_str().is_some());
    // …and a member it re-addresses there gets nothing from the invitation.
    let puppet = ok(
        scim.post("/Users", user_body("puppet", "puppet@acme.test"))
            .await,
        201,
    )
    .id();
    ok(
        scim.patch(
            &format!("/Users/{puppet}"),
            json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new.hire@acme.test"}
            ]}),
        )
        .await,
        200,
    );
    let refused = s
        .call(
            Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(json!({"token": secret})),
        )
        .await
        .expect(409);
    assert!(refused.body.get("token").is_none());
    // The re-addressing is on the record with both addresses.
    let entries = audit_actions(&s, &puppet).await;
    let change = entries
        .iter()
        .find(|e| e["action"] == "member.email_change")
        .unwrap();
    assert_eq!(change["before"]["email"], json!("puppet@acme.test"));
    assert_eq!(change["after"]["email"], json!("new.hire@acme.test"));
    // The invitation is still pending: the invitee, once the address is free again, can
    // still accept it and gets a member of its own.
    ok(
        scim.patch(
            &format!("/Users/{puppet}"),
            json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "puppet@acme.test"}
            ]}),
        )
        .await,
        200,
    );
    let accepted = s
        .call(
            Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(json!({"token": secret, "display_name": "New Hire"})),
        )
        .await
        .expect(201);
    assert_ne!(accepted.body["member"]["id"], json!(puppet));
    assert_ne!(accepted.body["member"]["id"], json!(s.admin));
}
