/// A range of bytes in the rule text, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A parsed rule. Parentheses leave no node of their own: a parenthesized `OR` inside an
/// `OR` stays a nested node, which is what lets the printer reproduce the tree exactly.
#[derive(Debug, Clone)]
pub enum Expr {
    /// At least two alternatives.
    Or(Vec<Expr>, Span),
    /// At least two conjuncts.
    And(Vec<Expr>, Span),
    /// One comparison.
    Cond(Condition),
}

impl Expr {
    /// Where the expression stands in the text.
    pub fn span(&self) -> Span {
        match self {
            Expr::Or(_, span) | Expr::And(_, span) => *span,
            Expr::Cond(c) => c.span,
        }
    }
}

/// Trees are equal when their structure and values are; spans do not count, so that a
/// printed and re-parsed rule equals the original.
impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Expr::Or(a, _), Expr::Or(b, _)) | (Expr::And(a, _), Expr::And(b, _)) => a == b,
            (Expr::Cond(a), Expr::Cond(b)) => a == b,
            _ => false,
        }
    }
}

/// `attribute op value(s)`.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The attribute's name as written.
    pub attribute: String,
    /// Where the attribute's name stands.
    pub attribute_span: Span,
    /// The operator.
    pub op: Op,
    /// Where the operator stands.
    pub op_span: Span,
    /// One value, or several for `IN` and `NOT IN`.
    pub values: Vec<Literal>,
    /// The whole condition.
    pub span: Span,
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.attribute == other.attribute && self.op == other.op && self.values == other.values
    }
}

/// The operators of SPEC §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `IN`
    In,
    /// `NOT IN`
    NotIn,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `STARTS WITH`
    StartsWith,
    /// `ENDS WITH`
    EndsWith,
    /// `CONTAINS`
    Contains,
}

impl Op {
    /// How the operator is written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::StartsWith => "STARTS WITH",
            Op::EndsWith => "ENDS WITH",
            Op::Contains => "CONTAINS",
        }
    }

    /// The comparisons, which take numbers only.
    pub fn is_comparison(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }

    /// The text operators, which take text only.
    pub fn is_text(self) -> bool {
        matches!(self, Op::StartsWith | Op::EndsWith | Op::Contains)
    }
}

/// A value as written in a rule.
#[derive(Debug, Clone)]
pub enum Literal {
    /// A quoted string, or a bare word that is neither a number nor a boolean.
    Text(String, Span),
    /// A number; `raw` keeps its spelling so that a text attribute can take it as text.
    Number {
        /// The value.
        value: f64,
        /// The spelling in the rule.
        raw: String,
        /// Where it stands.
        span: Span,
    },
    /// `TRUE` or `FALSE`.
    Bool(bool, Span),
}

impl Literal {
    /// Where the value stands.
    pub fn span(&self) -> Span {
        match self {
            Literal::Text(_, span) | Literal::Bool(_, span) => *span,
            Literal::Number { span, .. } => *span,
        }
    }
}

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Literal::Text(a, _), Literal::Text(b, _)) => a == b,
            (Literal::Number { value: a, .. }, Literal::Number { value: b, .. }) => a == b,
            (Literal::Bool(a, _), Literal::Bool(b, _)) => a == b,
            _ => false,
        }
    }
}
