//! URLs as they may be printed: a database or SMTP URL carries its password, and start-up
//! messages, errors and logs must not.

/// The URL with any password (in its user information, or a `password` query parameter)
/// replaced by `***`. Text that is not a URL is returned as it is, unless it looks like
/// one with user information, which is then cut at the `@`.
pub fn url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Setting a password fails only for URLs that cannot have one.
                let _ = parsed.set_password(Some("***"));
            }
            let hidden: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let secret = k.eq_ignore_ascii_case("password")
                        || k.eq_ignore_ascii_case("pass")
                        || k.eq_ignore_ascii_case("sslpassword");
                    (
                        k.into_owned(),
                        if secret { "***".into() } else { v.into_owned() },
                    )
                })
                .collect();
            if !hidden.is_empty() {
                parsed.query_pairs_mut().clear().extend_pairs(hidden);
            }
            parsed.to_string()
        }
        Err(_) => match raw.rsplit_once('@') {
            Some((_, host)) if raw.contains("://") => {
                let scheme = raw.split_once("://").map_or("", |(s, _)| s);
                format!("{scheme}://***@{host}")
            }
            _ => raw.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn passwords_never_survive() {
        for (raw, shown) in [
            (
                "postgres://roster:s3cr3t@db.internal:5432/roster",
                "postgres://roster:***@db.internal:5432/roster",
            ),
            (
                "postgres://db.internal/roster?user=roster&password=s3cr3t",
                "postgres://db.internal/roster?user=roster&password=***",
            ),
            (
                "smtps://mailer:s3cr3t@smtp.example.com:465",
                "smtps://mailer:***@smtp.example.com:465",
            ),
            ("sqlite://roster.db", "sqlite://roster.db"),
            ("roster.db", "roster.db"),
        ] {
            assert_eq!(url(raw), shown);
            assert!(!url(raw).contains("s3cr3t"));
        }
        assert!(!url("postgres://a:s3cr3t@[bad").contains("s3cr3t"));
    }
}
