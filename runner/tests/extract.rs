//! The extract stage against real git: every commit's files must equal what
//! `git log --numstat --no-renames` prints for the same repository, in the same order.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::{EPOCH, Repo, Rng, assert_matches_git, extract_records, git_numstat};
use gitview_runner::extract::ExtractOptions;
use gitview_runner::record::{CommitRecord, FileStatus};

/// A history with every kind of change the extract stage must get right.
fn scenario() -> Repo {
    let repo = Repo::new();
    let mut many = String::new();
    for i in 0..40 {
        many.push_str(&format!("line {i}\n"));
    }

    // Root: text, binary, CRLF, no final newline, an empty file, odd and unicode paths.
    repo.write("README", "# Title\n\nSome text.\nMore text.\n");
    repo.write("assets/logo.bin", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR binary");
    repo.write("crlf.txt", "one\r\ntwo\r\nthree\r\n");
    repo.write("no-newline.txt", "first\nlast");
    repo.write("empty.txt", "");
    repo.write("docs/naïve ünïcödé.md", "ünïcödé\n");
    repo.write("tab\there.txt", "tab\n");
    repo.write("quote\"d.txt", "quoted\n");
    repo.write("sp ace/file name.txt", "space\n");
    repo.write("thing", "a file that becomes a directory\n");
    repo.write("many/base.txt", &many);
    repo.commit("root commit\n\nWith a body.");

    // Text edits, adding a final newline, switching line endings, a NUL past 8000 bytes.
    repo.write(
        "README",
        "# Title\n\nSome changed text.\nMore text.\nAnd an extra line.\n",
    );
    repo.write("no-newline.txt", "first\nlast\n");
    repo.write("crlf.txt", "one\r\ntwo\nthree\r\nfour\r\n");
    let mut late_nul = "x".repeat(8000).into_bytes();
    late_nul.extend_from_slice(b"\0tail\n");
    repo.write("late-nul.txt", &late_nul);
    repo.commit("edit text");

    // A rename with a small edit, a deletion, a binary edit, an emptied file.
    repo.git(&["mv", "README", "README.md"]);
    repo.write(
        "README.md",
        "# Title\n\nSome changed text.\nMore text.\nAnd an extra line!\n",
    );
    repo.remove("empty.txt");
    repo.write(
        "assets/logo.bin",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR changed binary",
    );
    repo.write("docs/naïve ünïcödé.md", "");
    repo.commit("rename, delete, binary");

    // Binary becomes text and back: either side binary makes the pair binary.
    repo.write("late-nul.txt", "now text\n");
    repo.write("flip.dat", "text\n");
    repo.commit("flip to text");
    repo.write("flip.dat", b"\0bin");
    repo.commit("flip to binary");

    // A side branch and a merge, with identical commit times on both sides.
    let tie = repo.now() + 60;
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("feature.rs", "fn feature() {}\n");
    repo.commit_at("feature work", tie);
    repo.write("feature.rs", "fn feature() {\n    todo!()\n}\n");
    repo.commit_at("more feature work", tie);
    repo.git(&["checkout", "-q", "main"]);
    repo.write("crlf.txt", "one\r\ntwo\nthree\r\nfour\r\nfive\r\n");
    repo.commit_at("main work at the same second", tie);
    repo.git_at(&["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]);

    // A merge that resolves a conflict by hand.
    repo.git(&["checkout", "-q", "-b", "conflict"]);
    repo.write("no-newline.txt", "first\nconflicting side\n");
    repo.commit("side edit");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("no-newline.txt", "first\nmain edit\n");
    repo.commit("main edit");
    let merge = git_common_merge(&repo, "conflict");
    assert!(!merge.status.success(), "the merge must conflict");
    repo.write("no-newline.txt", "first\nresolved\nby hand\n");
    repo.git(&["add", "-A"]);
    repo.commit_staged_at("resolve conflict", repo.now() + 60, &[]);

    // An empty commit.
    repo.commit("nothing changed");

    // Many files at once.
    for i in 0..300 {
        repo.write(
            &format!("many/dir{}/file{i:03}.txt", i % 7),
            format!("file {i}\n").repeat(i % 5 + 1),
        );
    }
    repo.write(
        "many/base.txt",
        many.replace("line 7\n", "line seven\n")
            .replace("line 30\n", ""),
    );
    repo.commit("add 300 files");

    // Executable bit, a symlink, a file that becomes a symlink, a file that becomes a
    // directory.
    repo.write("run.sh", "#!/bin/sh\necho hi\n");
    repo.commit("add script");
    repo.git(&["update-index", "--chmod=+x", "run.sh"]);
    repo.commit_staged_at("make script executable", repo.now() + 60, &[]);
    std::os::unix::fs::symlink("README.md", repo.path.join("link")).unwrap();
    repo.remove("crlf.txt");
    std::os::unix::fs::symlink("README.md", repo.path.join("crlf.txt")).unwrap();
    repo.remove("thing");
    repo.write("thing/inside.txt", "now a directory\n");
    repo.commit("symlinks and a file that became a directory");

    // A submodule entry (gitlink) added, moved to another commit, removed.
    let first = repo
        .git(&["rev-list", "--max-parents=0", "HEAD"])
        .trim()
        .to_owned();
    let head = repo.head();
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{first},vendor/sub"),
    ]);
    repo.commit_staged_at("add submodule", repo.now() + 60, &[]);
    repo.git(&[
        "update-index",
        "--cacheinfo",
        &format!("160000,{head},vendor/sub"),
    ]);
    repo.commit_staged_at("bump submodule", repo.now() + 60, &[]);
    repo.git(&["update-index", "--force-remove", "vendor/sub"]);
    repo.commit_staged_at("remove submodule", repo.now() + 60, &[]);

    // `.gitattributes` making text files binary for diffs.
    repo.write(".gitattributes", "*.gen -diff\n*.lock binary\n");
    repo.write("code.gen", "generated\n");
    repo.write("deps.lock", "locked\n");
    repo.commit("attributes");
    repo.write("code.gen", "generated again\n");
    repo.write("deps.lock", "locked again\n");
    repo.commit("edit attributed files");

    // Unicode identities, and a mailmap that renames one of them.
    let mut cmd = common::git_command(&repo.path, &repo.home);
    repo.write("zoe.txt", "hello\n");
    repo.git(&["add", "-A"]);
    let date = format!("@{} +0545", repo.now() + 60);
    cmd.args(["commit", "-q", "-m", "unicode author"])
        .env("GIT_AUTHOR_NAME", "Zoë Ñandú")
        .env("GIT_AUTHOR_EMAIL", "Zoe@Old.Example")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date);
    assert!(cmd.output().unwrap().status.success());
    repo.write(
        ".mailmap",
        "Zoe Nandu <zoe@example.org> <zoe@old.example>\nCarla Committer <carl@example.com>\n",
    );
    repo.commit("mailmap");

    // A root commit of another history joined in (a second root).
    repo.git(&["checkout", "-q", "--orphan", "other"]);
    repo.git(&["rm", "-rq", "--cached", "."]);
    for entry in std::fs::read_dir(&repo.path).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != ".git" {
            repo.remove(entry.file_name().to_str().unwrap());
        }
    }
    repo.write("other.txt", "another root\n");
    repo.commit("second root");
    repo.git(&["checkout", "-q", "-f", "main"]);
    repo.git_at(&[
        "merge",
        "-q",
        "--allow-unrelated-histories",
        "-m",
        "join histories",
        "other",
    ]);
    repo.git(&["tag", "-a", "-m", "annotated", "v1"]);
    repo
}

fn git_common_merge(repo: &Repo, branch: &str) -> std::process::Output {
    let date = format!("@{} +0000", repo.now() + 30);
    common::git_command(&repo.path, &repo.home)
        .args(["merge", "-q", branch])
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .unwrap()
}

fn by_message<'a>(records: &'a [CommitRecord], subject: &str) -> &'a CommitRecord {
    records
        .iter()
        .find(|r| r.message.lines().next() == Some(subject))
        .unwrap_or_else(|| panic!("no commit {subject:?}"))
}

#[test]
fn every_commit_matches_git_log_numstat() {
    let repo = scenario();
    let records = extract_records(&repo.path, None, "HEAD", ExtractOptions::default());
    let git = git_numstat(&repo, &repo.path, &[]);
    assert!(
        records.len() >= 25,
        "the scenario has {} commits",
        records.len()
    );
    assert_matches_git(&records, &git);

    // Spot checks that the comparison above really covered the interesting cases.
    let files = |subject| by_message(&records, subject).files.clone();
    let binary = files("rename, delete, binary")
        .into_iter()
        .find(|f| f.path == "assets/logo.bin")
        .unwrap();
    assert_eq!((binary.added, binary.deleted), (None, None));
    assert!(
        by_message(&records, "merge feature").files.is_empty(),
        "merges list no files"
    );
    assert!(by_message(&records, "nothing changed").files.is_empty());
    assert!(files("add 300 files").len() > 300);
    let attributed = files("edit attributed files");
    assert!(
        attributed.iter().all(|f| f.added.is_none()),
        "-diff and binary attributes: {attributed:?}"
    );
    let typechange = files("symlinks and a file that became a directory");
    assert_eq!(
        typechange
            .iter()
            .find(|f| f.path == "crlf.txt")
            .unwrap()
            .status,
        FileStatus::TypeChanged
    );
    assert_eq!(files("add submodule")[0].added, Some(1));
}

#[test]
fn commit_metadata_matches_git() {
    let repo = scenario();
    let records = extract_records(&repo.path, None, "HEAD", ExtractOptions::default());
    let format = "%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%aN%x00%aE%x00%cN%x00%cE";
    let log = repo.git(&["log", "-z", &format!("--format={format}")]);
    let fields: Vec<&str> = log.strip_suffix('\0').unwrap_or(&log).split('\0').collect();
    assert_eq!(fields.len(), records.len() * 12);
    for (record, git) in records.iter().zip(fields.chunks(12)) {
        assert_eq!(record.id, git[0]);
        assert_eq!(record.parents.join(" "), git[1], "parents of {}", record.id);
        assert_eq!(
            (
                &*record.author.name,
                &*record.author.email,
                &*record.author.time
            ),
            (git[2], git[3], git[4])
        );
        assert_eq!(
            (
                &*record.committer.name,
                &*record.committer.email,
                &*record.committer.time
            ),
            (git[5], git[6], git[7])
        );
        let canonical = |person: &gitview_runner::record::Person| {
            person
                .canonical
                .as_ref()
                .map_or((person.name.clone(), person.email.clone()), |c| {
                    (c.name.clone(), c.email.clone())
                })
        };
        assert_eq!(
            canonical(&record.author),
            (git[8].to_owned(), git[9].to_owned()),
            "mailmap of {}",
            record.id
        );
        assert_eq!(
            canonical(&record.committer),
            (git[10].to_owned(), git[11].to_owned())
        );

        let raw = repo.git(&["cat-file", "commit", &record.id]);
        let message = raw.split_once("\n\n").map_or("", |(_, message)| message);
        assert_eq!(record.message, message);
    }
    let zoe = by_message(&records, "unicode author");
    assert_eq!(zoe.author.name, "Zoë Ñandú");
    assert_eq!(
        zoe.author.canonical.as_ref().map(|c| c.name.as_str()),
        Some("Zoe Nandu")
    );
    assert!(zoe.author.time.ends_with("+05:45"), "{}", zoe.author.time);
}

#[test]
fn renames_are_reported_beside_the_files() {
    let repo = scenario();
    let records = extract_records(&repo.path, None, "HEAD", ExtractOptions::default());
    let commit = by_message(&records, "rename, delete, binary");
    assert_eq!(commit.renames.len(), 1, "{:?}", commit.renames);
    assert_eq!(
        (
            commit.renames[0].from.as_str(),
            commit.renames[0].to.as_str()
        ),
        ("README", "README.md")
    );
    assert!(commit.renames[0].similarity >= 50 && commit.renames[0].similarity < 100);
    // `git log -M` agrees on the pair.
    let renames = repo.git(&[
        "log",
        "-1",
        "-M",
        "--format=",
        "--name-status",
        "--diff-filter=R",
        &commit.id,
    ]);
    assert!(
        renames.starts_with('R') && renames.contains("README\tREADME.md"),
        "{renames}"
    );

    let without = extract_records(
        &repo.path,
        None,
        "HEAD",
        ExtractOptions {
            renames: false,
            ..ExtractOptions::default()
        },
    );
    assert!(without.iter().all(|r| r.renames.is_empty()));
    let files =
        |records: &[CommitRecord]| records.iter().map(|r| r.files.clone()).collect::<Vec<_>>();
    assert_eq!(
        files(&records),
        files(&without),
        "rename detection never changes `files`"
    );
}

#[test]
fn first_parent_merge_diffs_match_git() {
    let repo = scenario();
    let options = ExtractOptions {
        first_parent_merge_diffs: true,
        ..ExtractOptions::default()
    };
    let records = extract_records(&repo.path, None, "HEAD", options);
    assert_matches_git(
        &records,
        &git_numstat(&repo, &repo.path, &["--diff-merges=first-parent"]),
    );
    assert!(!by_message(&records, "merge feature").files.is_empty());
}

#[test]
fn ranges_match_git_log_since_until() {
    let repo = scenario();
    let mid = repo.git(&["rev-parse", "HEAD~8"]).trim().to_owned();
    let cases: &[(Option<&str>, &str)] = &[
        (Some("HEAD~3"), "HEAD"),
        (Some(&mid), "v1"),
        (Some("feature"), "main"),
        (Some("main"), "feature"),
        (None, "feature"),
        (None, "v1"),
        (Some("HEAD"), "HEAD"),
        (Some("other"), "HEAD^"),
    ];
    for &(since, until) in cases {
        let records = extract_records(&repo.path, since, until, ExtractOptions::default());
        let range = since.map_or(until.to_owned(), |since| format!("{since}..{until}"));
        let git = git_numstat(&repo, &repo.path, &[&range]);
        assert_matches_git(&records, &git);
        if since == Some("HEAD") {
            assert!(records.is_empty());
        }
    }
}

#[test]
fn bare_repositories_match_git() {
    let repo = scenario();
    let bare = repo.sibling("bare.git");
    repo.git(&[
        "clone",
        "-q",
        "--bare",
        repo.path.to_str().unwrap(),
        bare.to_str().unwrap(),
    ]);
    let records = extract_records(&bare, None, "HEAD", ExtractOptions::default());
    let git = git_numstat(&repo, &bare, &[]);
    // git 2.39 reads no .gitattributes in a bare repository, gix reads them from HEAD (like
    // newer git): compare everything but the two attributed files.
    let attributed = |path: &str| path.ends_with(".gen") || path.ends_with(".lock");
    let strip = |files: Vec<common::GitFile>| {
        files
            .into_iter()
            .filter(|f| !attributed(&f.0))
            .collect::<Vec<_>>()
    };
    let git: Vec<_> = git
        .into_iter()
        .map(|(id, files)| (id, strip(files)))
        .collect();
    let ours: Vec<CommitRecord> = records
        .into_iter()
        .map(|mut r| {
            r.files.retain(|f| !attributed(&f.path));
            r
        })
        .collect();
    assert_matches_git(&ours, &git);
    // The mailmap comes from HEAD:.mailmap in a bare repository, as git does.
    let zoe = by_message(&ours, "unicode author");
    assert_eq!(
        zoe.author.canonical.as_ref().map(|c| c.email.as_str()),
        Some("zoe@example.org")
    );
}

#[test]
fn a_directory_inside_a_working_copy_finds_its_repository() {
    let repo = scenario();
    let inside = extract_records(
        &repo.path.join("many"),
        Some("HEAD~2"),
        "HEAD",
        ExtractOptions::default(),
    );
    let top = extract_records(
        &repo.path,
        Some("HEAD~2"),
        "HEAD",
        ExtractOptions::default(),
    );
    assert_eq!(inside, top);
}

/// Random edits of files full of repeated lines (blank lines, braces) and of a long file,
/// which exercise the frequent-line pruning and the cost heuristics of git's Myers diff.
/// Seventy commits of random edits to six files, one of them large and shuffled at times.
fn random_edits() -> Repo {
    let repo = Repo::new();
    let mut rng = Rng::new(0x5eed_1234_abcd_0042);
    let vocabulary = [
        "",
        "}",
        "{",
        "    return x;",
        "    x += 1;",
        "fn f() {",
        "// comment",
        "end",
        "\t",
        "    }",
        "else {",
    ];
    let mut files: Vec<Vec<String>> = vec![Vec::new(); 6];
    let mut unique = 0u64;
    let mut line = |rng: &mut Rng| {
        if rng.chance(55) {
            vocabulary[rng.below(vocabulary.len())].to_owned()
        } else {
            unique += 1;
            format!("line {} of {}", unique, rng.below(40))
        }
    };
    for commit in 0..70 {
        let touched = 1 + rng.below(3);
        for _ in 0..touched {
            let f = rng.below(files.len());
            let lines = &mut files[f];
            let big = f == 0;
            let edits = if big {
                20 + rng.below(400)
            } else {
                1 + rng.below(12)
            };
            for _ in 0..edits {
                let at = rng.below(lines.len() + 1);
                match rng.below(6) {
                    0 | 1 => {
                        let count = 1 + rng.below(if big { 30 } else { 5 });
                        for _ in 0..count {
                            lines.insert(at.min(lines.len()), line(&mut rng));
                        }
                    }
                    2 | 3 if !lines.is_empty() => {
                        let end = (at + 1 + rng.below(8)).min(lines.len());
                        lines.drain(at.min(lines.len() - 1)..end);
                    }
                    4 if !lines.is_empty() => {
                        let i = rng.below(lines.len());
                        lines[i] = line(&mut rng);
                    }
                    _ if lines.len() > 4 => {
                        // Move a block: diffs must choose which side to keep.
                        let start = rng.below(lines.len() - 2);
                        let end = (start + 1 + rng.below(6)).min(lines.len());
                        let block: Vec<String> = lines.drain(start..end).collect();
                        let to = rng.below(lines.len() + 1);
                        for (k, l) in block.into_iter().enumerate() {
                            lines.insert(to + k, l);
                        }
                    }
                    _ => lines.push(line(&mut rng)),
                }
            }
            if big && commit % 9 == 4 {
                // A wholesale shuffle: an expensive diff where git's heuristics kick in.
                for i in (1..lines.len()).rev() {
                    let j = rng.below(i + 1);
                    lines.swap(i, j);
                }
            }
            let mut text = lines.join(if f == 5 { "\r\n" } else { "\n" });
            if rng.chance(80) && !text.is_empty() {
                text.push('\n');
            }
            repo.write(&format!("file{f}.txt"), text);
        }
        repo.commit(&format!("random edit {commit}"));
    }
    assert!(
        files[0].len() > 1000,
        "the big file grew to {} lines",
        files[0].len()
    );
    repo
}

#[test]
fn line_counts_match_git_on_random_edits() {
    let repo = random_edits();
    let records = extract_records(&repo.path, None, "HEAD", ExtractOptions::default());
    assert_matches_git(&records, &git_numstat(&repo, &repo.path, &[]));
}

/// How many entries of the repository's packs are offset deltas and reference deltas.
fn delta_entries(git_dir: &std::path::Path) -> (usize, usize) {
    use gix::odb::pack::data::entry::Header;
    let (mut ofs, mut refs) = (0, 0);
    for entry in std::fs::read_dir(git_dir.join("objects/pack")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "idx") {
            continue;
        }
        let bundle = gix::odb::pack::Bundle::at(&path, gix::hash::Kind::Sha1).unwrap();
        for object in bundle.index.iter() {
            match bundle.pack.entry(object.pack_offset).unwrap().header {
                Header::OfsDelta { .. } => ofs += 1,
                Header::RefDelta { .. } => refs += 1,
                _ => {}
            }
        }
    }
    (ofs, refs)
}

#[test]
fn packed_histories_read_like_gix_and_match_git() {
    use gitview_runner::extract::packs::{PackedObjects, Packs};
    use gix::objs::Find as _;

    let repo = random_edits();
    let git_dir = repo.path.join(".git");
    for offsets in [true, false] {
        // Deep chains in a wide window: most blobs and trees become deltas of deltas.
        repo.git(&[
            "-c",
            &format!("repack.useDeltaBaseOffset={offsets}"),
            "repack",
            "-adfq",
            "--depth=50",
            "--window=50",
        ]);
        let (ofs, refs) = delta_entries(&git_dir);
        if offsets {
            assert!(
                ofs > 50 && refs == 0,
                "offset deltas: {ofs} ofs, {refs} ref"
            );
        } else {
            assert!(
                refs > 50 && ofs == 0,
                "reference deltas: {ofs} ofs, {refs} ref"
            );
        }

        let git = gix::open(&repo.path).unwrap();
        // A tiny cache evicts all the time; the default one keeps everything here.
        for cache_bytes in [4096, gitview_runner::extract::packs::CACHE_BYTES] {
            let objects = PackedObjects::new(Packs::open(&git, cache_bytes), &git.objects);
            let ids: Vec<gix::ObjectId> = repo
                .git(&["rev-list", "--objects", "--all"])
                .lines()
                .map(|line| gix::ObjectId::from_hex(&line.as_bytes()[..40]).unwrap())
                .collect();
            assert!(ids.len() > 200, "{} objects", ids.len());
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for id in ids.iter().rev().chain(&ids) {
                let mine = objects.try_find(id, &mut ours).unwrap().unwrap();
                let (kind, data) = (mine.kind, mine.data.to_vec());
                let reference = git.objects.try_find(id, &mut theirs).unwrap().unwrap();
                assert_eq!(kind, reference.kind, "{id}");
                assert!(data == reference.data, "{id}: contents differ");
            }
        }
        let records = extract_records(&repo.path, None, "HEAD", ExtractOptions::default());
        assert_matches_git(&records, &git_numstat(&repo, &repo.path, &[]));
    }
}

#[test]
fn commit_order_with_many_equal_timestamps_matches_git() {
    // Criss-cross branches whose commits all share one timestamp: only the queue order
    // decides, and it must be git's.
    let repo = Repo::new();
    let t = EPOCH + 1000;
    repo.write("base", "0\n");
    repo.commit_at("base", t);
    for round in 0..4 {
        for branch in ["a", "b", "c"] {
            repo.git(&["checkout", "-q", "-B", branch, "main"]);
            repo.write(&format!("{branch}{round}"), "x\n");
            repo.commit_at(&format!("{branch} {round}"), t);
        }
        repo.git(&["checkout", "-q", "main"]);
        let date = format!("@{t} +0000");
        let merge = common::git_command(&repo.path, &repo.home)
            .args([
                "merge",
                "-q",
                "--no-ff",
                "-m",
                &format!("octopus {round}"),
                "a",
                "b",
                "c",
            ])
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .unwrap();
        assert!(
            merge.status.success(),
            "{}",
            String::from_utf8_lossy(&merge.stderr)
        );
    }
    let records = extract_records(&repo.path, None, "HEAD", ExtractOptions::default());
    assert_matches_git(&records, &git_numstat(&repo, &repo.path, &[]));
    let records = extract_records(
        &repo.path,
        Some("HEAD^2"),
        "HEAD",
        ExtractOptions::default(),
    );
    assert_matches_git(&records, &git_numstat(&repo, &repo.path, &["HEAD^2..HEAD"]));
}

/// Early histories (git's own, 2005) recorded regular files as `100664`; git canonicalises
/// modes before comparing trees, so a commit that only rewrites `100664` as `100644` changes
/// nothing for `git log --numstat`.
#[test]
fn non_canonical_file_modes_match_git() {
    let repo = Repo::new();
    repo.write("a.txt", "one\n");
    repo.write("b.txt", "two\n");
    repo.commit("canonical");
    let blob = |path: &str| {
        repo.git(&["rev-parse", &format!("HEAD:{path}")])
            .trim()
            .to_owned()
    };
    let (a, b) = (blob("a.txt"), blob("b.txt"));
    // A tree with 100664 entries, written as raw bytes (`git mktree` would canonicalise).
    let tree_with = |mode_a: &str, mode_b: &str, b_id: &str| -> String {
        let mut raw = Vec::new();
        for (mode, name, id) in [(mode_a, "a.txt", a.as_str()), (mode_b, "b.txt", b_id)] {
            raw.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            raw.extend(
                (0..id.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap()),
            );
        }
        let file = repo.sibling("raw-tree");
        std::fs::write(&file, raw).unwrap();
        repo.git(&[
            "hash-object",
            "-t",
            "tree",
            "-w",
            "--literally",
            file.to_str().unwrap(),
        ])
        .trim()
        .to_owned()
    };
    repo.write("b.txt", "two\nthree\n");
    repo.git(&["add", "b.txt"]);
    let b2 = repo.git(&["rev-parse", ":b.txt"]).trim().to_owned();
    let old_style = tree_with("100664", "100664", &b);
    let first = repo
        .git(&["commit-tree", &old_style, "-p", "HEAD", "-m", "old modes"])
        .trim()
        .to_owned();
    // Same blobs, canonical modes: nothing changed for git. Then a real change beside a
    // mode-only one.
    let canonical = tree_with("100644", "100644", &b);
    let second = repo
        .git(&[
            "commit-tree",
            &canonical,
            "-p",
            &first,
            "-m",
            "canonical modes",
        ])
        .trim()
        .to_owned();
    let mixed = tree_with("100664", "100644", &b2);
    let third = repo
        .git(&[
            "commit-tree",
            &mixed,
            "-p",
            &second,
            "-m",
            "one real change",
        ])
        .trim()
        .to_owned();
    repo.git(&["update-ref", "refs/heads/main", &third]);

    let records = extract_records(&repo.path, None, "main", ExtractOptions::default());
    let git = git_numstat(&repo, &repo.path, &["main"]);
    assert_matches_git(&records, &git);
    let by_id = |id: &str| records.iter().find(|r| r.id == id).unwrap();
    assert!(
        by_id(&second).files.is_empty(),
        "{:?}",
        by_id(&second).files
    );
    assert_eq!(by_id(&third).files.len(), 1, "{:?}", by_id(&third).files);
}

#[test]
fn attributes_drivers_and_big_files_decide_binary_like_git() {
    let repo = Repo::new();
    repo.git(&["config", "core.bigFileThreshold", "1000"]);
    repo.git(&["config", "diff.opaque.binary", "true"]);
    repo.git(&["config", "diff.plain.binary", "false"]);
    repo.write(
        ".gitattributes",
        "*.opaque diff=opaque\n*.plain diff=plain\n",
    );
    repo.write("sub/.gitattributes", "*.txt -diff\n");
    // 1,500 bytes: over the threshold.
    let big = "a line of text\n".repeat(100);
    let paths = [
        "big.txt",
        "big.plain",
        "small.txt",
        "small.opaque",
        "sub/small.txt",
        "sub/deeper/small.txt",
        "sub/small.md",
    ];
    let write_all = |extra: &str| {
        for path in paths {
            let text = if path.starts_with("big") { &big } else { "x\n" };
            repo.write(path, format!("{text}{extra}"));
        }
    };
    write_all("");
    repo.commit("attributes, drivers and big files");
    write_all("one more line\n");
    repo.commit("edit them all");

    let records = extract_records(&repo.path, None, "HEAD", ExtractOptions::default());
    let git = git_numstat(&repo, &repo.path, &[]);
    assert_matches_git(&records, &git);
    let edits = by_message(&records, "edit them all");
    let binary: Vec<&str> = edits
        .files
        .iter()
        .filter(|file| file.added.is_none())
        .map(|file| file.path.as_str())
        .collect();
    assert_eq!(
        binary,
        [
            "big.txt",
            "small.opaque",
            "sub/deeper/small.txt",
            "sub/small.txt"
        ],
        "{edits:?}"
    );
    assert_eq!(edits.files.len(), paths.len());
}

/// `ecosystem name manifest` of each dependency a commit added and removed.
fn dependency_changes(
    changes: &gitview_history::manifests::DependencyChanges,
) -> (Vec<String>, Vec<String>) {
    let list = |deps: &[gitview_history::manifests::Dependency]| {
        deps.iter()
            .map(|d| format!("{} {} {}", d.ecosystem.label(), d.name, d.manifest))
            .collect()
    };
    (list(&changes.added), list(&changes.removed))
}

#[test]
fn dependency_manifests_are_compared_before_and_after() {
    use gitview_runner::extract::{self, Extractor};
    let repo = Repo::new();
    repo.write("web/package.json", r#"{"dependencies": {"react": "18"}}"#);
    repo.write("go.mod", "module x\n\nrequire github.com/a/b v1.0.0\n");
    repo.write("README.md", "# x\n");
    repo.commit_at("Start", EPOCH);
    // Changed, cut short, moved, deleted; and a file named like a manifest that is binary.
    repo.write(
        "web/package.json",
        r#"{"dependencies": {"react": "18", "vite": "5"}}"#,
    );
    repo.write("go.mod", "module x\n\nrequire (\n\tgithub.com/a/b v1.0.0\n");
    repo.write("py/requirements.txt", b"\0binary\0");
    repo.commit_at("Add vite, cut go.mod short", EPOCH + 60);
    repo.remove("web/package.json");
    repo.write(
        "app/package.json",
        r#"{"dependencies": {"react": "18", "vite": "5"}}"#,
    );
    repo.write("go.mod", "module x\n");
    repo.commit_at("Move the web app, clear go.mod", EPOCH + 120);
    repo.remove("app/package.json");
    repo.commit_at("Drop the web app", EPOCH + 180);

    let git = extract::open(&repo.path).unwrap();
    let plan = extract::plan(&git, None, "HEAD").unwrap();
    let mut extractor = Extractor::new(&git, ExtractOptions::default()).unwrap();
    let mut changes: Vec<(Vec<String>, Vec<String>)> = plan
        .commits
        .iter()
        .map(|&id| dependency_changes(&extractor.extract(id).unwrap().dependencies))
        .collect();
    changes.reverse();
    let strings = |items: &[&str]| -> Vec<String> { items.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        changes,
        [
            (
                strings(&["npm react web/package.json", "Go github.com/a/b go.mod"]),
                vec![]
            ),
            // go.mod's unclosed block still requires b: unchanged; the binary requirements
            // file is unknown, so nothing.
            (strings(&["npm vite web/package.json"]), vec![]),
            // A move is a removal at one path and an addition at the other; go.mod lost b.
            (
                strings(&["npm react app/package.json", "npm vite app/package.json"]),
                strings(&[
                    "npm react web/package.json",
                    "npm vite web/package.json",
                    "Go github.com/a/b go.mod"
                ])
            ),
            (
                vec![],
                strings(&["npm react app/package.json", "npm vite app/package.json"])
            ),
        ]
    );
}
