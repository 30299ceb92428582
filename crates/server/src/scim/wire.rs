//! How `/scim/v2` reads requests and writes answers: SCIM tokens only, bodies as
//! `application/scim+json` (plain JSON accepted), answers as `application/scim+json`
//! with `ETag` and `Location`, every error in the SCIM error schema.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_model::{Actor, Id};
use roster_ops::OpError;
use roster_scim::{ScimError, ScimType};
use serde_json::Value;

use crate::http::extract::{bearer, json_or_untyped};
use crate::http::AppState;
use crate::runtime::WorkspaceHandle;
use crate::throttle::{ClientKey, Throttled};
use crate::RuntimeError;

/// The media type of every SCIM answer.
pub const SCIM_JSON: &str = "application/scim+json";

/// Largest SCIM request body: 1 MiB, as `/api/v1` (advertised as `maxPayloadSize`; a
/// `/Bulk` request of 1,000 users fits).
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// A SCIM error as a response.
#[derive(Debug)]
pub struct Fail(pub ScimError);

impl From<ScimError> for Fail {
    fn from(error: ScimError) -> Self {
        Fail(error)
    }
}

impl From<RuntimeError> for Fail {
    fn from(error: RuntimeError) -> Self {
        Fail(match error {
            RuntimeError::Op(op) => from_op(op),
            RuntimeError::WorkspaceNotFound => {
                ScimError::status(401, "the token's workspace is gone")
            }
            RuntimeError::RevisionNotReached { .. } => {
                ScimError::status(503, "this server is catching up; retry shortly")
            }
            unknown if unknown.outcome_unknown() => ScimError::status(
                503,
                "the store did not confirm this write: it may have been applied, so read it \
                 back before retrying",
            ),
            RuntimeError::Reloading => ScimError::status(503, RuntimeError::Reloading.to_string()),
            unavailable if unavailable.is_unavailable() => {
                tracing::warn!(error = %unavailable, "the store is unavailable");
                ScimError::status(503, "the store is unavailable or busy; retry shortly")
            }
            other => {
                tracing::error!(error = %other, "SCIM request failed");
                ScimError::status(500, "the server failed; the error is in its log")
            }
        })
    }
}

/// An operation's refusal in SCIM's terms.
pub fn from_op(error: OpError) -> ScimError {
    match error {
        OpError::Scim(error) => error,
        OpError::NotFound(what) => ScimError::status(404, what),
        OpError::Forbidden(rule) => ScimError::status(403, rule),
        OpError::Conflict(why) => ScimError::status(409, why),
        OpError::PreconditionFailed(why) => ScimError::status(412, why),
        OpError::RateLimited { message, .. } => ScimError::status(429, message),
        other @ (OpError::Invalid { .. } | OpError::Items { .. } | OpError::Rule(_)) => {
            ScimError::bad(ScimType::InvalidValue, other.to_string())
        }
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, self.0.to_json().to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if self.0.status == 503 {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::http::problem::STORE_RETRY_AFTER),
            );
        }
        response
    }
}

/// A SCIM answer: a status, a body, and the resource's version and location when it is
/// one resource.
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Value,
}

impl Reply {
    /// `200` with a body.
    pub fn ok(body: Value) -> Self {
        Reply {
            status: StatusCode::OK,
            body,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let meta = self.body.get("meta");
        let version = meta.and_then(|m| m.get("version")).and_then(Value::as_str);
        let location = meta.and_then(|m| m.get("location")).and_then(Value::as_str);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if let Some(v) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(header::ETAG, v);
        }
        if self.status == StatusCode::CREATED {
            if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
                headers.insert(header::LOCATION, l);
            }
        }
        (self.status, headers, self.body.to_string()).into_response()
    }
}

/// The workspace and identity provider a request's SCIM token stands for. An API token,
/// a revoked token or none at all is a `401`.
pub struct ScimAuth {
    /// The runtime, for writes.
    pub roster: Arc<crate::Roster>,
    /// The token's workspace.
    pub workspace: Id,
    /// Its engine.
    pub handle: Arc<WorkspaceHandle>,
    /// The identity provider, named by its token.
    pub actor: Actor,
    /// The base URL of this SCIM service, for `location` and `$ref`.
    pub base: String,
}

impl FromRequestParts<AppState> for ScimAuth {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let unauthorized = |detail: &str| Fail(ScimError::status(401, detail)).into_response();
        let token = bearer(&parts.headers)
            .ok_or_else(|| unauthorized("send `Authorization: Bearer <SCIM token>`"))?;
        let client = ClientKey::of_request(&parts.extensions);
        state.throttle.admit(client).map_err(throttled)?;
        let found = state
            .roster
            .authenticate_scim(token)
            .await
            .map_err(|e| Fail::from(e).into_response())?;
        let Some((handle, workspace, token_id)) = found else {
            state.throttle.failed(client);
            return Err(unauthorized(
                "the token is not a live SCIM token (API tokens are not accepted here)",
            ));
        };
        Ok(ScimAuth {
            roster: state.roster.clone(),
            workspace,
            handle,
            actor: Actor::IdentityProvider { token: token_id },
            base: base_url(parts, &state.invites.public_url),
        })
    }
}

/// A refusal of the guessing throttle, in the SCIM error schema with `Retry-After`.
pub fn throttled(refusal: Throttled) -> Response {
    let mut response = Fail(ScimError::status(429, refusal.to_string())).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(refusal.retry_after));
    response
}

/// The SCIM base URL: the configured public URL when one was set, else the `Host` the
/// client reached.
fn base_url(parts: &Parts, public_url: &str) -> String {
    let default = crate::mail::InviteSettings::default().public_url;
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    match host {
        Some(host) if public_url == default => format!("http://{host}/scim/v2"),
        _ => format!("{}/scim/v2", public_url.trim_end_matches('/')),
    }
}

/// A SCIM request body: JSON (`application/scim+json` or `application/json`), at most
/// [`MAX_PAYLOAD`] bytes; malformed JSON, and an object naming a key twice at any depth,
/// is `400 invalidSyntax`.
pub struct Body(pub Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Fail;

    async fn from_request(req: Request, state: &S) -> Result<Self, Fail> {
        if !json_or_untyped(req.headers()) {
            return Err(Fail(ScimError::status(
                415,
                "send the body as application/scim+json or application/json",
            )));
        }
        if crate::http::extract::declared_length(req.headers())
            .is_some_and(|length| length > MAX_PAYLOAD as u64)
        {
            return Err(Fail(ScimError::status(
                413,
                "the body is larger than 1 MiB",
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Fail(ScimError::status(413, "the body is larger than 1 MiB"))
                } else {
                    Fail(ScimError::bad(
                        ScimType::InvalidSyntax,
                        format!("the body could not be read: {rejection}"),
                    ))
                }
            })?;
        // A key named twice is refused as `/api/v1` refuses it: which one counts is
        // ambiguous, and the reader below would silently keep the last.
        roster_model::json::check_unique_keys(&bytes).map_err(|e| {
            Fail(ScimError::bad(
                ScimType::InvalidSyntax,
                format!("the body is not valid JSON: {e}"),
            ))
        })?;
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            Fail(ScimError::bad(
                ScimType::InvalidSyntax,
                format!("the body is not valid JSON: {e}"),
            ))
        })
    }
}

/// The `If-Match` header, when sent.
pub fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// An id from a path; anything that is not one of ours is a `404`.
pub fn path_id(raw: &str, what: &str) -> Result<Id, Fail> {
    Id::parse_str(raw).map_err(|_| Fail(ScimError::not_found(what)))
}

/// The id in a resource's path, as written. A path that cannot be decoded (`%FF`) names
/// nothing: a SCIM `404`, never axum's plain-text rejection.
pub struct ScimPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ScimPath {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Fail> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|path| ScimPath(path.0))
            .map_err(|_| Fail(ScimError::not_found("resource")))
    }
}

/// A list's query parameters. A query string that cannot be read is a SCIM
/// `400 invalidValue`, never axum's plain-text rejection.
pub struct ScimQuery(pub std::collections::HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for ScimQuery {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Fail> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|query| ScimQuery(query.0))
            .map_err(|rejection| {
                Fail(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("the query string cannot be read: {}", rejection.body_text()),
                ))
            })
    }
}
