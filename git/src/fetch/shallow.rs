//! Whether a shallow repository holds enough history for `git log since..tip`.

use std::collections::HashSet;

use gix::ObjectId;

use crate::walk::{self, CommitGraph};

/// The commit graph with the shallow boundary made visible: reading a boundary commit (whose
/// parents are absent) or a missing one stops the walk.
struct BoundedGraph<'r> {
    repo: &'r gix::Repository,
    boundary: HashSet<ObjectId>,
}

/// The walk reached the shallow boundary or a missing commit.
#[derive(Debug)]
struct Incomplete;

impl CommitGraph for BoundedGraph<'_> {
    type Id = ObjectId;
    type Error = Incomplete;

    fn load(&mut self, id: ObjectId) -> Result<(Vec<ObjectId>, i64), Incomplete> {
        if self.boundary.contains(&id) {
            return Err(Incomplete);
        }
        let commit = self.repo.find_commit(id).map_err(|_| Incomplete)?;
        let time = commit.time().map_err(|_| Incomplete)?;
        Ok((
            commit.parent_ids().map(|parent| parent.detach()).collect(),
            time.seconds,
        ))
    }
}

/// True if `git log since..tip` can be walked without touching the shallow boundary.
pub(super) fn range_is_complete(
    repo: &gix::Repository,
    since: ObjectId,
    tip: ObjectId,
) -> gix::Result<bool> {
    let boundary = repo
        .shallow_commits()?
        .map(|commits| commits.iter().copied().collect())
        .unwrap_or_default();
    let mut graph = BoundedGraph { repo, boundary };
    Ok(walk::log_order(&mut graph, &[since], &[tip]).is_ok())
}
