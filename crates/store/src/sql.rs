//! The SQL both backends share. SQLite and PostgreSQL accept the same statements here, so
//! one body of code, instantiated once per backend by [`sql_store!`], serves both; what
//! differs (connecting, migrations, snapshot isolation) is written per backend below.

use std::str::FromStr;
use std::time::Duration;

use futures_util::TryStreamExt;
use roster_model::{Event, Id, StaticMembership};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{Result, StoreError};

/// Rows inserted by one statement: well under SQLite's 32,766 bound parameters at ten
/// columns a row.
const ROWS_PER_STATEMENT: usize = 1000;

/// The name an enum value has in JSON, which is also its name in the tables.
fn tag<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Whether a write's events may be applied table by table (groups, members, SCIM
/// resources, removed memberships, added memberships) instead of one by one: only
/// upserts of groups, members and SCIM resources and changes of static memberships, each
/// row touched at most once, so no event depends on the order of another but through
/// foreign keys, which that table order satisfies.
fn bulk_applicable(events: &[Event]) -> bool {
    use std::collections::HashSet;
    if events.len() < 2 {
        return false;
    }
    let mut rows: HashSet<(u8, Id, Id)> = HashSet::with_capacity(events.len());
    events.iter().all(|event| {
        let key = match event {
            Event::GroupUpserted { group } => (0, group.id, Id::nil()),
            Event::MemberUpserted { member } => (1, member.id, Id::nil()),
            Event::ScimResourceUpserted { resource } => (2, resource.id, Id::nil()),
            // A membership added and removed in one write must keep its order.
            Event::MembershipAdded { membership } => (3, membership.group_id, membership.member_id),
            Event::MembershipRemoved {
                group_id,
                member_id,
            } => (3, *group_id, *member_id),
            _ => return false,
        };
        rows.insert(key)
    })
}

fn parse_id(raw: &str) -> Result<Id> {
    Ok(Id::parse_str(raw)?)
}

/// A membership row as the tables hold it.
type MembershipRow = (String, String, String, Option<String>, i64);

fn membership_from_row(
    (group_id, member_id, source, added_by, added_at): MembershipRow,
) -> Result<StaticMembership> {
    Ok(StaticMembership {
        group_id: parse_id(&group_id)?,
        member_id: parse_id(&member_id)?,
        source: serde_json::from_value(serde_json::Value::String(source))?,
        added_by: added_by.as_deref().map(parse_id).transpose()?,
        added_at: roster_model::from_micros(added_at),
    })
}

/// An audit row as the tables hold it.
type AuditRow = (
    i64,
    i32,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn audit_from_row(row: AuditRow) -> Result<roster_model::AuditRecord> {
    let (revision, seq, at, actor, action, target_type, target_id, before, after) = row;
    let doc = |raw: Option<String>| -> Result<Option<serde_json::Value>> {
        Ok(raw.as_deref().map(serde_json::from_str).transpose()?)
    };
    Ok(roster_model::AuditRecord {
        revision,
        seq,
        at: roster_model::from_micros(at),
        actor: serde_json::from_str(&actor)?,
        action,
        target_type,
        target_id: target_id.as_deref().map(parse_id).transpose()?,
        before: doc(before)?,
        after: doc(after)?,
    })
}

/// A change-log row as the table holds it.
type ChangeRow = (
    i64,
    i32,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
);

fn change_from_row(
    (revision, seq, group_id, member_id, role_id, change, cause, at): ChangeRow,
) -> Result<roster_model::ChangeRecord> {
    Ok(roster_model::ChangeRecord {
        revision,
        seq,
        group_id: parse_id(&group_id)?,
        member_id: member_id.as_deref().map(parse_id).transpose()?,
        role_id: role_id.as_deref().map(parse_id).transpose()?,
        change: serde_json::from_value(serde_json::Value::String(change))?,
        cause,
        at: roster_model::from_micros(at),
    })
}

/// An outbox row as the claim returns it.
type OutboxRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i32,
);

fn outbox_from_row(
    (id, workspace_id, invitation_id, token_hash, to, subject, body, attempts): OutboxRow,
) -> Result<roster_model::OutboxMessage> {
    Ok(roster_model::OutboxMessage {
        id: parse_id(&id)?,
        workspace_id: parse_id(&workspace_id)?,
        invitation_id: parse_id(&invitation_id)?,
        token_hash,
        to,
        subject,
        body: body.unwrap_or_default(),
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

/// Members decoded and handed on at a time while a workspace loads: enough to keep every
/// core decoding, few enough to hold (about a hundred megabytes).
const MEMBERS_PER_CHUNK: usize = 50_000;

/// Documents decoded from their JSON, on every core when there are many: reading a
/// large workspace at start-up is mostly this.
fn decode_all<T: serde::de::DeserializeOwned + Send>(rows: &[(String,)]) -> Result<Vec<T>> {
    const PER_THREAD_AT_LEAST: usize = 10_000;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || rows.len() < 2 * PER_THREAD_AT_LEAST {
        return rows
            .iter()
            .map(|(doc,)| Ok(serde_json::from_str(doc)?))
            .collect();
    }
    let chunk = rows.len().div_ceil(threads);
    let parts: Vec<Result<Vec<T>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = rows
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(doc,)| Ok(serde_json::from_str(doc)?))
                        .collect::<Result<Vec<T>>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(StoreError::DecodePanicked))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(rows.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// Groups event-log rows `(revision, payload)` into revisions.
fn group_revisions(rows: Vec<(i64, String)>) -> Result<Vec<crate::RevisionEvents>> {
    let mut out: Vec<crate::RevisionEvents> = Vec::new();
    for (revision, payload) in rows {
        let event: Event = serde_json::from_str(&payload)?;
        match out.last_mut() {
            Some((r, events)) if *r == revision => events.push(event),
            _ => out.push((revision, vec![event])),
        }
    }
    Ok(out)
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $name:literal, $tx:ident, $snapshot_begin:expr, $bootstrap_lock:expr) => {
        /// The store on this backend.
        pub struct $store {
            pool: sqlx::Pool<$db>,
        }

        /// An open write on this backend.
        pub struct $tx {
            tx: sqlx::Transaction<'static, $db>,
            workspace: Id,
            revision: roster_model::Revision,
        }

        impl $store {
            /// Inserts a workspace at revision 1 with its first write, inside the caller's
            /// transaction.
            async fn insert_workspace(
                conn: &mut <$db as sqlx::Database>::Connection,
                workspace: &roster_model::Workspace,
                write: crate::Write<'_>,
            ) -> Result<()> {
                sqlx::query("INSERT INTO workspaces (id, name, revision, created_at) VALUES ($1, $2, 1, $3)")
                    .bind(workspace.id.to_string())
                    .bind(&workspace.name)
                    .bind(roster_model::to_micros(workspace.created_at))
                    .execute(&mut *conn)
                    .await?;
                Self::write_revision(conn, workspace.id, 1, write).await
            }

            /// Applies one revision's events to the tables and appends them, with their
            /// audit entries, to the logs. Runs inside the caller's transaction.
            async fn write_revision(
                conn: &mut <$db as sqlx::Database>::Connection,
                workspace: Id,
                revision: roster_model::Revision,
                write: crate::Write<'_>,
            ) -> Result<()> {
                let crate::Write { events, audit, changes, role_changes, outbox, at } = write;
                let ws = workspace.to_string();
                if bulk_applicable(events) {
                    Self::apply_in_bulk(&mut *conn, &ws, events).await?;
                } else {
                    for event in events {
                        Self::apply_event(&mut *conn, &ws, event).await?;
                    }
                }
                let payloads = events
                    .iter()
                    .map(serde_json::to_string)
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let payloads: Vec<_> = payloads.into_iter().enumerate().collect();
                for chunk in payloads.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new("INSERT INTO events (workspace_id, revision, seq, payload) ");
                    insert.push_values(chunk, |mut row, (seq, payload)| {
                        row.push_bind(ws.clone())
                            .push_bind(revision)
                            .push_bind(*seq as i32)
                            .push_bind(payload.clone());
                    });
                    insert.build().execute(&mut *conn).await?;
                }
                let at = roster_model::to_micros(at);
                let membership_rows = changes.iter().map(|c| {
                    (c.group_id, Some(c.member_id), None, c.change, c.cause.as_str())
                });
                let role_rows = role_changes.iter().map(|c| {
                    (c.group_id, None, Some(c.role_id), c.change, c.cause.as_str())
                });
                // Many rows per statement: a write that changes hundreds of memberships
                // costs a few round trips to the database, not hundreds.
                let rows: Vec<_> = membership_rows.chain(role_rows).enumerate().collect();
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO changes (workspace_id, revision, seq, group_id, member_id, role_id, change, cause, at) ",
                    );
                    insert.push_values(chunk, |mut row, (seq, (group_id, member_id, role_id, change, cause))| {
                        row.push_bind(ws.clone())
                            .push_bind(revision)
                            .push_bind(*seq as i32)
                            .push_bind(group_id.to_string())
                            .push_bind(member_id.map(|id: Id| id.to_string()))
                            .push_bind(role_id.map(|id: Id| id.to_string()))
                            .push_bind(tag(change))
                            .push_bind(cause.to_string())
                            .push_bind(at);
                    });
                    insert.build().execute(&mut *conn).await?;
                }
                for message in outbox {
                    sqlx::query(
                        "INSERT INTO outbox (id, workspace_id, invitation_id, token_hash, recipient, subject, body, state, attempts, next_attempt_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8)",
                    )
                    .bind(message.id.to_string())
                    .bind(&ws)
                    .bind(message.invitation_id.to_string())
                    .bind(&message.token_hash)
                    .bind(&message.to)
                    .bind(&message.subject)
                    .bind(&message.body)
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
                }
                let doc = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
                let entries = audit
                    .iter()
                    .map(|entry| Ok((serde_json::to_string(&entry.actor)?, entry)))
                    .collect::<Result<Vec<_>>>()?;
                let entries: Vec<_> = entries.iter().enumerate().collect();
                for chunk in entries.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO audit (workspace_id, revision, seq, at, actor, action, target_type, target_id, before_doc, after_doc) ",
                    );
                    insert.push_values(chunk, |mut row, (seq, (actor, entry))| {
                        row.push_bind(ws.clone())
                            .push_bind(revision)
                            .push_bind(*seq as i32)
                            .push_bind(at)
                            .push_bind(actor.clone())
                            .push_bind(entry.action.clone())
                            .push_bind(entry.target_type.clone())
                            .push_bind(entry.target_id.map(|id| id.to_string()))
                            .push_bind(doc(&entry.before))
                            .push_bind(doc(&entry.after));
                    });
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Applies a write made only of creations and updates of distinct rows (see
            /// [`bulk_applicable`]) table by table, many rows per statement: a `/Bulk` of a
            /// thousand users costs a few statements rather than three thousand.
            async fn apply_in_bulk(conn: &mut <$db as sqlx::Database>::Connection, ws: &str, events: &[Event]) -> Result<()> {
                let groups: Vec<&roster_model::Group> = events
                    .iter()
                    .filter_map(|e| match e { Event::GroupUpserted { group } => Some(group), _ => None })
                    .collect();
                for chunk in groups.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new("INSERT INTO groups (id, workspace_id, name_key, doc) ");
                    let mut rows = Vec::with_capacity(chunk.len());
                    for group in chunk {
                        rows.push((group.id.to_string(), group.name_key(), serde_json::to_string(group)?));
                    }
                    insert.push_values(rows, |mut row, (id, key, doc)| {
                        row.push_bind(id).push_bind(ws.to_owned()).push_bind(key).push_bind(doc);
                    });
                    insert.push(" ON CONFLICT (id) DO UPDATE SET name_key = excluded.name_key, doc = excluded.doc");
                    insert.build().execute(&mut *conn).await?;
                }
                let members: Vec<&roster_model::Member> = events
                    .iter()
                    .filter_map(|e| match e { Event::MemberUpserted { member } => Some(member), _ => None })
                    .collect();
                for chunk in members.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO members (id, workspace_id, kind, email_key, state, doc) ",
                    );
                    let mut rows = Vec::with_capacity(chunk.len());
                    for member in chunk {
                        rows.push((
                            member.id.to_string(),
                            tag(&member.kind),
                            member.email_key(),
                            tag(&member.state),
                            serde_json::to_string(member)?,
                        ));
                    }
                    insert.push_values(rows, |mut row, (id, kind, email, state, doc)| {
                        row.push_bind(id)
                            .push_bind(ws.to_owned())
                            .push_bind(kind)
                            .push_bind(email)
                            .push_bind(state)
                            .push_bind(doc);
                    });
                    insert.push(
                        " ON CONFLICT (id) DO UPDATE SET email_key = excluded.email_key, state = excluded.state, doc = excluded.doc",
                    );
                    insert.build().execute(&mut *conn).await?;
                }
                let resources: Vec<&roster_model::ScimResource> = events
                    .iter()
                    .filter_map(|e| match e { Event::ScimResourceUpserted { resource } => Some(resource), _ => None })
                    .collect();
                for chunk in resources.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO scim_resources (id, workspace_id, resource_type, doc) ",
                    );
                    let mut rows = Vec::with_capacity(chunk.len());
                    for resource in chunk {
                        rows.push((resource.id.to_string(), tag(&resource.resource_type), serde_json::to_string(resource)?));
                    }
                    insert.push_values(rows, |mut row, (id, kind, doc)| {
                        row.push_bind(id).push_bind(ws.to_owned()).push_bind(kind).push_bind(doc);
                    });
                    insert.push(" ON CONFLICT (id) DO UPDATE SET doc = excluded.doc");
                    insert.build().execute(&mut *conn).await?;
                }
                let removed: Vec<(String, String)> = events
                    .iter()
                    .filter_map(|e| match e {
                        Event::MembershipRemoved { group_id, member_id } => Some((group_id.to_string(), member_id.to_string())),
                        _ => None,
                    })
                    .collect();
                for (group_id, member_id) in removed {
                    sqlx::query("DELETE FROM memberships WHERE group_id = $1 AND member_id = $2 AND workspace_id = $3")
                        .bind(group_id)
                        .bind(member_id)
                        .bind(ws)
                        .execute(&mut *conn)
                        .await?;
                }
                let added: Vec<&roster_model::StaticMembership> = events
                    .iter()
                    .filter_map(|e| match e { Event::MembershipAdded { membership } => Some(membership), _ => None })
                    .collect();
                for chunk in added.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO memberships (workspace_id, group_id, member_id, source, added_by, added_at) ",
                    );
                    insert.push_values(chunk, |mut row, m| {
                        row.push_bind(ws.to_owned())
                            .push_bind(m.group_id.to_string())
                            .push_bind(m.member_id.to_string())
                            .push_bind(tag(&m.source))
                            .push_bind(m.added_by.map(|id| id.to_string()))
                            .push_bind(roster_model::to_micros(m.added_at));
                    });
                    insert.push(" ON CONFLICT (group_id, member_id) DO NOTHING");
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            async fn apply_event(conn: &mut <$db as sqlx::Database>::Connection, ws: &str, event: &Event) -> Result<()> {
                match event {
                    Event::WorkspaceCreated { workspace } => {
                        sqlx::query("UPDATE workspaces SET name = $2 WHERE id = $1")
                            .bind(ws)
                            .bind(&workspace.name)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Event::MemberUpserted { member } => {
                        sqlx::query(
                            "INSERT INTO members (id, workspace_id, kind, email_key, state, doc) VALUES ($1, $2, $3, $4, $5, $6) \
                             ON CONFLICT (id) DO UPDATE SET email_key = excluded.email_key, state = excluded.state, doc = excluded.doc",
                        )
                        .bind(member.id.to_string())
                        .bind(ws)
                        .bind(tag(&member.kind))
                        .bind(member.email_key())
                        .bind(tag(&member.state))
                        .bind(serde_json::to_string(member)?)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Event::PropertyUpserted { property } => {
                        sqlx::query(
                            "INSERT INTO properties (id, workspace_id, applies_to, name, doc) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                        )
                        .bind(property.id.to_string())
                        .bind(ws)
                        .bind(tag(&property.applies_to))
                        .bind(&property.name)
                        .bind(serde_json::to_string(property)?)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Event::PropertyDeleted { id } => {
                        sqlx::query("DELETE FROM properties WHERE id = $1 AND workspace_id = $2")
                            .bind(id.to_string())
                            .bind(ws)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Event::GroupUpserted { group } => {
                        sqlx::query(
                            "INSERT INTO groups (id, workspace_id, name_key, doc) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (id) DO UPDATE SET name_key = excluded.name_key, doc = excluded.doc",
                        )
                        .bind(group.id.to_string())
                        .bind(ws)
                        .bind(group.name_key())
                        .bind(serde_json::to_string(group)?)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Event::GroupDeleted { id } => {
                        for statement in [
                            "DELETE FROM role_assignments WHERE group_id = $1 AND workspace_id = $2",
                            "DELETE FROM memberships WHERE group_id = $1 AND workspace_id = $2",
                            "DELETE FROM groups WHERE id = $1 AND workspace_id = $2",
                            "DELETE FROM scim_resources WHERE id = $1 AND workspace_id = $2",
                        ] {
                            sqlx::query(statement).bind(id.to_string()).bind(ws).execute(&mut *conn).await?;
                        }
                    }
                    Event::MembershipAdded { membership } => {
                        sqlx::query(
                            "INSERT INTO memberships (workspace_id, group_id, member_id, source, added_by, added_at) \
                             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (group_id, member_id) DO NOTHING",
                        )
                        .bind(ws)
                        .bind(membership.group_id.to_string())
                        .bind(membership.member_id.to_string())
                        .bind(tag(&membership.source))
                        .bind(membership.added_by.map(|id| id.to_string()))
                        .bind(roster_model::to_micros(membership.added_at))
                        .execute(&mut *conn)
                        .await?;
                    }
                    Event::MembershipRemoved { group_id, member_id } => {
                        sqlx::query("DELETE FROM memberships WHERE group_id = $1 AND member_id = $2 AND workspace_id = $3")
                            .bind(group_id.to_string())
                            .bind(member_id.to_string())
                            .bind(ws)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Event::TokenCreated { token } => {
                        sqlx::query("INSERT INTO tokens (id, workspace_id, member_id, hash, doc) VALUES ($1, $2, $3, $4, $5)")
                            .bind(token.id.to_string())
                            .bind(ws)
                            .bind(token.member_id.to_string())
                            .bind(&token.hash)
                            .bind(serde_json::to_string(token)?)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Event::RoleUpserted { role } => {
                        sqlx::query(
                            "INSERT INTO roles (id, workspace_id, name_key, doc) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (id) DO UPDATE SET name_key = excluded.name_key, doc = excluded.doc",
                        )
                        .bind(role.id.to_string())
                        .bind(ws)
                        .bind(role.name_key())
                        .bind(serde_json::to_string(role)?)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Event::RoleDeleted { id } => {
                        for statement in [
                            "DELETE FROM role_assignments WHERE role_id = $1 AND workspace_id = $2",
                            "DELETE FROM roles WHERE id = $1 AND workspace_id = $2",
                        ] {
                            sqlx::query(statement).bind(id.to_string()).bind(ws).execute(&mut *conn).await?;
                        }
                    }
                    Event::RoleAssigned { assignment } => {
                        sqlx::query(
                            "INSERT INTO role_assignments (workspace_id, group_id, role_id, doc) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (group_id, role_id) DO NOTHING",
                        )
                        .bind(ws)
                        .bind(assignment.group_id.to_string())
                        .bind(assignment.role_id.to_string())
                        .bind(serde_json::to_string(assignment)?)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Event::RoleRevoked { group_id, role_id } => {
                        sqlx::query("DELETE FROM role_assignments WHERE group_id = $1 AND role_id = $2 AND workspace_id = $3")
                            .bind(group_id.to_string())
                            .bind(role_id.to_string())
                            .bind(ws)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Event::InvitationUpserted { invitation } => {
                        sqlx::query(
                            "INSERT INTO invitations (id, workspace_id, token_hash, email_key, doc) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, doc = excluded.doc",
                        )
                        .bind(invitation.id.to_string())
                        .bind(ws)
                        .bind(&invitation.token_hash)
                        .bind(invitation.email_key())
                        .bind(serde_json::to_string(invitation)?)
                        .execute(&mut *conn)
                        .await?;
                        // A message for an older token, or for an invitation no longer
                        // pending, is never sent.
                        let pending = invitation.state == roster_model::InvitationState::Pending;
                        sqlx::query(
                            "UPDATE outbox SET state = 'cancelled', body = NULL \
                             WHERE invitation_id = $1 AND state = 'pending' AND (token_hash <> $2 OR $3)",
                        )
                        .bind(invitation.id.to_string())
                        .bind(&invitation.token_hash)
                        .bind(!pending)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Event::ScimTokenCreated { token } => {
                        sqlx::query("INSERT INTO scim_tokens (id, workspace_id, hash, doc) VALUES ($1, $2, $3, $4)")
                            .bind(token.id.to_string())
                            .bind(ws)
                            .bind(&token.hash)
                            .bind(serde_json::to_string(token)?)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Event::ScimTokenRevoked { id } => {
                        sqlx::query("UPDATE scim_tokens SET revoked_at = $3 WHERE id = $1 AND workspace_id = $2")
                            .bind(id.to_string())
                            .bind(ws)
                            .bind(roster_model::to_micros(roster_model::now()))
                            .execute(&mut *conn)
                            .await?;
                    }
                    Event::ScimResourceUpserted { resource } => {
                        sqlx::query(
                            "INSERT INTO scim_resources (id, workspace_id, resource_type, doc) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                        )
                        .bind(resource.id.to_string())
                        .bind(ws)
                        .bind(tag(&resource.resource_type))
                        .bind(serde_json::to_string(resource)?)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Event::ScimResourceDeleted { id } => {
                        sqlx::query("DELETE FROM scim_resources WHERE id = $1 AND workspace_id = $2")
                            .bind(id.to_string())
                            .bind(ws)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Event::ScimMappingSet { mapping } => {
                        sqlx::query(
                            "INSERT INTO scim_mappings (workspace_id, doc) VALUES ($1, $2) \
                             ON CONFLICT (workspace_id) DO UPDATE SET doc = excluded.doc",
                        )
                        .bind(ws)
                        .bind(serde_json::to_string(mapping)?)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Event::TokenRevoked { id } => {
                        sqlx::query("UPDATE tokens SET revoked_at = $3 WHERE id = $1 AND workspace_id = $2")
                            .bind(id.to_string())
                            .bind(ws)
                            .bind(roster_model::to_micros(roster_model::now()))
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                Ok(())
            }

            async fn read_events(
                conn: &mut <$db as sqlx::Database>::Connection,
                workspace: Id,
                after: roster_model::Revision,
            ) -> Result<Vec<crate::RevisionEvents>> {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT revision, payload FROM events WHERE workspace_id = $1 AND revision > $2 ORDER BY revision, seq",
                )
                .bind(workspace.to_string())
                .bind(after)
                .fetch_all(&mut *conn)
                .await?;
                group_revisions(rows)
            }

            async fn docs<T: serde::de::DeserializeOwned + Send>(
                conn: &mut <$db as sqlx::Database>::Connection,
                statement: &str,
                ws: &str,
            ) -> Result<Vec<T>> {
                let rows: Vec<(String,)> = sqlx::query_as(statement).bind(ws).fetch_all(&mut *conn).await?;
                decode_all(&rows)
            }
        }

        #[async_trait::async_trait]
        impl crate::Store for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn create_workspace(
                &self,
                workspace: &roster_model::Workspace,
                write: crate::Write<'_>,
            ) -> Result<roster_model::Revision> {
                let mut tx = self.pool.begin().await?;
                Self::insert_workspace(&mut tx, workspace, write).await?;
                tx.commit().await.map_err(StoreError::of_commit)?;
                Ok(1)
            }

            async fn create_first_workspace(
                &self,
                workspace: &roster_model::Workspace,
                write: crate::Write<'_>,
            ) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                for statement in $bootstrap_lock {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                let (existing,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM workspaces")
                    .fetch_one(&mut *tx)
                    .await?;
                if existing > 0 {
                    return Ok(false);
                }
                Self::insert_workspace(&mut tx, workspace, write).await?;
                tx.commit().await.map_err(StoreError::of_commit)?;
                Ok(true)
            }

            async fn workspace_revisions(&self) -> Result<Vec<(Id, roster_model::Revision)>> {
                let rows: Vec<(String, i64)> = sqlx::query_as("SELECT id, revision FROM workspaces ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(|(id, rev)| Ok((parse_id(&id)?, rev))).collect()
            }

            async fn workspace_of_token(&self, hash: &str) -> Result<Option<Id>> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT workspace_id FROM tokens WHERE hash = $1 AND revoked_at IS NULL")
                        .bind(hash)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(|(id,)| parse_id(&id)).transpose()
            }

            async fn workspace_of_scim_token(&self, hash: &str) -> Result<Option<Id>> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT workspace_id FROM scim_tokens WHERE hash = $1 AND revoked_at IS NULL")
                        .bind(hash)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(|(id,)| parse_id(&id)).transpose()
            }

            async fn load_streaming(
                &self,
                workspace: Id,
                members: &mut (dyn FnMut(Vec<roster_model::Member>) + Send),
            ) -> Result<Option<roster_model::Snapshot>> {
                let mut tx = self.pool.begin().await?;
                for statement in $snapshot_begin {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                let ws = workspace.to_string();
                let row: Option<(String, i64, i64)> =
                    sqlx::query_as("SELECT name, revision, created_at FROM workspaces WHERE id = $1")
                        .bind(&ws)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((name, revision, created_at)) = row else {
                    return Ok(None);
                };
                let memberships: Vec<MembershipRow> = sqlx::query_as(
                    "SELECT group_id, member_id, source, added_by, added_at FROM memberships WHERE workspace_id = $1",
                )
                .bind(&ws)
                .fetch_all(&mut *tx)
                .await?;
                {
                    let mut rows = sqlx::query_as::<_, (String,)>("SELECT doc FROM members WHERE workspace_id = $1")
                        .bind(&ws)
                        .fetch(&mut *tx);
                    let mut chunk = Vec::with_capacity(MEMBERS_PER_CHUNK);
                    while let Some(row) = rows.try_next().await? {
                        chunk.push(row);
                        if chunk.len() == MEMBERS_PER_CHUNK {
                            members(decode_all(&chunk)?);
                            chunk.clear();
                        }
                    }
                    if !chunk.is_empty() {
                        members(decode_all(&chunk)?);
                    }
                }
                let snapshot = roster_model::Snapshot {
                    workspace: Some(roster_model::Workspace {
                        id: workspace,
                        name,
                        created_at: roster_model::from_micros(created_at),
                    }),
                    revision,
                    members: Vec::new(),
                    properties: Self::docs(&mut tx, "SELECT doc FROM properties WHERE workspace_id = $1", &ws).await?,
                    groups: Self::docs(&mut tx, "SELECT doc FROM groups WHERE workspace_id = $1", &ws).await?,
                    tokens: Self::docs(
                        &mut tx,
                        "SELECT doc FROM tokens WHERE workspace_id = $1 AND revoked_at IS NULL",
                        &ws,
                    )
                    .await?,
                    memberships: memberships.into_iter().map(membership_from_row).collect::<Result<_>>()?,
                    roles: Self::docs(&mut tx, "SELECT doc FROM roles WHERE workspace_id = $1", &ws).await?,
                    assignments: Self::docs(&mut tx, "SELECT doc FROM role_assignments WHERE workspace_id = $1", &ws)
                        .await?,
                    invitations: Self::docs(&mut tx, "SELECT doc FROM invitations WHERE workspace_id = $1", &ws)
                        .await?,
                    scim_tokens: Self::docs(
                        &mut tx,
                        "SELECT doc FROM scim_tokens WHERE workspace_id = $1 AND revoked_at IS NULL",
                        &ws,
                    )
                    .await?,
                    scim_resources: Self::docs(&mut tx, "SELECT doc FROM scim_resources WHERE workspace_id = $1", &ws)
                        .await?,
                    scim_mapping: Self::docs(&mut tx, "SELECT doc FROM scim_mappings WHERE workspace_id = $1", &ws)
                        .await?
                        .pop()
                        .unwrap_or_default(),
                };
                tx.commit().await?;
                Ok(Some(snapshot))
            }

            async fn events_after(&self, workspace: Id, after: roster_model::Revision) -> Result<Vec<crate::RevisionEvents>> {
                let mut conn = self.pool.acquire().await?;
                Self::read_events(&mut conn, workspace, after).await
            }

            async fn begin_write(&self, workspace: Id) -> Result<Box<dyn crate::WriteTx>> {
                let mut tx = self.pool.begin().await?;
                let revision: Option<(i64,)> =
                    sqlx::query_as("UPDATE workspaces SET revision = revision + 1 WHERE id = $1 RETURNING revision")
                        .bind(workspace.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                let (revision,) = revision.ok_or(StoreError::WorkspaceNotFound(workspace))?;
                Ok(Box::new($tx { tx, workspace, revision }))
            }

            async fn changes_after(
                &self,
                workspace: Id,
                (revision, seq): (roster_model::Revision, i32),
                limit: u32,
            ) -> Result<Vec<roster_model::ChangeRecord>> {
                let rows: Vec<ChangeRow> = sqlx::query_as(
                    "SELECT revision, seq, group_id, member_id, role_id, change, cause, at FROM changes \
                     WHERE workspace_id = $1 AND (revision > $2 OR (revision = $2 AND seq > $3)) \
                     ORDER BY revision, seq LIMIT $4",
                )
                .bind(workspace.to_string())
                .bind(revision)
                .bind(seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(change_from_row).collect()
            }

            async fn workspace_of_invitation(&self, hash: &str) -> Result<Option<Id>> {
                let row: Option<(String,)> = sqlx::query_as("SELECT workspace_id FROM invitations WHERE token_hash = $1")
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|(id,)| parse_id(&id)).transpose()
            }

            async fn claim_outbox(
                &self,
                now: roster_model::Timestamp,
                until: roster_model::Timestamp,
                limit: u32,
            ) -> Result<Vec<roster_model::OutboxMessage>> {
                // The conditions are repeated outside the sub-select so that PostgreSQL
                // re-checks them on a row another sender claimed meanwhile.
                let rows: Vec<OutboxRow> = sqlx::query_as(
                    "UPDATE outbox SET claimed_until = $1 \
                     WHERE state = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until <= $2) \
                     AND id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $2 \
                                AND (claimed_until IS NULL OR claimed_until <= $2) ORDER BY next_attempt_at LIMIT $3) \
                     RETURNING id, workspace_id, invitation_id, token_hash, recipient, subject, body, attempts",
                )
                .bind(roster_model::to_micros(until))
                .bind(roster_model::to_micros(now))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(outbox_from_row).collect()
            }

            async fn settle_outbox(
                &self,
                id: Id,
                claim: roster_model::Timestamp,
                settlement: crate::OutboxSettlement<'_>,
            ) -> Result<()> {
                use crate::OutboxSettlement;
                let (id, claim) = (id.to_string(), roster_model::to_micros(claim));
                // Each statement touches the message only while this sender's claim holds.
                let query = match settlement {
                    OutboxSettlement::Sent(at) => sqlx::query(
                        "UPDATE outbox SET state = 'sent', body = NULL, claimed_until = NULL, attempts = attempts + 1, sent_at = $3 \
                         WHERE id = $1 AND claimed_until = $2",
                    )
                    .bind(id)
                    .bind(claim)
                    .bind(roster_model::to_micros(at)),
                    OutboxSettlement::Retry { error, at } => sqlx::query(
                        "UPDATE outbox SET claimed_until = NULL, attempts = attempts + 1, next_attempt_at = $3, last_error = $4 \
                         WHERE id = $1 AND claimed_until = $2",
                    )
                    .bind(id)
                    .bind(claim)
                    .bind(roster_model::to_micros(at))
                    .bind(error.to_owned()),
                    OutboxSettlement::Failed(error) => sqlx::query(
                        "UPDATE outbox SET state = 'failed', body = NULL, claimed_until = NULL, attempts = attempts + 1, last_error = $3 \
                         WHERE id = $1 AND claimed_until = $2",
                    )
                    .bind(id)
                    .bind(claim)
                    .bind(error.to_owned()),
                    OutboxSettlement::Cancelled => sqlx::query(
                        "UPDATE outbox SET state = 'cancelled', body = NULL, claimed_until = NULL WHERE id = $1 AND claimed_until = $2",
                    )
                    .bind(id)
                    .bind(claim),
                };
                query.execute(&self.pool).await?;
                Ok(())
            }

            async fn audit(
                &self,
                workspace: Id,
                before: Option<(roster_model::Revision, i32)>,
                limit: u32,
            ) -> Result<Vec<roster_model::AuditRecord>> {
                let (revision, seq) = before.unwrap_or((i64::MAX, i32::MAX));
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT revision, seq, at, actor, action, target_type, target_id, before_doc, after_doc FROM audit \
                     WHERE workspace_id = $1 AND (revision < $2 OR (revision = $2 AND seq < $3)) \
                     ORDER BY revision DESC, seq DESC LIMIT $4",
                )
                .bind(workspace.to_string())
                .bind(revision)
                .bind(seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(audit_from_row).collect()
            }
        }

        #[async_trait::async_trait]
        impl crate::WriteTx for $tx {
            fn revision(&self) -> roster_model::Revision {
                self.revision
            }

            async fn events_after(&mut self, after: roster_model::Revision) -> Result<Vec<crate::RevisionEvents>> {
                $store::read_events(&mut self.tx, self.workspace, after).await
            }

            async fn commit(mut self: Box<Self>, write: crate::Write<'_>) -> Result<()> {
                $store::write_revision(&mut self.tx, self.workspace, self.revision, write).await?;
                self.tx.commit().await.map_err(StoreError::of_commit)
            }
        }
    };
}

// SQLite serves one process (several servers share PostgreSQL): a second writer's
// transaction, begun before the first committed, fails rather than writes twice.
sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    "sqlite",
    SqliteTx,
    [""; 0],
    [""; 0]
);
// A load is one consistent snapshot, however long it reads: it holds no lock a writer
// waits for, so the statement and idle deadlines (meant for writes) do not apply to it.
sql_store!(
    PgStore,
    sqlx::Postgres,
    "postgres",
    PgTx,
    [
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "SET LOCAL statement_timeout = 0",
        "SET LOCAL idle_in_transaction_session_timeout = 0",
    ],
    // One key for "the first workspace is being made", held to the end of the
    // transaction.
    ["SELECT pg_advisory_xact_lock(7266686731001)"]
);

impl SqliteStore {
    /// Opens (creating if needed) a SQLite file in WAL mode with full fsync, so that a
    /// committed write survives a crash or power loss, and migrates it.
    /// A lock is waited for as SQLite's busy timeout; SQLite has no statement or idle
    /// transaction timeout (it runs in this process).
    pub async fn open(url: &str, deadlines: crate::Deadlines) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(deadlines.lock)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(deadlines.connect)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

impl PgStore {
    /// Connects to PostgreSQL and migrates (sqlx serializes concurrent migrators with an
    /// advisory lock, so several servers may start at once). Every connection gets the
    /// deadlines as session settings (`lock_timeout`, `statement_timeout`,
    /// `idle_in_transaction_session_timeout`).
    pub async fn open(url: &str, deadlines: crate::Deadlines) -> Result<Self> {
        let millis = |d: Duration| format!("{}ms", d.as_millis().max(1));
        let options = PgConnectOptions::from_str(url)?.options([
            ("lock_timeout", millis(deadlines.lock)),
            ("statement_timeout", millis(deadlines.statement)),
            (
                "idle_in_transaction_session_timeout",
                millis(deadlines.idle_in_transaction),
            ),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(deadlines.connect)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(PgStore { pool })
    }
}
