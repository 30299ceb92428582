//! Errors in the shape RFC 7644 §3.12 gives them: an HTTP status, a `scimType` for the
//! `400`s and `409`s a client can act on, and a sentence for people.

use serde_json::{json, Value};

use crate::schema::ERROR;

/// The `scimType` of an error (RFC 7644 §3.12, table 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    /// The filter is malformed or names an operator that does not fit.
    InvalidFilter,
    /// The request would return more than the server is willing to.
    TooMany,
    /// A unique attribute's value is taken.
    Uniqueness,
    /// The attribute cannot be changed.
    Mutability,
    /// The request body is not a valid SCIM message.
    InvalidSyntax,
    /// The PATCH path is malformed.
    InvalidPath,
    /// The PATCH path selects nothing.
    NoTarget,
    /// A value is missing, of the wrong type, or not acceptable.
    InvalidValue,
    /// The SCIM version is not supported.
    InvalidVers,
    /// The request would put sensitive data in a URL.
    Sensitive,
}

impl ScimType {
    /// The keyword as the RFC writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

/// A SCIM error: what `/scim/v2` answers when a request fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {detail}")]
pub struct ScimError {
    /// The HTTP status.
    pub status: u16,
    /// The keyword clients branch on, when one applies.
    pub scim_type: Option<ScimType>,
    /// What went wrong, for people.
    pub detail: String,
}

impl ScimError {
    /// A `400` with a `scimType`.
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// Any status without a `scimType`.
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// A `404` for a resource that is not there (or belongs to another workspace).
    pub fn not_found(what: &str) -> Self {
        ScimError::status(404, format!("no such {what}"))
    }

    /// A `409` for a unique value already taken.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        ScimError {
            status: 409,
            scim_type: Some(ScimType::Uniqueness),
            detail: detail.into(),
        }
    }

    /// The error as the response body.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(kind), Some(object)) = (self.scim_type, body.as_object_mut()) {
            object.insert("scimType".into(), Value::from(kind.as_str()));
        }
        body
    }
}

impl From<crate::FilterError> for ScimError {
    fn from(error: crate::FilterError) -> Self {
        ScimError::bad(ScimType::InvalidFilter, error.to_string())
    }
}
