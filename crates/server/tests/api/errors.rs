//! Bad input of every sort: a precise 4xx, problem+json, and nothing applied.

use reqwest::Method;
use serde_json::json;

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    authentication_is_required_and_checked,
    malformed_bodies_are_400_and_wrong_values_422,
    huge_and_deep_bodies_are_refused_without_harm,
    unknown_ids_and_routes_are_404,
    other_workspaces_ids_are_404,
);

async fn authentication_is_required_and_checked(db: TestDb) {
    let s = Server::start(db).await;
    s.call(Method::GET, "/api/v1/members", None, None)
        .await
        .expect(401);
    s.call(
        Method::GET,
        "/api/v1/members",
        Some("rst_not-a-token"),
        None,
    )
    .await
    .expect(401);
    let basic = s
        .client
        .get(format!("{}/api/v1/members", s.base))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    Server::answer(basic).await.expect(401);
    s.call(
        Method::POST,
        "/api/v1/groups",
        None,
        Some(json!({"name": "x"})),
    )
    .await
    .expect(401);
}

async fn malformed_bodies_are_400_and_wrong_values_422(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let before = s.get("/api/v1/members", t).await.expect(200).body["items"]
        .as_array()
        .unwrap()
        .len();
    let twice = "appears twice";
    for (body, says) in [
        (&b"{"[..], "malformed"),
        (b"not json", "malformed"),
        (b"", "empty"),
        (b"{\"kind\": \"user\",}", "malformed"),
        (b"[1,2", "malformed"),
        (
            b"{\"kind\": \"user\", \"email\": \"a@b.test\", \"email\": \"c@d.test\"}",
            twice,
        ),
        (
            b"{\"kind\": \"user\", \"properties\": {\"x\": 1, \"x\": 2}}",
            twice,
        ),
        (
            b"{\"kind\": \"user\", \"tags\": [{\"a\": 1, \"a\": 1}]}",
            twice,
        ),
    ] {
        let answer = s
            .raw(Method::POST, "/api/v1/members", t, body.to_vec())
            .await
            .expect(400);
        assert!(answer.body["type"]
            .as_str()
            .unwrap()
            .ends_with("bad-request"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{detail}");
    }
    let unknown = s
        .post(
            "/api/v1/members",
            t,
            json!({"kind": "user", "email": "a@b.test", "role": "boss"}),
        )
        .await
        .expect(400);
    assert!(unknown.body["detail"]
        .as_str()
        .unwrap()
        .contains("unknown field"));
    s.post("/api/v1/groups", t, json!({"name": "G", "colour": "red"}))
        .await
        .expect(400);
    s.post("/api/v1/members", t, json!({"kind": "user", "email": 42}))
        .await
        .expect(422);
    s.post("/api/v1/members", t, json!({"kind": 7}))
        .await
        .expect(422);
    s.post("/api/v1/members", t, json!({"email": "a@b.test"}))
        .await
        .expect(422);
    s.post("/api/v1/members", t, json!([1, 2]))
        .await
        .expect(422);
    let media = s
        .client
        .post(format!("{}/api/v1/members", s.base))
        .bearer_auth(t)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    Server::answer(media).await.expect(415);
    let after = s.get("/api/v1/members", t).await.expect(200).body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "no bad request created anything");
}

async fn huge_and_deep_bodies_are_refused_without_harm(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let huge = format!(
        "{{\"kind\":\"user\",\"email\":\"a@b.test\",\"display_name\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    // A client of its own: the server closes this connection, which must not be reused.
    let sent = reqwest::Client::new()
        .post(format!("{}/api/v1/members", s.base))
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await;
    // The server answers 413 as soon as it sees the length; a client still sending may
    // see the connection closed instead. Either way nothing is created.
    if let Ok(response) = sent {
        Server::answer(response).await.expect(413);
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    s.raw(Method::POST, "/api/v1/members", t, deep.into_bytes())
        .await
        .expect(400);
    let deep_object = format!(
        "{{\"kind\":\"user\",\"email\":\"a@b.test\",\"properties\":{{\"p\":{}{}}}}}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    s.raw(Method::POST, "/api/v1/members", t, deep_object.into_bytes())
        .await
        .expect(400);
    let long_name = s
        .post("/api/v1/groups", t, json!({"name": "n".repeat(500)}))
        .await
        .expect(422);
    assert_eq!(long_name.body["field"], "name");
    s.get("/healthz", t).await.expect(200);
    let members = s.get("/api/v1/members", t).await.expect(200);
    assert_eq!(
        members.body["items"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );
}

async fn unknown_ids_and_routes_are_404(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let missing = uuid::Uuid::now_v7();
    s.get(&format!("/api/v1/members/{missing}"), t)
        .await
        .expect(404);
    s.get("/api/v1/members/not-a-uuid", t).await.expect(404);
    s.get("/api/v1/members/%FF", t).await.expect(404);
    s.delete("/api/v1/groups/%FF/members/%FE", t)
        .await
        .expect(404);
    s.get(&format!("/api/v1/groups/{missing}"), t)
        .await
        .expect(404);
    s.patch(
        &format!("/api/v1/groups/{missing}"),
        t,
        json!({"name": "x"}),
    )
    .await
    .expect(404);
    s.add(&missing.to_string(), &s.admin, t).await.expect(404);
    let admins = s.group_named("Admins").await;
    s.add(&admins, &missing.to_string(), t).await.expect(404);
    s.get("/api/v1/nothing-here", t).await.expect(404);
    s.call(Method::PUT, "/api/v1/members", Some(t), Some(json!({})))
        .await
        .expect(405);
    s.delete(&format!("/api/v1/tokens/{missing}"), t)
        .await
        .expect(404);
}

async fn other_workspaces_ids_are_404(db: TestDb) {
    let s = Server::start(db).await;
    let (other, other_token) = s
        .roster
        .create_workspace("Globex", "boss@globex.test", roster_model::Actor::Cli)
        .await
        .unwrap();
    let their_admin = other.admin.id.to_string();
    let their_group = s.get("/api/v1/groups", &other_token).await.expect(200).body["items"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = &s.admin_token;
    s.get(&format!("/api/v1/members/{their_admin}"), t)
        .await
        .expect(404);
    s.patch(
        &format!("/api/v1/members/{their_admin}"),
        t,
        json!({"display_name": "x"}),
    )
    .await
    .expect(404);
    s.get(&format!("/api/v1/groups/{their_group}"), t)
        .await
        .expect(404);
    s.delete(&format!("/api/v1/groups/{their_group}"), t)
        .await
        .expect(404);
    let ours = s.group("Ours").await;
    s.add(&ours, &their_admin, t).await.expect(404);
    s.add(&their_group, &s.admin, t).await.expect(404);
    let listed = s.get("/api/v1/members", &other_token).await.expect(200);
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "each workspace sees only its own"
    );
    let their_token_id = s.get("/api/v1/tokens", &other_token).await.expect(200).body["items"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.delete(&format!("/api/v1/tokens/{their_token_id}"), t)
        .await
        .expect(404);
    s.get("/api/v1/groups", &other_token).await.expect(200);
}
