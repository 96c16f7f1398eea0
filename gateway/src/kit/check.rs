//! Pure checks of the values runners write, shared by the write routes: object ids, counts
//! as PostgreSQL's `bigint`, and text PostgreSQL cannot hold.

use serde_json::Value;

use crate::error::ApiError;

/// A count as PostgreSQL's `bigint`: counts past `i64::MAX` are refused, never wrapped.
pub(crate) fn bigint(name: &str, n: u64) -> Result<i64, ApiError> {
    i64::try_from(n).map_err(|_| ApiError::bad_request(format!("{name} is too large")))
}

/// A full hex object id: SHA-1 (40 digits) or SHA-256 (64), lowercase.
pub(crate) fn is_object_id(id: &str) -> bool {
    matches!(id.len(), 40 | 64)
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether any string (or key) in `value` holds a NUL, which PostgreSQL text cannot.
pub(crate) fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn object_ids_are_full_lowercase_hex() {
        assert!(is_object_id(&"a1".repeat(20)));
        assert!(is_object_id(&"0f".repeat(32)));
        for bad in [
            "",
            "abc",
            &"A1".repeat(20),
            &"g1".repeat(20),
            &"a".repeat(41),
        ] {
            assert!(!is_object_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn counts_past_bigint_are_refused_by_name() {
        assert_eq!(bigint("done", 7).ok(), Some(7));
        let err = bigint("total", u64::MAX).expect_err("too large");
        assert_eq!(err.message, "total is too large");
    }

    #[test]
    fn a_nul_is_found_in_strings_and_keys() {
        assert!(!contains_nul(&json!({"a": ["b", 1, null]})));
        assert!(contains_nul(&json!({"a": ["b\0"]})));
        assert!(contains_nul(&json!({"a\0": 1})));
    }
}
