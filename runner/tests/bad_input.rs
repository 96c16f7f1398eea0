//! Histories that are hard to read: none at all, a single commit, a commit adding a
//! 500,000-line file, messages and names in a legacy encoding, and a message that is not valid
//! UTF-8. `analyze` still writes the story, and the text in it is what git log shows.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::process::{Command, Output};

use common::{EPOCH, Repo, git_command};
use gitview_runner::record::CommitRecord;

fn analyze(repo: &Repo, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitview-runner"))
        .arg("analyze")
        .arg(&repo.path)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run gitview-runner")
}

fn analyze_ok(repo: &Repo, out: &Path, extra: &[&str]) {
    let output = analyze(repo, out, extra);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read_commits(out: &Path) -> Vec<CommitRecord> {
    std::fs::read_to_string(out.join("commits.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a commit record"))
        .collect()
}

/// Commits what is staged with the message's raw bytes (`git commit -F`), the author's name
/// as raw bytes, and extra `git -c` settings.
fn commit_bytes(repo: &Repo, message: &[u8], author: &[u8], config: &[&str], time: i64) -> String {
    let file = repo.sibling("message");
    std::fs::write(&file, message).unwrap();
    repo.git(&["add", "-A"]);
    let date = format!("@{time} +0000");
    let mut cmd = git_command(&repo.path, &repo.home);
    for setting in config {
        cmd.args(["-c", setting]);
    }
    let output = cmd
        .args(["commit", "-q", "--cleanup=verbatim", "-F"])
        .arg(&file)
        .env("GIT_AUTHOR_NAME", OsStr::from_bytes(author))
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    repo.head()
}

#[test]
fn a_commit_of_500k_lines_is_analyzed_and_told() {
    let repo = Repo::new();
    repo.write("src/main.rs", "fn main() {}\n");
    repo.commit_at("Start", EPOCH);
    let mut table = String::with_capacity(7_000_000);
    for i in 0..500_000 {
        table.push_str(&format!("entry {i}\n"));
    }
    repo.write("data/table.txt", table);
    // A subject far over the token budget: its chunk line is cut and marked.
    let subject = format!("Add the generated table {}", "qx7 zv9 kq2 ".repeat(100));
    repo.commit_at(&subject, EPOCH + 86_400);
    repo.write("src/main.rs", "fn main() { println!(\"table\"); }\n");
    repo.commit_at("Print the table", EPOCH + 2 * 86_400);

    let out = repo.sibling("out");
    analyze_ok(&repo, &out, &["--token-budget", "64"]);
    let commits = read_commits(&out);
    let huge = commits
        .iter()
        .find(|c| c.message.starts_with("Add the generated table"))
        .expect("the huge commit");
    assert_eq!(huge.files[0].added, Some(500_000));

    let story = std::fs::read_to_string(out.join("story.md")).unwrap();
    assert!(
        story.contains("“Add the generated table") && story.contains("500,000 lines over 1 file"),
        "{story}"
    );
    let analysis: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap();
    assert!(
        analysis["stages"]["chunk"]["truncated"].as_u64() >= Some(1),
        "{analysis}"
    );
    let phases = std::fs::read_to_string(out.join("phases.json")).unwrap();
    assert!(phases.contains("\"truncated\": true"), "{phases}");
    assert!(out.join("brief.md").exists());
}

#[test]
fn legacy_encodings_are_decoded_and_invalid_utf8_is_replaced() {
    let repo = Repo::new();
    repo.write("README.md", "# café\n");
    // ISO-8859-1 bytes, with the `encoding` header git writes for them.
    let latin1 = commit_bytes(
        &repo,
        b"Caf\xe9: ajout\xe9 le r\xe9sum\xe9\n\nPr\xeat \xe0 l'emploi.\n",
        b"Jos\xe9 N\xfa\xf1ez",
        &["i18n.commitEncoding=ISO-8859-1"],
        EPOCH,
    );
    let raw = repo.git_bytes(&repo.path, &["cat-file", "commit", &latin1]);
    let header = b"\nencoding ISO-8859-1\n";
    assert!(
        raw.windows(header.len()).any(|w| w == header),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    repo.write("src/lib.rs", "pub fn parse() {}\n");
    // Not UTF-8, and no header saying what it is. `git commit` would re-encode such a message
    // from latin-1 itself, so the object is written by hand, as other tools may have.
    repo.git(&["add", "-A"]);
    let tree = repo.git(&["write-tree"]);
    let mut object = format!(
        "tree {}\nparent {latin1}\nauthor Ada Author <ada@example.com> {t} +0000\ncommitter Ada Author <ada@example.com> {t} +0000\n\n",
        tree.trim(),
        t = EPOCH + 86_400
    )
    .into_bytes();
    object.extend_from_slice(b"Fix the \xff\xfe parser\n");
    let file = repo.sibling("object");
    std::fs::write(&file, &object).unwrap();
    let invalid = repo
        .git(&["hash-object", "-t", "commit", "-w", file.to_str().unwrap()])
        .trim()
        .to_owned();
    repo.git(&["update-ref", "HEAD", &invalid]);

    let out = repo.sibling("out");
    analyze_ok(&repo, &out, &[]);
    let commits = read_commits(&out);
    let by_id = |id: &str| commits.iter().find(|c| c.id == id).expect("the commit");
    let first = by_id(&latin1);
    assert_eq!(
        first.message,
        "Café: ajouté le résumé\n\nPrêt à l'emploi.\n"
    );
    assert_eq!(first.author.name, "José Núñez");
    // What git log prints (re-encoded to UTF-8) is what we recorded.
    let git_log = repo.git(&["log", "-1", "--format=%B%x00%an", &latin1]);
    assert_eq!(
        git_log.trim_end(),
        format!("{}\0{}", first.message, first.author.name)
    );
    assert_eq!(by_id(&invalid).message, "Fix the \u{fffd}\u{fffd} parser\n");

    let story = std::fs::read_to_string(out.join("story.md")).unwrap();
    assert!(
        story.contains("First commit, by José Núñez: “Café: ajouté le résumé”"),
        "{story}"
    );
    let story_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("story.json")).unwrap()).unwrap();
    assert!(story_json.to_string().contains("José Núñez"));
}

#[test]
fn an_empty_repository_and_a_single_commit_still_get_a_story() {
    // No commit yet: `HEAD` names an unborn branch.
    let repo = Repo::new();
    let out = repo.sibling("empty");
    analyze_ok(&repo, &out, &[]);
    assert!(read_commits(&out).is_empty());
    let story = std::fs::read_to_string(out.join("story.md")).unwrap();
    assert!(story.contains("has no commits"), "{story}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(summary["counts"]["commits"], 0);
    assert!(out.join("brief.md").exists());
    // A revision that does not exist is still an error, not an empty story.
    let missing = analyze(&repo, &repo.sibling("missing"), &["--until", "nope"]);
    assert_eq!(missing.status.code(), Some(2));

    // One commit that changes nothing.
    let id = repo.commit("init");
    let out = repo.sibling("single");
    analyze_ok(&repo, &out, &[]);
    let story = std::fs::read_to_string(out.join("story.md")).unwrap();
    assert!(story.contains("1 commit by 1 author"), "{story}");
    assert!(story.contains(&id[..12]), "{story}");
}
