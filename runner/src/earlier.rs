//! The history before a run's range: commits an earlier run already extracted, so a run that
//! extracts only the new commits still tells the **whole** history's story.
//!
//! * In a pod, an incremental run reads them from the gateway ([`from_gateway`]: the
//!   repository's stored commits in one stream, each with the enrichment it was stored with).
//! * On a laptop, `analyze --update` reads them from the output directory of the earlier run
//!   ([`from_output`]: its `analysis.json` says where that run ended, its `commits.jsonl`
//!   holds the commits), and writes them again beside the new ones so the next update finds
//!   them.
//!
//! Each commit's stored enrichment stands when today's rules made it (its `rules` fingerprint,
//! [`crate::enrich::RULES`]); otherwise the commit is enriched again from its record (so an
//! update tells what a full run tells, even after the rules changed), keeping from its stored
//! enrichment what only the repository could say then: the dependencies its manifests changed
//! (blobs an incremental run's shallow clone lacks) and, in a pod, its tags where the clone
//! knows none.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::analysis_json::AnalysisSummary;
use crate::sink::gateway::GatewayClient;
use crate::sink::{EnrichedCommit, SinkError, files};

/// Commits from before the range, newest first (`git log` order).
#[derive(Clone, Debug, Default)]
pub struct Earlier {
    pub commits: Vec<EarlierCommit>,
    /// Hand them to the sink again after the new commits (a directory rewritten whole); a
    /// gateway already has them.
    pub rewrite: bool,
    /// The repository at hand may lack these commits' tags (an incremental run's shallow
    /// clone): their stored tags stand where it knows none.
    pub stored_tags: bool,
    /// They come scrubbed by the gateway (its answer for an account that scrubs): a run that
    /// scrubs need not scrub them again.
    pub scrubbed: bool,
}

pub use crate::sink::history::EarlierCommit;

impl Earlier {
    /// No earlier commits: the run's story is its range's.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }
}

/// The repository's stored commits, from the gateway. They come oldest first and are returned
/// newest first.
pub fn from_gateway(client: &GatewayClient) -> Result<Earlier, SinkError> {
    let (mut commits, scrubbed) = client.stored_history()?;
    commits.reverse();
    Ok(Earlier {
        commits,
        rewrite: false,
        stored_tags: true,
        scrubbed,
    })
}

/// Errors reading an earlier run's output directory.
#[derive(Debug, thiserror::Error)]
pub enum EarlierError {
    #[error(
        "{dir:?} holds no completed analysis to update ({file} is missing): run `analyze` without --update first"
    )]
    NoAnalysis { dir: PathBuf, file: &'static str },
    #[error("cannot read {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path:?} line {line}: not a commit record of gitview: {source}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path:?} is not an analysis.json of gitview: {source}")]
    Summary {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// What an earlier `analyze` left in `dir`: where it ended (its `untilCommit`) and its commits.
pub fn from_output(dir: &Path) -> Result<(AnalysisSummary, Earlier), EarlierError> {
    let summary_path = dir.join(files::ANALYSIS);
    let bytes = match std::fs::read(&summary_path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(EarlierError::NoAnalysis {
                dir: dir.to_owned(),
                file: files::ANALYSIS,
            });
        }
        Err(source) => {
            return Err(EarlierError::Io {
                path: summary_path,
                source,
            });
        }
    };
    let summary: AnalysisSummary =
        serde_json::from_slice(&bytes).map_err(|source| EarlierError::Summary {
            path: summary_path.clone(),
            source,
        })?;
    let path = dir.join(files::COMMITS);
    let file = std::fs::File::open(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => EarlierError::NoAnalysis {
            dir: dir.to_owned(),
            file: files::COMMITS,
        },
        _ => EarlierError::Io {
            path: path.clone(),
            source,
        },
    })?;
    let mut commits = Vec::new();
    for (n, line) in std::io::BufReader::with_capacity(1 << 20, file)
        .lines()
        .enumerate()
    {
        let line = line.map_err(|source| EarlierError::Io {
            path: path.clone(),
            source,
        })?;
        if line.is_empty() {
            continue;
        }
        let commit: EnrichedCommit =
            serde_json::from_str(&line).map_err(|source| EarlierError::Corrupt {
                path: path.clone(),
                line: n + 1,
                source,
            })?;
        commits.push(EarlierCommit {
            record: commit.record,
            enrichment: Some(commit.enrichment),
        });
    }
    Ok((
        summary,
        Earlier {
            commits,
            rewrite: true,
            stored_tags: false,
            // Written scrubbed when that run scrubbed (an update keeps the setting), but
            // perhaps by older rules: scrubbed again.
            scrubbed: false,
        },
    ))
}

/// How complete a history is: commits whose parents are not all in it. Zero means the story
/// covers the whole history back to its roots.
pub fn missing_parents<'a>(ids: impl Iterator<Item = (&'a str, &'a [String])> + Clone) -> u64 {
    let known: std::collections::HashSet<&str> = ids.clone().map(|(id, _)| id).collect();
    ids.filter(|(_, parents)| parents.iter().any(|p| !known.contains(p.as_str())))
        .count() as u64
}

/// One commit as the history's order needs it: id, parents, committer time (seconds).
pub type GraphEntry<'a> = (&'a str, &'a [String], i64);

/// The order `git log <tip>` shows the commits in (`commits[0]` is the tip), as indices into
/// `commits`: so an update lists the whole history exactly as a full run would. Parents not
/// among `commits` end the walk there; commits the tip does not reach (left from a rewritten
/// history) are not in the answer.
pub fn log_order(commits: &[GraphEntry<'_>]) -> Vec<usize> {
    struct Graph<'g, 'a> {
        commits: &'g [GraphEntry<'a>],
        index: std::collections::HashMap<&'a str, usize>,
    }
    impl gitview_git::walk::CommitGraph for Graph<'_, '_> {
        type Id = usize;
        type Error = std::convert::Infallible;
        fn load(&mut self, id: usize) -> Result<(Vec<usize>, i64), Self::Error> {
            let (_, parents, time) = self.commits[id];
            let parents = parents
                .iter()
                .filter_map(|p| self.index.get(p.as_str()).copied())
                .collect();
            Ok((parents, time))
        }
    }
    if commits.is_empty() {
        return Vec::new();
    }
    let mut graph = Graph {
        commits,
        index: commits
            .iter()
            .enumerate()
            .map(|(i, (id, _, _))| (*id, i))
            .collect(),
    };
    match gitview_git::walk::log_order(&mut graph, &[], &[0]) {
        Ok(order) => order,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[(&'static str, Vec<String>)]) -> u64 {
        missing_parents(list.iter().map(|(id, parents)| (*id, parents.as_slice())))
    }

    #[test]
    fn a_history_is_whole_when_every_parent_is_in_it() {
        let p = |s: &str| vec![s.to_owned()];
        assert_eq!(ids(&[("c", p("b")), ("b", p("a")), ("a", vec![])]), 0);
        // A range: its oldest commit's parent is outside.
        assert_eq!(ids(&[("c", p("b")), ("b", p("a"))]), 1);
        // A merge with one side missing.
        assert_eq!(
            ids(&[("m", vec!["a".into(), "x".into()]), ("a", vec![]),]),
            1
        );
        assert_eq!(ids(&[]), 0);
    }

    #[test]
    fn the_merged_history_is_listed_as_git_log_lists_it() {
        let p = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // new commits first (d, c), then the earlier ones (b, x, a); b and c share a second,
        // x is a leftover of a rewritten history.
        let (d, c, b, x, a) = (p(&["c"]), p(&["b"]), p(&["a"]), p(&["a"]), p(&[]));
        let commits: Vec<GraphEntry<'_>> = vec![
            ("d", &d, 40),
            ("c", &c, 30),
            ("b", &b, 30),
            ("x", &x, 35),
            ("a", &a, 10),
        ];
        assert_eq!(log_order(&commits), [0, 1, 2, 4]);
        // A merge: both sides, newest first.
        let (m, l, r, root) = (p(&["l", "r"]), p(&["root"]), p(&["root"]), p(&[]));
        let commits: Vec<GraphEntry<'_>> =
            vec![("root", &root, 1), ("m", &m, 9), ("r", &r, 5), ("l", &l, 3)];
        // The tip reaches only its own ancestors.
        assert_eq!(log_order(&commits), [0]);
        let commits: Vec<GraphEntry<'_>> =
            vec![("m", &m, 9), ("l", &l, 3), ("r", &r, 5), ("root", &root, 1)];
        assert_eq!(log_order(&commits), [0, 2, 1, 3]);
        assert!(log_order(&[]).is_empty());
    }
}
