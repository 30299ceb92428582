//! `/Users` and `/Groups`: each request is one write or one read of the workspace's
//! engine, so a provisioned change has updated dynamic groups and access by the time the
//! response is sent.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_engine::WorkspaceState;
use roster_model::{Id, ScimResourceType};
use roster_ops::scim::{groups, render, user_schema, users};
use roster_scim::schema::group_resource;
use roster_scim::{patch, AttrPath, CompareOp, Filter, ScimError, Value as Operand};
use serde_json::Value;

use super::list::{self, ListQuery};
use super::wire::{if_match, path_id, Body, Fail, Reply, ScimAuth, ScimQuery};

/// Users or Groups: the two resource types share every handler's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/Users`.
    User,
    /// `/Groups`.
    Group,
}

impl Kind {
    fn resource_type(self) -> ScimResourceType {
        match self {
            Kind::User => ScimResourceType::User,
            Kind::Group => ScimResourceType::Group,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }
}

/// A resource's location and version, without rendering it.
pub fn location(
    state: &WorkspaceState,
    base: &str,
    kind: Kind,
    id: Id,
) -> Option<(String, String)> {
    let resource = state.scim().resource(&id)?;
    match kind {
        Kind::User => {
            let member = state.member(&id)?;
            Some((
                format!("{base}/Users/{id}"),
                render::user_version(resource, &member),
            ))
        }
        Kind::Group => {
            let group = state.group(&id)?;
            Some((
                format!("{base}/Groups/{id}"),
                render::group_version(resource, group),
            ))
        }
    }
}

/// The page of resources of a kind a query matches, shaped, and how many match in all;
/// for the search at the root.
pub async fn search_all(
    auth: &ScimAuth,
    kind: Kind,
    query: &ListQuery,
) -> Result<(Vec<Value>, usize), Fail> {
    let mut body = search_with(auth, kind, query.clone()).await?.body;
    let total = body
        .get("totalResults")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    Ok(match body.get_mut("Resources").map(Value::take) {
        Some(Value::Array(items)) => (items, total),
        _ => (Vec::new(), total),
    })
}

/// The answer to a write: the resource as it now is, shaped by the request's
/// `attributes` or `excludedAttributes` as a GET is (RFC 7644 §3.9), so a client that
/// leaves out a large group's members gets none back.
async fn written(
    auth: &ScimAuth,
    kind: Kind,
    id: Id,
    status: StatusCode,
    params: &std::collections::HashMap<String, String>,
) -> Result<Reply, Fail> {
    let query = ListQuery::from_params(params)?;
    let with_members = kind == Kind::Group && query.needs("members");
    let body = render_unlocked(auth, kind, id, with_members).await?;
    let schema = match kind {
        Kind::User => user_schema(&auth.handle.read()),
        Kind::Group => group_resource(),
    };
    Ok(Reply {
        status,
        body: list::shape(body, &schema, &query),
    })
}

/// Members of a group rendered on the async worker; a group with more is rendered in
/// the pool (about 2 µs a member: 40 ms for 20,000).
const INLINE_MEMBERS: usize = 1_000;

/// One resource, its parts copied under the engine's read lock and rendered after (in
/// the pool when it is a large group).
async fn render_unlocked(
    auth: &ScimAuth,
    kind: Kind,
    id: Id,
    with_members: bool,
) -> Result<Value, Fail> {
    let parts = fetch(&auth.handle, kind, &[id], with_members)
        .into_iter()
        .next()
        .ok_or_else(|| Fail(ScimError::not_found(kind.what())))?;
    let large = matches!(&parts, Parts::Group(p) if p.member_count() > INLINE_MEMBERS);
    let base = auth.base.clone();
    let render = move || match parts {
        Parts::User(p) => render::user_of(&p, &base),
        Parts::Group(p) => render::group_of(&p, &base),
    };
    if large {
        crate::pool::run(auth.handle.turns(), render)
            .await
            .map_err(|e| Fail(ScimError::status(500, e.to_string())))
    } else {
        Ok(render())
    }
}

/// `GET /Users`, `GET /Groups`.
pub async fn list(auth: ScimAuth, kind: Kind, ScimQuery(params): ScimQuery) -> Result<Reply, Fail> {
    let query = ListQuery::from_params(&params)?;
    search_with(&auth, kind, query).await
}

/// `POST /Users/.search`, `POST /Groups/.search`, `POST /.search`.
pub async fn search(auth: ScimAuth, kind: Kind, Body(body): Body) -> Result<Reply, Fail> {
    let query = ListQuery::from_body(&body)?;
    search_with(&auth, kind, query).await
}

/// What a list copies out of the engine for each resource, to render it unlocked.
enum Parts {
    User(render::UserParts),
    Group(render::GroupParts),
}

/// Copies the parts of some resources under one short hold of the engine's read lock.
fn fetch(
    handle: &crate::runtime::WorkspaceHandle,
    kind: Kind,
    ids: &[Id],
    with_members: bool,
) -> Vec<Parts> {
    let state = handle.read();
    ids.iter()
        .filter_map(|id| {
            let resource = state
                .scim()
                .resource(id)
                .filter(|r| r.resource_type == kind.resource_type())?;
            Some(match kind {
                Kind::User => Parts::User(render::user_parts(&state, resource, state.member(id)?)),
                Kind::Group => Parts::Group(render::group_parts(
                    &state,
                    resource,
                    state.group(id)?,
                    with_members,
                )),
            })
        })
        .collect()
}

/// A list, run in the pool (off the async workers): the candidates are taken under the
/// engine's read lock, then fetched in chunks and rendered with the lock released.
async fn search_with(auth: &ScimAuth, kind: Kind, query: ListQuery) -> Result<Reply, Fail> {
    let handle = auth.handle.clone();
    let base = auth.base.clone();
    let work = move || -> Result<Value, ScimError> {
        let (schema, candidates) = {
            let state = handle.read();
            let schema = match kind {
                Kind::User => user_schema(&state),
                Kind::Group => group_resource(),
            };
            let candidates: Vec<Id> =
                match query.filter.as_ref().and_then(|f| indexed(&state, kind, f)) {
                    Some(ids) => ids,
                    None => state
                        .scim()
                        .resources(kind.resource_type())
                        .map(|r| r.id)
                        .collect(),
                };
            (schema, candidates)
        };
        let with_members = kind == Kind::Group && query.needs("members");
        let fetch = |ids: &[Id]| fetch(&handle, kind, ids, with_members);
        let render = |parts: &Parts| match parts {
            Parts::User(p) => render::user_of(p, &base),
            Parts::Group(p) => render::group_of(p, &base),
        };
        let what = match kind {
            Kind::User => "users",
            Kind::Group => "groups",
        };
        let chunk = if with_members {
            list::MEMBERS_CHUNK
        } else {
            list::CHUNK
        };
        list::respond(&query, &schema, &candidates, chunk, what, &fetch, &render)
    };
    let body = crate::pool::run(auth.handle.turns(), work)
        .await
        .map_err(|e| Fail(ScimError::status(500, e.to_string())))??;
    Ok(Reply::ok(body))
}

/// The few resources an indexed equality in the filter's top-level `and` chain allows
/// (`userName eq`, `externalId eq`, an address in `emails`, a group's `displayName eq`);
/// the whole filter is then tested on each; `None`
/// when the filter has none and every resource is a candidate.
fn indexed(state: &WorkspaceState, kind: Kind, filter: &Filter) -> Option<Vec<Id>> {
    match filter {
        Filter::And(a, b) => indexed(state, kind, a).or_else(|| indexed(state, kind, b)),
        Filter::Compare(path, CompareOp::Eq, Operand::String(value)) => {
            lookup(state, kind, path, value)
        }
        Filter::ValuePath(path, inner) if kind == Kind::User && is(path, "emails") => {
            value_eq(inner).map(|email| state.scim().users_by_email(email))
        }
        _ => None,
    }
}

fn is(path: &AttrPath, name: &str) -> bool {
    path.name.eq_ignore_ascii_case(name)
        && path.uri.as_deref().is_none_or(|u| {
            u.eq_ignore_ascii_case(roster_scim::schema::USER)
                || u.eq_ignore_ascii_case(roster_scim::schema::GROUP)
        })
}

fn lookup(state: &WorkspaceState, kind: Kind, path: &AttrPath, value: &str) -> Option<Vec<Id>> {
    let scim = state.scim();
    let found = if is(path, "externalId") && path.sub.is_none() {
        scim.by_external_id(kind.resource_type(), value)
            .map(|r| r.id)
    } else if kind == Kind::User && is(path, "userName") && path.sub.is_none() {
        scim.user_by_name(value).map(|r| r.id)
    } else if kind == Kind::User
        && is(path, "emails")
        && path
            .sub
            .as_deref()
            .is_none_or(|sub| sub.eq_ignore_ascii_case("value"))
    {
        return Some(scim.users_by_email(value));
    } else if kind == Kind::Group && is(path, "displayName") && path.sub.is_none() {
        state
            .group_by_name(value)
            .map(|g| g.id)
            .filter(|id| scim.resource(id).is_some())
    } else {
        return None;
    };
    Some(found.into_iter().collect())
}

/// `value eq "…"` in the `and` chain inside `emails[…]`: every value the filter selects
/// has that address.
fn value_eq(inner: &Filter) -> Option<&str> {
    match inner {
        Filter::And(a, b) => value_eq(a).or_else(|| value_eq(b)),
        Filter::Compare(path, CompareOp::Eq, Operand::String(v))
            if path.name.eq_ignore_ascii_case("value") && path.sub.is_none() =>
        {
            Some(v)
        }
        _ => None,
    }
}

/// `GET /Users/{id}`, `GET /Groups/{id}`.
pub async fn show(
    auth: ScimAuth,
    kind: Kind,
    raw: String,
    ScimQuery(params): ScimQuery,
) -> Result<Reply, Fail> {
    let id = path_id(&raw, kind.what())?;
    written(&auth, kind, id, StatusCode::OK, &params).await
}

/// `POST /Users`, `POST /Groups`.
pub async fn create(
    auth: ScimAuth,
    kind: Kind,
    ScimQuery(params): ScimQuery,
    Body(body): Body,
) -> Result<Reply, Fail> {
    let (id, _) = auth
        .queued(move |ctx| match kind {
            Kind::User => users::create(ctx, body),
            Kind::Group => groups::create(ctx, body),
        })
        .await?;
    written(&auth, kind, id, StatusCode::CREATED, &params).await
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}`.
pub async fn replace(
    auth: ScimAuth,
    kind: Kind,
    raw: String,
    headers: HeaderMap,
    ScimQuery(params): ScimQuery,
    Body(body): Body,
) -> Result<Reply, Fail> {
    let id = path_id(&raw, kind.what())?;
    let expected = if_match(&headers);
    let (id, _) = auth
        .queued(move |ctx| match kind {
            Kind::User => users::replace(ctx, id, body, expected.as_deref()),
            Kind::Group => groups::replace(ctx, id, body, expected.as_deref()),
        })
        .await?;
    written(&auth, kind, id, StatusCode::OK, &params).await
}

/// `PATCH /Users/{id}`, `PATCH /Groups/{id}`: answers 200 with the resource.
pub async fn modify(
    auth: ScimAuth,
    kind: Kind,
    raw: String,
    headers: HeaderMap,
    ScimQuery(params): ScimQuery,
    Body(body): Body,
) -> Result<Reply, Fail> {
    let id = path_id(&raw, kind.what())?;
    let operations = patch::operations(&body)?;
    let expected = if_match(&headers);
    let (id, _) = auth
        .queued(move |ctx| match kind {
            Kind::User => users::patch(ctx, id, &operations, expected.as_deref()),
            Kind::Group => groups::patch(ctx, id, &operations, expected.as_deref()),
        })
        .await?;
    written(&auth, kind, id, StatusCode::OK, &params).await
}

/// `DELETE /Users/{id}`, `DELETE /Groups/{id}`: 204.
pub async fn remove(
    auth: ScimAuth,
    kind: Kind,
    raw: String,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let id = path_id(&raw, kind.what())?;
    let expected = if_match(&headers);
    auth.queued(move |ctx| {
        let outcome = match kind {
            Kind::User => users::delete(ctx, id, expected.as_deref())?,
            Kind::Group => groups::delete(ctx, id, expected.as_deref())?,
        };
        Ok(roster_ops::Outcome {
            value: id,
            events: outcome.events,
            audit: outcome.audit,
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl ScimAuth {
    /// Runs an operation as the identity provider, committed together with the other
    /// writes queued at the same moment (group commit, see `crate::batch`).
    pub async fn queued(
        &self,
        operation: impl FnOnce(&roster_ops::Ctx) -> Result<roster_ops::Outcome<Id>, roster_ops::OpError>
            + Send
            + 'static,
    ) -> Result<(Id, roster_model::Revision), Fail> {
        self.roster
            .write_queued(self.workspace, self.actor, operation)
            .await
            .map_err(Fail::from)
    }
}
