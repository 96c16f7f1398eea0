//! What a `credentialsSecret` reference means, in one place for both controllers: an Analysis
//! copies the git credentials into its run Secret under the runner's key names
//! ([`gitview_crds::wire::keys`]), a RepositoryTracker polls with the same credentials. Pure:
//! the Secret's data in, the credentials out.

use std::collections::BTreeMap;

use gitview_crds::v1alpha1::SecretReference;
use gitview_crds::wire::keys;
use k8s_openapi::ByteString;

/// The keys of a git credentials Secret, and the names the runner reads them under.
const GIT_KEYS: [(&str, &str); 5] = [
    ("username", keys::GIT_USERNAME),
    ("password", keys::GIT_PASSWORD),
    ("token", keys::GIT_TOKEN),
    ("ssh-privatekey", keys::SSH_PRIVATE_KEY),
    ("known_hosts", keys::SSH_KNOWN_HOSTS),
];

/// The key of a model credentials Secret when its reference names none.
const DEFAULT_LLM_KEY: &str = "api-key";

/// A referenced Secret lacks the key its reference names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Secret {secret:?} has no key {key:?}")]
pub struct MissingKey {
    pub secret: String,
    pub key: String,
}

/// The git credentials in a Secret's `data`, by the runner's key names: `username`,
/// `password`, `token`, `ssh-privatekey` and `known_hosts` as they are, and the value under
/// the reference's `key`, when it names one, as the token (in place of any `token`).
pub fn git(
    reference: &SecretReference,
    data: &BTreeMap<String, ByteString>,
) -> Result<BTreeMap<String, ByteString>, MissingKey> {
    let mut out: BTreeMap<String, ByteString> = GIT_KEYS
        .iter()
        .filter_map(|(from, to)| Some(((*to).to_owned(), data.get(*from)?.clone())))
        .collect();
    if let Some(key) = &reference.key {
        out.insert(keys::GIT_TOKEN.to_owned(), value(reference, key, data)?);
    }
    Ok(out)
}

/// The model API key in a Secret's `data`: under the reference's `key`, else `api-key`.
pub fn llm_api_key(
    reference: &SecretReference,
    data: &BTreeMap<String, ByteString>,
) -> Result<ByteString, MissingKey> {
    let key = reference.key.as_deref().unwrap_or(DEFAULT_LLM_KEY);
    value(reference, key, data)
}

fn value(
    reference: &SecretReference,
    key: &str,
    data: &BTreeMap<String, ByteString>,
) -> Result<ByteString, MissingKey> {
    data.get(key).cloned().ok_or_else(|| MissingKey {
        secret: reference.name.clone(),
        key: key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    fn reference(key: Option<&str>) -> SecretReference {
        SecretReference {
            name: "forge".to_owned(),
            key: key.map(str::to_owned),
        }
    }

    fn text(map: &BTreeMap<String, ByteString>, key: &str) -> Option<String> {
        map.get(key)
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    }

    #[test]
    fn the_well_known_keys_are_renamed_for_the_runner() {
        let secret = data(&[
            ("username", "ci"),
            ("password", "pw"),
            ("ssh-privatekey", "KEY"),
            ("known_hosts", "host"),
            ("unrelated", "x"),
        ]);
        let git = git(&reference(None), &secret).unwrap();
        assert_eq!(
            git.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                keys::GIT_PASSWORD,
                keys::GIT_USERNAME,
                keys::SSH_KNOWN_HOSTS,
                keys::SSH_PRIVATE_KEY
            ]
        );
        assert_eq!(text(&git, keys::GIT_USERNAME).as_deref(), Some("ci"));
    }

    #[test]
    fn a_custom_key_is_the_token_and_must_exist() {
        let secret = data(&[("token", "ignored"), ("deploy-pat", "pat-1")]);
        let git = git(&reference(Some("deploy-pat")), &secret).unwrap();
        assert_eq!(text(&git, keys::GIT_TOKEN).as_deref(), Some("pat-1"));
        let missing = super::git(&reference(Some("nope")), &secret).unwrap_err();
        assert_eq!(missing.to_string(), r#"Secret "forge" has no key "nope""#);
    }

    #[test]
    fn the_model_key_defaults_to_api_key() {
        let secret = data(&[("api-key", "sk-1"), ("other", "sk-2")]);
        assert_eq!(
            llm_api_key(&reference(None), &secret).unwrap().0,
            b"sk-1".to_vec()
        );
        assert_eq!(
            llm_api_key(&reference(Some("other")), &secret).unwrap().0,
            b"sk-2".to_vec()
        );
        assert!(llm_api_key(&reference(Some("gone")), &secret).is_err());
    }
}
