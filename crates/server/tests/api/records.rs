//! Tokens, the audit log, and the store as the only source of truth: another runtime's
//! writes are followed, and everything survives a restart.

use std::time::{Duration, Instant};

use roster::Roster;
use roster_model::Actor;
use serde_json::json;

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    tokens_are_created_listed_and_revoked,
    audit_records_every_change_with_before_and_after,
    a_second_runtime_is_followed_within_a_second,
    two_runtimes_racing_cannot_remove_both_last_admins,
    data_survives_a_restart,
    a_workspace_larger_than_a_load_chunk_streams_and_restarts_whole,
    a_write_the_store_refuses_at_commit_leaves_no_trace,
    reads_say_their_revision_and_can_wait_for_another_servers_write,
    a_lock_held_elsewhere_fails_writes_within_the_deadline_and_reads_go_on,
    an_engine_found_ahead_of_the_store_is_reloaded_from_it,
);

/// A server whose engine holds a revision the store does not (here the store is wound
/// back behind its back: the last write's rows and revision removed) finds it out as it
/// follows the store, and reloads the workspace: it then serves the store's revision and
/// not the write the store lacks, and goes on writing from there.
async fn an_engine_found_ahead_of_the_store_is_reloaded_from_it(db: TestDb) {
    let s = Server::start(db).await;
    let t = s.admin_token.clone();
    let agent = s
        .post(
            "/api/v1/members",
            &t,
            json!({"kind": "user", "type": "agent", "display_name": "ghost"}),
        )
        .await
        .expect(201);
    let revision = agent.body["revision"].as_i64().unwrap();
    let ghost = agent.id();
    let (ws, rev, before) = (
        s.workspace.clone(),
        revision.to_string(),
        (revision - 1).to_string(),
    );
    crate::support::run_sql(
        &s.db,
        &[
            "DELETE FROM memberships WHERE member_id = $3",
            "DELETE FROM members WHERE id = $3",
            "DELETE FROM events WHERE workspace_id = $1 AND revision = CAST($2 AS BIGINT)",
            "DELETE FROM changes WHERE workspace_id = $1 AND revision = CAST($2 AS BIGINT)",
            "DELETE FROM audit WHERE workspace_id = $1 AND revision = CAST($2 AS BIGINT)",
            "UPDATE workspaces SET revision = CAST($4 AS BIGINT) WHERE id = $1",
        ],
        &[&ws, &rev, &ghost, &before],
    )
    .await;
    s.roster.follow_once().await.unwrap();
    let handle = s.roster.workspace(ws.parse().unwrap()).await.unwrap();
    assert!(!handle.is_stale());
    assert_eq!(handle.revision(), revision - 1);
    s.get(&format!("/api/v1/members/{ghost}"), &t)
        .await
        .expect(404);
    let next = s
        .post(
            "/api/v1/members",
            &t,
            json!({"kind": "user", "type": "agent", "display_name": "next"}),
        )
        .await
        .expect(201);
    assert_eq!(next.body["revision"], revision);
}

/// A peer that holds the lock every write needs (a frozen server, a stuck transaction)
/// stalls this server's writes for at most the store's lock deadline: each is answered
/// `503` problem+json with `Retry-After`, saying nothing changed, and changes nothing;
/// reads the engine answers go on meanwhile; once the lock is gone, writes succeed.
async fn a_lock_held_elsewhere_fails_writes_within_the_deadline_and_reads_go_on(db: TestDb) {
    let mut s = Server::start(db).await;
    s.restart_with_deadlines(roster_store::Deadlines {
        lock: Duration::from_millis(500),
        ..Default::default()
    })
    .await;
    let t = s.admin_token.clone();
    let held = crate::support::hold_write_lock(&s.db, &s.workspace).await;
    let started = Instant::now();
    let refused = s
        .post(
            "/api/v1/members",
            &t,
            json!({"kind": "user", "email": "late@acme.test"}),
        )
        .await
        .expect(503);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "answered within the deadline: {waited:?}"
    );
    assert_eq!(
        refused.body["type"], "https://roster.dev/problems/store-unavailable",
        "{}",
        refused.body
    );
    assert!(refused.headers.get("retry-after").is_some());
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("nothing was changed"));
    let read = s.get("/api/v1/members?limit=10", &t).await.expect(200);
    assert!(!read.body.to_string().contains("late@acme.test"));

    // Writes queued behind it do not wait for every one before them: each is answered
    // within the lock deadline plus the connection deadline (the writer wait), 503.
    s.restart_with_deadlines(roster_store::Deadlines {
        lock: Duration::from_millis(1_500),
        connect: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let queued: Vec<_> = (0..4)
        .map(|i| {
            let (client, base, token) = (s.client.clone(), s.base.clone(), t.clone());
            tokio::spawn(async move {
                let answer = client
                    .post(format!("{base}/api/v1/members"))
                    .bearer_auth(token)
                    .json(&json!({"kind": "user", "email": format!("queued{i}@acme.test")}))
                    .send()
                    .await
                    .unwrap();
                (answer.status().as_u16(), started.elapsed())
            })
        })
        .collect();
    for write in queued {
        let (status, waited) = write.await.unwrap();
        assert_eq!(status, 503);
        assert!(
            waited < Duration::from_millis(4_000),
            "four writes of a 1.5 s lock deadline each (6 s in turn), answered by {waited:?}"
        );
    }
    drop(held);
    s.post(
        "/api/v1/members",
        &t,
        json!({"kind": "user", "email": "late@acme.test"}),
    )
    .await
    .expect(201);
    let members = s.get("/api/v1/members?limit=100", &t).await.expect(200);
    assert!(!members.body.to_string().contains("queued"));
}

async fn tokens_are_created_listed_and_revoked(db: TestDb) {
    let s = Server::start(db).await;
    let (xia, xia_token) = s.user("xia@acme.test").await;
    let own = s
        .post("/api/v1/tokens", &xia_token, json!({"name": "laptop"}))
        .await
        .expect(201);
    let secret = own.body["token"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 40, "at least 128 bits");
    assert_eq!(own.body["member_id"], xia.as_str());
    s.get("/api/v1/members", &secret).await.expect(200);
    let shouted = s
        .client
        .get(format!("{}/api/v1/members", s.base))
        .header("authorization", format!("BEARER {secret}"))
        .send()
        .await
        .unwrap();
    Server::answer(shouted).await.expect(200);
    let first = s
        .get("/api/v1/tokens?limit=1", &xia_token)
        .await
        .expect(200);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 1);
    let next = first.body["next_cursor"]
        .as_str()
        .expect("xia has two tokens: two pages")
        .to_owned();
    let second = s
        .get(&format!("/api/v1/tokens?limit=1&cursor={next}"), &xia_token)
        .await
        .expect(200);
    assert_ne!(second.body["items"][0]["id"], first.body["items"][0]["id"]);
    let agent = s
        .post(
            "/api/v1/members",
            &s.admin_token,
            json!({"kind": "user", "type": "agent", "display_name": "bot"}),
        )
        .await
        .expect(201)
        .id();
    s.post("/api/v1/tokens", &xia_token, json!({"member_id": agent}))
        .await
        .expect(403);
    let bare = s
        .client
        .post(format!("{}/api/v1/tokens", s.base))
        .bearer_auth(&xia_token)
        .send()
        .await
        .unwrap();
    let bare = Server::answer(bare).await.expect(201);
    assert_eq!(
        bare.body["member_id"],
        xia.as_str(),
        "no body: a token for yourself"
    );
    let bot = s
        .post(
            "/api/v1/tokens",
            &s.admin_token,
            json!({"member_id": agent}),
        )
        .await
        .expect(201);
    s.get("/api/v1/groups", bot.body["token"].as_str().unwrap())
        .await
        .expect(200);
    s.post("/api/v1/tokens", &s.admin_token, json!({"member_id": xia}))
        .await
        .expect(403);
    let listed = s.get("/api/v1/tokens", &xia_token).await.expect(200);
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["member_id"] == xia.as_str()),
        "a member lists only its own"
    );
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none() && t.get("hash").is_none()),
        "secrets are never listed"
    );
    let admin_list = s.get("/api/v1/tokens", &s.admin_token).await.expect(200);
    let bot_token_id = bot.id();
    assert!(admin_list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == bot_token_id.as_str()));
    s.delete(&format!("/api/v1/tokens/{bot_token_id}"), &xia_token)
        .await
        .expect(404);
    s.delete(&format!("/api/v1/tokens/{}", own.id()), &xia_token)
        .await
        .expect(200);
    s.get("/api/v1/members", &secret).await.expect(401);
    s.delete(&format!("/api/v1/tokens/{bot_token_id}"), &s.admin_token)
        .await
        .expect(200);
    s.get("/api/v1/groups", bot.body["token"].as_str().unwrap())
        .await
        .expect(401);
}

async fn audit_records_every_change_with_before_and_after(db: TestDb) {
    let s = Server::start(db).await;
    let (yan, yan_token) = s.user("yan@acme.test").await;
    s.patch(
        &format!("/api/v1/members/{yan}"),
        &s.admin_token,
        json!({"display_name": "Yan Z."}),
    )
    .await
    .expect(200);
    let group = s.group("Audited").await;
    s.add(&group, &yan, &s.admin_token).await.expect(201);
    s.post("/api/v1/groups", &yan_token, json!({"name": "refused"}))
        .await
        .expect(403);
    s.get("/api/v1/audit", &yan_token).await.expect(403);
    let audit = s
        .get("/api/v1/audit?limit=1000", &s.admin_token)
        .await
        .expect(200);
    let items = audit.body["items"].as_array().unwrap();
    let update = items
        .iter()
        .find(|e| e["action"] == "member.update")
        .unwrap();
    assert_eq!(update["actor"], json!({"type": "member", "id": s.admin}));
    assert_eq!(update["target_id"], yan.as_str());
    assert_eq!(update["before"]["display_name"], "yan@acme.test");
    assert_eq!(update["after"]["display_name"], "Yan Z.");
    assert!(update["at"].as_str().is_some());
    for action in [
        "workspace.create",
        "member.create",
        "group.create",
        "group.member_add",
        "token.create",
    ] {
        assert!(
            items.iter().any(|e| e["action"] == action),
            "{action} is audited"
        );
    }
    assert!(
        !items.iter().any(|e| e["after"]["name"] == "refused"),
        "refused writes leave no record"
    );
    let revisions: Vec<i64> = items
        .iter()
        .map(|e| e["revision"].as_i64().unwrap())
        .collect();
    assert!(revisions.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let first = s
        .get("/api/v1/audit?limit=3", &s.admin_token)
        .await
        .expect(200);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = s
        .get(
            &format!("/api/v1/audit?limit=3&cursor={cursor}"),
            &s.admin_token,
        )
        .await
        .expect(200);
    assert_eq!(
        second.body["items"][0], items[3],
        "pages continue where they stopped"
    );
}

async fn a_second_runtime_is_followed_within_a_second(db: TestDb) {
    let s = Server::start(db).await;
    let other = Roster::open(&s.db.url).await.unwrap();
    let workspace = s.workspace.parse().unwrap();
    let (member, _) = other
        .write(workspace, Actor::Cli, |ctx| {
            roster_ops::members::create(
                ctx,
                serde_json::from_value(json!({"kind": "user", "email": "zed@acme.test"})).unwrap(),
            )
        })
        .await
        .unwrap();
    let started = Instant::now();
    let path = format!("/api/v1/members/{}", member.id);
    loop {
        let answer = s.get(&path, &s.admin_token).await;
        if answer.status.as_u16() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the server saw the other process's write within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A write on this server after the other's sees the other's write (the email is taken).
    s.post(
        "/api/v1/members",
        &s.admin_token,
        json!({"kind": "user", "email": "ZED@acme.test"}),
    )
    .await
    .expect(409);
    // A workspace another process creates is served, with its token, at once.
    let (_, token) = other
        .create_workspace("Later", "later@acme.test", Actor::Cli)
        .await
        .unwrap();
    s.get("/api/v1/groups", &token).await.expect(200);
}

async fn data_survives_a_restart(db: TestDb) {
    let s = Server::start(db).await;
    s.post(
        "/api/v1/properties",
        &s.admin_token,
        json!({"name": "site", "applies_to": "user", "type": "text"}),
    )
    .await
    .expect(201);
    let id = s
        .post(
            "/api/v1/members",
            &s.admin_token,
            json!({"kind": "user", "email": "kept@acme.test", "properties": {"site": "Oslo"}}),
        )
        .await
        .expect(201)
        .id();
    let group = s.group("Kept").await;
    s.add(&group, &id, &s.admin_token).await.expect(201);
    let before_members = s
        .get("/api/v1/members", &s.admin_token)
        .await
        .expect(200)
        .body;
    let before_groups = s
        .get("/api/v1/groups", &s.admin_token)
        .await
        .expect(200)
        .body;
    // A new runtime knows only what the store holds.
    let reopened = Roster::open(&s.db.url).await.unwrap();
    let (handle, _, _) = reopened
        .authenticate(&s.admin_token)
        .await
        .unwrap()
        .unwrap();
    let state = handle.read();
    assert_eq!(
        state.members_after(None).count(),
        before_members["items"].as_array().unwrap().len()
    );
    assert_eq!(
        state.groups_after(None).count(),
        before_groups["items"].as_array().unwrap().len()
    );
    let kept = state.member(&id.parse().unwrap()).unwrap();
    assert_eq!(
        kept.properties.get("site"),
        Some(&roster_model::PropertyValue::Text("Oslo".into()))
    );
    let group = state.group(&group.parse().unwrap()).unwrap();
    assert!(state.is_effective_member(group, &kept.id));
}

async fn two_runtimes_racing_cannot_remove_both_last_admins(db: TestDb) {
    let s = Server::start(db).await;
    let (second, _) = s.user("second@acme.test").await;
    let admins = s.group_named("Admins").await;
    s.add(&admins, &second, &s.admin_token).await.expect(201);
    let workspace = s.workspace.parse().unwrap();
    let group: roster_model::Id = admins.parse().unwrap();
    for _ in 0..5 {
        let a = Roster::open(&s.db.url).await.unwrap();
        let b = Roster::open(&s.db.url).await.unwrap();
        let (first_admin, second_admin) = (s.admin.parse().unwrap(), second.parse().unwrap());
        let remove_first = a.write(workspace, Actor::Cli, |ctx| {
            roster_ops::groups::remove_member(ctx, group, first_admin)
        });
        let remove_second = b.write(workspace, Actor::Cli, |ctx| {
            roster_ops::groups::remove_member(ctx, group, second_admin)
        });
        let (first, second_result) = tokio::join!(remove_first, remove_second);
        assert_eq!(
            first.is_ok() as u8 + second_result.is_ok() as u8,
            1,
            "exactly one of two racing removals wins"
        );
        let check = Roster::open(&s.db.url).await.unwrap();
        let handle = check.workspace(workspace).await.unwrap();
        assert_eq!(
            handle.read().active_admin_count(),
            1,
            "one admin is left, as the store says"
        );
        // Put the removed admin back for the next round.
        let removed = if first.is_ok() {
            first_admin
        } else {
            second_admin
        };
        check
            .write(workspace, Actor::Cli, |ctx| {
                roster_ops::groups::add_member(ctx, group, removed)
            })
            .await
            .unwrap();
    }
}

/// A workspace with more members than the store decodes at a time is handed over in
/// several chunks, none larger than the chunk, with every member in one of them; `load`
/// collects the same members; and a restart (which loads by streaming) serves them all.
async fn a_workspace_larger_than_a_load_chunk_streams_and_restarts_whole(db: TestDb) {
    let mut s = Server::start(db).await;
    let workspace: roster_model::Id = s.workspace.parse().unwrap();
    let admin: roster_model::Id = s.admin.parse().unwrap();
    let added = s
        .users_through_the_store(50_001, |i| format!("m{i}@load.test"))
        .await;
    let store = s.roster.store();

    let mut chunks = Vec::new();
    let mut streamed = std::collections::BTreeSet::new();
    let snapshot = store
        .load_streaming(workspace, &mut |chunk| {
            chunks.push(chunk.len());
            streamed.extend(chunk.into_iter().map(|m| m.id));
        })
        .await
        .unwrap()
        .unwrap();
    assert!(snapshot.members.is_empty(), "members come only in chunks");
    assert!(chunks.len() >= 2, "more than one chunk: {chunks:?}");
    assert!(chunks.iter().all(|n| *n <= 50_000), "{chunks:?}");
    assert!(added.iter().all(|m| streamed.contains(&m.id)));
    assert!(streamed.contains(&admin));
    let loaded = store.load(workspace).await.unwrap().unwrap();
    let collected: std::collections::BTreeSet<_> = loaded.members.iter().map(|m| m.id).collect();
    assert_eq!(collected, streamed);

    s.restart(Default::default(), None).await;
    let handle = s.roster.workspace(workspace).await.unwrap();
    for member in [&added[0], &added[25_000], &added[50_000]] {
        assert_eq!(handle.read().member(&member.id).as_ref(), Some(member));
    }
    let last = added[50_000].id;
    s.get(&format!("/api/v1/members/{last}"), &s.admin_token)
        .await
        .expect(200);
}

/// A write the store refuses at commit shows nowhere: not the member's new attributes,
/// not the dynamic group it would have joined, not a change-log entry, not the revision.
/// The next write is served as if the refused one never happened. (SCIM's batched writes,
/// which the engine applies before their commit ends, are checked in the SCIM suite.)
async fn a_write_the_store_refuses_at_commit_leaves_no_trace(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    s.user_properties(&[("team", "text")]).await;
    let (ann, _) = s.user("ann@acme.test").await;
    let (red, before) = s.dynamic_group("Red", "team = red").await;
    crate::support::refuse_writes_mentioning(&s.db, "poisoned").await;

    let refused = s
        .patch(
            &format!("/api/v1/members/{ann}"),
            t,
            json!({"display_name": "poisoned", "properties": {"team": "red"}}),
        )
        .await;
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert_eq!(
        refused.headers["content-type"], "application/problem+json",
        "the refusal is a problem"
    );
    let member = s
        .get(&format!("/api/v1/members/{ann}"), t)
        .await
        .expect(200);
    assert_ne!(member.body["display_name"], "poisoned");
    assert!(
        member.body["properties"].get("team").is_none(),
        "the refused attribute is not kept: {}",
        member.body
    );
    assert!(
        s.effective_members(&red).await.is_empty(),
        "the dynamic group did not take the member"
    );
    let workspace = s.get("/api/v1/workspace", t).await.expect(200);
    assert_eq!(workspace.body["revision"], before, "no revision was spent");
    let log = s
        .get(&format!("/api/v1/changes?after={before}"), t)
        .await
        .expect(200);
    assert_eq!(log.body["items"], json!([]), "no change was logged");

    let accepted = s
        .patch(
            &format!("/api/v1/members/{ann}"),
            t,
            json!({"display_name": "Ann", "properties": {"team": "red"}}),
        )
        .await
        .expect(200);
    let after = accepted.body["revision"].as_i64().unwrap();
    assert_eq!(after, before + 1);
    assert_eq!(s.effective_members(&red).await, vec![ann.clone()]);
    let log = s
        .get(&format!("/api/v1/changes?after={before}"), t)
        .await
        .expect(200);
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", log.body);
    assert_eq!(items[0]["member_id"], ann.as_str());
    assert_eq!(items[0]["change"], "added");
}

/// Several servers on one store: every answer says which revision it reflects
/// (`Roster-Revision`), any request can ask this server to have applied a revision first
/// (`Roster-At-Least-Revision`), and the change log, read from the store, never tells a
/// reader to resume before a change it has just listed.
async fn reads_say_their_revision_and_can_wait_for_another_servers_write(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    s.user_properties(&[("team", "text")]).await;
    let (red, before) = s.dynamic_group("Red", "team = red").await;
    let listed = s.get("/api/v1/members", t).await.expect(200);
    assert_eq!(
        listed.headers["roster-revision"],
        before.to_string().as_str()
    );

    // Another server writes a member the rule takes.
    let other = Roster::open(&s.db.url).await.unwrap();
    let workspace = s.workspace.parse().unwrap();
    let (member, written) = other
        .write(workspace, Actor::Cli, |ctx| {
            roster_ops::members::create(
                ctx,
                serde_json::from_value(
                    json!({"kind": "user", "email": "zed@acme.test", "properties": {"team": "red"}}),
                )
                .unwrap(),
            )
        })
        .await
        .unwrap();
    assert!(written > before);
    // The change log comes from the store, which may be ahead of this server: its
    // `revision` still covers every change it lists.
    let log = s
        .get(&format!("/api/v1/changes?after={before}"), t)
        .await
        .expect(200);
    let listed: Vec<i64> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["revision"].as_i64().unwrap())
        .collect();
    assert!(listed.contains(&written), "{}", log.body);
    let resume = log.body["revision"].as_i64().unwrap();
    assert!(resume >= written, "resume from {resume} repeats {written}");
    let again = s
        .get(&format!("/api/v1/changes?after={resume}"), t)
        .await
        .expect(200);
    assert_eq!(again.body["items"], json!([]), "nothing is listed twice");

    // Asked for the other server's revision, this one answers with the write in.
    let at_least = "Roster-At-Least-Revision";
    let waited = s
        .get_with(
            &format!("/api/v1/groups/{red}/members"),
            t,
            (at_least, &written.to_string()),
        )
        .await
        .expect(200);
    let served: i64 = waited.headers["roster-revision"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(served >= written);
    let ids: Vec<&str> = waited.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["member_id"].as_str())
        .collect();
    assert_eq!(ids, vec![member.id.to_string().as_str()]);

    for bad in ["soon", "-1", "1.5"] {
        s.get_with("/api/v1/members", t, (at_least, bad))
            .await
            .expect(400);
    }
    let started = Instant::now();
    let far = (written + 1_000).to_string();
    s.get_with("/api/v1/members", t, (at_least, &far))
        .await
        .expect(409);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it waited first"
    );
}

/// Servers started together on an empty PostgreSQL make one first workspace between them:
/// the one that gets there first creates it, the others find it and load it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_started_together_on_an_empty_store_make_one_workspace() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres, "started_together").await else {
        return;
    };
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(Roster::open(&db.url).await.unwrap());
    }
    let started: Vec<_> = servers
        .iter()
        .map(|roster| {
            let roster = roster.clone();
            tokio::spawn(async move {
                roster
                    .create_first_workspace("Default", "admin@example.com", Actor::System)
                    .await
                    .unwrap()
                    .map(|(boot, _)| boot.workspace.id)
            })
        })
        .collect();
    let mut created = Vec::new();
    for start in started {
        created.extend(start.await.unwrap());
    }
    assert_eq!(
        created.len(),
        1,
        "one server made the workspace: {created:?}"
    );
    for roster in &servers {
        assert_eq!(roster.store().workspace_revisions().await.unwrap().len(), 1);
        roster.workspace(created[0]).await.unwrap();
    }
}
