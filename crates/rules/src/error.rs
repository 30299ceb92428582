use crate::Span;

/// Why a rule was refused, and where: a client underlines `span` in the rule text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// What is wrong, for people.
    pub message: String,
    /// The bytes of the rule text at fault.
    pub span: Span,
}

impl RuleError {
    pub(crate) fn new(message: impl Into<String>, span: Span) -> Self {
        RuleError {
            message: message.into(),
            span,
        }
    }
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (bytes {}..{})",
            self.message, self.span.start, self.span.end
        )
    }
}

impl std::error::Error for RuleError {}
