//! An in-process Roster server on a real TCP port, with a first workspace, and a client.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use roster::mail::sender::Mailer;
use roster::mail::InviteSettings;
use roster::Roster;
use roster_model::Actor;
use serde_json::{json, Value};

use crate::support::proxy::FaultProxy;
use crate::support::TestDb;

/// A running server and the admin of its first workspace.
pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub roster: Arc<Roster>,
    pub workspace: String,
    pub admin: String,
    pub admin_token: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub db: TestDb,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves a runtime on a fresh port: the API, the follower and, with a mailer, the
/// invitation sender. Returns the base URL and the tasks.
async fn serve(
    roster: &Arc<Roster>,
    settings: InviteSettings,
    mailer: Option<Mailer>,
) -> (String, Vec<tokio::task::JoinHandle<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    // The production connection layer, with a budget of failed authentications no
    // test reaches (tests send bad tokens on purpose; the throttle has tests of its own).
    let throttle = roster::throttle::AuthThrottle::new(1_000_000);
    let app = roster::http::router_full(roster.clone(), settings, throttle);
    let limits = roster::listen::Limits::default();
    let mut tasks = vec![
        tokio::spawn(roster::listen::serve(
            listener,
            app,
            limits,
            std::future::pending(),
        )),
        tokio::spawn(roster.clone().follow()),
    ];
    if let Some(mailer) = mailer {
        tasks.push(tokio::spawn(roster::mail::sender::run(
            roster.clone(),
            mailer,
        )));
    }
    (base, tasks)
}

/// An HTTP answer: status, headers and the JSON body (or `Null`).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The body's `id` as a string.
    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Asserts the status and that an error is problem+json.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected answer: {}",
            self.body
        );
        if status >= 400 {
            let content_type = self
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert_eq!(
                content_type, "application/problem+json",
                "errors are problem+json"
            );
            assert_eq!(self.body["status"].as_u64(), Some(u64::from(status)));
            assert!(
                self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "problem has a detail"
            );
        }
        self
    }
}

impl Server {
    /// Starts a server over a fresh store with one workspace.
    pub async fn start(db: TestDb) -> Server {
        Self::start_with(db, InviteSettings::default(), None).await
    }

    /// Starts a server with invitation settings and, optionally, an invitation sender.
    pub async fn start_with(
        db: TestDb,
        settings: InviteSettings,
        mailer: Option<Mailer>,
    ) -> Server {
        let roster = Roster::open(&db.url).await.expect("open the store");
        let (boot, token) = roster
            .create_workspace("Acme", "admin@acme.test", Actor::Cli)
            .await
            .expect("bootstrap");
        let (base, tasks) = serve(&roster, settings, mailer).await;
        Server {
            base,
            client: reqwest::Client::new(),
            roster,
            workspace: boot.workspace.id.to_string(),
            admin: boot.admin.id.to_string(),
            admin_token: token,
            tasks,
            db,
        }
    }

    /// Stops serving: the API, the follower and the sender end, as in a crash.
    pub fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }

    /// Stops and starts again over the same store, as a new process would: nothing is
    /// kept but what the store holds.
    pub async fn restart(&mut self, settings: InviteSettings, mailer: Option<Mailer>) {
        let url = self.db.url.clone();
        self.reopen(settings, mailer, roster_store::Deadlines::default(), &url)
            .await;
    }

    /// [`restart`](Self::restart) with the store's deadlines given.
    pub async fn restart_with_deadlines(&mut self, deadlines: roster_store::Deadlines) {
        let url = self.db.url.clone();
        self.reopen(InviteSettings::default(), None, deadlines, &url)
            .await;
    }

    /// A server on PostgreSQL reached through a fault proxy, with deadlines short enough
    /// for a test (a second to connect or to get a lock); `None` when PostgreSQL is
    /// skipped.
    pub async fn behind_a_proxy(test: &str) -> Option<(Server, FaultProxy)> {
        let db = TestDb::new(crate::support::Backend::Postgres, test).await?;
        let mut s = Server::start(db).await;
        let proxy = FaultProxy::start(FaultProxy::upstream_of(&s.db.url)).await;
        let deadlines = roster_store::Deadlines {
            connect: std::time::Duration::from_secs(1),
            lock: std::time::Duration::from_secs(1),
            statement: std::time::Duration::from_secs(2),
            idle_in_transaction: std::time::Duration::from_secs(2),
        };
        s.restart_through(&proxy.url_for(&s.db.url), deadlines)
            .await;
        Some((s, proxy))
    }

    /// The ids of the members the store holds, read past any proxy.
    pub async fn stored_members(&self) -> std::collections::BTreeSet<String> {
        let store = roster_store::open(&self.db.url).await.expect("the store");
        let snapshot = store
            .load(self.workspace.parse().expect("a workspace id"))
            .await
            .expect("loaded")
            .expect("the workspace");
        snapshot.members.iter().map(|m| m.id.to_string()).collect()
    }

    /// The ids of the members the server lists to its admin, or `None` when it answers
    /// 503.
    pub async fn served_members(&self) -> Option<std::collections::BTreeSet<String>> {
        let answer = self
            .get("/api/v1/members?limit=1000", &self.admin_token)
            .await;
        match answer.status.as_u16() {
            200 => Some(
                answer.body["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_owned))
                    .collect(),
            ),
            503 => None,
            other => panic!("a read answered {other}: {}", answer.body),
        }
    }

    /// A new SCIM token made by the admin: its secret and its id.
    pub async fn scim_token(&self) -> (String, String) {
        let made = self
            .post(
                "/api/v1/scim/tokens",
                &self.admin_token,
                json!({"name": "IdP"}),
            )
            .await
            .expect(201);
        let secret = made.body["token"].as_str().expect("a secret").to_owned();
        (secret, made.id())
    }

    /// [`restart`](Self::restart) over another way to the same store (a fault proxy),
    /// with the store's deadlines given.
    pub async fn restart_through(&mut self, url: &str, deadlines: roster_store::Deadlines) {
        self.reopen(InviteSettings::default(), None, deadlines, url)
            .await;
    }

    async fn reopen(
        &mut self,
        settings: InviteSettings,
        mailer: Option<Mailer>,
        deadlines: roster_store::Deadlines,
        url: &str,
    ) {
        self.stop();
        let roster = Roster::open_with(url, deadlines)
            .await
            .expect("reopen the store");
        roster.load_all().await.expect("load");
        let (base, tasks) = serve(&roster, settings, mailer).await;
        self.roster = roster;
        self.base = base;
        self.tasks = tasks;
    }

    /// Sends a request with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::answer(request.send().await.expect("request")).await
    }

    /// Sends raw bytes as a JSON body.
    pub async fn raw(&self, method: Method, path: &str, token: &str, body: Vec<u8>) -> Answer {
        let request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body);
        Self::answer(request.send().await.expect("request")).await
    }

    pub async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str) -> Answer {
        self.call(Method::PUT, path, Some(token), None).await
    }

    /// Creates a role granting `privileges` (`(object_type, privilege)`) as the admin.
    pub async fn role(&self, name: &str, privileges: &[(&str, &str)]) -> String {
        let privileges: Vec<Value> = privileges
            .iter()
            .map(|(o, p)| json!({"object_type": o, "privilege": p}))
            .collect();
        self.post(
            "/api/v1/roles",
            &self.admin_token,
            json!({"name": name, "privileges": privileges}),
        )
        .await
        .expect(201)
        .id()
    }

    /// Asks whether `member` may do `privilege` on `object_type`, as `token`.
    pub async fn allowed(
        &self,
        token: &str,
        member: &str,
        privilege: &str,
        object_type: &str,
    ) -> bool {
        let answer = self
            .post(
                "/api/v1/access/check",
                token,
                json!({"member_id": member, "privilege": privilege, "object_type": object_type}),
            )
            .await
            .expect(200);
        assert!(
            answer.body["revision"].as_i64().is_some(),
            "a check answers its revision"
        );
        answer.body["allowed"]
            .as_bool()
            .expect("allowed is a boolean")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a team member (as the admin) and a token for it.
    pub async fn user(&self, email: &str) -> (String, String) {
        let id = self
            .post(
                "/api/v1/members",
                &self.admin_token,
                json!({"kind": "user", "email": email}),
            )
            .await
            .expect(201)
            .id();
        (id.clone(), self.token_for(&id).await)
    }

    /// Creates a customer of an account (as the admin) and a token for it.
    pub async fn customer(&self, email: &str, account: &str) -> (String, String) {
        let id = self
            .post(
                "/api/v1/members",
                &self.admin_token,
                json!({"kind": "customer", "email": email, "account": account}),
            )
            .await
            .expect(201)
            .id();
        (id.clone(), self.token_for(&id).await)
    }

    /// A token for any member, issued as an operator would at the command line.
    pub async fn token_for(&self, member: &str) -> String {
        let member = member.parse().expect("member id");
        let workspace = self.workspace.parse().expect("workspace id");
        let (secret, hash) = roster::secret::new_token();
        self.roster
            .write(workspace, Actor::Cli, |ctx| {
                roster_ops::tokens::create(ctx, Some(member), None, hash)
            })
            .await
            .expect("token");
        secret
    }

    /// The id of a default group by name.
    pub async fn group_named(&self, name: &str) -> String {
        let groups = self
            .get("/api/v1/groups", &self.admin_token)
            .await
            .expect(200);
        groups.body["items"]
            .as_array()
            .and_then(|items| items.iter().find(|g| g["name"] == name))
            .and_then(|g| g["id"].as_str())
            .unwrap_or_else(|| panic!("no group named {name}"))
            .to_owned()
    }

    /// The ids of a group's effective members.
    pub async fn effective_members(&self, group: &str) -> Vec<String> {
        let page = self
            .get(
                &format!("/api/v1/groups/{group}/members?limit=1000"),
                &self.admin_token,
            )
            .await
            .expect(200);
        page.body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|m| m["effective"] == true)
                    .filter_map(|m| m["member_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Defines user properties `(name, type)` as the admin.
    pub async fn user_properties(&self, definitions: &[(&str, &str)]) {
        for (name, ty) in definitions {
            self.post(
                "/api/v1/properties",
                &self.admin_token,
                json!({"name": name, "applies_to": "user", "type": ty}),
            )
            .await
            .expect(201);
        }
    }

    /// Creates a custom user group as the admin.
    pub async fn group(&self, name: &str) -> String {
        self.post("/api/v1/groups", &self.admin_token, json!({"name": name}))
            .await
            .expect(201)
            .id()
    }

    /// Creates a dynamic user group as the admin; returns its id and the revision the
    /// write produced.
    pub async fn dynamic_group(&self, name: &str, rule: &str) -> (String, i64) {
        let created = self
            .post(
                "/api/v1/groups",
                &self.admin_token,
                json!({"name": name, "membership": "dynamic", "rule": rule}),
            )
            .await
            .expect(201);
        let revision = created.body["revision"]
            .as_i64()
            .expect("a write's revision");
        (created.id(), revision)
    }

    /// GETs `path` as `token` with one extra request header.
    pub async fn get_with(&self, path: &str, token: &str, header: (&str, &str)) -> Answer {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header(header.0, header.1)
            .send()
            .await
            .expect("request sent");
        Self::answer(response).await
    }

    /// Writes `count` users, shaped like the first admin but for their emails and names,
    /// straight through the store (not the engine: a restart loads them), as one revision
    /// with nothing else: a large workspace in seconds.
    pub async fn users_through_the_store(
        &self,
        count: usize,
        email: impl Fn(usize) -> String,
    ) -> Vec<roster_model::Member> {
        let workspace: roster_model::Id = self.workspace.parse().expect("a workspace id");
        let admin: roster_model::Id = self.admin.parse().expect("a member id");
        let template = self
            .roster
            .workspace(workspace)
            .await
            .expect("the workspace")
            .read()
            .member(&admin)
            .expect("the admin");
        let added: Vec<roster_model::Member> = (0..count)
            .map(|i| roster_model::Member {
                id: roster_model::new_id(),
                email: Some(email(i)),
                display_name: format!("Member {i}"),
                ..template.clone()
            })
            .collect();
        let events: Vec<roster_model::Event> = added
            .iter()
            .map(|member| roster_model::Event::MemberUpserted {
                member: member.clone(),
            })
            .collect();
        let store = self.roster.store();
        let tx = store.begin_write(workspace).await.expect("a write");
        tx.commit(roster_store::Write {
            events: &events,
            audit: &[],
            changes: &[],
            role_changes: &[],
            outbox: &[],
            at: roster_model::now(),
        })
        .await
        .expect("committed");
        added
    }

    /// Adds a member to a group as `token`.
    pub async fn add(&self, group: &str, member: &str, token: &str) -> Answer {
        self.post(
            &format!("/api/v1/groups/{group}/members"),
            token,
            json!({"member_id": member}),
        )
        .await
    }

    /// Removes a member from a group as `token`.
    pub async fn remove(&self, group: &str, member: &str, token: &str) -> Answer {
        self.delete(&format!("/api/v1/groups/{group}/members/{member}"), token)
            .await
    }
}
