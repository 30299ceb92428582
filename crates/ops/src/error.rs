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
    /// A rule does not check: every error with its span in the rule text (422).
    #[error("the rule does not check: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    Rule(Vec<roster_rules::RuleError>),
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
