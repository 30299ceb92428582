//! Invitations through HTTP: who may invite whom into what, accepting, revoking,
//! resending, expiry, the rate limit, and the audit and change logs they leave.

use std::collections::BTreeSet;

use reqwest::Method;
use roster::mail::InviteSettings;
use serde_json::{json, Value};

use crate::kit::{Answer, Server};
use crate::on_both_stores;
use crate::support::TestDb;

on_both_stores!(
    admin_invites_and_the_invitee_accepts_into_the_groups,
    who_may_invite_into_which_groups,
    invalid_input_refuses_the_whole_request,
    an_active_member_is_added_directly,
    revoking_and_resending_void_the_old_link,
    expired_invitations_cannot_be_accepted_but_can_be_resent,
    the_rate_limit_answers_429_with_retry_after,
    concurrent_accepts_add_the_invitee_once,
    accepting_refuses_an_address_taken_since_and_skips_groups_gone,
);

/// Invites as `token`.
async fn invite(s: &Server, token: &str, body: Value) -> Answer {
    s.post("/api/v1/invitations", token, body).await
}

/// The secret token in an accept link.
fn token_of(link: &str) -> String {
    link.split_once("token=")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_else(|| panic!("no token in link {link}"))
}

/// The id of the invitation of the `i`-th result of an invitation answer.
pub fn result_id(answer: &Answer, i: usize) -> String {
    answer.body["results"][i]["invitation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no invitation in {}", answer.body))
        .to_owned()
}

/// The token of the `i`-th result of an invitation answer.
fn result_token(answer: &Answer, i: usize) -> String {
    token_of(
        answer.body["results"][i]["link"]
            .as_str()
            .unwrap_or_else(|| panic!("no link in {}", answer.body)),
    )
}

/// Accepts without a bearer token.
async fn accept(s: &Server, token: &str, name: Option<&str>) -> Answer {
    let mut body = json!({ "token": token });
    if let Some(name) = name {
        body["display_name"] = json!(name);
    }
    s.call(Method::POST, "/api/v1/invitations/accept", None, Some(body))
        .await
}

/// The audit actions recorded so far, newest first.
async fn audit_actions(s: &Server) -> Vec<String> {
    let page = s
        .get("/api/v1/audit?limit=1000", &s.admin_token)
        .await
        .expect(200);
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn admin_invites_and_the_invitee_accepts_into_the_groups(db: TestDb) {
    let s = Server::start(db).await;
    let engineering = s.group("Engineering").await;
    let platform = s.group_named("Platform Users").await;
    let all_users = s.group_named("All Users").await;

    let answer = invite(
        &s,
        &s.admin_token,
        json!({"emails": ["Ada@Example.test"], "groups": [engineering]}),
    )
    .await
    .expect(201);
    let result = &answer.body["results"][0];
    assert_eq!(result["outcome"], "invited");
    assert_eq!(result["email"], "Ada@Example.test");
    let invitation = &result["invitation"];
    assert_eq!(invitation["state"], "pending");
    assert_eq!(invitation["groups"], json!([engineering]));
    assert_eq!(invitation["invited_by"], s.admin.as_str());
    assert_eq!(invitation["delivery"]["state"], "manual");
    assert!(
        invitation.get("token_hash").is_none(),
        "the hash is never shown"
    );
    let link = result["link"].as_str().unwrap();
    assert!(link.starts_with("http://127.0.0.1:8080/invitations/accept?token="));
    let secret = token_of(link);
    assert!(secret.len() >= 43, "at least 128 bits of secret: {secret}");
    let id = invitation["id"].as_str().unwrap().to_owned();
    let created = time::OffsetDateTime::parse(
        invitation["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        invitation["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        expires - created,
        time::Duration::days(7),
        "7 days by default"
    );
    assert!(answer.body["revision"].as_i64().is_some());

    // The accept page a link opens.
    let page = s
        .client
        .get(format!("{}/invitations/accept?token={secret}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // A page opened from a link with a secret in it: locked down, never cached, and
    // telling no one where it came from.
    for (name, value) in [
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(page.headers()[name], value, "{name}");
    }
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"));
    assert!(!policy.contains("unsafe-inline"));
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<style>"),
        "nothing inline"
    );
    let script = s
        .client
        .get(format!("{}/invitations/accept.js", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script
        .text()
        .await
        .unwrap()
        .contains("/api/v1/invitations/accept"));

    let accepted = accept(&s, &secret, Some("Ada Lovelace")).await.expect(201);
    let member = accepted.body["member"]["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted.body["member"]["display_name"], "Ada Lovelace");
    assert_eq!(accepted.body["member"]["email"], "Ada@Example.test");
    assert_eq!(accepted.body["member"]["type"], "team_member");
    let token = accepted.body["token"].as_str().unwrap().to_owned();
    let joined: BTreeSet<&str> = accepted.body["joined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert_eq!(
        joined,
        BTreeSet::from([engineering.as_str(), platform.as_str()])
    );

    // The token works, and the memberships show at once.
    s.get(&format!("/api/v1/members/{member}"), &token)
        .await
        .expect(200);
    for group in [&engineering, &platform, &all_users] {
        assert!(
            s.effective_members(group).await.contains(&member),
            "the invitee is in {group}"
        );
    }
    let records = s
        .get(
            &format!("/api/v1/groups/{engineering}/members"),
            &s.admin_token,
        )
        .await
        .expect(200);
    let record = records.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["member_id"] == member.as_str())
        .cloned()
        .unwrap();
    assert_eq!(record["source"], "invitation");
    assert_eq!(record["added_by"], s.admin.as_str());

    let shown = s
        .get(&format!("/api/v1/invitations/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(shown.body["state"], "accepted");
    assert_eq!(shown.body["accepted_by"], member.as_str());

    // Used, unknown and garbage tokens get one indistinct answer.
    let again = accept(&s, &secret, None).await.expect(404);
    let unknown = accept(&s, "rst_unknown", None).await.expect(404);
    assert_eq!(again.body["detail"], unknown.body["detail"]);
    assert_eq!(again.body["title"], unknown.body["title"]);

    // The change log records the memberships the acceptance added, caused by it.
    let changes = s
        .get("/api/v1/changes?after=0&limit=1000", &s.admin_token)
        .await
        .expect(200);
    let added: Vec<&Value> = changes.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["member_id"] == member.as_str() && c["change"] == "added")
        .collect();
    assert!(added
        .iter()
        .any(|c| c["group_id"] == engineering.as_str() && c["cause"] == "invitation"));
    assert!(added.iter().any(|c| c["group_id"] == platform.as_str()));
    assert!(added.iter().any(|c| c["group_id"] == all_users.as_str()));

    let actions = audit_actions(&s).await;
    for action in [
        "invitation.create",
        "invitation.accept",
        "member.create",
        "token.create",
        "group.member_add",
    ] {
        assert!(actions.iter().any(|a| a == action), "audit has {action}");
    }
    // The acceptance is recorded as the invitee's own act.
    let audit = s
        .get("/api/v1/audit?limit=20", &s.admin_token)
        .await
        .expect(200);
    let accept_entry = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "invitation.accept")
        .cloned()
        .unwrap();
    assert_eq!(accept_entry["actor"]["id"], member.as_str());

    // From then on the invitee invites others into the groups it joined, and only those.
    invite(
        &s,
        &token,
        json!({"emails": ["grace@example.test"], "groups": [engineering]}),
    )
    .await
    .expect(201);
    let support = s.group_named("Support").await;
    let refused = invite(
        &s,
        &token,
        json!({"emails": ["grace@example.test"], "groups": [support]}),
    )
    .await
    .expect(403);
    assert!(refused.body["detail"].as_str().unwrap().contains("Support"));
}

async fn who_may_invite_into_which_groups(db: TestDb) {
    let s = Server::start(db).await;
    let (user, user_token) = s.user("user@example.test").await;
    let engineering = s.group("Engineering").await;

    // A team member is in Platform Users, so it may invite there (the default).
    let answer = invite(&s, &user_token, json!({"emails": ["a@example.test"]}))
        .await
        .expect(201);
    let platform = s.group_named("Platform Users").await;
    assert_eq!(
        answer.body["results"][0]["invitation"]["groups"],
        json!([platform])
    );
    // Not into a group it does not belong to; then it may, once added.
    invite(
        &s,
        &user_token,
        json!({"emails": ["b@example.test"], "groups": [engineering]}),
    )
    .await
    .expect(403);
    s.add(&engineering, &user, &s.admin_token).await.expect(201);
    invite(
        &s,
        &user_token,
        json!({"emails": ["b@example.test"], "groups": [engineering]}),
    )
    .await
    .expect(201);
    // Nor into Admins; an admin may.
    let admins = s.group_named("Admins").await;
    invite(
        &s,
        &user_token,
        json!({"emails": ["c@example.test"], "groups": [admins]}),
    )
    .await
    .expect(403);
    invite(
        &s,
        &s.admin_token,
        json!({"emails": ["c@example.test"], "groups": [admins]}),
    )
    .await
    .expect(201);

    // Dynamic, customer and maintained groups cannot be invited into, by anyone: 422
    // naming the group.
    let dynamic = s
        .post(
            "/api/v1/groups",
            &s.admin_token,
            json!({"name": "Everyone", "membership": "dynamic", "rule": "display_name != \"\""}),
        )
        .await
        .expect(201)
        .id();
    for (group, name) in [
        (dynamic, "Everyone"),
        (s.group_named("All Users").await, "All Users"),
        (s.group_named("Customer Admins").await, "Customer Admins"),
        (
            s.group_named("Verified Customers").await,
            "Verified Customers",
        ),
        (s.group_named("Customers").await, "Customers"),
    ] {
        let refused = invite(
            &s,
            &s.admin_token,
            json!({"emails": ["d@example.test"], "groups": [group]}),
        )
        .await
        .expect(422);
        assert_eq!(refused.body["field"], "groups");
        assert!(
            refused.body["detail"].as_str().unwrap().contains(name),
            "the refusal names {name}: {}",
            refused.body
        );
    }
    // Another workspace's group (or any unknown id) is not a group here.
    invite(
        &s,
        &s.admin_token,
        json!({"emails": ["d@example.test"], "groups": [uuid::Uuid::now_v7()]}),
    )
    .await
    .expect(422);

    // A customer cannot invite.
    let (_, customer_token) = s.customer("cust@example.test", "acme").await;
    invite(&s, &customer_token, json!({"emails": ["e@example.test"]}))
        .await
        .expect(403);

    // A user in no group but All Users cannot invite anyone.
    let (loner, loner_token) = s.user("loner@example.test").await;
    s.remove(&platform, &loner, &s.admin_token)
        .await
        .expect(200);
    let refused = invite(&s, &loner_token, json!({"emails": ["f@example.test"]}))
        .await
        .expect(403);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("at least one group"));

    // Without a token: 401.
    s.call(
        Method::POST,
        "/api/v1/invitations",
        None,
        Some(json!({"emails": ["g@example.test"]})),
    )
    .await
    .expect(401);
}

async fn invalid_input_refuses_the_whole_request(db: TestDb) {
    let s = Server::start(db).await;
    s.customer("customer@example.test", "acme").await;
    let before = audit_actions(&s).await.len();

    let refused = invite(
        &s,
        &s.admin_token,
        json!({"emails": ["ok@example.test", "not-an-email", "a b@example.test", "CUSTOMER@example.test", "Name<victim@example.test>"]}),
    )
    .await
    .expect(422);
    assert_eq!(refused.body["field"], "emails");
    let errors = refused.body["errors"].as_array().unwrap();
    let indexes: Vec<u64> = errors
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, vec![1, 2, 3, 4]);
    assert_eq!(errors[0]["value"], "not-an-email");
    assert!(errors[2]["message"].as_str().unwrap().contains("customer"));

    for body in [
        json!({"emails": []}),
        json!({"emails": ["ok@example.test"], "expires_in": 0}),
        json!({"emails": ["ok@example.test"], "expires_in": 30 * 86400 + 1}),
        json!({"emails": ["ok@example.test"], "groups": []}),
        json!({"emails": "ok@example.test"}),
    ] {
        invite(&s, &s.admin_token, body).await.expect(422);
    }
    invite(
        &s,
        &s.admin_token,
        json!({"emails": ["ok@example.test"], "role": "x"}),
    )
    .await
    .expect(400);
    s.raw(
        Method::POST,
        "/api/v1/invitations",
        &s.admin_token,
        b"{\"emails\": [".to_vec(),
    )
    .await
    .expect(400);

    // Nothing was applied: no invitation, no audit entry.
    let list = s
        .get("/api/v1/invitations", &s.admin_token)
        .await
        .expect(200);
    assert_eq!(list.body["items"], json!([]));
    assert_eq!(audit_actions(&s).await.len(), before);

    // 30 days is allowed, and one invitation per distinct address.
    let answer = invite(
        &s,
        &s.admin_token,
        json!({"emails": ["ok@example.test", "OK@example.test"], "expires_in": 30 * 86400}),
    )
    .await
    .expect(201);
    assert_eq!(answer.body["results"].as_array().unwrap().len(), 1);

    // Accepting needs a token; unknown fields and bad JSON are refused there too.
    s.call(
        Method::POST,
        "/api/v1/invitations/accept",
        None,
        Some(json!({"display_name": "x"})),
    )
    .await
    .expect(422);
    s.call(
        Method::POST,
        "/api/v1/invitations/accept",
        None,
        Some(json!({"token": "x", "admin": true})),
    )
    .await
    .expect(400);
}

async fn an_active_member_is_added_directly(db: TestDb) {
    let s = Server::start(db).await;
    let (member, _) = s.user("grace@example.test").await;
    let engineering = s.group("Engineering").await;

    let answer = invite(
        &s,
        &s.admin_token,
        json!({"emails": ["GRACE@example.test", "new@example.test"], "groups": [engineering]}),
    )
    .await
    .expect(201);
    let direct = &answer.body["results"][0];
    assert_eq!(direct["outcome"], "added");
    assert_eq!(direct["member_id"], member.as_str());
    assert_eq!(direct["groups_added"], json!([engineering]));
    assert!(direct.get("invitation").is_none());
    assert_eq!(answer.body["results"][1]["outcome"], "invited");
    assert!(s.effective_members(&engineering).await.contains(&member));

    // Again: already there, nothing added.
    let again = invite(
        &s,
        &s.admin_token,
        json!({"emails": ["grace@example.test"], "groups": [engineering]}),
    )
    .await
    .expect(201);
    assert_eq!(again.body["results"][0]["groups_added"], json!([]));

    // Only the other address has an invitation.
    let list = s
        .get("/api/v1/invitations", &s.admin_token)
        .await
        .expect(200);
    let emails: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["new@example.test"]);

    // A deactivated member's address is refused rather than silently reactivated.
    let (gone, _) = s.user("gone@example.test").await;
    s.patch(
        &format!("/api/v1/members/{gone}"),
        &s.admin_token,
        json!({"state": "deactivated"}),
    )
    .await
    .expect(200);
    invite(&s, &s.admin_token, json!({"emails": ["gone@example.test"]}))
        .await
        .expect(422);
}

async fn revoking_and_resending_void_the_old_link(db: TestDb) {
    let s = Server::start(db).await;
    let (_, inviter_token) = s.user("inviter@example.test").await;
    let (_, other_token) = s.user("other@example.test").await;

    let answer = invite(
        &s,
        &inviter_token,
        json!({"emails": ["x@example.test", "y@example.test"]}),
    )
    .await
    .expect(201);
    let x = result_id(&answer, 0);
    let y = result_id(&answer, 1);
    let x_token = result_token(&answer, 0);
    let y_token = result_token(&answer, 1);

    // Inviters see their own; admins see all; others see none of them.
    let mine = s
        .get("/api/v1/invitations", &inviter_token)
        .await
        .expect(200);
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 2);
    let theirs = s.get("/api/v1/invitations", &other_token).await.expect(200);
    assert_eq!(theirs.body["items"], json!([]));
    s.get(&format!("/api/v1/invitations/{x}"), &other_token)
        .await
        .expect(404);

    // Someone else cannot revoke it; the inviter can, once.
    s.post(
        &format!("/api/v1/invitations/{x}/revoke"),
        &other_token,
        json!({}),
    )
    .await
    .expect(404);
    let revoked = s
        .post(
            &format!("/api/v1/invitations/{x}/revoke"),
            &inviter_token,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(revoked.body["state"], "revoked");
    assert!(revoked.body["revoked_at"].is_string());
    s.post(
        &format!("/api/v1/invitations/{x}/revoke"),
        &inviter_token,
        json!({}),
    )
    .await
    .expect(409);
    s.call(
        Method::POST,
        &format!("/api/v1/invitations/{x}/resend"),
        Some(&inviter_token),
        None,
    )
    .await
    .expect(409);
    let refused = accept(&s, &x_token, None).await.expect(404);
    let unknown = accept(&s, "rst_nothing", None).await.expect(404);
    assert_eq!(refused.body["detail"], unknown.body["detail"]);

    // A resend (here by an admin) issues a new link; the old one stops working.
    let resent = s
        .call(
            Method::POST,
            &format!("/api/v1/invitations/{y}/resend"),
            Some(&s.admin_token),
            None,
        )
        .await
        .expect(200);
    let new_token = result_token(&resent, 0);
    assert_ne!(new_token, y_token);
    assert_eq!(resent.body["results"][0]["invitation"]["sends"], 2);
    accept(&s, &y_token, None).await.expect(404);
    accept(&s, &new_token, Some("Y")).await.expect(201);

    let accepted = s
        .get("/api/v1/invitations?state=accepted", &s.admin_token)
        .await
        .expect(200);
    let ids: Vec<&str> = accepted.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![y.as_str()]);
    s.get("/api/v1/invitations?state=bogus", &s.admin_token)
        .await
        .expect(400);

    let actions = audit_actions(&s).await;
    assert!(actions.iter().any(|a| a == "invitation.revoke"));
    assert!(actions.iter().any(|a| a == "invitation.resend"));
}

async fn expired_invitations_cannot_be_accepted_but_can_be_resent(db: TestDb) {
    let s = Server::start(db).await;
    let answer = invite(
        &s,
        &s.admin_token,
        json!({"emails": ["late@example.test"], "expires_in": 1}),
    )
    .await
    .expect(201);
    let id = result_id(&answer, 0);
    let token = result_token(&answer, 0);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;

    let shown = s
        .get(&format!("/api/v1/invitations/{id}"), &s.admin_token)
        .await
        .expect(200);
    assert_eq!(shown.body["state"], "expired");
    let expired = accept(&s, &token, None).await.expect(404);
    let unknown = accept(&s, "rst_nothing", None).await.expect(404);
    assert_eq!(expired.body["detail"], unknown.body["detail"]);
    s.post(
        &format!("/api/v1/invitations/{id}/revoke"),
        &s.admin_token,
        json!({}),
    )
    .await
    .expect(409);

    let resent = s
        .post(
            &format!("/api/v1/invitations/{id}/resend"),
            &s.admin_token,
            json!({"expires_in": 3600}),
        )
        .await
        .expect(200);
    assert_eq!(resent.body["results"][0]["invitation"]["state"], "pending");
    accept(&s, &result_token(&resent, 0), None)
        .await
        .expect(201);
}

async fn the_rate_limit_answers_429_with_retry_after(db: TestDb) {
    let settings = InviteSettings {
        per_hour: 3,
        ..InviteSettings::default()
    };
    let s = Server::start_with(db, settings, None).await;
    let (_, user_token) = s.user("busy@example.test").await;

    let first = invite(
        &s,
        &user_token,
        json!({"emails": ["1@example.test", "2@example.test"]}),
    )
    .await
    .expect(201);
    let id = result_id(&first, 0);
    let refused = invite(
        &s,
        &user_token,
        json!({"emails": ["3@example.test", "4@example.test"]}),
    )
    .await
    .expect(429);
    let retry_after: u64 = refused
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert!(refused.body["detail"].as_str().unwrap().contains('3'));
    // Nothing of the refused request was created.
    let list = s.get("/api/v1/invitations", &user_token).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);

    invite(&s, &user_token, json!({"emails": ["3@example.test"]}))
        .await
        .expect(201);
    invite(&s, &user_token, json!({"emails": ["5@example.test"]}))
        .await
        .expect(429);
    // A request over the whole allowance could never pass: it is invalid, not early.
    invite(
        &s,
        &user_token,
        json!({"emails": ["a@example.test", "b@example.test", "c@example.test", "d@example.test"]}),
    )
    .await
    .expect(422);
    // A resend issues a token too.
    s.call(
        Method::POST,
        &format!("/api/v1/invitations/{id}/resend"),
        Some(&user_token),
        None,
    )
    .await
    .expect(429);
    // Adding an existing member directly issues no token and is not limited.
    invite(&s, &user_token, json!({"emails": ["busy@example.test"]}))
        .await
        .expect(201);
    // The limit is per member.
    invite(&s, &s.admin_token, json!({"emails": ["6@example.test"]}))
        .await
        .expect(201);
}

async fn concurrent_accepts_add_the_invitee_once(db: TestDb) {
    let s = Server::start(db).await;
    let engineering = s.group("Engineering").await;
    let answer = invite(
        &s,
        &s.admin_token,
        json!({"emails": ["twice@example.test"], "groups": [engineering]}),
    )
    .await
    .expect(201);
    let token = result_token(&answer, 0);
    let (a, b) = tokio::join!(accept(&s, &token, None), accept(&s, &token, None));
    let mut statuses = vec![a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![201, 404]);
    let members = s
        .get("/api/v1/members?limit=1000", &s.admin_token)
        .await
        .expect(200);
    let count = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["email"] == "twice@example.test")
        .count();
    assert_eq!(count, 1);
    let records = s
        .get(
            &format!("/api/v1/groups/{engineering}/members"),
            &s.admin_token,
        )
        .await
        .expect(200);
    assert_eq!(
        records.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["source"] == "invitation")
            .count(),
        1
    );
}

async fn accepting_refuses_an_address_taken_since_and_skips_groups_gone(db: TestDb) {
    let s = Server::start(db).await;
    let keep = s.group("Keep").await;
    let doomed = s.group("Doomed").await;
    let answer = invite(
        &s,
        &s.admin_token,
        json!({"emails": ["later@example.test"], "groups": [keep, doomed]}),
    )
    .await
    .expect(201);
    let token = result_token(&answer, 0);
    // Meanwhile an admin creates a member with the address: the invitation was sent to
    // no member, so it never hands out a credential for this one.
    let (member, _) = s.user("later@example.test").await;
    let refused = accept(&s, &token, Some("Ignored")).await.expect(409);
    assert!(refused.body.get("token").is_none());
    assert!(!s.effective_members(&keep).await.contains(&member));
    let listed = s
        .get("/api/v1/invitations?limit=1000", &s.admin_token)
        .await
        .expect(200);
    assert!(listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["email"] == "later@example.test" && i["state"] == "pending"));

    // A fresh address still works, and a group deleted meanwhile is skipped.
    let answer = invite(
        &s,
        &s.admin_token,
        json!({"emails": ["fresh@example.test"], "groups": [keep, doomed]}),
    )
    .await
    .expect(201);
    let token = result_token(&answer, 0);
    s.delete(&format!("/api/v1/groups/{doomed}"), &s.admin_token)
        .await
        .expect(200);
    let accepted = accept(&s, &token, Some("Fresh")).await.expect(201);
    assert_eq!(
        accepted.body["joined"].as_array().unwrap().len(),
        2,
        "Keep and Platform Users"
    );
    assert_eq!(accepted.body["joined"][0], keep.as_str());
    assert_eq!(accepted.body["skipped"][0]["group_id"], doomed.as_str());
    assert!(accepted.body["token"].as_str().is_some());

    // An invitation none of whose groups can be joined any more is refused and stays
    // pending; one whose inviter was deactivated is unusable.
    let (inviter, inviter_token) = s.user("inviter@example.test").await;
    let temporary = s.group("Temporary").await;
    s.add(&temporary, &inviter, &s.admin_token)
        .await
        .expect(201);
    let orphaned = invite(
        &s,
        &inviter_token,
        json!({"emails": ["orphan@example.test"], "groups": [temporary]}),
    )
    .await
    .expect(201);
    let second = invite(
        &s,
        &inviter_token,
        json!({"emails": ["second@example.test"]}),
    )
    .await
    .expect(201);
    let orphaned_id = result_id(&orphaned, 0);
    s.remove(&temporary, &inviter, &s.admin_token)
        .await
        .expect(200);
    let refused = accept(&s, &result_token(&orphaned, 0), None)
        .await
        .expect(409);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("no longer belongs"));
    // Nor may the inviter send it again now.
    s.call(
        Method::POST,
        &format!("/api/v1/invitations/{orphaned_id}/resend"),
        Some(&inviter_token),
        None,
    )
    .await
    .expect(403);
    s.patch(
        &format!("/api/v1/members/{inviter}"),
        &s.admin_token,
        json!({"state": "deactivated"}),
    )
    .await
    .expect(200);
    let gone = accept(&s, &result_token(&second, 0), None)
        .await
        .expect(404);
    let unknown = accept(&s, "rst_nothing", None).await.expect(404);
    assert_eq!(gone.body["detail"], unknown.body["detail"]);
}
