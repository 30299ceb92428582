//! The `roster` binary as an operator uses it: the CLI, `serve`, SIGTERM, `kill -9`, and
//! a second process writing to the same database.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod support;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
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
    failed_authentications_past_the_budget_are_answered_429_per_address,
    unknown_and_malformed_tokens_are_answered_without_the_store,
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

/// `roster token create … --json` for a member by email: the printed secret.
async fn cli_token(url: &str, workspace: &str, email: &str) -> String {
    let made = run_json(&[
        "token",
        "create",
        "--database-url",
        url,
        "--workspace",
        workspace,
        "--member",
        email,
        "--json",
    ])
    .await;
    made["token"].as_str().unwrap().to_owned()
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
    serve_limited(database_url, dir, extra, env, None).await
}

/// Starts `roster serve`, under `ulimit -n FILES` when given.
async fn serve_limited(
    database_url: Option<&str>,
    dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    files: Option<u32>,
) -> Served {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--listen", listen.as_str()];
    if let Some(url) = database_url {
        args.extend(["--database-url", url]);
    }
    args.extend(extra);
    let mut command = match files {
        None => roster(&args),
        Some(files) => {
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
                .arg(BIN)
                .args(&args)
                .env_remove("ROSTER_DATABASE_URL")
                .env("ROSTER_LOG", "warn")
                .kill_on_drop(true);
            command
        }
    };
    let mut child = command
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
    let bob_token = cli_token(url, workspace, "BOB@acme.test").await;
    let (status, me) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/workspace"),
        &bob_token,
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

// The connection layer: timeouts, the connection cap, hyper's own answers.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The address of a served base URL (`http://127.0.0.1:PORT`).
fn addr_of(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes); returns what was
/// read and how long the server took to close.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, Some(started.elapsed())),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, None),
        }
    }
}

/// A raw answer split into its status, its lower-cased head and its body as JSON.
fn parse_raw(raw: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// Sends raw bytes on a fresh connection and reads the answer until the server closes.
async fn raw_exchange(base: &str, request: &[u8]) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(addr_of(base)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let (raw, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "the server closes after an error answer");
    parse_raw(&raw)
}

/// Asserts an answer is a problem+json document with its status.
#[track_caller]
fn assert_problem(answer: &(u16, String, Value), status: u16) {
    let (got, head, body) = answer;
    assert_eq!(*got, status, "{head}\n{body}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert_eq!(body["status"], json!(status), "{body}");
    for field in ["type", "title", "detail"] {
        assert!(
            body[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} in {body}"
        );
    }
}

/// Asserts an answer is a SCIM error with its status.
#[track_caller]
fn assert_scim_error(answer: &(u16, String, Value), status: u16) {
    let (got, head, body) = answer;
    assert_eq!(*got, status, "{head}\n{body}");
    assert!(
        head.contains("content-type: application/scim+json"),
        "{head}"
    );
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{body}"
    );
    assert_eq!(body["status"], json!(status.to_string()), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_and_idle_timeouts_close_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with(
        None,
        dir.path(),
        &["--header-timeout", "1", "--idle-timeout", "3"],
        &[],
    )
    .await;
    let addr = addr_of(&served.base);

    // A connection that sends nothing has the header timeout for its first request.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // A head that never ends is cut at the header timeout from its first byte.
    let mut partial = TcpStream::connect(&addr).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A kept-alive connection after an answer has the idle timeout, not the header one.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    let (silent_out, silent_closed) = read_until_closed(&mut silent, Duration::from_secs(8)).await;
    let (_, partial_closed) = read_until_closed(&mut partial, Duration::from_secs(8)).await;
    let (kept_out, kept_closed) = read_until_closed(&mut kept, Duration::from_secs(8)).await;
    let silent_closed = silent_closed.expect("a silent connection is closed");
    let partial_closed = partial_closed.expect("a partial head is cut");
    let kept_closed = kept_closed.expect("an idle connection is closed");
    assert!(silent_out.is_empty(), "nothing is answered to silence");
    assert!(kept_out.is_empty());
    eprintln!("closed after: silent {silent_closed:?}, partial {partial_closed:?}, idle {kept_closed:?} (measured from after the first answer)");
    assert!(
        silent_closed < Duration::from_millis(2900),
        "{silent_closed:?}"
    );
    assert!(
        partial_closed < Duration::from_millis(2900),
        "{partial_closed:?}"
    );
    // The idle one was waited on last: by then about 1 s had passed of its 3.
    assert!(
        kept_closed > Duration::from_millis(500),
        "idle is longer than the header timeout: {kept_closed:?}"
    );
    assert!(kept_closed < Duration::from_millis(4500), "{kept_closed:?}");
    sigterm(served).await;
}

/// Opens a request that stays in flight: a body announced and never finished, sent
/// with a valid token to an endpoint that reads it.
async fn request_in_flight(addr: &str, token: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/members HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"email\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_the_oldest_idle_connection_is_shed_or_new_ones_get_503() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("roster.db").display());
    let acme = create_workspace(&url, "Acme", "admin@acme.test").await;
    let token = acme["token"].as_str().unwrap().to_owned();
    let served = serve_with(
        Some(&url),
        dir.path(),
        &["--max-connections", "3", "--body-timeout", "3"],
        &[],
    )
    .await;
    let addr = addr_of(&served.base);
    // Wait for the readiness probe's connection to be closed or shed.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Three idle connections, oldest first; a fourth sheds the oldest.
    let mut oldest = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut second = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _third = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut fourth = TcpStream::connect(&addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut oldest, Duration::from_secs(2)).await;
    assert!(closed.is_some(), "the oldest idle connection is shed");
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (raw, _) = read_until_closed(&mut fourth, Duration::from_secs(5)).await;
    assert_eq!(parse_raw(&raw).0, 200, "the new connection is served");
    let (_, closed) = read_until_closed(&mut second, Duration::from_millis(300)).await;
    assert!(closed.is_none(), "only as many are shed as needed");
    drop((second, _third));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Three requests in flight: nothing can be shed, so a fourth connection is refused.
    let mut busy = Vec::new();
    for _ in 0..3 {
        busy.push(request_in_flight(&addr, &token).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut refused = TcpStream::connect(&addr).await.unwrap();
    let (raw, closed) = read_until_closed(&mut refused, Duration::from_secs(5)).await;
    assert!(closed.is_some());
    let answer = parse_raw(&raw);
    assert_problem(&answer, 503);
    assert!(answer.1.contains("connection: close"), "{}", answer.1);

    // Their bodies never come: each is answered 408 at the body timeout.
    for mut stream in busy {
        let (raw, closed) = read_until_closed(&mut stream, Duration::from_secs(8)).await;
        assert!(closed.is_some(), "a timed-out body closes the connection");
        assert_problem(&parse_raw(&raw), 408);
    }
    sigterm(served).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_hyper_refuses_are_answered_problem_json() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(None, dir.path()).await;
    let base = served.base.clone();

    // A request line that is not HTTP: hyper's 400, replaced.
    assert_problem(&raw_exchange(&base, b"GARBAGE\r\n\r\n").await, 400);
    // A malformed header under /scim/v2: the SCIM error schema.
    assert_scim_error(
        &raw_exchange(
            &base,
            b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
        )
        .await,
        400,
    );
    // A long target: ours answers first (32 KiB), then hyper's own limit (its buffer).
    let long = format!(
        "GET /api/v1/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(33_000)
    );
    assert_problem(&raw_exchange(&base, long.as_bytes()).await, 414);
    let longer = format!(
        "GET /scim/v2/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let answer = raw_exchange(&base, longer.as_bytes()).await;
    assert!(matches!(answer.0, 414 | 431), "{}", answer.1);
    assert_scim_error(&answer, answer.0);
    // Too many header fields: ours (64), then hyper's (100).
    for count in [70, 120] {
        let mut request = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
        for i in 0..count {
            request.push_str(&format!("x-h{i}: v\r\n"));
        }
        request.push_str("\r\n");
        assert_problem(&raw_exchange(&base, request.as_bytes()).await, 431);
    }
    // Header fields too large: ours (16 KiB), then hyper's (its 64 KiB buffer).
    for size in [20_000, 80_000] {
        let request = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
            "b".repeat(size)
        );
        assert_problem(&raw_exchange(&base, request.as_bytes()).await, 431);
    }
    // A kept-alive connection whose second request is malformed: the first answer is the
    // application's, the second is the replaced 400.
    let mut stream = TcpStream::connect(addr_of(&base)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    stream.write_all(b"BAD LINE\r\n\r\n").await.unwrap();
    let (raw, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_problem(&parse_raw(&raw), 400);
    // A request refused before its body is read: the client may go on sending the body
    // (the server drains it while closing, instead of resetting the connection), then
    // reads the answer.
    let mut stream = TcpStream::connect(addr_of(&base)).await.unwrap();
    let body_size = 8 * 1024 * 1024;
    let head = format!(
        "POST /api/v1/groups HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: {body_size}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&vec![b' '; body_size])
        .await
        .expect("the whole body is accepted, not reset");
    let (raw, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed.is_some());
    assert_problem(&parse_raw(&raw), 401);
    // The server still answers.
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    sigterm(served).await;
}

/// A token of the right shape that no workspace has.
fn unknown_token(i: usize) -> String {
    format!("rst_{:0>43}", i)
}

async fn failed_authentications_past_the_budget_are_answered_429_per_address(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.as_str();
    let acme = create_workspace(url, "Acme", "admin@acme.test").await;
    let admin = acme["token"].as_str().unwrap().to_owned();
    let served = serve_with(
        Some(url),
        dir.path(),
        &["--auth-failures-per-minute", "5"],
        &[],
    )
    .await;
    let base = served.base.clone();
    let get = |token: String, path: &'static str, from: &'static str| {
        let base = base.clone();
        async move {
            let client = reqwest::Client::builder()
                .local_address(Some(from.parse().unwrap()))
                .build()
                .unwrap();
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            (
                status,
                headers,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // The budget, and the failure that goes past it, are answered 401.
    for i in 0..6 {
        let (status, _, body) = get(unknown_token(i), "/api/v1/members", "127.0.0.1").await;
        assert_eq!(status, 401, "failure {i}: {body}");
    }
    // Then every bearer from that address is refused before it is looked at: unknown,
    // malformed, valid, API or SCIM.
    let (status, headers, body) = get(unknown_token(99), "/api/v1/members", "127.0.0.1").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        body["type"],
        json!("https://roster.dev/problems/rate-limited")
    );
    let (status, _, _) = get("nonsense".into(), "/api/v1/members", "127.0.0.1").await;
    assert_eq!(status, 429);
    let (status, _, _) = get(admin.clone(), "/api/v1/workspace", "127.0.0.1").await;
    assert_eq!(
        status, 429,
        "a valid token from a throttled address is refused too"
    );
    let (status, headers, body) = get(unknown_token(98), "/scim/v2/Users", "127.0.0.1").await;
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["status"], json!("429"));
    // Requests without a bearer are not throttled.
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    // Another address is not.
    let (status, _, body) = get(admin.clone(), "/api/v1/workspace", "127.0.0.2").await;
    assert_eq!(status, 200, "{body}");
    // A token made by another process after this server missed other tokens works at
    // once: a remembered miss never names a token made later.
    let workspace = acme["workspace_id"].as_str().unwrap();
    let fresh = cli_token(url, workspace, "admin@acme.test").await;
    let (status, _, body) = get(fresh, "/api/v1/workspace", "127.0.0.3").await;
    assert_eq!(status, 200, "{body}");
    // After the wait it names, the address may try again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let (status, _, body) = get(admin, "/api/v1/workspace", "127.0.0.1").await;
    assert_eq!(status, 200, "{body}");
    sigterm(served).await;
}

/// The acceptance test of the connection layer: under `ulimit -n 1024`, with 1,000
/// silent sockets and 500 that send a header byte a second held open (each reopened
/// when the server closes it), `/healthz` and an authenticated read keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_1024_descriptors_answers_under_1500_idle_and_slow_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("roster.db").display());
    let acme = create_workspace(&url, "Acme", "admin@acme.test").await;
    let token = acme["token"].as_str().unwrap().to_owned();
    let served = serve_limited(Some(&url), dir.path(), &[], &[], Some(1024)).await;
    let addr = addr_of(&served.base);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut flood = Vec::new();
    for i in 0..1500 {
        let (addr, stop, opened) = (addr.clone(), stop.clone(), opened.clone());
        let slow = i >= 1000;
        flood.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if opened.load(std::sync::atomic::Ordering::Relaxed) > 1500 {
                    // Closed by the server: come back as a client would, soon.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let Ok(mut stream) = TcpStream::connect(&addr).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if slow {
                    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
                    let mut k = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let byte = head.get(k).copied().unwrap_or(b'a');
                        if stream.write_all(&[byte]).await.is_err() {
                            break;
                        }
                        k += 1;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                } else {
                    let mut buf = [0u8; 64];
                    loop {
                        tokio::select! {
                            read = stream.read(&mut buf) => {
                                if !matches!(read, Ok(n) if n > 0) { break; }
                            }
                            () = tokio::time::sleep(Duration::from_millis(500)) => {
                                if stop.load(std::sync::atomic::Ordering::Relaxed) { break; }
                            }
                        }
                    }
                }
            }
        }));
    }
    // Let the flood open its sockets, then probe for 15 s (past the header timeout, so
    // the server also closes and the flood reopens).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let (mut health, mut reads) = (Vec::new(), Vec::new());
    while started.elapsed() < Duration::from_secs(15) {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let t = Instant::now();
        let response = client.get(format!("{}/healthz", served.base)).send().await;
        assert!(
            response.as_ref().is_ok_and(|r| r.status() == 200),
            "/healthz failed under the flood after {:?}: {response:?}",
            started.elapsed()
        );
        health.push(t.elapsed());
        let t = Instant::now();
        let response = client
            .get(format!("{}/api/v1/workspace", served.base))
            .bearer_auth(&token)
            .send()
            .await;
        assert!(
            response.as_ref().is_ok_and(|r| r.status() == 200),
            "an authenticated read failed under the flood: {response:?}"
        );
        reads.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total_opened = opened.load(std::sync::atomic::Ordering::Relaxed);
    for task in flood {
        task.abort();
    }
    health.sort();
    reads.sort();
    let pct = |v: &[Duration], p: usize| v[(v.len() - 1) * p / 100];
    eprintln!(
        "flood: {total_opened} sockets opened; /healthz p50 {:?} p99 {:?} max {:?}; \
         /api/v1/workspace p50 {:?} max {:?} ({} probes)",
        pct(&health, 50),
        pct(&health, 99),
        health[health.len() - 1],
        pct(&reads, 50),
        reads[reads.len() - 1],
        health.len()
    );
    assert!(total_opened >= 1500, "the flood opened its sockets");
    assert!(
        health[health.len() - 1] < Duration::from_secs(2),
        "/healthz stayed prompt"
    );
    assert!(
        reads[reads.len() - 1] < Duration::from_secs(2),
        "reads stayed prompt"
    );
    sigterm(served).await;
}

/// Runs one statement on a test database, behind the server's back.
async fn execute(db: &TestDb, statement: &str) {
    use sqlx::Connection;
    if db.url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
}

async fn unknown_and_malformed_tokens_are_answered_without_the_store(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.as_str();
    let acme = create_workspace(url, "Acme", "admin@acme.test").await;
    let admin = acme["token"].as_str().unwrap().to_owned();
    let served = serve(Some(url), dir.path()).await;
    let members = format!("{}/api/v1/members", served.base);
    let (status, _) = call(
        reqwest::Method::GET,
        members.clone(),
        &unknown_token(1),
        None,
    )
    .await;
    assert_eq!(status, 401);
    // With the token table gone, a lookup in the store fails (500); what the server
    // remembers, or can tell from the shape, is still answered 401.
    execute(&db, "ALTER TABLE tokens RENAME TO tokens_away").await;
    let (status, body) = call(
        reqwest::Method::GET,
        members.clone(),
        &unknown_token(1),
        None,
    )
    .await;
    assert_eq!(
        status, 401,
        "a repeated unknown token is answered from memory: {body}"
    );
    for malformed in ["rst_short", "not-a-roster-token", &format!("{admin}x")] {
        let (status, body) = call(reqwest::Method::GET, members.clone(), malformed, None).await;
        assert_eq!(status, 401, "{malformed} is refused by its shape: {body}");
    }
    let (status, _) = call(
        reqwest::Method::GET,
        members.clone(),
        &unknown_token(2),
        None,
    )
    .await;
    assert_eq!(
        status, 500,
        "a token not seen before is looked up in the store"
    );
    execute(&db, "ALTER TABLE tokens_away RENAME TO tokens").await;
    let (status, body) = call(reqwest::Method::GET, members, &admin, None).await;
    assert_eq!(status, 200, "{body}");
    sigterm(served).await;
}
