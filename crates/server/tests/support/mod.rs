//! The test kit shared by the integration suites: a fresh store per test (a SQLite file
//! in a temporary directory, or a fresh PostgreSQL database), and helpers to talk HTTP.
//!
//! PostgreSQL comes from `ROSTER_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test creates its own database on
//! that server and drops it afterwards. When the server cannot be reached the PostgreSQL
//! half is skipped and says so on stderr, unless `CI` is set: then it fails.

#![allow(dead_code)]

pub mod proxy;
pub mod smtp;

use std::io::Write;

use sqlx::Connection;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database for one test, removed when dropped.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // Best effort, on a thread of its own: the test's runtime may be gone.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(&mut conn)
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// The PostgreSQL server tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("ROSTER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether PostgreSQL is required (CI) rather than optional.
pub fn postgres_required() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Says, past the test harness's capture, that a test was skipped.
pub fn report_skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test} on PostgreSQL: {why}");
}

impl TestDb {
    /// A fresh database, or `None` when PostgreSQL is optional and unreachable.
    pub async fn new(backend: Backend, test: &str) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("roster.db").display());
                Some(TestDb {
                    url,
                    _dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
                    Ok(conn) => conn,
                    Err(error) => {
                        assert!(
                            !postgres_required(),
                            "CI is set and PostgreSQL at {admin_url} cannot be reached: {error}"
                        );
                        report_skip(test, &format!("cannot reach {admin_url}: {error}"));
                        return None;
                    }
                };
                let name = format!("roster_t_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(base, _)| base);
                let url = format!("{base}/{name}");
                Some(TestDb {
                    url,
                    _dir: None,
                    pg: Some((admin_url, name)),
                })
            }
        }
    }
}

/// Runs one test body on both stores: `mod NAME { fn sqlite; fn postgres }`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use $crate::support::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(db) = $crate::support::TestDb::new(Backend::Sqlite, stringify!($name)).await {
                    super::$name(db).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::support::TestDb::new(Backend::Postgres, stringify!($name)).await {
                    super::$name(db).await;
                }
            }
        }
    )*};
}

/// Makes the store refuse, at commit, any write whose events mention `marker`: a
/// trigger on the event log, installed behind the server's back.
pub async fn refuse_writes_mentioning(db: &TestDb, marker: &str) {
    if db.url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query(&format!(
            "CREATE TRIGGER refuse_marked BEFORE INSERT ON events \
             WHEN NEW.payload LIKE '%{marker}%' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query(&format!(
            "CREATE FUNCTION refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.payload LIKE '%{marker}%' THEN RAISE EXCEPTION 'refused by the test'; \
             END IF; RETURN NEW; END $$"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query(
            "CREATE TRIGGER refuse_marked BEFORE INSERT ON events \
             FOR EACH ROW EXECUTE FUNCTION refuse_marked()",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

/// A lock held behind the server's back, as a frozen peer would hold it: on PostgreSQL the
/// workspace's row (every write updates it), on SQLite the database's write lock. It is
/// released when dropped (the connection closes, its transaction rolls back).
pub enum HeldLock {
    /// The connection holding SQLite's write lock.
    Sqlite(sqlx::SqliteConnection),
    /// The connection holding the workspace's row lock.
    Postgres(sqlx::PgConnection),
}

/// Takes the write lock a write to `workspace` needs, in a transaction left open.
pub async fn hold_write_lock(db: &TestDb, workspace: &str) -> HeldLock {
    if db.url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap();
        HeldLock::Sqlite(conn)
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("SELECT revision FROM workspaces WHERE id = $1 FOR UPDATE")
            .bind(workspace)
            .execute(&mut conn)
            .await
            .unwrap();
        HeldLock::Postgres(conn)
    }
}

/// Runs statements on the store behind the server's back, each with the same binds
/// (`$1`, `$2`, … on both stores), in one transaction.
pub async fn run_sql(db: &TestDb, statements: &[&str], binds: &[&str]) {
    async fn run<'c, E, DB>(conn: E, statement: &str, binds: &[&str])
    where
        DB: sqlx::Database,
        E: sqlx::Executor<'c, Database = DB>,
        for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
        for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let mut query = sqlx::query::<DB>(statement);
        for bind in binds {
            query = query.bind(*bind);
        }
        query.execute(conn).await.unwrap();
    }
    if db.url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        for statement in statements {
            let used = binds_used(statement, binds);
            run(&mut *tx, statement, used).await;
        }
        tx.commit().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        for statement in statements {
            let used = binds_used(statement, binds);
            run(&mut *tx, statement, used).await;
        }
        tx.commit().await.unwrap();
    }
}

/// The binds a statement names: `$1` up to the highest it uses.
fn binds_used<'a>(statement: &str, binds: &'a [&'a str]) -> &'a [&'a str] {
    let highest = (1..=binds.len())
        .rev()
        .find(|n| statement.contains(&format!("${n}")))
        .unwrap_or(0);
    &binds[..highest]
}
