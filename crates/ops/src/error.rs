/// Why an operation refused. Each variant maps to one HTTP status at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The actor may not do this; the message names the rule (403).
    #[error("{0}")]
    Forbidden(String),
    /// The object does not exist in this workspace (404).
    #[error("{0}")]
    NotFound(String),
    /// An invariant refuses the change: owner, last admin, maintained group, duplicate (409).
    #[error("{0}")]
    Conflict(String),
    /// A value is invalid; `field` names it when one field is at fault (422).
    #[error("{message}")]
    Invalid {
        /// The field or property at fault.
        field: Option<String>,
        /// What is wrong with it.
        message: String,
    },
    /// The object changed since the version the client named (412).
    #[error("{0}")]
    PreconditionFailed(String),
    /// Several items of a list are invalid, each with its position and why (422); nothing
    /// of the request is applied.
    #[error("{}", .errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    Items {
        /// The list at fault.
        field: String,
        /// Every invalid item.
        errors: Vec<ItemError>,
    },
    /// The actor has used up an allowance; it may try again after `retry_after` seconds (429).
    #[error("{message}")]
    RateLimited {
        /// Seconds until the request can succeed.
        retry_after: u64,
        /// Which limit, in a sentence.
        message: String,
    },
    /// A SCIM request refused in SCIM's own terms (status and `scimType`); only
    /// `/scim/v2` sees these.
    #[error("{0}")]
    Scim(roster_scim::ScimError),
    /// A rule does not check: every error with its span in the rule text (422).
    #[error("the rule does not check: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    Rule(Vec<roster_rules::RuleError>),
}

/// One invalid item of a list in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// Its position in the list, from 0.
    pub index: usize,
    /// The item as given.
    pub value: String,
    /// What is wrong with it.
    pub message: String,
}

impl OpError {
    /// A 422 naming the field at fault.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        OpError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub(crate) fn forbidden(rule: impl Into<String>) -> Self {
        OpError::Forbidden(rule.into())
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        OpError::Conflict(message.into())
    }

    pub(crate) fn not_found(what: &str) -> Self {
        OpError::NotFound(format!("{what} not found"))
    }
}
