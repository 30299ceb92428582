//! Fuzzes the rule parser and checker: any input either fails with errors whose spans lie
//! inside the text, or parses to a tree that prints and parses back to itself (when the
//! printed form is within the length limit); and folding any text for comparison is
//! idempotent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_rules::{check, fold, parse, AttrType, Schema, MAX_RULE_BYTES};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let folded = fold(text);
    assert_eq!(fold(&folded), folded, "folding is idempotent");
    let schema = Schema::new()
        .with("department", AttrType::Text)
        .with("email_domain", AttrType::Text)
        .with("level", AttrType::Number)
        .with("contractor", AttrType::Boolean);
    match parse(text) {
        Err(error) => assert!(error.span.start <= error.span.end && error.span.end <= text.len()),
        Ok(tree) => {
            let printed = tree.to_string();
            if printed.len() > MAX_RULE_BYTES {
                // The canonical spacing can push a rule near the limit past it; the
                // server keeps rules as written, so only the limit error is expected.
                let error = parse(&printed).expect_err("over the limit");
                assert!(error.message.contains("at most"));
                return;
            }
            let again = parse(&printed).expect("a printed rule parses");
            assert_eq!(again, tree, "print then parse is the identity: {printed}");
            if let Err(errors) = check(&tree, &schema) {
                for error in errors {
                    assert!(error.span.end <= text.len());
                }
            }
        }
    }
});
