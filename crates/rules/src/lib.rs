//! The rule language of dynamic groups (SPEC §3).
//!
//! ```text
//! rule       := or_expr
//! or_expr    := and_expr ( OR and_expr )*
//! and_expr   := primary ( AND primary )*
//! primary    := '(' or_expr ')' | condition
//! condition  := attribute ( '=' | '!=' ) value | attribute [NOT] IN list
//!             | attribute ( '<' | '<=' | '>' | '>=' ) number
//!             | attribute ( STARTS WITH | ENDS WITH | CONTAINS ) string
//! list       := '(' value ( ',' value )* ')' | value ( ',' value )*
//! ```
//!
//! [`parse`] turns text into an [`Expr`] whose every node and every error carries a byte
//! [`Span`]; [`check`] resolves it against a [`Schema`] (the workspace's properties and
//! the built-ins) into a [`Rule`] that [`Rule::matches`] evaluates for one member.
//! `Display` prints a tree back to text that parses to the same tree. Limits (4,096 bytes,
//! 32 levels of parentheses, 1,000 list values) are errors, never a stack overflow.

mod ast;
mod check;
mod error;
mod eval;
mod fold;
mod lexer;
mod parser;
mod printer;

pub use ast::{Condition, Expr, Literal, Op, Span};
pub use check::{check, AttrType, Node, Rule, Schema};
pub use error::RuleError;
pub use eval::{Attributes, Value};
pub use fold::fold;
pub use parser::{is_keyword_word, parse};

/// Longest rule text, in bytes.
pub const MAX_RULE_BYTES: usize = 4_096;
/// Deepest nesting of parentheses.
pub const MAX_DEPTH: usize = 32;
/// Most values in one list.
pub const MAX_LIST_VALUES: usize = 1_000;

/// Parses and checks a rule in one step: what saving a rule does.
pub fn compile(text: &str, schema: &Schema) -> Result<Rule, Vec<RuleError>> {
    let expr = parse(text).map_err(|e| vec![e])?;
    check(&expr, schema)
}
