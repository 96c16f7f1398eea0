use super::*;
use crate::enrich::CommitClass;

const DAY: i64 = 86_400;
/// 2024-01-01T00:00:00Z
const T0: i64 = 1_704_067_200;

fn fact(n: usize, time: i64, releases: &[&str]) -> CommitFacts {
    CommitFacts {
        id: format!("{n:040x}"),
        time,
        date: String::new(),
        author: format!("Author {}", n % 3),
        author_key: format!("a{}@example.com", n % 3),
        subject: format!("Change number {n}"),
        class: CommitClass::Feature,
        breaking: false,
        merge: false,
        bot: false,
        files: 1,
        added: n as u64,
        deleted: 1,
        areas: vec!["src".into()],
        releases: releases.iter().map(|r| r.to_string()).collect(),
        parents: Vec::new(),
    }
}

fn names(phases: &[Phase]) -> Vec<(String, usize, usize)> {
    phases
        .iter()
        .map(|p| (p.name.clone(), p.start, p.end))
        .collect()
}

#[test]
fn releases_end_phases() {
    let facts: Vec<_> = (0..7)
        .map(|n| match n {
            1 => fact(n, T0 + n as i64 * DAY, &["v1.0.0"]),
            3 => fact(n, T0 + n as i64 * DAY, &["v1.1.0-rc.1"]),
            4 => fact(n, T0 + n as i64 * DAY, &["v1.1.0", "latest"]),
            _ => fact(n, T0 + n as i64 * DAY, &[]),
        })
        .collect();
    let phases = phases(&facts);
    assert!(phases.iter().all(|p| p.rule == PhaseRule::Releases));
    assert_eq!(
        names(&phases),
        [
            ("up to v1.0.0".to_owned(), 0, 2),
            ("v1.0.0 → v1.1.0".to_owned(), 2, 5),
            ("after v1.1.0 (unreleased)".to_owned(), 5, 7),
        ]
    );
    assert_eq!(phases[1].releases, ["v1.1.0-rc.1", "v1.1.0", "latest"]);
}

#[test]
fn many_releases_keep_at_most_max_phases() {
    let facts: Vec<_> = (0..100)
        .map(|n| {
            let name = format!("v0.{}.{}", n / 10, n % 10);
            fact(n, T0 + n as i64 * DAY, &[name.as_str()])
        })
        .collect();
    let phases = phases(&facts);
    assert!(
        phases.len() <= MAX_PHASES && phases.len() >= 2,
        "{}",
        phases.len()
    );
    assert_eq!(phases.last().unwrap().end, 100);
    assert!(phases.windows(2).all(|w| w[0].end == w[1].start));
    // Only minor releases (x.y.0) end phases.
    assert!(
        phases
            .iter()
            .all(|p| p.name.ends_with(".0") || p.name.starts_with("after"))
    );
}

#[test]
fn a_pause_starts_a_phase_without_releases() {
    let mut facts: Vec<_> = (0..5).map(|n| fact(n, T0 + n as i64 * DAY, &[])).collect();
    facts.extend((5..8).map(|n| fact(n, T0 + 200 * DAY + n as i64 * DAY, &[])));
    let phases = phases(&facts);
    assert_eq!(phases.len(), 2);
    assert_eq!(phases[0].rule, PhaseRule::Activity);
    assert_eq!(
        names(&phases),
        [
            ("2024-01-01 to 2024-01-05".to_owned(), 0, 5),
            ("2024-07-24 to 2024-07-26".to_owned(), 5, 8),
        ]
    );
}

#[test]
fn a_burst_of_activity_starts_a_phase() {
    // Two commits a month for six months, then 40 in one month.
    let mut facts = Vec::new();
    for month in 0..6 {
        for k in 0..2 {
            facts.push(fact(facts.len(), T0 + month * 31 * DAY + k * DAY, &[]));
        }
    }
    for k in 0..40 {
        facts.push(fact(
            facts.len(),
            T0 + 6 * 31 * DAY + 3 * DAY + k * 600,
            &[],
        ));
    }
    let phases = phases(&facts);
    assert_eq!(phases.len(), 2, "{:?}", names(&phases));
    assert_eq!((phases[1].start, phases[1].end), (12, 52));
}

#[test]
fn windows_when_nothing_else_applies() {
    let one_month: Vec<_> = (0..4).map(|n| fact(n, T0 + n as i64 * 60, &[])).collect();
    assert_eq!(names(&phases(&one_month)), [("2024-01".to_owned(), 0, 4)]);
    assert_eq!(phases(&one_month)[0].rule, PhaseRule::Window);

    // Steady weekly commits over two years: quarters would be 8 windows.
    let steady: Vec<_> = (0..104)
        .map(|n| fact(n, T0 + n as i64 * 7 * DAY, &[]))
        .collect();
    assert!(phases(&[]).is_empty());
    let phases = phases(&steady);
    assert_eq!(phases.len(), 8);
    assert_eq!(phases[0].name, "2024 Q1");
    assert_eq!(phases[7].name, "2025 Q4");
}

#[test]
fn chunks_stay_within_the_budget() {
    let facts: Vec<_> = (0..200).map(|n| fact(n, T0 + n as i64 * 60, &[])).collect();
    let phase = Phase {
        number: 1,
        rule: PhaseRule::Window,
        name: "all".into(),
        start: 0,
        end: 200,
        releases: vec![],
    };
    for budget in [60, 256, 1000] {
        let chunks = chunk_phase(&facts, &phase, budget);
        assert!(chunks.len() > 1, "{budget}");
        let mut next = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.index, i);
            assert_eq!(chunk.start, next, "chunks cover the phase in order");
            next = chunk.end;
            assert_eq!(chunk.tokens, count_tokens(&chunk.text));
            assert!(chunk.tokens <= budget, "{} > {budget}", chunk.tokens);
            assert!(!chunk.truncated);
            assert!(chunk.text.starts_with("Phase 1: all\n"));
            assert_eq!(chunk.text.lines().count(), 1 + chunk.end - chunk.start);
        }
        assert_eq!(next, 200);
        // Greedy: the next commit would not have fitted.
        for pair in chunks.windows(2) {
            let more = format!("{}{}", pair[0].text, commit_line(&facts[pair[0].end]));
            assert!(count_tokens(&more) > budget);
        }
    }
}

#[test]
fn a_commit_larger_than_the_budget_is_cut_and_says_so() {
    let mut facts: Vec<_> = (0..3).map(|n| fact(n, T0 + n as i64 * 60, &[])).collect();
    facts[1].subject = "word ".repeat(150);
    let phase = Phase {
        number: 2,
        rule: PhaseRule::Window,
        name: "p".into(),
        start: 0,
        end: 3,
        releases: vec![],
    };
    let budget = 60;
    let chunks = chunk_phase(&facts, &phase, budget);
    assert_eq!(chunks.len(), 3);
    let cut = &chunks[1];
    assert!(cut.truncated);
    assert_eq!((cut.start, cut.end), (1, 2));
    assert!(cut.text.ends_with(" [truncated]\n"), "{}", cut.text);
    assert!(
        cut.tokens <= budget && cut.tokens >= budget - 3,
        "{}",
        cut.tokens
    );
    assert!(cut.text.contains(facts[1].short_id()));
    assert!(!chunks[0].truncated && !chunks[2].truncated);
}

#[test]
fn chunk_text_is_deterministic() {
    let facts: Vec<_> = (0..20).map(|n| fact(n, T0 + n as i64 * 60, &[])).collect();
    let phase = &phases(&facts)[0];
    let a = chunk_phase(&facts, phase, 300);
    let b = chunk_phase(&facts, phase, 300);
    assert_eq!(a, b);
    assert_eq!(a[0].content_hash(), b[0].content_hash());
    assert_eq!(a[0].content_hash().len(), 64);
    assert_eq!(
        commit_line(&facts[3]),
        "000000000000 2024-01-01 Author 0 feature +3 -1 [src] | Change number 3\n"
    );
}

#[test]
fn appending_commits_leaves_the_earlier_chunks_of_an_activity_phase_alone() {
    let mut facts: Vec<_> = (0..5).map(|n| fact(n, T0 + n as i64 * DAY, &[])).collect();
    facts.extend((5..40).map(|n| fact(n, T0 + 200 * DAY + n as i64 * DAY, &[])));
    let texts = |facts: &[CommitFacts]| -> Vec<String> {
        phases(facts)
            .iter()
            .flat_map(|phase| {
                assert_eq!(phase.rule, PhaseRule::Activity);
                chunk_phase(facts, phase, 256)
            })
            .map(|chunk| chunk.text)
            .collect()
    };
    let before = texts(&facts);
    assert!(before.len() > 3, "{before:?}");
    facts.push(fact(40, T0 + 200 * DAY + 41 * DAY, &[]));
    let after = texts(&facts);
    // Every chunk but the newest phase's last is the same text, so its summary is cached.
    assert_eq!(before[..before.len() - 1], after[..before.len() - 1]);
    assert_ne!(before.last(), after.last());
    assert!(
        after[0].starts_with("Phase 1: from 2024-01-01\n"),
        "{}",
        after[0]
    );
}
