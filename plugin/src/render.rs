//! What the plugin prints: progress lines, the table of Analyses. Pure.

use gitview_crds::v1alpha1::Analysis;
use kube::ResourceExt as _;

const BAR: usize = 24;

/// One progress line of a followed Analysis: phase, stage and a bar when the stage has a
/// total, e.g. `Running  extract [=========>          ] 420/1000`.
pub fn progress_line(an: &Analysis) -> String {
    let status = an.status.as_ref();
    let phase = status
        .and_then(|s| s.phase)
        .map_or_else(|| "Pending".to_owned(), |p| format!("{p:?}"));
    let Some(progress) = status.and_then(|s| s.progress.as_ref()) else {
        return phase;
    };
    match (progress.done, progress.total) {
        (Some(done), Some(total)) if total > 0 => {
            let filled = usize::try_from(done.clamp(0, total) * BAR as i64 / total).unwrap_or(0);
            let bar: String = (0..BAR)
                .map(|i| match i.cmp(&filled) {
                    std::cmp::Ordering::Less => '=',
                    std::cmp::Ordering::Equal => '>',
                    std::cmp::Ordering::Greater => ' ',
                })
                .collect();
            format!("{phase:<9} {:<9} [{bar}] {done}/{total}", progress.stage)
        }
        _ => format!("{phase:<9} {}", progress.summary),
    }
}

/// The last words about a finished Analysis.
pub fn outcome(an: &Analysis) -> String {
    let name = an.name_any();
    let status = an.status.as_ref();
    match status.and_then(|s| s.result.as_ref()) {
        Some(result) => format!(
            "analysis {name:?} succeeded: {} commits analyzed{}",
            result.commits_analyzed,
            result
                .to_commit
                .as_deref()
                .map(|c| format!(" up to {}", &c[..c.len().min(12)]))
                .unwrap_or_default()
        ),
        None => {
            let reason = status
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
                .map(|c| format!("{}: {}", c.reason, c.message))
                .unwrap_or_else(|| "no reason recorded".to_owned());
            format!("analysis {name:?} failed ({reason}); its log: kubectl gitview logs {name}")
        }
    }
}

/// How long ago, as kubectl prints ages: `45s`, `12m`, `3h`, `5d`.
pub fn age(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The table `get` prints, with kubectl's columns for Analyses.
pub fn table(analyses: &[Analysis], now: jiff::Timestamp) -> String {
    let header = [
        "NAME",
        "PHASE",
        "REPOSITORY",
        "REF",
        "PROGRESS",
        "COMMITS",
        "AGE",
    ];
    let mut rows: Vec<[String; 7]> = vec![header.map(str::to_owned)];
    for an in analyses {
        let status = an.status.as_ref();
        rows.push([
            an.name_any(),
            status
                .and_then(|s| s.phase)
                .map_or_else(|| "Pending".to_owned(), |p| format!("{p:?}")),
            an.spec.repository.source.url.clone(),
            an.spec.repository.git_ref.clone().unwrap_or_default(),
            status
                .and_then(|s| s.progress.as_ref())
                .map(|p| p.summary.clone())
                .unwrap_or_default(),
            status
                .and_then(|s| s.result.as_ref())
                .map(|r| r.commits_analyzed.to_string())
                .unwrap_or_default(),
            an.creation_timestamp()
                .map(|t| age(now.as_second() - t.0.as_second()))
                .unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(status: serde_json::Value) -> Analysis {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "gitview.dev/v1alpha1",
            "kind": "Analysis",
            "metadata": {"name": "kube-x7", "namespace": "team-a",
                         "creationTimestamp": "2026-12-07T10:00:00Z"},
            "spec": {"repository": {"url": "https://github.com/kube-rs/kube.git", "ref": "main"}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn progress_draws_a_bar_when_the_stage_has_a_total() {
        let an = analysis(serde_json::json!({"phase": "Running",
            "progress": {"stage": "extract", "done": 500, "total": 1000, "summary": "extract 500/1000"}}));
        let line = progress_line(&an);
        assert!(line.starts_with("Running   extract"), "{line}");
        assert!(
            line.contains("[============>           ] 500/1000"),
            "{line}"
        );
        let an = analysis(serde_json::json!({"phase": "Pending",
            "progress": {"stage": "scheduling", "summary": "scheduling"}}));
        assert_eq!(progress_line(&an), "Pending   scheduling");
        assert_eq!(progress_line(&analysis(serde_json::json!({}))), "Pending");
    }

    #[test]
    fn outcomes_say_what_happened_and_where_to_look() {
        let ok = analysis(serde_json::json!({"phase": "Succeeded",
            "result": {"commitsAnalyzed": 42, "toCommit": "0123456789abcdef0123"}}));
        assert_eq!(
            outcome(&ok),
            "analysis \"kube-x7\" succeeded: 42 commits analyzed up to 0123456789ab"
        );
        let failed = analysis(serde_json::json!({"phase": "Failed", "conditions": [{
            "type": "Ready", "status": "False", "reason": "InvalidInput",
            "message": "ref nope not found", "lastTransitionTime": "2026-12-07T10:00:00Z"}]}));
        let text = outcome(&failed);
        assert!(text.contains("InvalidInput: ref nope not found"), "{text}");
        assert!(text.contains("kubectl gitview logs kube-x7"), "{text}");
    }

    #[test]
    fn the_table_has_kubectls_columns_and_ages() {
        let an = analysis(serde_json::json!({"phase": "Succeeded",
            "progress": {"stage": "done", "summary": "done"},
            "result": {"commitsAnalyzed": 7}}));
        let now: jiff::Timestamp = "2026-12-07T13:00:00Z".parse().unwrap();
        let table = table(&[an], now);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("NAME      PHASE"), "{table}");
        assert!(lines[1].starts_with("kube-x7   Succeeded"), "{table}");
        assert!(lines[1].ends_with("7         3h"), "{table}");
        assert_eq!(
            (age(5), age(600), age(90_000), age(900_000)),
            ("5s".into(), "10m".into(), "25h".into(), "10d".into())
        );
    }
}
