//! Prints a tree as rule text that parses back to the same tree: nested `OR`s and `AND`s
//! keep their parentheses, `AND` inside `OR` needs none, strings are quoted unless they
//! read back as the same bare word.

use std::fmt::{self, Display, Formatter, Write};

use crate::lexer::is_word_char;
use crate::{Condition, Expr, Literal, Op};

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(items, _) => join(f, items, " OR ", |e| matches!(e, Expr::Or(..))),
            Expr::And(items, _) => join(f, items, " AND ", |e| {
                matches!(e, Expr::Or(..) | Expr::And(..))
            }),
            Expr::Cond(c) => c.fmt(f),
        }
    }
}

fn join(
    f: &mut Formatter<'_>,
    items: &[Expr],
    separator: &str,
    needs_parens: fn(&Expr) -> bool,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        if needs_parens(item) {
            write!(f, "({item})")?;
        } else {
            write!(f, "{item}")?;
        }
    }
    Ok(())
}

impl Display for Condition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.attribute, self.op.as_str())?;
        match self.op {
            Op::In | Op::NotIn => {
                f.write_char('(')?;
                for (i, value) in self.values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_char(')')
            }
            _ => match self.values.first() {
                Some(value) => write!(f, "{value}"),
                None => Ok(()),
            },
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Bool(b, _) => write!(f, "{b}"),
            Literal::Number { raw, .. } => f.write_str(raw),
            Literal::Text(s, _) if reads_back_bare(s) => f.write_str(s),
            Literal::Text(s, _) => {
                f.write_char('"')?;
                for c in s.chars() {
                    if matches!(c, '"' | '\\') {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                f.write_char('"')
            }
        }
    }
}

/// Whether a string printed bare parses back as the same string (not a number, a
/// boolean or a keyword).
fn reads_back_bare(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(is_word_char)
        && matches!(crate::parse(&format!("x = {s}")), Ok(Expr::Cond(Condition { ref values, .. })) if matches!(values.as_slice(), [Literal::Text(t, _)] if t == s))
}
