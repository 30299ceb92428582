//! The HTTP API under `/api/v1`: one module per resource, errors mapped once in
//! [`problem`], inputs checked in [`extract`], the OpenAPI document built from the
//! handlers' annotations in [`openapi`].

mod access;
mod audit;
mod changes;
pub mod extract;
mod groups;
mod headers;
mod invitations;
mod members;
mod openapi;
pub mod problem;
mod properties;
mod roles;
mod rules;
mod scim_admin;
mod tokens;
mod workspace;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use roster_model::Revision;
use serde::Serialize;

pub use problem::{ApiError, Problem};

use crate::mail::InviteSettings;
use crate::throttle::AuthThrottle;
use crate::Roster;

/// Most members one page of a list visits under the engine's lock (a few milliseconds):
/// a page of a kind or set that is rare among the members comes back shorter than its
/// `limit`, with a cursor to continue from, rather than walking the whole workspace.
pub const MAX_VISIT: usize = 100_000;

/// Largest request body accepted: 1 MiB.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The runtime.
    pub roster: Arc<Roster>,
    /// How invitations are delivered and limited.
    pub invites: Arc<InviteSettings>,
    /// The budget of failed authentications per client address.
    pub throttle: Arc<AuthThrottle>,
}

/// The whole HTTP surface, with invitations delivered as [`InviteSettings::default`] says
/// (no mail server: links are returned to the inviter).
pub fn router(roster: Arc<Roster>) -> Router {
    router_with(roster, InviteSettings::default())
}

/// The whole HTTP surface, with the production budget of failed authentications.
pub fn router_with(roster: Arc<Roster>, invites: InviteSettings) -> Router {
    router_full(roster, invites, AuthThrottle::default())
}

/// The whole HTTP surface, with a budget of failed authentications of its own (the
/// server's flag; tests that send many bad tokens raise it).
pub fn router_full(roster: Arc<Roster>, invites: InviteSettings, throttle: AuthThrottle) -> Router {
    let api = Router::new()
        .merge(members::routes())
        .merge(properties::routes())
        .merge(groups::routes())
        .merge(rules::routes())
        .merge(roles::routes())
        .merge(access::routes())
        .merge(tokens::routes())
        .merge(scim_admin::routes())
        .merge(invitations::routes())
        .merge(audit::routes())
        .merge(changes::routes())
        .merge(workspace::routes())
        .route("/openapi.json", get(openapi::document))
        .layer(axum::middleware::from_fn(extract::say_revision));
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .nest("/api/v1", api)
        .nest("/scim/v2", crate::scim::routes())
        .merge(invitations::page_routes())
        .fallback(|| async { ApiError::not_found("no such resource") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::Extension(extract::BodyLimit(BODY_LIMIT)))
        .layer(axum::middleware::map_response(headers::secure))
        .layer(
            // Failures are logged where they happen, with what went wrong (an internal
            // error at ERROR, an unavailable store at WARN): a 5xx a client can ask for
            // at will (SCIM's `/Me` is 501) must not fill the log at ERROR.
            tower_http::trace::TraceLayer::new_for_http().on_failure(()).make_span_with(
                // The path only: a query may carry a secret (an invitation link's token).
                |request: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
                },
            ),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal(&"a handler panicked").into_response()
        }))
        .with_state(AppState {
            roster,
            invites: Arc::new(invites),
            throttle: Arc::new(throttle),
        })
}

/// A write's answer: the object and the revision the write produced, in the body and in
/// the `Roster-Revision` header.
#[derive(Serialize)]
pub struct Written<T> {
    #[serde(flatten)]
    item: T,
    revision: Revision,
}

/// Answers a write.
pub fn written<T: Serialize>(status: StatusCode, item: T, revision: Revision) -> Response {
    let mut response = (status, Json(Written { item, revision })).into_response();
    response
        .headers_mut()
        .insert(extract::REVISION_HEADER, HeaderValue::from(revision));
    response
}

/// Adds a versioned object's version as its `ETag`, which `If-Match` names back.
pub fn with_etag(mut response: Response, version: i64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response
            .headers_mut()
            .insert(axum::http::header::ETAG, value);
    }
    response
}

/// A page of a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `items` (in id order, already past the cursor) that `limit` allows,
    /// with a cursor naming the last id shown when more follow.
    pub fn of(
        items: impl Iterator<Item = T>,
        limit: usize,
        id: impl Fn(&T) -> roster_model::Id,
    ) -> Self {
        let mut items: Vec<T> = items.take(limit + 1).collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|item| extract::cursor(&id(item).to_string()))
        } else {
            None
        };
        Page { items, next_cursor }
    }
}
