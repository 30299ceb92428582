//! The `roster` binary as an operator uses it: the CLI, `serve`, SIGTERM, `kill -9`, and
//! a second process writing to the same database.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::TestDb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

on_both_stores!(
    cli_creates_workspaces_and_tokens_and_serve_survives_kill_9,
    an_invitation_committed_before_kill_9_is_mailed_once_after_restart,
    export_then_import_reproduces_a_workspace,
    a_scim_token_from_the_cli_provisions_through_a_running_server,
    no_secret_handed_out_reaches_the_log,
);

fn roster(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("ROSTER_DATABASE_URL")
        .env("ROSTER_LOG", "warn")
        .kill_on_drop(true);
    command
}

async fn run_json(args: &[&str]) -> Value {
    let output = roster(args).output().await.unwrap();
    assert!(
        output.status.success(),
        "roster {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "roster {args:?} printed no JSON object ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// `roster workspace create … --json`: the printed object.
async fn create_workspace(url: &str, name: &str, admin_email: &str) -> Value {
    run_json(&[
        "workspace",
        "create",
        "--database-url",
        url,
        "--name",
        name,
        "--admin-email",
        admin_email,
        "--json",
    ])
    .await
}

use support::smtp::{free_port, smtp_server};

struct Served {
    child: Child,
    base: String,
    stdout: Vec<String>,
}

/// Starts `roster serve` and waits until it answers `/healthz`.
async fn serve(database_url: Option<&str>, dir: &Path) -> Served {
    serve_with(database_url, dir, &[], &[]).await
}

/// Starts `roster serve` with more arguments and environment variables.
async fn serve_with(
    database_url: Option<&str>,
    dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Served {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--listen", listen.as_str()];
    if let Some(url) = database_url {
        args.extend(["--database-url", url]);
    }
    args.extend(extra);
    let mut child = roster(&args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "roster serve exited early"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "roster serve did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut stdout = Vec::new();
    if let Some(out) = child.stdout.take() {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
        {
            stdout.push(line);
        }
    }
    Served {
        child,
        base,
        stdout,
    }
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn sigterm(mut served: Served) {
    let pid = served.child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), served.child.wait())
        .await
        .expect("stopped on SIGTERM")
        .unwrap();
    assert!(exit.success(), "a graceful stop exits 0, got {exit:?}");
}

async fn cli_creates_workspaces_and_tokens_and_serve_survives_kill_9(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.as_str();
    let acme = create_workspace(url, "Acme", "admin@acme.test").await;
    let globex = create_workspace(url, "Globex", "admin@globex.test").await;
    for field in ["workspace_id", "admin_member_id", "token"] {
        assert!(
            acme[field].as_str().is_some_and(|v| !v.is_empty()),
            "workspace create prints {field}"
        );
    }
    assert_ne!(acme["workspace_id"], globex["workspace_id"]);
    let token = acme["token"].as_str().unwrap().to_owned();

    let served = serve(Some(url), dir.path()).await;
    assert!(
        !served.stdout.iter().any(|l| l.contains("rst_")),
        "a database with workspaces is not bootstrapped again"
    );
    let base = served.base.clone();
    let (status, ws) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/workspace"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ws["id"], acme["workspace_id"]);
    let (status, bob) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/members"),
        &token,
        Some(json!({"kind": "user", "email": "bob@acme.test"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, group) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/groups"),
        &token,
        Some(json!({"name": "Durable"})),
    )
    .await;
    assert_eq!(status, 201);
    let group_id = group["id"].as_str().unwrap();
    let (status, _) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/groups/{group_id}/members"),
        &token,
        Some(json!({"member_id": bob["id"]})),
    )
    .await;
    assert_eq!(status, 201);

    // Another process (the CLI) writes; the running server honours its token at once.
    let workspace = acme["workspace_id"].as_str().unwrap();
    let bob_token = run_json(&[
        "token",
        "create",
        "--database-url",
        url,
        "--workspace",
        workspace,
        "--member",
        "BOB@acme.test",
        "--json",
    ])
    .await;
    let (status, me) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/workspace"),
        bob_token["token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(me["me"], bob["id"]);
    // The CLI's token write shows in the server's audit log within a second.
    let started = Instant::now();
    loop {
        let (_, audit) = call(
            reqwest::Method::GET,
            format!("{base}/api/v1/audit?limit=1"),
            &token,
            None,
        )
        .await;
        if audit["items"][0]["actor"]["type"] == "cli" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the CLI's write is seen within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // kill -9: everything acknowledged is still there after a restart.
    let mut served = served;
    served.child.kill().await.unwrap();
    let served = serve(Some(url), dir.path()).await;
    let base = served.base.clone();
    let (status, members) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/groups/{group_id}/members"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let ids: Vec<&Value> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["member_id"])
        .collect();
    assert!(
        ids.contains(&&bob["id"]),
        "bob's membership survived kill -9"
    );
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/workspace"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/members"),
        globex["token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    sigterm(served).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_no_database_option_bootstraps_roster_db_once() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(None, dir.path()).await;
    assert!(
        dir.path().join("roster.db").exists(),
        "the default store is ./roster.db"
    );
    let token = served
        .stdout
        .iter()
        .find_map(|line| {
            line.split_whitespace()
                .find(|w| w.starts_with("rst_"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            panic!(
                "the first start prints the admin token: {:?}",
                served.stdout
            )
        });
    let (status, groups) = call(
        reqwest::Method::GET,
        format!("{}/api/v1/groups", served.base),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(groups["items"].as_array().unwrap().len(), 8);
    sigterm(served).await;
    let again = serve(None, dir.path()).await;
    assert!(
        !again.stdout.iter().any(|l| l.contains("rst_")),
        "the token is printed once: {:?}",
        again.stdout
    );
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{}/api/v1/groups", again.base),
        &token,
        None,
    )
    .await;
    assert_eq!(
        status, 200,
        "the bootstrap token still works after a restart"
    );
    sigterm(again).await;
}

#[tokio::test]
async fn cli_errors_are_reported_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let bad_email = roster(&[
        "workspace",
        "create",
        "--database-url",
        &url,
        "--name",
        "A",
        "--admin-email",
        "nope",
        "--json",
    ])
    .output()
    .await
    .unwrap();
    assert!(!bad_email.status.success());
    assert!(String::from_utf8_lossy(&bad_email.stderr).contains("not a valid email"));
    let ws = create_workspace(&url, "A", "a@a.test").await;
    let plain_path = dir.path().join("plain.db");
    let plain = create_workspace(plain_path.to_str().unwrap(), "P", "p@a.test").await;
    assert!(
        plain["workspace_id"].is_string() && plain_path.exists(),
        "a plain path is a SQLite file"
    );
    let missing = roster(&[
        "token",
        "create",
        "--database-url",
        &url,
        "--workspace",
        ws["workspace_id"].as_str().unwrap(),
        "--member",
        "ghost@a.test",
    ])
    .output()
    .await
    .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ghost@a.test"));
    let bad_url = roster(&[
        "workspace",
        "create",
        "--database-url",
        "mysql://x",
        "--name",
        "A",
        "--admin-email",
        "a@a.test",
    ])
    .output()
    .await
    .unwrap();
    assert!(!bad_url.status.success());
}

async fn export_then_import_reproduces_a_workspace(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.as_str();
    let acme = create_workspace(url, "Acme", "admin@acme.test").await;
    let token = acme["token"].as_str().unwrap();
    let workspace = acme["workspace_id"].as_str().unwrap();
    let served = serve(Some(url), dir.path()).await;
    let base = served.base.clone();
    let post = |path: &str, body: Value| {
        call(
            reqwest::Method::POST,
            format!("{base}{path}"),
            token,
            Some(body),
        )
    };
    assert_eq!(
        post(
            "/api/v1/properties",
            json!({"name": "site", "applies_to": "user", "type": "text"})
        )
        .await
        .0,
        201
    );
    let (_, bob) = post(
        "/api/v1/members",
        json!({"kind": "user", "email": "bob@acme.test", "properties": {"site": "Oslo"}}),
    )
    .await;
    let (_, group) = post("/api/v1/groups", json!({"name": "Team"})).await;
    let group_id = group["id"].as_str().unwrap();
    assert_eq!(
        post(
            &format!("/api/v1/groups/{group_id}/members"),
            json!({"member_id": bob["id"]})
        )
        .await
        .0,
        201
    );
    assert_eq!(post("/api/v1/members", json!({"kind": "customer", "email": "c@globex.test", "account": "Globex", "email_verified": true})).await.0, 201);
    // An identity provider's user and group, and an admin's change to the SCIM mapping.
    let scim = run_json(&[
        "scim",
        "token",
        "create",
        "--database-url",
        url,
        "--workspace",
        workspace,
        "--json",
    ])
    .await;
    let scim = scim["token"].as_str().unwrap();
    let (status, sam) = call(
        reqwest::Method::POST,
        format!("{base}/scim/v2/Users"),
        scim,
        Some(json!({"userName": "sam@acme.test", "externalId": "00u1", "title": "Lead"})),
    )
    .await;
    assert_eq!(status, 201, "{sam}");
    let (status, _) = call(
        reqwest::Method::POST,
        format!("{base}/scim/v2/Groups"),
        scim,
        Some(json!({"displayName": "Okta Team", "members": [{"value": sam["id"]}]})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        reqwest::Method::PUT,
        format!("{base}/api/v1/scim/mapping"),
        token,
        Some(json!({"overrides": {"title": "site"}})),
    )
    .await;
    assert_eq!(status, 200);
    sigterm(served).await;

    let first = dir.path().join("acme.jsonl");
    let export = roster(&[
        "workspace",
        "export",
        "--database-url",
        url,
        "--workspace",
        workspace,
        "--output",
        first.to_str().unwrap(),
    ])
    .output()
    .await
    .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let text = std::fs::read_to_string(&first).unwrap();
    assert_eq!(
        text.lines().count(),
        1 + 1 + 10 + 4 + 7 + 5 + 2 + 1,
        "workspace, property, 10 groups, 4 members, 7 memberships (admin in Admins, Platform Users and Team as owner; bob in Platform Users and Team; sam in Platform Users and Okta Team), 5 default roles, 2 SCIM resources, the SCIM mapping"
    );
    assert!(text.contains("\"record\":\"scim_resource\""));
    assert!(text.contains("\"user_name\":\"sam@acme.test\""));
    assert!(!text.contains(scim), "no SCIM token secret is exported");

    let target = format!("sqlite://{}", dir.path().join("copy.db").display());
    let summary = run_json(&[
        "workspace",
        "import",
        "--database-url",
        &target,
        "--input",
        first.to_str().unwrap(),
    ])
    .await;
    assert_eq!(summary["workspace_id"], acme["workspace_id"]);
    assert_eq!(summary["members"], 4);
    assert_eq!(summary["scim_resources"], 2);
    let second = dir.path().join("copy.jsonl");
    let output = roster(&[
        "workspace",
        "export",
        "--database-url",
        &target,
        "--workspace",
        workspace,
    ])
    .output()
    .await
    .unwrap();
    std::fs::write(&second, &output.stdout).unwrap();
    assert_eq!(
        std::fs::read_to_string(&second).unwrap(),
        text,
        "the import holds exactly what was exported"
    );

    let again = roster(&[
        "workspace",
        "import",
        "--database-url",
        &target,
        "--input",
        first.to_str().unwrap(),
    ])
    .output()
    .await
    .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(
        &broken,
        text.replacen("\"record\":\"member\"", "\"record\":\"mystery\"", 1),
    )
    .unwrap();
    let fresh = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let refused = roster(&[
        "workspace",
        "import",
        "--database-url",
        &fresh,
        "--input",
        broken.to_str().unwrap(),
    ])
    .output()
    .await
    .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("line 13"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[tokio::test]
async fn rules_check_counts_matches_or_points_at_errors() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let ws = create_workspace(&url, "R", "admin@r.test").await;
    let workspace = ws["workspace_id"].as_str().unwrap();
    let ok = roster(&[
        "rules",
        "check",
        "--database-url",
        &url,
        "--workspace",
        workspace,
        "--kind",
        "user",
        "email_domain = r.test",
    ])
    .output()
    .await
    .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "1 active user member(s) match"
    );
    let bad = roster(&[
        "rules",
        "check",
        "--database-url",
        &url,
        "--workspace",
        workspace,
        "--kind",
        "user",
        "emial = x AND type > 3",
    ])
    .output()
    .await
    .unwrap();
    assert!(!bad.status.success());
    let report = String::from_utf8_lossy(&bad.stderr);
    assert!(report.contains("did you mean `email`"), "{report}");
    assert!(
        report.contains("  emial = x AND type > 3\n  ^^^^^\n"),
        "a caret line under the span: {report}"
    );
    assert!(
        report.contains("\n                     ^\n"),
        "the second error is underlined too: {report}"
    );
}

async fn an_invitation_committed_before_kill_9_is_mailed_once_after_restart(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.as_str();
    let acme = create_workspace(url, "Acme", "admin@acme.test").await;
    let token = acme["token"].as_str().unwrap().to_owned();
    let smtp_port = free_port();
    let smtp_url = format!("smtp://127.0.0.1:{smtp_port}");

    // The mail server is down: the invitation commits, its email cannot go out.
    let mut first = serve_with(
        Some(url),
        dir.path(),
        &[
            "--smtp-url",
            &smtp_url,
            "--public-url",
            "https://roster.acme.test",
        ],
        &[],
    )
    .await;
    let (status, created) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/invitations", first.base),
        &token,
        Some(json!({"emails": ["new@acme.test"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["results"][0].get("link").is_none());
    let id = created["results"][0]["invitation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let show = |base: String| {
        let (token, id) = (token.clone(), id.clone());
        async move {
            call(
                reqwest::Method::GET,
                format!("{base}/api/v1/invitations/{id}"),
                &token,
                None,
            )
            .await
            .1
        }
    };
    let started = Instant::now();
    while show(first.base.clone()).await["delivery"]["state"] != "retrying" {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the failed try shows"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.child.kill().await.unwrap();

    // The mail server comes up; a new process (configured by environment) sends it once.
    let inbox = smtp_server(smtp_port);
    let second = serve_with(
        Some(url),
        dir.path(),
        &[],
        &[
            ("ROSTER_SMTP_URL", &smtp_url),
            ("ROSTER_PUBLIC_URL", "https://roster.acme.test"),
        ],
    )
    .await;
    let started = Instant::now();
    while show(second.base.clone()).await["delivery"]["state"] != "sent" {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "sent after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = inbox.received();
    assert_eq!(received.len(), 1, "sent exactly once");
    assert!(received[0]
        .1
        .contains("https://roster.acme.test/invitations/accept?token=rst_"));
    sigterm(second).await;
}

async fn a_scim_token_from_the_cli_provisions_through_a_running_server(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.as_str();
    let acme = create_workspace(url, "Acme", "admin@acme.test").await;
    let workspace = acme["workspace_id"].as_str().unwrap();
    let served = serve(Some(url), dir.path()).await;
    let base = served.base.clone();
    // Made by another process while the server runs.
    let made = run_json(&[
        "scim",
        "token",
        "create",
        "--database-url",
        url,
        "--workspace",
        workspace,
        "--name",
        "Okta",
        "--json",
    ])
    .await;
    assert_eq!(made["name"], json!("Okta"));
    let token = made["token"].as_str().unwrap();
    let (status, user) = call(
        reqwest::Method::POST,
        format!("{base}/scim/v2/Users"),
        token,
        Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "cli@acme.test"})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    // The SCIM token is not an API token, and the admin's API token is not a SCIM token.
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/members"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 401);
    let admin = acme["token"].as_str().unwrap();
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{base}/scim/v2/Users"),
        admin,
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, member) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/members/{}", user["id"].as_str().unwrap()),
        admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(member["email"], json!("cli@acme.test"));
    sigterm(served).await;
}

/// Every secret a whole run hands out (API tokens, a SCIM token, an invitation link, the
/// token an acceptance returns, the database password) is searched for in everything the
/// server printed, at the most verbose log level. Only the first admin's token may
/// appear, once, on the line that shows it.
async fn no_secret_handed_out_reaches_the_log(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    // A password in the URL: PostgreSQL here trusts local connections and never asks
    // for it, so the URL works and the password must still never be printed.
    let password = "hunter2-db-secret";
    let url = match db.url.strip_prefix("postgres://postgres@") {
        Some(rest) => format!("postgres://postgres:{password}@{rest}"),
        None => db.url.clone(),
    };
    let acme = create_workspace(&url, "Acme", "admin@example.com").await;
    let admin = acme["token"].as_str().unwrap().to_owned();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = roster(&["serve", "--listen", &listen, "--database-url", &url])
        .env("ROSTER_LOG", "trace")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let collect = |stream: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut out = Vec::new();
            if let Some(stream) = stream {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    out.push(line);
                }
            }
            out
        })
    };
    let stdout = collect(child.stdout.take().map(|s| Box::new(s) as _));
    let stderr = collect(child.stderr.take().map(|s| Box::new(s) as _));
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while !client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(started.elapsed() < Duration::from_secs(30), "not up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut secrets = vec![password.to_owned(), admin.clone()];
    let (status, made) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/tokens"),
        &admin,
        Some(json!({"name": "laptop"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    secrets.push(made["token"].as_str().unwrap().to_owned());
    let (status, scim) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/scim/tokens"),
        &admin,
        Some(json!({"name": "IdP"})),
    )
    .await;
    assert_eq!(status, 201, "{scim}");
    let scim = scim["token"].as_str().unwrap().to_owned();
    secrets.push(scim.clone());
    let (status, invited) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/invitations"),
        &admin,
        Some(json!({"emails": ["new@example.com"]})),
    )
    .await;
    assert_eq!(status, 201, "{invited}");
    let link = invited["results"][0]["link"].as_str().unwrap().to_owned();
    let invitation = link.split("token=").nth(1).unwrap().to_owned();
    secrets.push(invitation.clone());
    // Every credential is used, so that request logging sees it too.
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let accepted = client
        .post(format!("{base}/api/v1/invitations/accept"))
        .json(&json!({"token": invitation}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 201);
    let accepted: Value = accepted.json().await.unwrap();
    let new_token = accepted["token"].as_str().unwrap().to_owned();
    secrets.push(new_token.clone());
    for (path, token) in [
        ("/api/v1/members", new_token.as_str()),
        ("/api/v1/members", secrets[2].as_str()),
        ("/scim/v2/Users", scim.as_str()),
    ] {
        let (status, _) = call(reqwest::Method::GET, format!("{base}{path}"), token, None).await;
        assert_eq!(status, 200, "{path}");
    }
    sigterm(Served {
        child,
        base,
        stdout: Vec::new(),
    })
    .await;
    let printed: Vec<String> = stdout
        .await
        .unwrap()
        .into_iter()
        .chain(stderr.await.unwrap())
        .collect();
    assert!(
        printed.iter().any(|l| l.contains("roster is serving")),
        "the log was captured"
    );
    for secret in &secrets {
        let leaks: Vec<&String> = printed.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "a secret was printed: {leaks:?}");
    }
    let tokens: Vec<&String> = printed.iter().filter(|l| l.contains("rst_")).collect();
    assert!(tokens.is_empty(), "a token was printed: {tokens:?}");
}
