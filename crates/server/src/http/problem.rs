//! Every error leaves the server here, once, as `application/problem+json` (RFC 9457).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_ops::OpError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::throttle::Throttled;
use crate::RuntimeError;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time, for people; for 403 the rule that refused.
    pub detail: String,
    /// The field or property at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every error, when there are several: for a rule that does not check, each with its
    /// byte span in the rule text; for a list, each with its position and value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemItem>>,
}

/// One of several errors: in a rule, for a client to underline, or an item of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemItem {
    /// What is wrong.
    pub message: String,
    /// Rules: where, in bytes of the rule text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<SpanView>,
    /// Lists: the item's position, from 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Lists: the item as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A byte range `start..end`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct SpanView {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    field: Option<String>,
    errors: Option<Vec<ProblemItem>>,
    retry_after: Option<u32>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            slug,
            title,
            detail: detail.into(),
            field: None,
            errors: None,
            retry_after: None,
        }
    }

    /// The same error, naming the field (or path in the body) at fault.
    pub fn with_field(self, field: Option<String>) -> Self {
        ApiError { field, ..self }
    }

    /// 400: the request is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Malformed request",
            detail,
        )
    }

    /// 401: no token, or not a valid one.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this resource does not answer that method",
        )
    }

    /// 413: the body is over the limit.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Request body too large",
            detail,
        )
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    /// 422 naming a field.
    pub fn invalid(field: Option<String>, detail: impl Into<String>) -> Self {
        ApiError {
            field,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid value",
                detail,
            )
        }
    }

    /// 500: something failed that the client cannot fix; the detail stays in the log.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed; the error is in its log",
        )
    }

    /// An error the connection layer answers before any handler runs (a request that
    /// is too slow, too large or cannot be read; a server at its connection cap), with
    /// its kind named after the status.
    pub fn of_status(status: StatusCode, detail: impl Into<String>) -> Self {
        let (slug, title) = match status.as_u16() {
            400 => ("bad-request", "Malformed request"),
            408 => ("timeout", "Request timeout"),
            413 => ("too-large", "Request body too large"),
            414 => ("uri-too-long", "URI too long"),
            431 => ("headers-too-large", "Request header fields too large"),
            503 => ("unavailable", "Service unavailable"),
            _ => ("error", status.canonical_reason().unwrap_or("Error")),
        };
        Self::new(status, slug, title, detail)
    }

    /// The problem document this error answers with.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("https://roster.dev/problems/{}", self.slug),
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            field: self.field.clone(),
            errors: self.errors.clone(),
        }
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<OpError> for ApiError {
    fn from(error: OpError) -> Self {
        match error {
            OpError::Forbidden(rule) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", rule)
            }
            OpError::NotFound(what) => Self::not_found(what),
            OpError::Conflict(why) => Self::new(StatusCode::CONFLICT, "conflict", "Conflict", why),
            OpError::Invalid { field, message } => Self::invalid(field, message),
            OpError::Rule(errors) => {
                let detail = error_detail(&errors);
                let problems = errors
                    .into_iter()
                    .map(|e| ProblemItem {
                        message: e.message,
                        span: Some(SpanView {
                            start: e.span.start,
                            end: e.span.end,
                        }),
                        index: None,
                        value: None,
                    })
                    .collect();
                ApiError {
                    errors: Some(problems),
                    ..Self::invalid(Some("rule".into()), detail)
                }
            }
            OpError::Items { field, errors } => {
                let detail = errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                let items = errors
                    .into_iter()
                    .map(|e| ProblemItem {
                        message: e.message,
                        span: None,
                        index: Some(e.index),
                        value: Some(e.value),
                    })
                    .collect();
                ApiError {
                    errors: Some(items),
                    ..Self::invalid(Some(field), detail)
                }
            }
            OpError::RateLimited {
                retry_after,
                message,
            } => ApiError {
                retry_after: Some(u32::try_from(retry_after).unwrap_or(u32::MAX)),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too many requests",
                    message,
                )
            },
            OpError::PreconditionFailed(why) => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
                why,
            ),
            // Only SCIM operations raise these, and `/scim/v2` answers them itself.
            OpError::Scim(error) => Self::new(
                StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
                "scim",
                "SCIM error",
                error.detail,
            ),
        }
    }
}

fn error_detail(errors: &[roster_rules::RuleError]) -> String {
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    format!("the rule does not check: {}", messages.join("; "))
}

impl From<Throttled> for ApiError {
    fn from(refusal: Throttled) -> Self {
        ApiError {
            retry_after: Some(u32::try_from(refusal.retry_after).unwrap_or(u32::MAX)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                refusal.to_string(),
            )
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(error: RuntimeError) -> Self {
        match error {
            RuntimeError::Op(op) => op.into(),
            RuntimeError::WorkspaceNotFound => Self::not_found("workspace not found"),
            RuntimeError::RevisionNotReached { .. } => Self::new(
                StatusCode::CONFLICT,
                "revision-not-reached",
                "Revision not reached",
                error.to_string(),
            ),
            unavailable if unavailable.is_unavailable() => Self::unavailable(&unavailable),
            other => Self::internal(&other),
        }
    }
}

impl ApiError {
    /// 503: the store was out of reach or busy past its deadlines. Nothing of the
    /// request was applied, unless the store lost the connection while committing it,
    /// which the detail then says.
    fn unavailable(error: &RuntimeError) -> Self {
        tracing::warn!(%error, "the store is unavailable");
        let detail = if error.outcome_unknown() {
            "the store did not confirm this write: it may have been applied, so read it \
             back before retrying"
        } else if matches!(error, RuntimeError::Reloading) {
            "this server is reloading the workspace from the store; nothing was changed: \
             retry shortly"
        } else {
            "the store is unavailable or busy; nothing was changed: retry shortly"
        };
        ApiError {
            retry_after: Some(STORE_RETRY_AFTER),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "Store unavailable",
                detail,
            )
        }
    }
}

/// The seconds a client is asked to wait when the store is unavailable.
pub const STORE_RETRY_AFTER: u32 = 2;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let mut response = (self.status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
