//! Secrets handed to clients (API tokens): 256 random bits, shown once, stored only as
//! their SHA-256.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix that makes a Roster token recognizable in logs and secret scanners.
const PREFIX: &str = "rst_";

/// A new secret and the hash the store keeps of it.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash(&secret);
    (secret, hash)
}

/// Base64url characters a 32-byte secret encodes to, without padding.
const ENCODED_LEN: usize = 43;

/// Whether a presented secret has the shape [`new_token`] makes (`rst_` and 43 base64url
/// characters). Every token the store holds was made there, so a secret of any other
/// shape names nothing, and is refused without asking the store.
pub fn well_formed(secret: &str) -> bool {
    secret.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == ENCODED_LEN
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The hex SHA-256 of a secret. A fast hash is right here: the secret has 256 bits of
/// entropy, so there is nothing for a slow hash to protect.
pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_to_what_is_stored() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() >= PREFIX.len() + 43);
        assert_eq!(hash(&a), hash_a);
        assert_eq!(hash_a.len(), 64);
        assert!(well_formed(&a) && well_formed(&b));
        for bad in [
            "",
            "rst_",
            "rst_nope",
            &a[..a.len() - 1],
            &format!("{a}x"),
            &a[4..],
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
        assert!(!well_formed(&format!("rst_{}+", &a[4..a.len() - 1])));
    }
}
