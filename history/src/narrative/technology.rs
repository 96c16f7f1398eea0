//! The technology's sentences: the languages of the lines changed and how their shares moved
//! (*How the code base changed*), the dependencies each phase brought in and dropped, and the
//! dropped ones with what came in their place (*What was removed*).

use std::fmt::Write as _;

use gitview_core::story::{Claim, grouped};
use serde_json::{Map, Value, json};

use super::{Facts, LISTED, PhaseSpan, claim, code, count, date, percent, short};
use crate::evolution::{self, DependencyEvent, ReplacedIn};

/// How many dependencies a sentence names before "and N more".
const NAMED: usize = 8;
/// How many language shifts are told.
const SHIFTS: usize = 3;
/// A language under this share (in percent) of the code lines is not named overall.
const NAMED_SHARE: u64 = 1;

/// "phase 2": a phase by its index in the ranges (the timeline gives its name and dates).
fn phase_name(phases: &[PhaseSpan], index: usize) -> String {
    format!("phase {}", phase_number(phases, index))
}

fn phase_number(phases: &[PhaseSpan], index: usize) -> usize {
    phases.get(index).map_or(index + 1, |p| p.number)
}

/// "Cargo `logos`, `nom` and npm `react`", at most [`NAMED`] names, then "and N more".
fn dependency_list(events: &[DependencyEvent]) -> String {
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for event in events.iter().take(NAMED) {
        let label = event.ecosystem.label();
        let name = code(&event.name);
        match groups.iter_mut().find(|(l, _)| *l == label) {
            Some((_, names)) => names.push(name),
            None => groups.push((label, vec![name])),
        }
    }
    let mut parts: Vec<String> = groups
        .into_iter()
        .map(|(label, names)| format!("{label} {}", names.join(", ")))
        .collect();
    if events.len() > NAMED {
        parts.push(format!("{} more", events.len() - NAMED));
    }
    match parts.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join("; ")),
    }
}

impl Facts<'_> {
    /// The languages of the lines changed: the mix over the whole history, then the shares
    /// that moved between the first and the last phase.
    pub(super) fn languages_told(&self, phases: &[PhaseSpan]) -> Vec<Claim> {
        let mix = &self.languages;
        if mix.lines == 0 {
            return Vec::new();
        }
        let mut claims = Vec::new();
        let all_lines = usize::try_from(mix.all_lines).unwrap_or(usize::MAX);
        let named: Vec<(&evolution::LanguageLines, u64)> = mix
            .overall
            .iter()
            .map(|l| (l, percent(l.lines, mix.lines)))
            .filter(|(_, share)| *share >= NAMED_SHARE)
            .take(3)
            .collect();
        let mut shares = Map::new();
        for (l, share) in &named {
            shares.insert(l.language.clone(), json!(share));
        }
        let commits: Vec<&str> = named
            .iter()
            .map(|(l, _)| l.largest_commit.as_str())
            .collect();
        if mix.overall.len() == 1 {
            claims.push(claim(
                format!(
                    "Of the {} changed, {} are code, all in {}.",
                    count(all_lines, "line"),
                    grouped(mix.lines),
                    super::escape_markdown(&mix.overall[0].language)
                ),
                &commits,
                json!({"lines": mix.all_lines, "codeLines": mix.lines, "shares": shares}),
            ));
            return claims;
        }
        let mut parts: Vec<String> = named
            .iter()
            .map(|(l, share)| format!("{share} % in {}", super::escape_markdown(&l.language)))
            .collect();
        let rest = 100u64.saturating_sub(named.iter().map(|(_, s)| s).sum());
        if named.len() < mix.overall.len() && rest > 0 {
            parts.push(format!("{rest} % in other languages"));
        }
        let listed = match parts.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        };
        claims.push(claim(
            format!(
                "Of the {} changed, {} are code: {listed}.",
                count(all_lines, "line"),
                grouped(mix.lines)
            ),
            &commits,
            json!({"lines": mix.all_lines, "codeLines": mix.lines, "shares": shares}),
        ));
        for (i, shift) in evolution::language_shifts(mix, SHIFTS)
            .into_iter()
            .enumerate()
        {
            let (from, to) = (percent_of(shift.from_share), percent_of(shift.to_share));
            if from == to {
                continue;
            }
            let verb = if to > from { "rose" } else { "fell" };
            let language = super::escape_markdown(&shift.language);
            let text = if i == 0 {
                format!(
                    "{language} {verb} from {from} % of the lines changed in code in {} to {to} % in {}.",
                    phase_name(phases, shift.from_phase),
                    phase_name(phases, shift.to_phase),
                )
            } else {
                format!("{language} {verb} from {from} % to {to} % over the same phases.")
            };
            let commits: Vec<&str> = shift
                .from_commit
                .iter()
                .chain(&shift.to_commit)
                .map(String::as_str)
                .collect();
            claims.push(claim(
                text,
                &commits,
                json!({
                    "language": shift.language,
                    "fromPhase": phase_number(phases, shift.from_phase),
                    "toPhase": phase_number(phases, shift.to_phase),
                    "fromShare": from,
                    "toShare": to,
                }),
            ));
        }
        claims
    }

    /// Per phase, the dependencies it brought in and dropped.
    pub(super) fn dependencies_told(&self, phases: &[PhaseSpan]) -> Vec<Claim> {
        let mut claims = Vec::new();
        for phase in &self.dependencies.phases {
            let (added, removed) = (&phase.added, &phase.removed);
            if added.is_empty() && removed.is_empty() {
                continue;
            }
            let name = phase_name(phases, phase.phase);
            let mut text = capitalized(&name);
            if !added.is_empty() {
                let _ = write!(
                    text,
                    " brought in {}: {}",
                    dependencies(added.len()),
                    dependency_list(added)
                );
            }
            if !removed.is_empty() {
                let _ = write!(
                    text,
                    "{} dropped {}: {}",
                    if added.is_empty() { "" } else { "; it" },
                    dependencies(removed.len()),
                    dependency_list(removed)
                );
            }
            text.push('.');
            let commits: Vec<&str> = added
                .iter()
                .take(NAMED)
                .chain(removed.iter().take(NAMED))
                .map(|e| e.commit.as_str())
                .collect();
            claims.push(claim(
                text,
                &commits,
                json!({
                    "phase": phase_number(phases, phase.phase),
                    "added": added.len(),
                    "removed": removed.len(),
                }),
            ));
        }
        claims
    }

    /// The most recent dependencies dropped, each with what seems to have replaced it.
    pub(super) fn dependencies_dropped(&self, phases: &[PhaseSpan]) -> Vec<Claim> {
        let dropped = &self.dependencies.dropped;
        dropped
            .iter()
            .skip(dropped.len().saturating_sub(LISTED))
            .map(|d| {
                let gone = &d.dependency;
                let mut text = format!(
                    "The {} dependency {} was dropped",
                    gone.ecosystem.label(),
                    code(&gone.name)
                );
                if let [manifest] = gone.manifests.as_slice() {
                    let _ = write!(text, " from {}", code(manifest));
                }
                let _ = write!(text, " on {} ({})", date(gone.time), short(&gone.commit));
                let mut commits = vec![gone.commit.as_str()];
                if let Some((replacement, how)) = &d.replacement {
                    let _ = write!(
                        text,
                        "; {} came in its place ({})",
                        code(&replacement.name),
                        match how {
                            ReplacedIn::SameCommit => "the same commit".to_owned(),
                            ReplacedIn::SamePhase =>
                                format!("{}, in the same phase", short(&replacement.commit)),
                        }
                    );
                    commits.push(replacement.commit.as_str());
                }
                text.push('.');
                let mut figures = json!({
                    "phase": phase_number(phases, d.phase),
                    "ecosystem": gone.ecosystem,
                    "dependency": gone.name,
                });
                if let (Some((replacement, _)), Value::Object(map)) = (&d.replacement, &mut figures)
                {
                    map.insert("replacement".into(), json!(replacement.name));
                }
                claim(text, &commits, figures)
            })
            .collect()
    }
}

fn percent_of(share: f64) -> u64 {
    if share.is_finite() {
        (share * 100.0).round().clamp(0.0, 100.0) as u64
    } else {
        0
    }
}

/// `1 dependency`, `12 dependencies`.
fn dependencies(n: usize) -> String {
    if n == 1 {
        "1 dependency".to_owned()
    } else {
        format!("{} dependencies", grouped(n as u64))
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
