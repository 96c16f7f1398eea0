//! The page's Content-Security-Policy: nothing may load (`default-src 'none'`), and the inline
//! style and script blocks run only because their SHA-256 hashes are listed. The hashes are
//! computed from the exact text the page embeds, when it is rendered, so an edited asset can
//! never run under a stale hash nor a stale asset under a new one.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// `'sha256-…'` of `text`, as a CSP source expression.
pub fn hash_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The policy for a page whose inline `<style>` blocks hold `styles` and whose inline
/// scripts hold `scripts`.
pub fn policy(styles: &[&str], scripts: &[&str]) -> String {
    let list = |blocks: &[&str]| {
        if blocks.is_empty() {
            "'none'".to_owned()
        } else {
            blocks
                .iter()
                .map(|b| hash_source(b))
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    format!(
        "default-src 'none'; style-src {}; script-src {}; base-uri 'none'; form-action 'none'",
        list(styles),
        list(scripts)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_the_base64_sha256_of_the_exact_text() {
        // `printf 'alert(1)' | openssl dgst -sha256 -binary | base64`
        assert_eq!(
            hash_source("alert(1)"),
            "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
        );
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        let policy = policy(&["a{}"], &[]);
        assert!(policy.starts_with("default-src 'none';"));
        assert!(policy.contains("script-src 'none'"));
        assert!(policy.contains(&format!("style-src {}", hash_source("a{}"))));
    }
}
