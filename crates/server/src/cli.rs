//! The command line: `roster serve`, `roster workspace create`, `roster token create`,
//! `roster scim token create`, `roster rules check`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use roster_model::{Actor, Id, MemberKind};

use crate::Roster;

/// The URL used when none is given: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://roster.db";

/// Roster: self-hosted access control.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (bootstraps a workspace on an empty database).
    Serve(Serve),
    /// Manage workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Work with dynamic-group rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// SCIM provisioning.
    #[command(subcommand)]
    Scim(ScimCommand),
}

#[derive(Debug, Subcommand)]
enum ScimCommand {
    /// Manage the tokens identity providers present at `/scim/v2`.
    #[command(subcommand)]
    Token(ScimTokenCommand),
}

#[derive(Debug, Subcommand)]
enum ScimTokenCommand {
    /// Create a SCIM token for an identity provider.
    Create {
        #[command(flatten)]
        database: Database,
        /// The workspace's id.
        #[arg(long)]
        workspace: Id,
        /// A label for the token (for instance `Okta`).
        #[arg(long)]
        name: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Check a rule against a workspace's attributes and count the members it matches;
    /// on errors, print each under the rule with a caret line and exit non-zero.
    Check {
        #[command(flatten)]
        database: Database,
        /// The workspace's id.
        #[arg(long)]
        workspace: Id,
        /// The kind of member the rule is for.
        #[arg(long, value_parser = ["user", "customer"])]
        kind: String,
        /// The rule text.
        rule: String,
    },
}

#[derive(Debug, Args)]
struct Database {
    /// `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    database_url: String,
    /// Milliseconds to wait for a connection to the store; past it a request is 503.
    #[arg(long, env = "ROSTER_STORE_CONNECT_TIMEOUT", default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..=600_000))]
    store_connect_timeout: u64,
    /// Milliseconds a write waits for a lock another server holds (PostgreSQL's
    /// `lock_timeout`, SQLite's busy timeout); past it the write is 503.
    #[arg(long, env = "ROSTER_STORE_LOCK_TIMEOUT", default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..=600_000))]
    store_lock_timeout: u64,
    /// Milliseconds one PostgreSQL statement may run (`statement_timeout`; loading a
    /// workspace is exempt).
    #[arg(long, env = "ROSTER_STORE_STATEMENT_TIMEOUT", default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    store_statement_timeout: u64,
    /// Milliseconds a PostgreSQL transaction may sit idle before the database ends it and
    /// frees its locks (`idle_in_transaction_session_timeout`): a frozen server stops
    /// holding up the others after this.
    #[arg(long, env = "ROSTER_STORE_IDLE_TRANSACTION_TIMEOUT", default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    store_idle_transaction_timeout: u64,
}

impl Database {
    fn deadlines(&self) -> roster_store::Deadlines {
        let millis = std::time::Duration::from_millis;
        roster_store::Deadlines {
            connect: millis(self.store_connect_timeout),
            lock: millis(self.store_lock_timeout),
            statement: millis(self.store_statement_timeout),
            idle_in_transaction: millis(self.store_idle_transaction_timeout),
        }
    }
}

#[derive(Debug, Args)]
struct Serve {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "ROSTER_LISTEN")]
    listen: SocketAddr,
    #[command(flatten)]
    database: Database,
    /// Email of the first admin, when the database is empty.
    #[arg(long, default_value = "admin@example.com")]
    admin_email: String,
    /// The address people reach this server at, for links in invitation emails
    /// (`http://LISTEN` when absent).
    #[arg(long, env = "ROSTER_PUBLIC_URL")]
    public_url: Option<String>,
    /// The SMTP server invitation emails go through: `smtp://host:port` (plain),
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465`, with `user:password@`
    /// for authentication. Without it, invitation links are returned to the inviter (never
    /// logged).
    #[arg(long, env = "ROSTER_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The sender of invitation emails.
    #[arg(
        long,
        env = "ROSTER_SMTP_FROM",
        default_value = "Roster <roster@localhost>"
    )]
    smtp_from: String,
    /// Invitations one member may issue per hour (creations and resends).
    #[arg(long, env = "ROSTER_INVITATIONS_PER_HOUR", default_value_t = roster_ops::invitations::DEFAULT_PER_HOUR)]
    invitations_per_hour: u32,
    /// Seconds a client has to send a request's head, from its first byte (from the
    /// connection for its first request); at most 30.
    #[arg(long, env = "ROSTER_HEADER_TIMEOUT", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=30))]
    header_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, env = "ROSTER_IDLE_TIMEOUT", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    idle_timeout: u64,
    /// Seconds a client has to send a request's whole body, from the end of its head;
    /// later is `408`.
    #[arg(long, env = "ROSTER_BODY_TIMEOUT", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout: u64,
    /// Connections open at once; past it the oldest without a request in flight is shed,
    /// or the new one answered 503. Default and maximum: the open-files limit less a
    /// reserve (an eighth, at least 64).
    #[arg(long, env = "ROSTER_MAX_CONNECTIONS",
        value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    /// Failed authentications a client address may make a minute; past it, requests
    /// from it that present a bearer are answered 429 until it may try again. 0 turns
    /// the throttle off.
    #[arg(long, env = "ROSTER_AUTH_FAILURES_PER_MINUTE",
        default_value_t = crate::throttle::DEFAULT_FAILURES_PER_MINUTE)]
    auth_failures_per_minute: u32,
}

impl Serve {
    /// The connection layer's limits the flags ask for, the cap lowered to what the
    /// open-files limit allows.
    fn limits(&self) -> crate::listen::Limits {
        let allowed = crate::listen::max_connections_allowed();
        let max_connections = match self.max_connections {
            Some(asked) => {
                let asked = usize::try_from(asked).unwrap_or(usize::MAX);
                if asked > allowed {
                    tracing::warn!(
                        asked,
                        allowed,
                        "--max-connections is over what the open-files limit allows; lowered"
                    );
                }
                asked.min(allowed)
            }
            None => allowed,
        };
        crate::listen::Limits {
            header_timeout: std::time::Duration::from_secs(self.header_timeout),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout),
            body_timeout: std::time::Duration::from_secs(self.body_timeout),
            max_connections,
        }
    }
}

#[derive(Debug, Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace with its default groups and first admin; prints the admin's token.
    Create {
        #[command(flatten)]
        database: Database,
        /// The workspace's name.
        #[arg(long)]
        name: String,
        /// Email of the first admin.
        #[arg(long)]
        admin_email: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write a workspace as JSON lines (members, properties, groups, memberships; not
    /// tokens or the audit log).
    Export {
        #[command(flatten)]
        database: Database,
        /// The workspace's id.
        #[arg(long)]
        workspace: Id,
        /// The file to write; standard output when absent.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Create a workspace from an export, with the same ids; nothing is written unless the
    /// whole file checks.
    Import {
        #[command(flatten)]
        database: Database,
        /// The file to read; standard input when absent.
        #[arg(long)]
        input: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token for a member.
    Create {
        #[command(flatten)]
        database: Database,
        /// The workspace's id.
        #[arg(long)]
        workspace: Id,
        /// The member's email.
        #[arg(long)]
        member: String,
        /// A label for the token.
        #[arg(long)]
        name: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command line and returns the process's exit code.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `ROSTER_LOG` (`info` by default).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(serve) => run_serve(serve).await,
        Command::Workspace(WorkspaceCommand::Create {
            database,
            name,
            admin_email,
            json,
        }) => {
            let roster = open(&database).await?;
            let (boot, token) = roster
                .create_workspace(&name, &admin_email, Actor::Cli)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "workspace_id": boot.workspace.id,
                        "name": boot.workspace.name,
                        "admin_member_id": boot.admin.id,
                        "admin_email": boot.admin.email,
                        "token": token,
                    })
                );
            } else {
                println!(
                    "Created workspace {} ({})",
                    boot.workspace.name, boot.workspace.id
                );
                println!("Admin {} ({})", admin_email, boot.admin.id);
                println!("Admin token (shown once): {token}");
            }
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Export {
            database,
            workspace,
            output,
        }) => {
            let roster = open(&database).await?;
            crate::transfer::export(&roster, workspace, output.as_deref()).await
        }
        Command::Workspace(WorkspaceCommand::Import { database, input }) => {
            let roster = open(&database).await?;
            let summary = crate::transfer::import(&roster, input.as_deref()).await?;
            println!("{summary}");
            Ok(())
        }
        Command::Rules(RulesCommand::Check {
            database,
            workspace,
            kind,
            rule,
        }) => {
            let (_, handle) = open_workspace(&database, workspace).await?;
            let kind = if kind == "customer" {
                MemberKind::Customer
            } else {
                MemberKind::User
            };
            let state = handle.read();
            let ctx = roster_ops::Ctx {
                state: &state,
                actor: Actor::Cli,
                now: roster_model::now(),
            };
            match roster_ops::groups::compile_rule(&ctx, kind, &rule) {
                Ok(compiled) => {
                    let matches = roster_ops::groups::rule_members(&ctx, kind, &compiled)
                        .map_err(|e| e.to_string())?
                        .len();
                    println!("{matches} active {} member(s) match", kind.as_str());
                    Ok(())
                }
                Err(roster_ops::OpError::Rule(errors)) => Err(caret_report(&rule, &errors)),
                Err(other) => Err(other.to_string()),
            }
        }
        Command::Token(TokenCommand::Create {
            database,
            workspace,
            member,
            name,
            json,
        }) => {
            let (roster, handle) = open_workspace(&database, workspace).await?;
            let member_id = handle
                .read()
                .member_by_email(&member)
                .map(|m| m.id)
                .ok_or_else(|| format!("no member with email {member} in workspace {workspace}"))?;
            let (secret, hash) = crate::secret::new_token();
            let (record, _) = roster
                .write(workspace, Actor::Cli, |ctx| {
                    roster_ops::tokens::create(ctx, Some(member_id), name, hash)
                })
                .await
                .map_err(|e| e.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": record.id, "member_id": member_id, "token": secret})
                );
            } else {
                println!("Token for {member} (shown once): {secret}");
            }
            Ok(())
        }
        Command::Scim(ScimCommand::Token(ScimTokenCommand::Create {
            database,
            workspace,
            name,
            json,
        })) => create_scim_token(&database, workspace, name, json).await,
    }
}

/// `roster scim token create`.
async fn create_scim_token(
    database: &Database,
    workspace: Id,
    name: Option<String>,
    json: bool,
) -> Result<(), String> {
    let (roster, _handle) = open_workspace(database, workspace).await?;
    let (secret, hash) = crate::secret::new_token();
    let (record, _) = roster
        .write(workspace, Actor::Cli, |ctx| {
            roster_ops::scim::tokens::create(ctx, name, hash)
        })
        .await
        .map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::json!({"id": record.id, "name": record.name, "token": secret})
        );
    } else {
        println!("SCIM token (shown once): {secret}");
        println!(
            "Point the identity provider at <server>/scim/v2 with `Authorization: Bearer <token>`."
        );
    }
    Ok(())
}

/// Each error under the rule text, with a caret line under its span.
pub fn caret_report(rule: &str, errors: &[roster_rules::RuleError]) -> String {
    let mut out = format!("the rule does not check ({} error(s))", errors.len());
    for error in errors {
        let line_start = rule[..error.span.start.min(rule.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line_end = rule[line_start..]
            .find('\n')
            .map_or(rule.len(), |i| line_start + i);
        let line = &rule[line_start..line_end];
        let pad = rule[line_start..error.span.start.min(line_end)]
            .chars()
            .count();
        let width = rule[error.span.start.min(line_end)
            ..error
                .span
                .end
                .min(line_end)
                .max(error.span.start.min(line_end))]
            .chars()
            .count()
            .max(1);
        out.push_str(&format!(
            "\n\n  {line}\n  {}{}\n  {}",
            " ".repeat(pad),
            "^".repeat(width),
            error.message
        ));
    }
    out
}

/// The runtime over a database and one workspace's engine in it.
async fn open_workspace(
    database: &Database,
    workspace: Id,
) -> Result<(Arc<Roster>, Arc<crate::runtime::WorkspaceHandle>), String> {
    let roster = open(database).await?;
    let handle = roster
        .workspace(workspace)
        .await
        .map_err(|e| e.to_string())?;
    Ok((roster, handle))
}

async fn open(database: &Database) -> Result<Arc<Roster>, String> {
    Roster::open_with(&database.database_url, database.deadlines())
        .await
        .map_err(|e| {
            format!(
                "cannot open {}: {e}",
                crate::redact::url(&database.database_url)
            )
        })
}

async fn run_serve(serve: Serve) -> Result<(), String> {
    let roster = open(&serve.database).await?;
    let loaded = roster.load_all().await.map_err(|e| e.to_string())?;
    let first = match loaded {
        0 => roster
            .create_first_workspace("Default", &serve.admin_email, Actor::System)
            .await
            .map_err(|e| e.to_string())?,
        _ => None,
    };
    if let Some((boot, token)) = first {
        println!(
            "Roster created workspace {} ({}) with admin {}.",
            boot.workspace.name, boot.workspace.id, serve.admin_email
        );
        println!("Admin token (shown once, keep it): {token}");
        println!(
            "Try: curl -H 'Authorization: Bearer {token}' http://{}/api/v1/groups",
            serve.listen
        );
    }
    let listener = tokio::net::TcpListener::bind(serve.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", serve.listen))?;
    let mailer = serve
        .smtp_url
        .as_deref()
        .map(|url| crate::mail::sender::Mailer::new(url, &serve.smtp_from))
        .transpose()?;
    let invites = crate::mail::InviteSettings {
        public_url: serve
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", serve.listen)),
        per_hour: serve.invitations_per_hour,
        by_mail: mailer.is_some(),
    };
    let limits = serve.limits();
    tracing::info!(listen = %serve.listen, store = roster.store().backend(), mail = invites.by_mail,
        max_connections = limits.max_connections, "roster is serving");
    tokio::spawn(roster.clone().follow());
    if let Some(mailer) = mailer {
        tokio::spawn(crate::mail::sender::run(roster.clone(), mailer));
    }
    let throttle = crate::throttle::AuthThrottle::new(serve.auth_failures_per_minute);
    let app = crate::http::router_full(roster, invites, throttle);
    crate::listen::serve(listener, app, limits, shutdown_signal()).await;
    tracing::info!("roster stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C, letting in-flight requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
