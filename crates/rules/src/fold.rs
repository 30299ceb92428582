//! How rules compare text: SPEC §3 says case-insensitively, which for text beyond ASCII
//! means Unicode's canonical caseless matching (Unicode §3.13, D145): decompose, fold
//! case with the default (not Turkic) folding, and compose again. So `Straße` equals
//! `STRASSE`, the final `ς` equals `σ`, and an `é` typed as one character equals an `e`
//! followed by a combining accent. Plain lower-casing gets all three wrong.
//!
//! Every place that compares a member's text with a rule's folds both through
//! [`fold`]: the checker (literals), the per-member evaluator and the engine's
//! dictionaries, so the set evaluator and the per-member one cannot disagree.

use std::borrow::Cow;

use caseless::Caseless;
use unicode_normalization::UnicodeNormalization;

/// Text as rules compare it; borrowed when folding changes nothing, which is every
/// lower-case ASCII text (most values) at the cost of one scan.
pub fn fold(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(text.to_ascii_lowercase());
        }
        return Cow::Borrowed(text);
    }
    let folded: String = text.nfd().default_case_fold().nfc().collect();
    if folded == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(folded)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::fold;

    #[test]
    fn unicode_text_folds_as_caseless_matching_says() {
        for (a, b) in [
            ("Straße", "STRASSE"),
            ("ΟΔΟΣ", "οδος"),
            ("ΟΔΟΣ", "οδοσ"),
            ("Zoë", "ZOË"),
            ("caf\u{e9}", "CAFE\u{301}"),
            ("Ångström", "a\u{30a}ngstro\u{308}m"),
            ("ﬁle", "FILE"),
        ] {
            assert_eq!(fold(a), fold(b), "{a} and {b}");
        }
        for (a, b) in [("Straße", "strase"), ("é", "e"), ("İ", "i")] {
            assert_ne!(fold(a), fold(b), "{a} and {b}");
        }
    }

    #[test]
    fn folded_text_that_needs_nothing_is_borrowed() {
        assert!(matches!(
            fold("eng-team@acme.test"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert!(matches!(fold("zoë"), std::borrow::Cow::Borrowed(_)));
        assert!(matches!(fold("Eng"), std::borrow::Cow::Owned(_)));
    }

    proptest! {
        /// Folding is idempotent, and the ASCII shortcut answers as the full folding
        /// would, for any text.
        #[test]
        fn folding_is_idempotent_and_the_shortcut_agrees(text in "\\PC{0,24}") {
            let once = fold(&text).into_owned();
            prop_assert_eq!(fold(&once).into_owned(), once.clone());
            if text.is_ascii() {
                let general: String = {
                    use caseless::Caseless;
                    use unicode_normalization::UnicodeNormalization;
                    text.nfd().default_case_fold().nfc().collect()
                };
                prop_assert_eq!(once, general);
            }
        }

        /// Upper- and lower-case spellings fold alike in Latin and Greek text (the
        /// Turkic dotless `ı` is the known exception: default folding keeps it apart).
        #[test]
        fn latin_and_greek_fold_blind_to_case(text in "[a-zA-Z0-9à-öø-ÿΑ-Ωα-ως ß-]{0,24}") {
            prop_assert_eq!(
                fold(&text.to_uppercase()).into_owned(),
                fold(&text.to_lowercase()).into_owned()
            );
        }
    }
}
