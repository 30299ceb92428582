//! What one request may cost: scanning filters run off the async workers and within a
//! budget, PATCH and its values are capped and applied in linear time, and malformed
//! requests are refused in the SCIM error schema. Each over real TCP.

use std::time::{Duration, Instant};

use reqwest::Method;
use roster_model::Actor;
use serde_json::{json, Value};

use crate::client::{bulk_statuses, fails, ok, Scim, GROUP, PATCH_OP, USER};
use crate::conformance::urlencode;
use crate::kit::Server;
use crate::support::{Backend, TestDb};

/// Provisions `count` users through `/Bulk`, a thousand per request; returns their ids.
async fn provision(scim: &Scim<'_>, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for start in (0..count).step_by(1000) {
        let operations: Vec<Value> = (start..(start + 1000).min(count))
            .map(|i| {
                json!({
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": format!("u{i}"),
                    "data": {
                        "schemas": [USER],
                        "userName": format!("user{i}@acme.test"),
                        "emails": [{"value": format!("user{i}@acme.test"), "primary": true}],
                    },
                })
            })
            .collect();
        let answer = ok(
            scim.post("/Bulk", json!({"Operations": operations})).await,
            200,
        );
        for operation in answer.body["Operations"].as_array().unwrap() {
            assert_eq!(operation["status"], json!("201"), "{operation}");
            let location = operation["location"].as_str().unwrap();
            ids.push(location.rsplit('/').next().unwrap().to_owned());
        }
    }
    ids
}

/// The latency below which `p` of the samples fall.
fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 * p).ceil() as usize).saturating_sub(1);
    samples[index.min(samples.len() - 1)]
}

/// Four clients at a time send a filter of 512 `co` terms over 35,000 users (refused
/// as too costly) and a one-term `co` filter that scans them all (answered), for a few
/// seconds; meanwhile `/healthz` and another workspace's API answer within 50 ms (p99).
/// And that workspace's own pool work (a rule preview) waits for the scan already
/// running, not behind every scan the first workspace has asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanning_filters_leave_other_workspaces_answering() {
    let Some(db) = TestDb::new(Backend::Sqlite, "scanning_filters").await else {
        return;
    };
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    provision(&scim, 35_000).await;
    let (_, other_token) = s
        .roster
        .create_workspace("Other", "admin@other.test", Actor::Cli)
        .await
        .unwrap();

    let wide: Vec<String> = (0..512).map(|i| format!("id co \"q{}\"", i % 10)).collect();
    let wide = format!("/Users?filter={}", urlencode(&wide.join(" or ")));
    let narrow = format!("/Users?filter={}", urlencode("userName co \"user1\""));
    // Each answer as it should be, once, before the clock runs.
    let refused = fails(scim.get(&wide).await, 400, Some("tooMany"));
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("narrow the filter"), "{detail}");
    let scanned = ok(scim.get(&narrow).await, 200);
    assert_eq!(scanned.body["totalResults"], json!(11_111));

    let until = Instant::now() + Duration::from_secs(4);
    let mut scans = Vec::new();
    for client in 0..4 {
        let (base, token, client_http) = (s.base.clone(), scim.token.clone(), s.client.clone());
        let (wide, narrow) = (wide.clone(), narrow.clone());
        scans.push(tokio::spawn(async move {
            let mut answered = 0;
            while Instant::now() < until {
                let path = if (answered + client) % 2 == 0 {
                    &wide
                } else {
                    &narrow
                };
                let status = client_http
                    .get(format!("{base}/scim/v2{path}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                assert!(status == 400 || status == 200, "{status}");
                answered += 1;
            }
            answered
        }));
    }
    let (mut health, mut other) = (Vec::new(), Vec::new());
    while Instant::now() < until {
        let started = Instant::now();
        let answer = s
            .client
            .request(Method::GET, format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        health.push(started.elapsed());
        let started = Instant::now();
        s.get("/api/v1/members?limit=10", &other_token)
            .await
            .expect(200);
        other.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut scanned = 0;
    for scan in scans {
        scanned += scan.await.unwrap();
    }
    let (health_p99, other_p99) = (percentile(&mut health, 0.99), percentile(&mut other, 0.99));
    eprintln!(
        "{scanned} scans; /healthz p99 {health_p99:?} over {} probes, other workspace p99 {other_p99:?} over {}",
        health.len(),
        other.len()
    );
    assert!(scanned >= 4, "the scans ran ({scanned})");

    // Four scans asked at once, then the other workspace's preview: the preview waits
    // for the scan running, not for the three queued behind it.
    let scans: Vec<_> = (0..4)
        .map(|_| {
            let (url, token, client) = (
                format!("{}/scim/v2{narrow}", s.base),
                scim.token.clone(),
                s.client.clone(),
            );
            tokio::spawn(async move {
                let status = client
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status.as_u16(), 200);
                Instant::now()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let preview = json!({"member_kind": "user", "rule": "email ends with \"@other.test\""});
    let previewed = s
        .post("/api/v1/rules/preview", &other_token, preview)
        .await
        .expect(200);
    let preview_done = Instant::now();
    assert_eq!(previewed.body["matches"], 1);
    let mut after = 0;
    for scan in scans {
        after += usize::from(scan.await.unwrap() > preview_done);
    }
    assert!(
        after >= 2,
        "the preview waited behind {} of the other workspace's 4 scans",
        4 - after
    );
    assert!(
        health_p99 < Duration::from_millis(50),
        "/healthz p99 {health_p99:?}"
    );
    assert!(
        other_p99 < Duration::from_millis(50),
        "other workspace p99 {other_p99:?}"
    );
}

crate::on_both_stores!(
    patch_is_capped_and_linear,
    malformed_requests_answer_scim_errors,
    a_burst_of_queued_writes_is_decided_a_budget_at_a_time,
);

/// Writes queued together (SCIM's group commit) are decided while the engine's write
/// lock is held, so one group commit decides them for at most its budget (50 ms) and
/// leaves the rest queued for the next: twelve writes of 20 ms each take four group
/// commits or more, none of more than three writes, and every write is answered.
async fn a_burst_of_queued_writes_is_decided_a_budget_at_a_time(db: TestDb) {
    let s = Server::start(db).await;
    let workspace: roster_model::Id = s.workspace.parse().unwrap();
    let admin = Actor::Member {
        id: s.admin.parse().unwrap(),
    };
    let writes: Vec<_> = (0..12)
        .map(|i| {
            let roster = s.roster.clone();
            tokio::spawn(async move {
                roster
                    .write_queued(workspace, admin, move |ctx| {
                        std::thread::sleep(Duration::from_millis(20));
                        let input = serde_json::from_value(
                            json!({"kind": "user", "email": format!("burst{i}@acme.test")}),
                        )
                        .unwrap();
                        let created = roster_ops::members::create(ctx, input)?;
                        Ok(roster_ops::Outcome {
                            value: created.value.id,
                            events: created.events,
                            audit: created.audit,
                        })
                    })
                    .await
            })
        })
        .collect();
    let mut per_revision = std::collections::BTreeMap::<_, usize>::new();
    for write in writes {
        let (_, revision) = write
            .await
            .unwrap()
            .expect("every queued write is answered");
        *per_revision.entry(revision).or_default() += 1;
    }
    assert!(per_revision.len() >= 4, "{per_revision:?}");
    assert!(per_revision.values().all(|n| *n <= 3), "{per_revision:?}");
    let members = s
        .get("/api/v1/members?limit=100", &s.admin_token)
        .await
        .expect(200);
    let burst = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["email"].as_str().is_some_and(|e| e.starts_with("burst")))
        .count();
    assert_eq!(burst, 12);
}

/// A PATCH of 12,000 operations is refused at once, naming the cap; one at the cap
/// (1,000 member additions and removals) is applied whole; values of one attribute are
/// capped; a group's members change at most 1,000 at a time.
async fn patch_is_capped_and_linear(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let users = provision(&scim, 1_200).await;
    let group = scim.group("Engineers", &[]).await;

    // Removals by value filter, as Entra ID sends them: 12,000 fit in 1 MiB.
    let many: Vec<Value> = (0..12_000)
        .map(|i| {
            json!({"op": "remove",
                   "path": format!("members[value eq \"{}\"]", users[i % users.len()])})
        })
        .collect();
    let started = Instant::now();
    let refused = fails(
        scim.patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_OP], "Operations": many}),
        )
        .await,
        400,
        Some("tooMany"),
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(refused.body["detail"].as_str().unwrap().contains("1000"));

    // At the cap: 1,000 single-member additions (as Okta sends them).
    let adds: Vec<Value> = users[..1000]
        .iter()
        .map(|id| json!({"op": "add", "path": "members", "value": [{"value": id}]}))
        .collect();
    let started = Instant::now();
    let answer = ok(
        scim.patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_OP], "Operations": adds}),
        )
        .await,
        200,
    );
    assert_eq!(answer.body["members"].as_array().unwrap().len(), 1000);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // And 1,000 removals by value filter (as Entra ID sends them), at the cap too.
    let removes: Vec<Value> = users[..1000]
        .iter()
        .map(|id| json!({"op": "Remove", "path": format!("members[value eq \"{id}\"]")}))
        .collect();
    let answer = ok(
        scim.patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_OP], "Operations": removes}),
        )
        .await,
        200,
    );
    assert!(answer.body.get("members").is_none_or(|m| m == &json!([])));

    // More than 1,000 member changes in one request, though in fewer operations.
    let all: Vec<Value> = users.iter().map(|id| json!({"value": id})).collect();
    let refused = fails(
        scim.patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_OP],
                   "Operations": [{"op": "add", "path": "members", "value": all}]}),
        )
        .await,
        400,
        Some("tooMany"),
    );
    assert!(refused.body["detail"].as_str().unwrap().contains("1000"));

    // Values of one attribute of a user: at most 100.
    let emails: Vec<Value> = (0..101)
        .map(|i| json!({"value": format!("e{i}@acme.test")}))
        .collect();
    let refused = fails(
        scim.patch(
            &format!("/Users/{}", users[0]),
            json!({"schemas": [PATCH_OP],
                   "Operations": [{"op": "add", "path": "emails", "value": emails}]}),
        )
        .await,
        400,
        Some("tooMany"),
    );
    assert!(refused.body["detail"].as_str().unwrap().contains("100"));

    // /Bulk: each operation on a group costs its members; past the budget the rest are
    // tooMany. A thousand members, then 120 renames: the first 100 fit.
    let adds: Vec<Value> = users[..1000]
        .iter()
        .map(|id| json!({"value": id}))
        .collect();
    ok(
        scim.patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_OP],
                   "Operations": [{"op": "add", "path": "members", "value": adds}]}),
        )
        .await,
        200,
    );
    // A write's answer is shaped as a GET's: without its members when asked so.
    let renamed = ok(
        scim.patch(
            &format!("/Groups/{group}?excludedAttributes=members"),
            json!({"schemas": [PATCH_OP],
                   "Operations": [{"op": "replace", "path": "displayName", "value": "Quiet"}]}),
        )
        .await,
        200,
    );
    assert!(renamed.body.get("members").is_none(), "{}", renamed.body);
    assert_eq!(renamed.body["displayName"], json!("Quiet"));
    let shown = ok(scim.get(&format!("/Groups/{group}")).await, 200);
    assert_eq!(shown.body["members"].as_array().unwrap().len(), 1000);
    let renames: Vec<Value> = (0..120)
        .map(|i| {
            json!({"method": "PATCH", "path": format!("/Groups/{group}"), "data": {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "displayName", "value": format!("G{i}")}]}})
        })
        .collect();
    let answer = ok(
        scim.post("/Bulk", json!({"Operations": renames})).await,
        200,
    );
    let statuses = bulk_statuses(&answer);
    assert_eq!(statuses.iter().filter(|s| **s == "200").count(), 100);
    assert_eq!(statuses.iter().filter(|s| **s == "400").count(), 20);
    assert_eq!(
        answer.body["Operations"][100]["response"]["scimType"],
        json!("tooMany")
    );

    // Members listed in an operation's data cost too: twenty new groups of a thousand
    // members each, where four fit the budget.
    let members: Vec<Value> = users[..1000]
        .iter()
        .map(|id| json!({"value": id}))
        .collect();
    let creations: Vec<Value> = (0..20)
        .map(|i| {
            json!({"method": "POST", "path": "/Groups", "bulkId": format!("g{i}"), "data": {
                "schemas": [GROUP], "displayName": format!("Crowd {i}"), "members": members}})
        })
        .collect();
    let answer = ok(
        scim.post("/Bulk", json!({"Operations": creations})).await,
        200,
    );
    let statuses = bulk_statuses(&answer);
    assert_eq!(
        statuses.iter().filter(|s| **s == "201").count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == "400").count(), 16);
}

/// A key named twice at any depth is `400 invalidSyntax`; ids that are not ids, unknown
/// paths, wrong methods and unreadable query strings answer the SCIM error schema.
async fn malformed_requests_answer_scim_errors(db: TestDb) {
    let s = Server::start(db).await;
    let scim = Scim::new(&s).await;
    let id = scim.user("ada@acme.test").await;
    let raw = |method: Method, path: &str, body: &str| {
        s.client
            .request(method, format!("{}/scim/v2{path}", s.base))
            .bearer_auth(&scim.token)
            .header("content-type", "application/scim+json")
            .body(body.to_owned())
            .send()
    };
    for (method, path, body) in [
        (
            Method::POST,
            "/Users".to_owned(),
            format!(
                r#"{{"schemas":["{USER}"],"userName":"a@acme.test","userName":"b@acme.test"}}"#
            ),
        ),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            format!(
                r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"replace","path":"displayName","value":"A","value":"B"}}]}}"#
            ),
        ),
        (
            Method::POST,
            "/Groups".to_owned(),
            format!(
                r#"{{"schemas":["{GROUP}"],"displayName":"G","members":[{{"value":"{id}","value":"x"}}]}}"#
            ),
        ),
    ] {
        let answer = Server::answer(raw(method, &path, &body).await.unwrap()).await;
        let answer = fails(answer, 400, Some("invalidSyntax"));
        assert!(answer.body["detail"].as_str().unwrap().contains("twice"));
    }
    fails(scim.get("/Users/not-a-uuid").await, 404, None);
    fails(scim.get("/Users/%FF").await, 404, None);
    fails(scim.get("/Nothing/here").await, 404, None);
    fails(scim.get(&format!("/Users/{id}/more")).await, 404, None);
    fails(scim.delete("/Users").await, 405, None);
    fails(
        scim.send(Method::PUT, "/Bulk", Some(json!({})), &[]).await,
        405,
        None,
    );
    fails(scim.get("/Users?filter=%FF").await, 400, None);
    // A name taken from `userName` is refused under that name.
    let hidden = fails(
        scim.post(
            "/Users",
            json!({"schemas": [USER], "userName": "eve\u{202e}@acme.test",
                   "emails": [{"value": "eve@acme.test"}]}),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    assert!(
        hidden.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("userName"),
        "{}",
        hidden.body
    );
}
