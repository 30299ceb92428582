//! Extractors that turn every bad input into a precise problem: the bearer token, JSON
//! bodies, ids in paths, pagination.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use roster_model::{Actor, Id, Revision};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::runtime::WorkspaceHandle;
use crate::throttle::ClientKey;

/// The workspace and actor a request's bearer token names.
pub struct Auth {
    /// The token's workspace.
    pub workspace: Id,
    /// Its engine.
    pub handle: Arc<WorkspaceHandle>,
    /// The member behind the token.
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Err(ApiError::unauthorized(
                "send `Authorization: Bearer <token>`",
            ));
        }
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
        let client = ClientKey::of_request(&parts.extensions);
        state.throttle.admit(client)?;
        let Some((handle, workspace, member_id)) = state.roster.authenticate(token).await? else {
            state.throttle.failed(client);
            return Err(ApiError::unauthorized("the token is unknown or revoked"));
        };
        let active = handle.read().is_active_member(&member_id);
        if !active {
            return Err(ApiError::unauthorized("the token's member is deactivated"));
        }
        if let Some(revision) = at_least_revision(&parts.headers)? {
            state
                .roster
                .wait_for_revision(&handle, workspace, revision)
                .await?;
        }
        if let Some(served) = parts.extensions.get::<ServedRevision>() {
            served.0.store(handle.revision(), Ordering::Relaxed);
        }
        Ok(Auth {
            workspace,
            handle,
            actor: Actor::Member { id: member_id },
        })
    }
}

/// The request header that asks this server to have applied a revision before it
/// answers: how a client that wrote through one server reads its own write through
/// another, on any endpoint.
pub const AT_LEAST_REVISION: &str = "roster-at-least-revision";

/// The revision a `Roster-At-Least-Revision` header asks for.
fn at_least_revision(headers: &HeaderMap) -> Result<Option<Revision>, ApiError> {
    let Some(raw) = headers.get(AT_LEAST_REVISION) else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .and_then(|v| v.trim().parse::<Revision>().ok())
        .filter(|r| *r >= 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request("Roster-At-Least-Revision must be a revision: 0 or more")
        })
}

/// The revision this server had applied when a request was authenticated, kept for the
/// answer's `Roster-Revision` header (`-1` until then).
#[derive(Clone)]
pub struct ServedRevision(Arc<AtomicI64>);

/// Says on every authenticated answer which revision it reflects at least: the
/// `Roster-Revision` header, unless the handler set it (a write names the revision it
/// produced).
pub async fn say_revision(mut request: Request, next: Next) -> Response {
    let served = ServedRevision(Arc::new(AtomicI64::new(-1)));
    request.extensions_mut().insert(served.clone());
    let mut response = next.run(request).await;
    let revision = served.0.load(Ordering::Relaxed);
    if revision >= 0 && !response.headers().contains_key(REVISION_HEADER) {
        response
            .headers_mut()
            .insert(REVISION_HEADER, HeaderValue::from(revision));
    }
    response
}

/// The answer header that names a revision.
pub const REVISION_HEADER: &str = "roster-revision";

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether a body is JSON by its `Content-Type`: none given, `application/json`, or any
/// `+json` type (`application/scim+json`, `application/merge-patch+json`).
pub fn json_or_untyped(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    content_type
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
}

/// A JSON body: at most 1 MiB (the router's limit), `application/json` when a type is
/// given, unknown fields refused. Syntax errors and unknown fields are 400; a value of the
/// wrong type or a missing field is 422 naming where.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_or_untyped(req.headers()) {
            return Err(ApiError::unsupported_media_type(
                "send the body as application/json",
            ));
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(super::BODY_LIMIT, |l| l.0);
        if declared_length(req.headers()).is_some_and(|length| length > limit as u64) {
            return Err(ApiError::too_large(format!(
                "the body is larger than this route's limit of {}",
                BodyLimit(limit)
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large(format!(
                        "the body is larger than this route's limit of {}",
                        BodyLimit(limit)
                    ))
                } else {
                    ApiError::bad_request(format!("the body could not be read: {rejection}"))
                }
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The body length a request declares (`Content-Length`), so that a body over a route's
/// limit is refused when its head arrives, not after the client has trickled it in (or
/// given up at the body timeout).
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The largest body a route accepts, beside axum's own limit so that the refusal can
/// say it: set with [`body_limit`].
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl std::fmt::Display for BodyLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MIB: usize = 1024 * 1024;
        if self.0.is_multiple_of(MIB) {
            write!(f, "{} MiB", self.0 / MIB)
        } else if self.0.is_multiple_of(1024) {
            write!(f, "{} KiB", self.0 / 1024)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// A route's body limit: axum enforces it, and the refusal names it.
pub fn body_limit<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    bytes: usize,
) -> axum::Router<S> {
    router
        .layer(axum::extract::DefaultBodyLimit::max(bytes))
        .layer(axum::Extension(BodyLimit(bytes)))
}

/// A JSON body that may be left out: an empty body stands for `T::default()` (for
/// instance `POST /tokens` with no options).
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0")
            || (req.headers().get(header::CONTENT_LENGTH).is_none()
                && req.headers().get(header::TRANSFER_ENCODING).is_none());
        if empty {
            return Ok(OptionalJsonBody(T::default()));
        }
        JsonBody::from_request(req, state)
            .await
            .map(|JsonBody(body)| OptionalJsonBody(body))
    }
}

/// Parses a JSON document, classifying what is wrong with it. The document is read as a
/// JSON value first (serde_json's recursion limit refuses deep nesting there), so every
/// syntax error is a 400 and every error of shape or type afterwards is a 422, but for
/// unknown fields, which are a 400 as SPEC §4 asks.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the body is empty; send a JSON object",
        ));
    }
    // An object naming a key twice is ambiguous (which one counts?) and the readers
    // below would silently keep the last, so it is refused first.
    if let Err(error) = roster_model::json::check_unique_keys(bytes) {
        return Err(ApiError::bad_request(format!("malformed JSON: {error}")));
    }
    // The common case, a well-formed object of the right shape, is read straight into
    // `T`; only a body that fails is read again as a value to say what is wrong.
    let object = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if object {
        if let Ok(parsed) = serde_json::from_slice::<T>(bytes) {
            return Ok(parsed);
        }
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::bad_request(format!("malformed JSON: {error}")))?;
    if !value.is_object() {
        // Every body of this API is an object; serde would also take a struct as an array.
        return Err(ApiError::invalid(None, "the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        // The path to the value at fault (`checks[3].privilege`), so that a client
        // fixing one entry of a long body knows which.
        let path = error.path().to_string();
        let field = (path != ".").then_some(path);
        let message = error.inner().to_string();
        let detail = match &field {
            Some(field) => format!("`{field}`: {message}"),
            None => message.clone(),
        };
        if message.starts_with("unknown field") {
            ApiError::bad_request(detail).with_field(field)
        } else {
            ApiError::invalid(field, detail)
        }
    })
}

/// Parses an id from a path. A string that is not an id names nothing: 404.
pub fn path_id(raw: &str, what: &str) -> Result<Id, ApiError> {
    Id::parse_str(raw).map_err(|_| ApiError::not_found(format!("{what} not found")))
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// At most this many items (1 to 1000; 100 by default).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub const MAX_LIMIT: u32 = 1000;

impl PageQuery {
    /// The page size, checked.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n as usize),
            Some(_) => Err(ApiError::invalid(
                Some("limit".into()),
                format!("limit must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The cursor decoded to the text it wraps.
    pub fn cursor_text(&self) -> Result<Option<String>, ApiError> {
        self.cursor
            .as_deref()
            .filter(|raw| !raw.is_empty())
            .map(|raw| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(raw)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| ApiError::bad_request("the cursor is not one this server gave"))
            })
            .transpose()
    }

    /// The cursor as the `(revision, seq)` of the last log entry seen (audit, changes).
    pub fn cursor_position(&self) -> Result<Option<(i64, i32)>, ApiError> {
        self.cursor_text()?
            .map(|text| {
                text.split_once(':')
                    .and_then(|(r, s)| Some((r.parse().ok()?, s.parse().ok()?)))
                    .filter(|(revision, seq): &(i64, i32)| *revision >= 0 && *seq >= 0)
                    .ok_or_else(|| ApiError::bad_request("the cursor is not one this server gave"))
            })
            .transpose()
    }

    /// The cursor as the id of the last item seen.
    pub fn cursor_id(&self) -> Result<Option<Id>, ApiError> {
        self.cursor_text()?
            .map(|text| {
                Id::parse_str(&text)
                    .map_err(|_| ApiError::bad_request("the cursor is not one this server gave"))
            })
            .transpose()
    }
}

/// The cursor naming a log entry by `(revision, seq)`.
pub fn position_cursor(revision: i64, seq: i32) -> String {
    cursor(&format!("{revision}:{seq}"))
}

/// Wraps text as an opaque cursor.
pub fn cursor(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// The version a client names in `If-Match` (`"3"`, `W/"3"` or `*`).
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("If-Match is not text"))?
        .trim();
    if text == "*" {
        return Ok(None);
    }
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request("If-Match must be an ETag this server gave"))
}

/// A query string, with a malformed one answered as a 400 problem.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection| {
                ApiError::bad_request(format!("bad query string: {}", rejection.body_text()))
            })
    }
}

impl Auth {
    /// An operations context over a read of the engine.
    pub fn ctx<'a>(&self, state: &'a roster_engine::WorkspaceState) -> roster_ops::Ctx<'a> {
        roster_ops::Ctx {
            state,
            actor: self.actor,
            now: roster_model::now(),
        }
    }
}

/// Path parameters, with an undecodable one (say `%FF`) answered as a 404 problem: a
/// path that cannot be read names nothing.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|path| ApiPath(path.0))
            .map_err(|_| ApiError::not_found("no such resource"))
    }
}
