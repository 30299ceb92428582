//! The rule language of SPEC §3: examples of every part, and properties over random rules.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use proptest::prelude::*;
use roster_rules::{
    compile, parse, AttrType, Condition, Expr, Literal, Op, RuleError, Schema, Span, Value,
};

fn schema() -> Schema {
    Schema::new()
        .with("email", AttrType::Text)
        .with("email_domain", AttrType::Text)
        .with("department", AttrType::Text)
        .with("level", AttrType::Number)
        .with("contractor", AttrType::Boolean)
}

fn errors(rule: &str) -> Vec<RuleError> {
    compile(rule, &schema())
        .err()
        .unwrap_or_else(|| panic!("`{rule}` was accepted"))
}

fn member(pairs: Vec<(&'static str, Value)>) -> impl Fn(&str) -> Option<Value> {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn the_core_operators_and_keywords_in_any_case() {
    let rule = compile(
        "department = Sales and (level >= 3 OR email_domain in (acme.com, \"globex.com\"))",
        &schema(),
    )
    .unwrap();
    let m = member(vec![
        ("department", Value::Text("SALES".into())),
        ("level", Value::Number(2.0)),
        ("email_domain", Value::Text("globex.com".into())),
    ]);
    assert!(rule.matches(&m), "text is compared case-insensitively");
    let unparenthesized = compile("email_domain IN acme.com, globex.com", &schema()).unwrap();
    assert!(unparenthesized.matches(&m));
    assert!(compile("contractor = TRUE", &schema())
        .unwrap()
        .matches(&member(vec![("contractor", Value::Bool(true))])));
    assert_eq!(
        rule.attributes(),
        vec!["department", "level", "email_domain"]
    );
}

#[test]
fn and_binds_tighter_than_or() {
    let rule = compile("level = 1 OR level = 2 AND department = x", &schema()).unwrap();
    assert!(rule.matches(&member(vec![("level", Value::Number(1.0))])));
    assert!(!rule.matches(&member(vec![("level", Value::Number(2.0))])));
}

#[test]
fn missing_attributes_fail_positive_tests_and_pass_negative_ones() {
    let nobody = member(vec![]);
    for positive in [
        "department = x",
        "department in (x, y)",
        "level < 3",
        "level >= 0",
        "department starts with a",
        "department contains a",
        "department ends with a",
    ] {
        assert!(
            !compile(positive, &schema()).unwrap().matches(&nobody),
            "{positive}"
        );
    }
    for negative in ["department != x", "department not in (x, y)"] {
        assert!(
            compile(negative, &schema()).unwrap().matches(&nobody),
            "{negative}"
        );
    }
}

#[test]
fn text_operators_and_numbers() {
    let m = member(vec![
        ("email", Value::Text("Ada@Example.COM".into())),
        ("level", Value::Number(7.5)),
    ]);
    for (rule, expected) in [
        ("email starts with ada@", true),
        ("email ends with \"EXAMPLE.com\"", true),
        ("email contains \"@ex\"", true),
        ("email contains zzz", false),
        ("level > 7", true),
        ("level < 7.5", false),
        ("level <= 7.5", true),
        ("level = 7.5", true),
        ("level != 7.5", false),
        ("level not in (1, 2)", true),
        ("level in (-1, 7.5)", true),
    ] {
        assert_eq!(
            compile(rule, &schema()).unwrap().matches(&m),
            expected,
            "{rule}"
        );
    }
    let numeric_text = compile("department = 0042", &schema()).unwrap();
    assert!(
        numeric_text.matches(&member(vec![("department", Value::Text("0042".into()))])),
        "a bare number is text for a text attribute, as spelled"
    );
}

#[test]
fn syntax_errors_carry_spans() {
    let cases: [(&str, &str, Span); 9] = [
        ("", "empty", Span::new(0, 0)),
        ("department", "operator", Span::new(10, 10)),
        ("department = ", "value", Span::new(13, 13)),
        ("department == x", "value", Span::new(12, 13)),
        ("(department = x", "never closed", Span::new(0, 1)),
        ("department = x)", "without a matching", Span::new(14, 15)),
        ("department = \"x", "unterminated", Span::new(13, 15)),
        (
            "department = x # y",
            "unexpected character",
            Span::new(15, 16),
        ),
        ("department = and", "keyword", Span::new(13, 16)),
    ];
    for (rule, needle, span) in cases {
        let error = parse(rule).unwrap_err();
        assert!(
            error.message.contains(needle),
            "`{rule}`: {}",
            error.message
        );
        assert_eq!(error.span, span, "`{rule}`: {}", error.message);
    }
}

#[test]
fn checker_reports_every_error_with_suggestions() {
    let all =
        errors("departmnt = x AND level starts with 3 AND contractor = maybe AND level = high");
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(
        all[0].message.contains("did you mean `department`"),
        "{}",
        all[0].message
    );
    assert_eq!(all[0].span, Span::new(0, 9));
    assert!(all[1].message.contains("does not apply"));
    assert!(all[2].message.contains("boolean"));
    assert!(all[3].message.contains("number"));
    assert!(
        errors("nothinglikeit = 1")[0]
            .message
            .ends_with("`nothinglikeit`"),
        "no suggestion when nothing is close"
    );
    assert!(errors("department > 3")[0]
        .message
        .contains("`>` does not apply"));
    assert!(errors("contractor in (true, 3)")[0]
        .message
        .contains("`3` is not"));
}

#[test]
fn limits_are_errors_not_crashes() {
    let long = format!("department = \"{}\"", "x".repeat(5000));
    assert!(parse(&long).unwrap_err().message.contains("4096 bytes"));
    let deep = format!("{}department = x{}", "(".repeat(33), ")".repeat(33));
    assert!(parse(&deep).unwrap_err().message.contains("32 levels"));
    let ok_deep = format!("{}department = x{}", "(".repeat(32), ")".repeat(32));
    assert!(parse(&ok_deep).is_ok());
    let huge_nesting = "(".repeat(4000);
    assert!(parse(&huge_nesting).is_err());
    let values: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let list = format!("level in ({})", values.join(","));
    assert!(parse(&list).unwrap_err().message.contains("1000 values"));
    let ok_list = format!("level in ({})", values[..1000].join(","));
    assert!(parse(&ok_list).is_ok());
}

fn attribute() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("department".to_owned()),
        Just("level".to_owned()),
        Just("contractor".to_owned()),
        "[a-z][a-z0-9_]{0,8}"
    ]
    .prop_filter("not a keyword", |a| {
        ![
            "and", "or", "not", "in", "starts", "ends", "with", "contains", "true", "false",
        ]
        .contains(&a.as_str())
    })
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<bool>().prop_map(|b| Literal::Bool(b, Span::default())),
        (-1_000_000i64..1_000_000, 0u32..3).prop_map(|(n, scale)| {
            let value = n as f64 / 10f64.powi(scale as i32);
            Literal::Number {
                value,
                raw: format!("{value}"),
                span: Span::default(),
            }
        }),
        "[ -~]{0,12}".prop_map(|s| Literal::Text(s, Span::default())),
        "\\PC{0,6}".prop_map(|s| Literal::Text(s, Span::default())),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Eq),
        Just(Op::Ne),
        Just(Op::In),
        Just(Op::NotIn),
        Just(Op::Lt),
        Just(Op::Le),
        Just(Op::Gt),
        Just(Op::Ge),
        Just(Op::StartsWith),
        Just(Op::EndsWith),
        Just(Op::Contains),
    ]
}

fn condition() -> impl Strategy<Value = Expr> {
    (
        attribute(),
        op(),
        proptest::collection::vec(literal(), 1..4),
    )
        .prop_map(|(attribute, op, mut values)| {
            if !matches!(op, Op::In | Op::NotIn) {
                values.truncate(1);
            }
            Expr::Cond(Condition {
                attribute,
                attribute_span: Span::default(),
                op,
                op_span: Span::default(),
                values,
                span: Span::default(),
            })
        })
}

fn expr() -> impl Strategy<Value = Expr> {
    condition().prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4)
                .prop_map(|items| Expr::Or(items, Span::default())),
            proptest::collection::vec(inner, 2..4)
                .prop_map(|items| Expr::And(items, Span::default())),
        ]
    })
}

proptest! {
    #[test]
    fn print_then_parse_is_the_identity(tree in expr()) {
        let text = tree.to_string();
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&parsed, &tree, "{}", text);
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn spans_point_into_the_text(tree in expr()) {
        let text = tree.to_string();
        let parsed = parse(&text).unwrap();
        fn walk(e: &Expr, text: &str) {
            let span = e.span();
            assert!(span.start <= span.end && span.end <= text.len() && text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
            match e {
                Expr::Or(items, _) | Expr::And(items, _) => items.iter().for_each(|i| walk(i, text)),
                Expr::Cond(c) => assert_eq!(&text[c.attribute_span.start..c.attribute_span.end], c.attribute),
            }
        }
        walk(&parsed, &text);
    }

    #[test]
    fn any_text_parses_or_fails_cleanly(text in "\\PC{0,200}") {
        match compile(&text, &schema()) {
            Ok(_) => {}
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(e.span.start <= e.span.end && e.span.end <= text.len());
                }
            }
        }
    }

    #[test]
    fn rule_like_text_parses_or_fails_cleanly(parts in proptest::collection::vec(prop_oneof![
        Just("("), Just(")"), Just(" AND "), Just(" OR "), Just(" = "), Just(" != "), Just(" in "), Just(" not in "),
        Just(","), Just("department"), Just("level"), Just("3"), Just("\"x\""), Just(" starts with "), Just(" < "),
    ], 0..40)) {
        let text: String = parts.concat();
        let _ = compile(&text, &schema());
    }
}
