//! `gitview-runner analyze` as a user runs it: the binary, its files and its exit codes.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;
#[path = "common/serve.rs"]
mod serve;

use std::path::Path;
use std::process::{Command, Output};

use common::{Repo, assert_matches_git, git_numstat};
use gitview_runner::analysis_json::AnalysisSummary;
use gitview_runner::record::CommitRecord;

fn analyze(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitview-runner"))
        .arg("analyze")
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .output()
        .expect("run gitview-runner")
}

fn small_repo() -> Repo {
    let repo = Repo::new();
    repo.write("a.txt", "one\ntwo\n");
    repo.write("b.bin", b"\0\x01");
    repo.commit("first");
    repo.write("a.txt", "one\n2\nthree\n");
    repo.commit("second");
    repo.git(&["tag", "v1"]);
    repo.git(&["checkout", "-q", "-b", "side", "HEAD~1"]);
    repo.write("c.txt", "side\n");
    repo.commit("side");
    repo.git(&["checkout", "-q", "main"]);
    repo.git_at(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    repo.write("a.txt", "one\n");
    repo.commit("fourth");
    repo
}

fn read_commits(dir: &Path) -> Vec<CommitRecord> {
    std::fs::read_to_string(dir.join("commits.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a commit record"))
        .collect()
}

#[test]
fn writes_commits_and_summary() {
    let repo = small_repo();
    let out = repo.sibling("out");
    let output = analyze(
        &[repo.path.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &repo.path,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let commits = read_commits(&out);
    assert_matches_git(&commits, &git_numstat(&repo, &repo.path, &[]));

    let summary: AnalysisSummary =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(summary.counts.commits, 5);
    assert_eq!(summary.counts.merge_commits, 1);
    assert_eq!(
        summary.counts.files_changed,
        commits.iter().map(|c| c.files.len() as u64).sum::<u64>()
    );
    assert_eq!(summary.counts.binary_files_changed, 1);
    let sum = |f: fn(&gitview_runner::record::FileStat) -> Option<u64>| {
        commits
            .iter()
            .flat_map(|c| &c.files)
            .filter_map(f)
            .sum::<u64>()
    };
    assert_eq!(summary.counts.lines_added, sum(|f| f.added));
    assert_eq!(summary.counts.lines_deleted, sum(|f| f.deleted));
    assert_eq!(summary.config.until, "HEAD");
    assert_eq!(summary.config.until_commit, repo.head());
    assert_eq!(summary.config.since, None);
    assert_eq!(summary.runner.version, env!("CARGO_PKG_VERSION"));
    assert!(summary.timings_ms.total >= summary.timings_ms.extract);
    assert!(!out.join("commits.jsonl.partial").exists());
}

#[test]
fn default_output_directory_is_gitview_out() {
    let repo = small_repo();
    let output = analyze(&["."], &repo.path);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(read_commits(&repo.path.join("gitview-out")).len(), 5);
}

#[test]
fn since_and_until_select_a_range() {
    let repo = small_repo();
    let out = repo.sibling("range");
    let args = [
        repo.path.to_str().unwrap(),
        "--since",
        "v1",
        "--until",
        "main",
        "--out",
        out.to_str().unwrap(),
    ];
    let output = analyze(&args, &repo.path);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let commits = read_commits(&out);
    assert_matches_git(&commits, &git_numstat(&repo, &repo.path, &["v1..main"]));
    assert_eq!(commits.len(), 3);
    let summary: AnalysisSummary =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(
        summary.config.since_commit,
        Some(repo.git(&["rev-parse", "v1"]).trim().to_owned())
    );
}

#[test]
fn progress_is_reported_on_stderr() {
    let repo = small_repo();
    let out = repo.sibling("progress");
    let args = [
        repo.path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--progress-every",
        "2",
    ];
    let output = analyze(&args, &repo.path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("done=2") && stderr.contains("done=4"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let repo = small_repo();
    let out = repo.sibling("never");
    let out = out.to_str().unwrap();
    let not_a_repo = repo.sibling("home");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                repo.path.to_str().unwrap(),
                "--until",
                "no-such-branch",
                "--out",
                out,
            ],
            "revision \"no-such-branch\" not found",
        ),
        (
            &[
                repo.path.to_str().unwrap(),
                "--since",
                "nope~3",
                "--out",
                out,
            ],
            "revision \"nope~3\" not found",
        ),
        (
            &[not_a_repo.to_str().unwrap(), "--out", out],
            "no git repository",
        ),
    ];
    for (args, expected) in cases {
        let output = analyze(args, repo.path.parent().unwrap());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!Path::new(out).exists(), "nothing is written for bad input");
    }
}

/// A URL is cloned into the cache of repositories, then fetched into on the next run; the
/// records equal git's on the source.
#[test]
fn urls_are_cloned_into_the_cache_then_fetched() {
    let repo = small_repo();
    let served = repo.sibling("served");
    std::fs::create_dir_all(&served).unwrap();
    let bare = served.join("small.git");
    let status = Command::new("git")
        .args([
            "clone",
            "-q",
            "--bare",
            repo.path.to_str().unwrap(),
            bare.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let daemon = serve::GitDaemon::start(&served);
    let url = daemon.url("small.git");
    let cache = repo.sibling("repo-cache");
    let out = repo.sibling("out-url");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_gitview-runner"))
            .args(["analyze", &url, "--out", out.to_str().unwrap()])
            .env("GITVIEW_CACHE_DIR", &cache)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_matches_git(&read_commits(&out), &git_numstat(&repo, &repo.path, &[]));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(summary["config"]["path"], url.as_str());
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "one cached clone"
    );

    // A new commit upstream: the second run fetches it into the same cache entry.
    repo.write("d.txt", "new\n");
    repo.commit("fifth");
    let push = Command::new("git")
        .current_dir(&repo.path)
        .args(["push", "-q", bare.to_str().unwrap(), "main"])
        .status()
        .unwrap();
    assert!(push.success());
    let second = run();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_matches_git(&read_commits(&out), &git_numstat(&repo, &repo.path, &[]));
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "the same cached clone"
    );
}

/// Nothing listening: a retryable failure (exit 1) that names the URL.
#[test]
fn an_unreachable_url_is_a_retryable_failure() {
    let repo = small_repo();
    let url = format!("git://127.0.0.1:{}/nothing.git", serve::free_port());
    let output = Command::new(env!("CARGO_BIN_EXE_gitview-runner"))
        .args([
            "analyze",
            &url,
            "--out",
            repo.sibling("out-unreachable").to_str().unwrap(),
        ])
        .env("GITVIEW_CACHE_DIR", repo.sibling("cache-unreachable"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
}

#[test]
fn the_story_is_titled_after_the_directory_even_for_dot() {
    let repo = small_repo();
    let out = repo.sibling("out-dot");
    let output = analyze(&[".", "--out", out.to_str().unwrap()], &repo.path);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let name = repo
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let story = std::fs::read_to_string(out.join("story.md")).unwrap();
    assert!(
        story.starts_with(&format!("# {name}\n")),
        "the story's title should name {name}: {}",
        story.lines().next().unwrap_or_default()
    );
}

/// The text a browser shows of `html`: tags dropped (blocks apart), the page's entities
/// decoded, white space collapsed.
fn visible_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut tag: Option<String> = None;
    for c in html.chars() {
        match (&mut tag, c) {
            (None, '<') => tag = Some(String::new()),
            (Some(name), '>') => {
                let name = name.trim_start_matches('/');
                let name = name.split(' ').next().unwrap_or_default();
                if ["p", "li", "ul", "div", "br", "td", "th", "h1", "h2", "h3"].contains(&name) {
                    text.push(' ');
                }
                tag = None;
            }
            (Some(name), c) => name.push(c),
            (None, c) => text.push(c),
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A story sentence (Markdown) as the page shows it: markup and list markers gone, escapes
/// undone, invisible characters shown as `⟨U+XXXX⟩`, white space collapsed.
fn shown_sentence(markdown: &str) -> String {
    let lines: Vec<&str> = markdown
        .lines()
        .map(|line| line.trim_start().trim_start_matches("- "))
        .collect();
    let markdown = lines.join(" ");
    let mut text = String::new();
    let mut chars = markdown.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_punctuation) => {
                text.push(chars.next().unwrap());
            }
            '*' | '`' => {}
            '\u{202E}' | '\u{200B}' => text.push_str(&format!("⟨U+{:04X}⟩", u32::from(c))),
            c => text.push(c),
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_report_page_shows_the_story_with_hostile_text_inert() {
    let repo = Repo::new();
    let subject = "\"><img src=x onerror=alert(1)> </script><script>alert(2)</script>";
    let author = "Mallory \u{202E}gnp.exe\u{200B} <mallory@example.com>";
    repo.write("\"><img src=x onerror=alert(3)>.txt", "one\ntwo\n");
    repo.git(&["add", "-A"]);
    let first = repo.commit_staged_at(subject, repo.now() + 60, &["--author", author]);
    for n in 0..6 {
        repo.write("src/lib.rs", "fn main() {}\n".repeat(n + 1));
        repo.commit(&format!("feat: step {n}"));
    }
    repo.git(&["tag", "v1.0.0"]);
    let out = repo.sibling("out-report");
    let output = analyze(
        &[repo.path.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &repo.path,
    );
    assert!(output.status.success(), "{output:?}");
    let page = std::fs::read_to_string(out.join("index.html")).expect("analyze writes index.html");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        page.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';")
    );

    // Every sentence of the story is on the page.
    let story: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("story.json")).unwrap()).unwrap();
    let shown = visible_text(&page);
    let mut sentences = 0;
    for section in story["sections"].as_array().unwrap() {
        for claim in section["claims"].as_array().unwrap() {
            let sentence = shown_sentence(claim["text"].as_str().unwrap());
            assert!(shown.contains(&sentence), "not on the page: {sentence}");
            sentences += 1;
        }
    }
    assert!(sentences > 5, "{sentences}");

    // Every link lands on the page, and every sentence's first commit is listed.
    let values = |attr: &str| -> Vec<String> {
        let needle = format!(" {attr}=\"");
        page.split(&needle)
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
            .collect()
    };
    let ids: std::collections::HashSet<String> = values("id").into_iter().collect();
    let graph = &page[page
        .find("<script type=\"application/json\" id=\"graph-data\">")
        .unwrap()..];
    let graph = &graph[graph.find('>').unwrap() + 1..graph.find("</script>").unwrap()];
    let graph: serde_json::Value = serde_json::from_str(graph).unwrap();
    let rows = graph["ids"].as_str().unwrap();
    for href in values("href") {
        let target = href.strip_prefix('#').expect("no link leaves the page");
        // `#commit-<id>`: the script shows that commit's row in the graph.
        if let Some(id) = target.strip_prefix("commit-") {
            assert!(
                rows.as_bytes()
                    .chunks(7)
                    .any(|row| row == &id.as_bytes()[..7]),
                "a link to {target}, which the graph lacks"
            );
        } else {
            assert!(ids.contains(target), "a link to a missing {target}");
        }
    }
    for section in story["sections"].as_array().unwrap() {
        for claim in section["claims"].as_array().unwrap() {
            if let Some(id) = claim["evidence"]["commits"].get(0) {
                assert!(ids.contains(&format!("c-{}", id.as_str().unwrap())));
            }
        }
    }

    // The hostile commit is listed (the first commit is a milestone), its text only escaped.
    assert!(page.contains(&format!("<li id=\"c-{first}\">")));
    assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt; &lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert!(page.contains("Mallory ⟨U+202E⟩gnp.exe⟨U+200B⟩"));
    assert!(!page.contains("<img") && !page.contains('\u{202E}'));
    assert_eq!(
        page.matches("<script").count(),
        3,
        "the graph's data block and the filter's and the graph's scripts only"
    );
    assert_eq!(page.matches("</script>").count(), 3);
    // The graph holds every commit, the hostile subject only inside its escaped JSON.
    assert_eq!(graph["n"], 7);
    assert_eq!(graph["sub"][6], subject);
}

fn brief_check(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitview-runner"))
        .args(["brief", "--check"])
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run gitview-runner")
}

#[test]
fn brief_check_tells_a_current_brief_from_a_stale_one() {
    let repo = small_repo();
    let out = repo.sibling("out-brief");
    let output = analyze(
        &[
            repo.path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--brief-tokens",
            "500",
        ],
        &repo.path,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let head = repo.head();
    let brief = std::fs::read_to_string(out.join("brief.md")).unwrap();
    assert_eq!(
        brief.lines().next(),
        Some(format!("<!-- gitview-brief v1 head={head} -->").as_str())
    );
    assert!(brief.contains("## Layout"), "{brief}");
    let summary: AnalysisSummary =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(summary.stages.story.brief_budget, 500);
    assert!((1..=500).contains(&summary.stages.story.brief_tokens));

    let file = out.join("brief.md");
    let file = file.to_str().unwrap();
    let current = brief_check(&["--file", file], &repo.path);
    assert_eq!(current.status.code(), Some(0), "{current:?}");
    assert!(String::from_utf8_lossy(&current.stdout).contains("current"));

    repo.write("d.txt", "new\n");
    repo.commit("fifth");
    repo.write("d.txt", "newer\n");
    let new_head = repo.commit("sixth");
    // From another directory, with --repo.
    let stale = brief_check(
        &["--file", file, "--repo", repo.path.to_str().unwrap()],
        &out,
    );
    assert_eq!(stale.status.code(), Some(1), "{stale:?}");
    let message = String::from_utf8_lossy(&stale.stdout);
    assert!(
        message.contains(&format!(
            "brief.md describes {head}, HEAD is {new_head}: 2 commits behind; run `gitview-runner analyze"
        )),
        "{message}"
    );

    // No brief, no marker, no repository: 2, naming what is wrong.
    let missing = brief_check(&["--file", "nowhere/brief.md"], &repo.path);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nowhere/brief.md"));
    std::fs::write(out.join("plain.md"), "# not a brief\n").unwrap();
    let plain = brief_check(
        &["--file", out.join("plain.md").to_str().unwrap()],
        &repo.path,
    );
    assert_eq!(plain.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&plain.stderr).contains("no gitview-brief marker"));
    let empty = repo.sibling("not-a-repo");
    std::fs::create_dir_all(&empty).unwrap();
    let norepo = brief_check(&["--file", file, "--repo", empty.to_str().unwrap()], &empty);
    assert_eq!(norepo.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&norepo.stderr).contains("no git repository"));
    // --check is required.
    let bare = Command::new(env!("CARGO_BIN_EXE_gitview-runner"))
        .arg("brief")
        .output()
        .unwrap();
    assert_eq!(bare.status.code(), Some(2));
}

/// A stand-in for Anthropic's Messages API on 127.0.0.1 that answers every request with
/// `status` and `body`; it records the requests' heads. Runs until the test process ends.
fn messages_api(
    status: &'static str,
    body: String,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&heads);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut reader = BufReader::new(stream.unwrap());
            let mut head = String::new();
            while reader.read_line(&mut head).unwrap() > 2 {}
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .unwrap_or(0);
            reader.read_exact(&mut vec![0; length]).unwrap();
            record.lock().unwrap().push(head);
            let mut stream = reader.into_inner();
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
    });
    (address, heads)
}

#[test]
fn the_anthropic_summarizer_is_chosen_with_its_key_file() {
    let repo = small_repo();
    let key = repo.sibling("anthropic-key");
    std::fs::write(&key, "sk-ant-cli-key\n").unwrap();
    let message = serde_json::json!({
        "id": "msg_01", "type": "message", "role": "assistant",
        "content": [{"type": "text", "text": "- Small changes to `a.txt`."}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 50, "output_tokens": 10}
    })
    .to_string();
    let (address, heads) = messages_api("200 OK", message);
    let out = repo.sibling("out");
    let output = analyze(
        &[
            repo.path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--summarizer",
            "anthropic-messages",
            "--model",
            "claude-test",
            "--llm-base-url",
            &address,
            "--llm-api-key-file",
            key.to_str().unwrap(),
        ],
        &repo.path,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("sk-ant-cli-key"), "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap();
    let metrics = &summary["stages"]["summarize"];
    assert_eq!(metrics["summarizer"]["kind"], "anthropicMessages");
    assert_eq!(metrics["summarizer"]["model"], "claude-test");
    assert!(metrics["usage"]["promptTokens"].as_u64().unwrap() >= 50);
    let heads = heads.lock().unwrap();
    assert!(!heads.is_empty());
    for head in heads.iter() {
        assert!(head.starts_with("POST /v1/messages "), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("x-api-key: sk-ant-cli-key\r\n"),
            "{head}"
        );
    }
}

#[test]
fn a_refused_anthropic_key_is_bad_input_and_never_printed() {
    let repo = small_repo();
    let key = repo.sibling("anthropic-key");
    std::fs::write(&key, "sk-ant-cli-key\n").unwrap();
    let error = serde_json::json!({"type": "error", "error": {
        "type": "authentication_error", "message": "invalid x-api-key"}})
    .to_string();
    let (address, heads) = messages_api("401 Unauthorized", error);
    let output = analyze(
        &[
            repo.path.to_str().unwrap(),
            "--out",
            repo.sibling("out").to_str().unwrap(),
            "--summarizer",
            "anthropic",
            "--model",
            "claude-test",
            "--llm-base-url",
            &address,
            "--llm-api-key-file",
            key.to_str().unwrap(),
        ],
        &repo.path,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the API key was refused"), "{stderr}");
    assert!(!stderr.contains("sk-ant-cli-key"), "{stderr}");
    assert_eq!(
        heads.lock().unwrap().len(),
        1,
        "a refused key is not retried"
    );
}

#[test]
fn the_budget_and_the_price_table_decide_the_calls_and_the_cost() {
    let repo = small_repo();
    let prices = repo.sibling("prices.json");
    std::fs::write(
        &prices,
        r#"[{"model": "claude-test", "inputPerMillionTokens": 3, "outputPerMillionTokens": 15}]"#,
    )
    .unwrap();
    // The stand-in's answer cites no commit: the overview is left out, its cost still counted.
    let message = serde_json::json!({
        "id": "msg_01", "type": "message", "role": "assistant",
        "content": [{"type": "text", "text": "Small changes to a text file."}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 5000, "output_tokens": 100}
    })
    .to_string();
    let (address, heads) = messages_api("200 OK", message);
    let out = repo.sibling("out");
    let output = analyze(
        &[
            repo.path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--summarizer",
            "anthropic",
            "--model",
            "claude-test",
            "--llm-base-url",
            &address,
            "--model-budget",
            "minimal",
            "--prices",
            prices.to_str().unwrap(),
        ],
        &repo.path,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(heads.lock().unwrap().len(), 1, "minimal: the overview only");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap();
    let model = &summary["stages"]["summarize"]["model"];
    assert_eq!(model["budget"], "minimal");
    assert_eq!(model["calls"], 1);
    assert_eq!(model["inputTokens"], 5000);
    assert_eq!(model["outputTokens"], 100);
    // 5,000 × 3 / 1e6 + 100 × 15 / 1e6.
    assert_eq!(model["cost"]["estimated"], 0.0165);
    assert_eq!(model["cost"]["price"]["currency"], "USD");
    assert_eq!(model["omitted"][0]["part"], "overview");
    assert!(
        model["omitted"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("cites no commit"),
        "{model}"
    );
    let story = std::fs::read_to_string(out.join("story.md")).unwrap();
    assert!(!story.contains("Overview"), "{story}");

    // Budget none: no call at all.
    let (address, heads) = messages_api("500 Internal Server Error", "{}".into());
    let output = analyze(
        &[
            repo.path.to_str().unwrap(),
            "--out",
            repo.sibling("none").to_str().unwrap(),
            "--summarizer",
            "anthropic",
            "--model",
            "claude-test",
            "--llm-base-url",
            &address,
            "--model-budget",
            "none",
        ],
        &repo.path,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(heads.lock().unwrap().is_empty());
}

#[test]
fn critical_mode_without_a_model_measures_the_goals() {
    let repo = small_repo();
    let goals = repo.sibling("goals.md");
    std::fs::write(
        &goals,
        "# Goals\n\n- Keep a.txt short\n- Ship a Windows installer\n",
    )
    .unwrap();
    let out = repo.sibling("out");
    let output = analyze(
        &[
            repo.path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--critical",
            "--goals",
            goals.to_str().unwrap(),
        ],
        &repo.path,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let story = std::fs::read_to_string(out.join("story.md")).unwrap();
    assert!(story.contains("## Against the goals"), "{story}");
    assert!(story.contains("**Keep a.txt short**: "), "{story}");
    assert!(
        story.contains("**Ship a Windows installer**: no commit speaks to it — a gap."),
        "{story}"
    );

    // An empty goals file is bad input, named.
    std::fs::write(&goals, "\n- \n").unwrap();
    let output = analyze(
        &[
            repo.path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--critical",
            "--goals",
            goals.to_str().unwrap(),
        ],
        &repo.path,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("goals.md") && stderr.contains("no goal"),
        "{stderr}"
    );

    // --critical needs goals.
    let output = analyze(&[repo.path.to_str().unwrap(), "--critical"], &repo.path);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--goals"));
}

/// A history with a merge, a release tag, work over several months and, across the point an
/// update starts from, commits made within the same second.
fn living_repo() -> (Repo, String) {
    let repo = Repo::new();
    let mut time = 1_700_000_000;
    for i in 0..12 {
        time += 86_400 * 9;
        repo.write(
            &format!("src/mod{}.rs", i % 4),
            format!("fn f{i}() {{}}\n").repeat(i + 1),
        );
        repo.commit_at(&format!("feat(core): step {i}"), time);
    }
    repo.git(&["tag", "v1.0.0"]);
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("docs/guide.md", "# Guide\n");
    repo.commit_at("docs: a guide", time + 60);
    repo.git(&["checkout", "-q", "main"]);
    repo.write("src/fix.rs", "fn fix() {}\n");
    repo.commit_at("fix(core): a fix", time + 120);
    repo.git_at(&["merge", "-q", "--no-ff", "-m", "merge the guide", "side"]);
    // The update starts here; the next commit shares its second.
    let boundary = repo.head();
    let second = repo.now();
    repo.write("src/same.rs", "fn same() {}\n");
    repo.commit_at("feat(core): same second", second);
    for i in 0..6 {
        repo.write("src/late.rs", format!("fn late{i}() {{}}\n").repeat(i + 2));
        repo.commit_at(
            &format!("perf(core): faster {i}"),
            second + 86_400 * (i as i64 + 1),
        );
    }
    // A branch from before the boundary, committed to with a clock behind it and merged after:
    // `git log` lists its commit among the earlier ones, not with the new.
    repo.git(&["checkout", "-q", "-b", "late-side", "v1.0.0"]);
    repo.write("tools/check.sh", "true\n");
    repo.commit_at("build: a check script", second - 3_600);
    repo.git(&["checkout", "-q", "main"]);
    repo.git_at(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "merge the check script",
        "late-side",
    ]);
    (repo, boundary)
}

fn summary_of(dir: &Path) -> AnalysisSummary {
    serde_json::from_slice(&std::fs::read(dir.join("analysis.json")).unwrap()).unwrap()
}

#[test]
fn an_update_writes_exactly_what_a_full_run_writes() {
    let (repo, boundary) = living_repo();
    let path = repo.path.to_str().unwrap();
    let (updated, full) = (repo.sibling("updated"), repo.sibling("full"));
    let (updated_s, full_s) = (updated.to_str().unwrap(), full.to_str().unwrap());
    let first = analyze(
        &[path, "--until", &boundary, "--out", updated_s],
        &repo.path,
    );
    assert!(first.status.success(), "{first:?}");
    let earlier = summary_of(&updated).counts.commits;
    // As if the earlier run's rules (another fingerprint of the enrichment code) had classed
    // every commit otherwise: the update enriches them again by today's.
    let stored = std::fs::read_to_string(updated.join("commits.jsonl")).unwrap();
    let restated: Vec<String> = stored
        .lines()
        .map(|line| {
            let mut commit: serde_json::Value = serde_json::from_str(line).unwrap();
            commit["enrichment"]["class"] = "docs".into();
            commit["enrichment"]["rules"] = "0000000000000000".into();
            commit.to_string()
        })
        .collect();
    std::fs::write(updated.join("commits.jsonl"), restated.join("\n") + "\n").unwrap();

    let update = analyze(&[path, "--update", "--out", updated_s], &repo.path);
    assert!(update.status.success(), "{update:?}");
    let whole = analyze(&[path, "--out", full_s], &repo.path);
    assert!(whole.status.success(), "{whole:?}");

    for file in [
        "story.md",
        "story.json",
        "brief.md",
        "timeline.json",
        "commits.jsonl",
        "index.html",
    ] {
        assert!(
            std::fs::read(updated.join(file)).unwrap() == std::fs::read(full.join(file)).unwrap(),
            "{file} differs between the update and a full run"
        );
    }
    // The phases too, but for which summaries the update found in its cache.
    let phases = |dir: &Path| {
        let text = std::fs::read_to_string(dir.join("phases.json")).unwrap();
        text.lines()
            .filter(|l| !l.contains("\"cached\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(phases(&updated), phases(&full));

    let summary = summary_of(&updated);
    let all = summary_of(&full).counts.commits;
    assert_eq!(
        summary.counts.commits,
        all - earlier,
        "only the new commits are extracted"
    );
    assert_eq!(summary.stages.story.earlier_commits, earlier);
    assert_eq!(summary.stages.story.commits, all);
    assert!(summary.stages.story.whole_history);
    assert!(
        summary.stages.summarize.cache_hits > 0,
        "unchanged chunks come from the cache"
    );
    let story: serde_json::Value =
        serde_json::from_slice(&std::fs::read(updated.join("story.json")).unwrap()).unwrap();
    assert_eq!(story["coverage"]["wholeHistory"], true);
    assert_eq!(story["coverage"]["commits"], all);
    assert_eq!(story["coverage"]["lastCommit"], repo.head().as_str());
    // The storylines with all their commits, each a commit of the history.
    let ids: std::collections::HashSet<String> =
        read_commits(&updated).into_iter().map(|c| c.id).collect();
    let storylines = story["storylines"].as_array().expect("storylines");
    assert!(!storylines.is_empty());
    let core = storylines
        .iter()
        .find(|s| s["title"] == "core")
        .expect("the core scope's storyline");
    assert_eq!(core["id"], "storyline-1");
    assert!(core["commits"].as_array().unwrap().len() >= 14, "{core}");
    for storyline in storylines {
        for id in storyline["commits"].as_array().unwrap() {
            assert!(
                ids.contains(id.as_str().unwrap()),
                "{id} is not in the history"
            );
        }
    }

    // Nothing new: the update still writes the whole story, extracting nothing.
    let again = analyze(&[path, "--update", "--out", updated_s], &repo.path);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(summary_of(&updated).counts.commits, 0);
    assert_eq!(
        std::fs::read(updated.join("story.md")).unwrap(),
        std::fs::read(full.join("story.md")).unwrap()
    );

    // A range alone is not the whole history.
    let range = repo.sibling("range");
    let ranged = analyze(
        &[path, "--since", &boundary, "--out", range.to_str().unwrap()],
        &repo.path,
    );
    assert!(ranged.status.success(), "{ranged:?}");
    assert!(!summary_of(&range).stages.story.whole_history);
}

#[test]
fn an_update_refuses_what_it_cannot_build_on() {
    let (repo, boundary) = living_repo();
    let path = repo.path.to_str().unwrap();
    let out = repo.sibling("out");
    let out_s = out.to_str().unwrap();
    let refused = |args: &[&str], expect: &str| {
        let output = analyze(args, &repo.path);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    };
    refused(
        &[path, "--update", "--out", out_s],
        "holds no completed analysis",
    );

    let first = analyze(&[path, "--until", &boundary, "--out", out_s], &repo.path);
    assert!(first.status.success(), "{first:?}");
    refused(
        &[path, "--update", "--scrub", "--out", out_s],
        "written without --scrub",
    );
    let (other, _) = living_repo();
    refused(
        &[other.path.to_str().unwrap(), "--update", "--out", out_s],
        "holds an analysis of",
    );
    // The history was rewritten under the analysis.
    repo.git(&["reset", "-q", "--hard", &format!("{boundary}~2")]);
    repo.write("src/new.rs", "fn new() {}\n");
    repo.commit("feat: another way");
    refused(
        &[path, "--update", "--out", out_s],
        "not in the history of HEAD",
    );
    // What was there is untouched.
    assert_eq!(summary_of(&out).config.until_commit, boundary);
}
