//! Scrubbing: secrets removed and emails hashed, in commit records, free text and JSON
//! documents. Pure (no I/O): the runner's scrub stage applies it before anything leaves the pod
//! when the account's policy asks for it, and the gateway applies it again on read for accounts
//! whose policy is on, over rows stored before the policy changed (a row found [`is_clean`]
//! when it was stored is marked with the [`RULES_VERSION`] and not scrubbed again). One
//! implementation, so both hash an email to the same value and redact by the same rules.
//!
//! * **Secrets** are found with the patterns well-known scanners use (gitleaks' default rules,
//!   GitHub secret scanning's token formats): AWS access key ids, GitHub, GitLab, Slack, npm,
//!   OpenAI, SendGrid and Stripe tokens, Google API keys, JWTs, PEM private key blocks, and
//!   passwords in URLs. Each match becomes `[REDACTED:<rule>]`. All rules are compiled once;
//!   each is asked whether it matches at all (a search its literals make fast: a `RegexSet`
//!   of them all answered the same question about 30 times slower over git/git's messages,
//!   its overlapping search giving up the fast paths), and only those that do run to replace
//!   (almost every message matches none).
//! * **Emails** become `<first 16 hex digits of sha256(lower-cased email)>@scrubbed.invalid`:
//!   stable, so one author stays one author, and still shaped like an email. Already scrubbed
//!   emails are left alone, so scrubbing twice changes nothing. In [`Person`] fields (also the
//!   mailmap identity) and in message text (`Signed-off-by:` trailers and the like).
//!
//! Hashing is unsalted: it hides emails from readers, not from someone who already has a list
//! of candidate addresses.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use serde_json::Value;

use crate::records::{CommitRecord, Person};

/// The domain of hashed emails.
pub const SCRUBBED_DOMAIN: &str = "scrubbed.invalid";

/// The secret rules: a name and a pattern.
pub const SECRET_RULES: &[(&str, &str)] = &[
    (
        "private-key",
        r"(?s)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----.*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
    ),
    (
        "aws-access-key-id",
        r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
    ),
    (
        "github-token",
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[0-9A-Za-z]{36}\b",
    ),
    (
        "github-fine-grained-token",
        r"\bgithub_pat_[0-9A-Za-z_]{82}\b",
    ),
    (
        "gitlab-token",
        r"\bgl(?:pat|ptt|rt|dt|oas)-[0-9A-Za-z_-]{20,}",
    ),
    (
        "slack-token",
        r"\bxox[abposr]-(?:[0-9A-Za-z]+-){1,4}[0-9A-Za-z]+",
    ),
    (
        "slack-webhook",
        r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/_-]{20,}",
    ),
    ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}"),
    (
        "stripe-key",
        r"\b(?:sk|rk|pk)_(?:test|live|prod)_[0-9A-Za-z]{10,99}\b",
    ),
    ("npm-token", r"\bnpm_[0-9A-Za-z]{36}\b"),
    (
        "openai-key",
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}",
    ),
    (
        "sendgrid-key",
        r"\bSG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43}\b",
    ),
    (
        "jwt",
        r"\beyJ[0-9A-Za-z_-]{10,}\.eyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{10,}",
    ),
    (
        "url-password",
        r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]{1,100}:[^/\s:@]{1,200}@",
    ),
];

static SECRET_REGEXES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    SECRET_RULES
        .iter()
        .map(|(_, pattern)| Regex::new(pattern).expect("valid secret rules"))
        .collect()
});
/// The pattern of an email in text.
const EMAIL_PATTERN: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}";
static EMAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(EMAIL_PATTERN).expect("a valid regex"));

/// The version of the scrubbing rules: what [`is_clean`] vouches for. The gateway stores it
/// with a commit found already clean, and scrubs on read only the rows not clean under
/// today's version. Bump it whenever scrubbing would change text it left alone before (a new
/// or wider secret rule, another email pattern, another hash); the test
/// `the_rules_version_names_the_rules` fails when the patterns change and it does not.
pub const RULES_VERSION: i32 = 1;

/// Whether scrubbing `record` and `enrichment` would change nothing: they were scrubbed
/// already (by a runner whose account scrubs), or hold nothing to scrub.
pub fn is_clean(record: &CommitRecord, enrichment: &Value) -> bool {
    let mut record = record.clone();
    let mut enrichment = enrichment.clone();
    scrub_record(&mut record) == ScrubStats::default()
        && scrub_json(&mut enrichment) == ScrubStats::default()
}

/// What scrubbing changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScrubStats {
    /// Secrets replaced.
    pub secrets: u64,
    /// Emails hashed (in identities and text).
    pub emails: u64,
}

impl ScrubStats {
    /// Adds another count.
    pub fn add(&mut self, other: ScrubStats) {
        self.secrets += other.secrets;
        self.emails += other.emails;
    }
}

/// Replaces secrets in `text` with `[REDACTED:<rule>]`; returns the count.
pub fn redact_secrets(text: &str) -> (Cow<'_, str>, u64) {
    let matched = matching_rules(text);
    if matched.is_empty() {
        return (Cow::Borrowed(text), 0);
    }
    let mut out = text.to_owned();
    let mut count = 0;
    for index in matched {
        let name = SECRET_RULES[index].0;
        let regex = &SECRET_REGEXES[index];
        let replaced = regex.replace_all(&out, |_: &regex::Captures<'_>| {
            count += 1;
            format!("[REDACTED:{name}]")
        });
        if let Cow::Owned(replaced) = replaced {
            out = replaced;
        }
    }
    (Cow::Owned(out), count)
}

/// The indices of the secret rules that match somewhere in `text`, in rule order.
fn matching_rules(text: &str) -> Vec<usize> {
    SECRET_REGEXES
        .iter()
        .enumerate()
        .filter(|(_, regex)| regex.is_match(text))
        .map(|(index, _)| index)
        .collect()
}

/// The stable hash of an email: `<16 hex>@scrubbed.invalid`. An already hashed email is
/// returned as is.
pub fn hash_email(email: &str) -> String {
    if email.ends_with(&format!("@{SCRUBBED_DOMAIN}")) {
        return email.to_owned();
    }
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}@{SCRUBBED_DOMAIN}")
}

/// Hashes every email in `text`; returns the count.
pub fn hash_emails_in(text: &str) -> (Cow<'_, str>, u64) {
    let mut count = 0;
    let replaced = EMAIL.replace_all(text, |c: &regex::Captures<'_>| {
        let email = &c[0];
        let hashed = hash_email(email);
        count += u64::from(hashed != email);
        hashed
    });
    (replaced, count)
}

/// Scrubs free text: secrets first (a URL password would otherwise look like an email), then
/// emails.
pub fn scrub_text(text: &str) -> (Cow<'_, str>, ScrubStats) {
    let (without_secrets, secrets) = redact_secrets(text);
    let (hashed, emails) = hash_emails_in(&without_secrets);
    let stats = ScrubStats { secrets, emails };
    match hashed {
        Cow::Borrowed(_) => match without_secrets {
            Cow::Borrowed(original) => (Cow::Borrowed(original), stats),
            Cow::Owned(owned) => (Cow::Owned(owned), stats),
        },
        Cow::Owned(owned) => (Cow::Owned(owned), stats),
    }
}

fn scrub_person(person: &mut Person, stats: &mut ScrubStats) {
    let mut hash = |email: &mut String| {
        let hashed = hash_email(email);
        if hashed != *email {
            stats.emails += 1;
            *email = hashed;
        }
    };
    hash(&mut person.email);
    if let Some(canonical) = person.canonical.as_mut() {
        hash(&mut canonical.email);
    }
    // Names are kept (the policy covers emails); a name that is itself an email is not.
    let (name, name_stats) = scrub_text(&person.name);
    if let Cow::Owned(name) = name {
        person.name = name;
    }
    stats.add(name_stats);
}

/// Scrubs one record in place: identities' emails hashed, the message's secrets redacted and
/// emails hashed. Paths and counts are untouched.
pub fn scrub_record(record: &mut CommitRecord) -> ScrubStats {
    let mut stats = ScrubStats::default();
    scrub_person(&mut record.author, &mut stats);
    scrub_person(&mut record.committer, &mut stats);
    let (message, message_stats) = scrub_text(&record.message);
    if let Cow::Owned(message) = message {
        record.message = message;
    }
    stats.add(message_stats);
    stats
}

/// Scrubs every string of a JSON document in place (object keys are left alone): the phases,
/// timelines and enrichments the runner writes hold free text drawn from commit messages.
pub fn scrub_json(value: &mut Value) -> ScrubStats {
    let mut stats = ScrubStats::default();
    match value {
        Value::String(text) => {
            let (scrubbed, found) = scrub_text(text);
            if let Cow::Owned(scrubbed) = scrubbed {
                *text = scrubbed;
            }
            stats.add(found);
        }
        Value::Array(items) => {
            for item in items {
                stats.add(scrub_json(item));
            }
        }
        Value::Object(fields) => {
            for item in fields.values_mut() {
                stats.add(scrub_json(item));
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    stats
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Secrets assembled at run time so this file does not itself trip secret scanners.
    fn fake(parts: &[&str]) -> String {
        parts.concat()
    }

    /// The patterns [`RULES_VERSION`] was last set for: sha256 over every secret rule's name
    /// and pattern and the email pattern.
    const RULES_FINGERPRINT: (i32, &str) = (
        1,
        "6d9ac7c443d0f34281bfcbdd7200d93bceaac8c6fbc1581ce24897ce1667d217",
    );

    #[test]
    fn the_rules_version_names_the_rules() {
        let mut digest = Sha256::new();
        for (name, pattern) in SECRET_RULES {
            digest.update(name.as_bytes());
            digest.update([0]);
            digest.update(pattern.as_bytes());
            digest.update([0]);
        }
        digest.update(EMAIL_PATTERN.as_bytes());
        let hex: String = digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            RULES_FINGERPRINT == (RULES_VERSION, hex.as_str()),
            "the scrub rules changed since RULES_VERSION {} was set: bump RULES_VERSION (rows \
             stored clean under the old rules must be scrubbed again on read), then set \
             RULES_FINGERPRINT to ({}, \"{hex}\")",
            RULES_FINGERPRINT.0,
            RULES_VERSION + 1,
        );
    }

    #[test]
    fn a_scrubbed_record_is_clean_and_a_raw_one_is_not() {
        let mut record = CommitRecord {
            id: "a".repeat(40),
            parents: vec![],
            author: Person {
                name: "Ada".into(),
                email: "ada@example.com".into(),
                time: "2024-05-01T09:30:00+02:00".into(),
                canonical: None,
            },
            committer: Person {
                name: "Ada".into(),
                email: "ada@example.com".into(),
                time: "2024-05-01T09:30:00+02:00".into(),
                canonical: None,
            },
            message: "Start".into(),
            files: vec![],
            renames: vec![],
        };
        let enrichment = serde_json::json!({"references": ["#1"]});
        assert!(!is_clean(&record, &enrichment), "a raw email");
        scrub_record(&mut record);
        assert!(is_clean(&record, &enrichment));
        let leaky = serde_json::json!({"scope": fake(&["ghp_", &"a".repeat(36)])});
        assert!(!is_clean(&record, &leaky), "a token in the enrichment");
    }

    #[test]
    fn the_rules_that_match_are_those_a_set_of_them_finds() {
        let set = regex::RegexSet::new(SECRET_RULES.iter().map(|(_, pattern)| pattern))
            .expect("valid secret rules");
        let secrets: Vec<String> = secrets().into_iter().map(|(_, secret)| secret).collect();
        let mut texts = vec![
            String::new(),
            "fix: stop leaking the cache\n\nSigned-off-by: A <a@example.com>\n".to_owned(),
            "https://example.com/path and user@host.example".to_owned(),
        ];
        for (i, secret) in secrets.iter().enumerate() {
            texts.push(secret.clone());
            // Next to letters of other scripts, where word boundaries are Unicode's.
            texts.push(format!("é{secret}é"));
            texts.push(format!("{secret} and {}", secrets[(i + 1) % secrets.len()]));
            texts.push(secret[..secret.len() / 2].to_owned());
        }
        for text in &texts {
            let expected: Vec<usize> = set.matches(text).into_iter().collect();
            assert_eq!(matching_rules(text), expected, "{text:?}");
        }
    }

    fn secrets() -> Vec<(&'static str, String)> {
        vec![
            ("aws-access-key-id", fake(&["AKIA", "IOSFODNN7EXAMPLE"])),
            ("github-token", fake(&["ghp_", &"a1B2".repeat(9)])),
            (
                "github-fine-grained-token",
                fake(&["github_pat_", &"Ab1_".repeat(20), "xy"]),
            ),
            ("gitlab-token", fake(&["glpat-", "abcdefghij0123456789"])),
            (
                "slack-token",
                fake(&[
                    "xoxb-",
                    "123456789012-1234567890123-",
                    "AbCdEfGhIjKlMnOpQrStUvWx",
                ]),
            ),
            (
                "slack-webhook",
                fake(&[
                    "https://hooks.slack.com/services/",
                    "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
                ]),
            ),
            (
                "google-api-key",
                fake(&["AIza", "SyA-1234567890abcdefghijklmnopqrstu"]),
            ),
            (
                "stripe-key",
                fake(&["sk_", "live_", "4eC39HqLyjWDarjtT1zdp7dc"]),
            ),
            ("npm-token", fake(&["npm_", &"a1b2c3".repeat(6)])),
            (
                "openai-key",
                fake(&[
                    "sk-proj-",
                    "abcdefghijklmnopqrst",
                    "T3BlbkFJ",
                    "abcdefghijklmnopqrst",
                ]),
            ),
            (
                "sendgrid-key",
                fake(&["SG.", "abcdefghijklmnopqrstuv", ".", &"a".repeat(43)]),
            ),
            (
                "jwt",
                fake(&[
                    "eyJhbGciOiJIUzI1NiJ9",
                    ".",
                    "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
                    ".",
                    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                ]),
            ),
            (
                "private-key",
                fake(&[
                    "-----BEGIN RSA ",
                    "PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA ",
                    "PRIVATE KEY-----",
                ]),
            ),
            (
                "url-password",
                fake(&["https://deploy:", "hunter2", "@git.example.com/r.git"]),
            ),
        ]
    }

    #[test]
    fn each_rule_finds_its_secret() {
        for (rule, secret) in secrets() {
            let text = format!("config: {secret} end");
            let (scrubbed, count) = redact_secrets(&text);
            assert_eq!(count, 1, "{rule}: {scrubbed}");
            assert!(
                scrubbed.contains(&format!("[REDACTED:{rule}]")),
                "{rule}: {scrubbed}"
            );
            assert!(!scrubbed.contains(&secret), "{rule}");
            assert!(
                scrubbed.starts_with("config: ") && scrubbed.ends_with(" end")
                    || rule == "url-password",
                "{rule}: {scrubbed}"
            );
        }
    }

    #[test]
    fn ordinary_text_is_not_a_secret() {
        for text in [
            "Fix the AKIA parser for lowercase akiaiosfodnn7example ids",
            "ghp_short and glpat-short",
            "Use sk_test_ in the docs, and xoxb- prefixes",
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
            "eyJhbGciOiJIUzI1NiJ9 alone is a header, not a token",
            "https://example.com/path@v1 and git@github.com:org/repo.git",
            "commit 0123456789abcdef0123456789abcdef01234567",
        ] {
            let (scrubbed, count) = redact_secrets(text);
            assert_eq!((scrubbed.as_ref(), count), (text, 0));
        }
    }

    #[test]
    fn emails_are_hashed_stably_and_once() {
        let a = hash_email("Ada@Example.com");
        assert_eq!(
            a,
            hash_email("ada@example.com"),
            "case does not split an author"
        );
        assert_ne!(a, hash_email("bob@example.com"));
        assert!(a.ends_with("@scrubbed.invalid") && a.len() == 16 + 1 + SCRUBBED_DOMAIN.len());
        assert_eq!(hash_email(&a), a, "idempotent");
        let (text, stats) = scrub_text("Signed-off-by: Ada <ada@example.com>\nCc: bob@example.org");
        assert_eq!(stats.emails, 2);
        assert_eq!(
            text,
            format!(
                "Signed-off-by: Ada <{a}>\nCc: {}",
                hash_email("bob@example.org")
            )
        );
        let (again, stats) = scrub_text(&text);
        assert_eq!((again.as_ref(), stats.emails), (text.as_ref(), 0));
    }

    #[test]
    fn json_documents_are_scrubbed_in_every_string() {
        let key = fake(&["AKIA", "IOSFODNN7EXAMPLE"]);
        let mut document = serde_json::json!({
            "title": "Growth",
            "ada@example.com": 3,
            "items": [{"text": format!("Ada <ada@example.com> added {key}")}, 7, null, true],
        });
        let stats = scrub_json(&mut document);
        assert_eq!(
            stats,
            ScrubStats {
                secrets: 1,
                emails: 1
            }
        );
        assert_eq!(
            document,
            serde_json::json!({
                "title": "Growth",
                "ada@example.com": 3,
                "items": [
                    {"text": format!("Ada <{}> added [REDACTED:aws-access-key-id]", hash_email("ada@example.com"))},
                    7, null, true
                ],
            })
        );
        assert_eq!(scrub_json(&mut document), ScrubStats::default());
    }

    #[test]
    fn records_are_scrubbed_in_identities_and_messages() {
        let person = |email: &str| Person {
            name: "Ada".into(),
            email: email.into(),
            time: "2024-05-01T09:30:00+02:00".into(),
            canonical: Some(crate::records::Identity {
                name: "Ada L".into(),
                email: "ada@corp.example".into(),
            }),
        };
        let key = fake(&["AKIA", "IOSFODNN7EXAMPLE"]);
        let mut record = CommitRecord {
            id: "a".repeat(40),
            parents: vec![],
            author: person("ada@example.com"),
            committer: person("ada@example.com"),
            message: format!("Add key {key}\n\nCo-authored-by: Bob <bob@example.com>\n"),
            files: vec![],
            renames: vec![],
        };
        let stats = scrub_record(&mut record);
        assert_eq!(
            stats,
            ScrubStats {
                secrets: 1,
                emails: 5
            }
        );
        assert_eq!(record.author.email, hash_email("ada@example.com"));
        assert_eq!(
            record.author.canonical.as_ref().unwrap().email,
            hash_email("ada@corp.example")
        );
        assert_eq!(record.author.name, "Ada");
        assert!(!record.message.contains(&key) && !record.message.contains("bob@"));
        assert_eq!(
            scrub_record(&mut record.clone()),
            ScrubStats::default(),
            "scrubbing twice changes nothing"
        );
    }
}
