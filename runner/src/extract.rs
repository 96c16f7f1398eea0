//! The extract stage: walk a repository's history with gix and turn each commit into a
//! [`CommitRecord`], with per-file line counts equal to `git log --numstat --no-renames`.
//!
//! * [`open`] finds the repository (a working copy, a bare repository, or a directory inside a
//!   working copy, like git does).
//! * [`plan`] resolves the range and lists its commits in `git log` order ([`crate::walk`]).
//! * [`Extractor::commit`] reads one commit, diffs its tree against its first parent's (root
//!   commits against the empty tree; merges not at all, like `git log`, unless asked to), and
//!   counts lines with [`crate::numstat`]. Callers stream: one record at a time.
//!
//! Commits, trees and blobs are read through [`PackedObjects`] (git's delta base cache
//! strategy over the pack files, loose objects read rather than mapped), gix's object database
//! only for what that cannot find.
//!
//! Blob contents go through gix's diff pipeline in its "as stored in git" mode: no worktree
//! filters and no textconv (git's numstat uses neither), but `.gitattributes` (`-diff`,
//! `binary`, diff drivers with `binary = true`) and `core.bigFileThreshold` decide what is
//! binary, as in git. Attributes come from the index of `HEAD`'s tree (gix's behaviour; git
//! 2.39 reads the working tree's files instead, and nothing in bare repositories).

use std::path::Path;

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};
use gix::diff::blob::ResourceKind;
use gix::diff::blob::platform::resource::Data;
use gix::error::ResultExt as _;
use gix::objs::tree::{EntryKind, EntryMode};
use gix::prelude::ObjectIdExt;

use crate::error::ExtractError;
use crate::numstat::{self, LineCounts, LineDiff, Side};
use crate::packs::{self, PackedObjects, Packs};
use crate::record::{CommitRecord, FileStat, FileStatus, Identity, Person, Rename};
use crate::walk::{self, CommitGraph};

/// What the extract stage records beyond git's own numstat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Record mailmap-applied identities in `author.canonical`/`committer.canonical`.
    pub mailmap: bool,
    /// Detect renames into [`CommitRecord::renames`].
    pub renames: bool,
    /// Diff merge commits against their first parent instead of leaving `files` empty (like
    /// `git log --diff-merges=first-parent`).
    pub first_parent_merge_diffs: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            mailmap: true,
            renames: true,
            first_parent_merge_diffs: false,
        }
    }
}

/// True if `location` names a remote rather than a local path: `scheme://…`, or an scp-style
/// `host:path` / `user@host:path` (only when no such local path exists).
pub fn looks_like_url(location: &str) -> bool {
    if let Some((scheme, _)) = location.split_once("://") {
        return !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    }
    match location.split_once(':') {
        // `C:\repo` is a Windows path, `./a:b` and `/a:b` are local paths.
        Some((host, _)) => host.len() > 1 && !host.contains('/') && !Path::new(location).exists(),
        None => false,
    }
}

/// Opens the repository at or above `path` (a working copy, a bare repository or a directory
/// inside a working copy).
pub fn open(path: &Path) -> Result<gix::Repository, ExtractError> {
    if let Some(location) = path.to_str().filter(|location| looks_like_url(location)) {
        return Err(ExtractError::UrlNotSupported {
            location: location.to_owned(),
        });
    }
    let repo = gix::discover(path).map_err(|source| ExtractError::Open {
        path: path.to_owned(),
        source,
    })?;
    Ok(repo)
}

/// Resolves `rev` (anything `git rev-parse` takes) to a commit, peeling tags.
pub fn resolve_commit(repo: &gix::Repository, rev: &str) -> Result<ObjectId, ExtractError> {
    let id = repo
        .rev_parse_single(rev)
        .map_err(|source| ExtractError::RevisionNotFound {
            rev: rev.to_owned(),
            source,
        })?;
    let commit = id
        .object()
        .and_then(|object| object.peel_to_commit())
        .map_err(|source| ExtractError::NotACommit {
            rev: rev.to_owned(),
            source,
        })?;
    Ok(commit.id)
}

/// A resolved range and its commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The excluded end (`--since`), if any.
    pub since: Option<ObjectId>,
    /// The included end (`--until`).
    pub until: ObjectId,
    /// The commits of `since..until`, in `git log` order (newest first).
    pub commits: Vec<ObjectId>,
}

/// Resolves `since..until` and lists its commits like `git log since..until` would.
pub fn plan(
    repo: &gix::Repository,
    since: Option<&str>,
    until: &str,
) -> Result<Plan, ExtractError> {
    let packs = Packs::open(repo, WALK_CACHE_BYTES);
    plan_with(repo, &packs, since, until, &mut |_| {})
}

/// Bytes of objects the walk keeps: it reads each commit once, and commits are rarely deltas.
pub const WALK_CACHE_BYTES: usize = 1024 * 1024;

/// [`plan`], handing each commit to `shown` as soon as its place in the plan is final
/// ([`walk::log_order_with`]).
pub fn plan_with(
    repo: &gix::Repository,
    packs: &Packs,
    since: Option<&str>,
    until: &str,
    shown: &mut dyn FnMut(ObjectId),
) -> Result<Plan, ExtractError> {
    let until = resolve_commit(repo, until)?;
    let since = since.map(|rev| resolve_commit(repo, rev)).transpose()?;
    let exclude: Vec<ObjectId> = since.into_iter().collect();
    let mut odb = Odb {
        objects: PackedObjects::new(packs.clone(), &repo.objects),
        hash: repo.object_hash(),
        buf: Vec::new(),
    };
    let commits = walk::log_order_with(&mut odb, &exclude, &[until], shown)?;
    Ok(Plan {
        since,
        until,
        commits,
    })
}

/// The object database as a [`CommitGraph`], read through [`PackedObjects`] (with a cache of
/// its own: the walk's commits would only push the extraction's delta bases out).
struct Odb<'r> {
    objects: PackedObjects<'r>,
    hash: gix::hash::Kind,
    buf: Vec<u8>,
}

impl CommitGraph for Odb<'_> {
    type Id = ObjectId;
    type Error = ExtractError;

    fn load(&mut self, id: ObjectId) -> Result<(Vec<ObjectId>, i64), ExtractError> {
        use gix::objs::Find as _;
        let read = |source| ExtractError::ReadCommit { id, source };
        let object = self
            .objects
            .try_find(&id, &mut self.buf)
            .map_err(read)?
            .ok_or_else(|| read(missing("the commit is missing")))?;
        if object.kind != gix::objs::Kind::Commit {
            return Err(read(missing("the object is not a commit")));
        }
        let commit = gix::objs::CommitRefIter::from_bytes(object.data, self.hash);
        let time = commit
            .committer()
            .or_error()
            .and_then(|committer| committer.time().or_error())
            .map_err(read)?;
        Ok((commit.parent_ids().collect(), time.seconds))
    }
}

fn missing(what: &'static str) -> gix::Error {
    gix::error::ErrorExt::raise(gix::error::message(what))
}

/// Turns commits into [`CommitRecord`]s, reusing diff buffers from one commit to the next.
pub struct Extractor<'r> {
    repo: &'r gix::Repository,
    /// Blob reads, through a delta base cache like git's.
    objects: PackedObjects<'r>,
    options: ExtractOptions,
    resources: gix::diff::blob::Platform,
    mailmap: Option<gix::mailmap::Snapshot>,
    line_diff: LineDiff,
    tree_state: gix::diff::tree::State,
}

impl std::fmt::Debug for Extractor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extractor")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A file that differs between two trees, either side possibly absent.
struct FilePair {
    path: BString,
    old: Option<(EntryMode, ObjectId)>,
    new: Option<(EntryMode, ObjectId)>,
}

impl<'r> Extractor<'r> {
    /// Prepares the diff pipeline (attributes, drivers) and, if asked, the mailmap.
    pub fn new(repo: &'r gix::Repository, options: ExtractOptions) -> Result<Self, ExtractError> {
        Self::with_packs(repo, options, Packs::open(repo, packs::cache_bytes()))
    }

    /// [`Extractor::new`] over packs already opened (shared by extraction threads).
    pub fn with_packs(
        repo: &'r gix::Repository,
        options: ExtractOptions,
        packs: Packs,
    ) -> Result<Self, ExtractError> {
        let resources =
            repo.diff_resource_cache_for_tree_diff()
                .map_err(|source| ExtractError::DiffSetup {
                    git_dir: repo.git_dir().to_owned(),
                    source,
                })?;
        let mailmap = options.mailmap.then(|| repo.open_mailmap());
        Ok(Self {
            repo,
            objects: PackedObjects::new(packs, &repo.objects),
            options,
            resources,
            mailmap,
            line_diff: LineDiff::default(),
            tree_state: Default::default(),
        })
    }

    /// The record of commit `id`.
    pub fn commit(&mut self, id: ObjectId) -> Result<CommitRecord, ExtractError> {
        let read = |source| ExtractError::ReadCommit { id, source };
        let commit = self.find_commit(id).map_err(read)?;
        let parents: Vec<ObjectId> = commit.parent_ids().map(|parent| parent.detach()).collect();
        let author = self.person(commit.author().map_err(read)?).map_err(read)?;
        let committer = self
            .person(commit.committer().map_err(read)?)
            .map_err(read)?;
        let message = commit.message_raw_sloppy().to_str_lossy().into_owned();

        let base = match parents.as_slice() {
            [] => Some(None),
            [first] => Some(Some(*first)),
            [first, ..] if self.options.first_parent_merge_diffs => Some(Some(*first)),
            _ => None,
        };
        let (files, renames) = match base {
            Some(base) => self.diff(id, &commit, base)?,
            None => (Vec::new(), Vec::new()),
        };
        Ok(CommitRecord {
            id: id.to_string(),
            parents: parents.iter().map(ToString::to_string).collect(),
            author,
            committer,
            message,
            files,
            renames,
        })
    }

    /// Commit `id`, read through [`PackedObjects`] like trees and blobs.
    fn find_commit(&self, id: ObjectId) -> Result<gix::Commit<'r>, gix::Error> {
        let (kind, data) = self
            .objects
            .object(&id)?
            .ok_or_else(|| missing("the commit is missing"))?;
        if kind != gix::objs::Kind::Commit {
            return Err(missing("the object is not a commit"));
        }
        let data = data.to_vec();
        Ok(gix::ObjectDetached { id, kind, data }
            .attach(self.repo)
            .into_commit())
    }

    fn person(&self, signature: gix::actor::SignatureRef<'_>) -> Result<Person, gix::Error> {
        let signature = signature.trim();
        let time = signature.time()?;
        let name = signature.name.to_str_lossy().into_owned();
        let email = signature.email.to_str_lossy().into_owned();
        let canonical = self
            .mailmap
            .as_ref()
            .and_then(|mailmap| mailmap.try_resolve(signature))
            .map(|mapped| Identity {
                name: mapped.name.to_str_lossy().into_owned(),
                email: mapped.email.to_str_lossy().into_owned(),
            })
            .filter(|mapped| mapped.name != name || mapped.email != email);
        Ok(Person {
            name,
            email,
            time: format_time(time),
            canonical,
        })
    }

    /// Files changed from `base` (the empty tree if `None`) to `commit`, in git's order.
    fn diff(
        &mut self,
        id: ObjectId,
        commit: &gix::Commit<'_>,
        base: Option<ObjectId>,
    ) -> Result<(Vec<FileStat>, Vec<Rename>), ExtractError> {
        let diff_err = |source| ExtractError::DiffTrees { id, source };
        let new_tree = commit.tree_id().map_err(diff_err)?.detach();
        let old_tree = match base {
            None => None,
            Some(parent) => Some(
                self.find_commit(parent)
                    .and_then(|parent| parent.tree_id())
                    .map_err(|source| ExtractError::ReadCommit { id: parent, source })?
                    .detach(),
            ),
        };
        let old_tree = read_tree(&self.objects, old_tree).map_err(diff_err)?;
        let new_tree = read_tree(&self.objects, Some(new_tree)).map_err(diff_err)?;

        let mut changes = Vec::new();
        let hash = self.repo.object_hash();
        let (old_entries, new_entries) =
            differing_entries(&old_tree, &new_tree, hash.len_in_bytes());
        gix::diff::tree_with_rewrites(
            gix::objs::TreeRefIter::from_bytes(old_entries, hash),
            gix::objs::TreeRefIter::from_bytes(new_entries, hash),
            &mut self.resources,
            &mut self.tree_state,
            &self.objects,
            |change| {
                changes.push(change.into_owned());
                Ok(std::ops::ControlFlow::Continue(()))
            },
            gix::diff::tree_with_rewrites::Options {
                location: Some(gix::diff::tree::recorder::Location::Path),
                rewrites: self.options.renames.then(gix::diff::Rewrites::default),
            },
        )
        .or_error()
        .map_err(diff_err)?;
        self.resources.clear_resource_cache_keep_allocation();

        let (mut pairs, renames) = pairs_of(changes);
        // git lists a tree diff depth-first in tree order, which is byte order of full paths
        // (a directory sorts as its name plus `/`). The sort is stable: a deletion and an
        // addition at one path stay in that order.
        pairs.sort_by(|a, b| a.path.cmp(&b.path));

        let mut files = Vec::with_capacity(pairs.len());
        for pair in &pairs {
            let counts = self
                .line_counts(pair)
                .map_err(|source| ExtractError::DiffBlobs {
                    id,
                    path: pair.path.to_str_lossy().into_owned(),
                    source,
                })?;
            files.push(FileStat {
                path: pair.path.to_str_lossy().into_owned(),
                added: counts.added(),
                deleted: counts.deleted(),
                status: status_of(pair),
            });
        }
        self.resources.clear_resource_cache_keep_allocation();
        Ok((files, renames))
    }

    fn line_counts(&mut self, pair: &FilePair) -> Result<LineCounts, gix::Error> {
        let same_contents =
            matches!((pair.old, pair.new), (Some((_, old)), Some((_, new))) if old == new);
        let is_gitlink =
            |side: Option<(EntryMode, ObjectId)>| side.is_some_and(|(mode, _)| mode.is_commit());
        if is_gitlink(pair.old) || is_gitlink(pair.new) {
            // gix's diff pipeline only takes blobs and links; git diffs a submodule as the
            // one-line text `Subproject commit <id>`.
            let old = self.raw_side(pair.old)?;
            let new = self.raw_side(pair.new)?;
            let old = old.as_deref().map_or(Side::Missing, Side::Data);
            let new = new.as_deref().map_or(Side::Missing, Side::Data);
            return Ok(self.line_diff.numstat(old, new, same_contents));
        }

        let hash = self.repo.object_hash();
        let kind_of = |side: Option<(EntryMode, ObjectId)>| side.map(|(mode, _)| mode.kind());
        let fallback_kind = kind_of(pair.new)
            .or(kind_of(pair.old))
            .unwrap_or(EntryKind::Blob);
        let contents = Contents {
            objects: &self.objects,
            sides: [pair.old, pair.new].map(|side| side.map(|(_, id)| id)),
        };
        for (side, which) in [
            (pair.old, ResourceKind::OldOrSource),
            (pair.new, ResourceKind::NewOrDestination),
        ] {
            let (kind, id) =
                side.map_or((fallback_kind, hash.null()), |(mode, id)| (mode.kind(), id));
            self.resources
                .set_resource(id, kind, pair.path.as_ref(), which, &contents)
                .map_err(gix::Error::from)?;
        }
        let prepared = self.resources.prepare_diff().map_err(gix::Error::from)?;
        let classes = [prepared.old.data, prepared.new.data].map(|data| match data {
            Data::Missing => Class::Missing,
            Data::Buffer { .. } => Class::Text,
            Data::Binary { .. } => Class::Binary,
        });
        // The contents of text sides, shared with the object cache (just decoded there).
        let mut texts = [None, None];
        for ((class, side), text) in classes.iter().zip([pair.old, pair.new]).zip(&mut texts) {
            if let (Class::Text, Some((_, id))) = (class, side) {
                let (_, data) = self.objects.object(&id)?.ok_or_else(|| {
                    gix::error::ErrorExt::raise(gix::error::message("a blob went missing"))
                })?;
                *text = Some(data);
            }
        }
        Ok(self.line_diff.numstat(
            side_of(classes[0], texts[0].as_deref()),
            side_of(classes[1], texts[1].as_deref()),
            same_contents,
        ))
    }

    /// The bytes git diffs for one side of a pair that involves a submodule.
    fn raw_side(&self, side: Option<(EntryMode, ObjectId)>) -> Result<Option<Vec<u8>>, gix::Error> {
        Ok(match side {
            None => None,
            Some((mode, id)) if mode.is_commit() => Some(numstat::gitlink_text(&id.to_string())),
            Some((_, id)) => Some(id.attach(self.repo).object()?.detach().data),
        })
    }
}

/// Where the tree entry that starts at `at` ends (`<mode> <name>\0<id>`), if it is whole.
fn entry_end(tree: &[u8], at: usize, id_len: usize) -> Option<usize> {
    let name_end = at + tree.get(at..)?.find_byte(0)?;
    let end = name_end + 1 + id_len;
    (end <= tree.len()).then_some(end)
}

/// The entries of two trees that can differ: the runs of whole entries that are the same
/// bytes at the start and at the end of both are left out, as they make no change. A root
/// tree has hundreds of entries (git/git's 561) of which a commit changes one or two, and
/// gix's diff compares them all.
///
/// Entries are walked from the start (their ids are binary, so they cannot be found from the
/// end): over the common start, then through the middle until a boundary of `old` is followed
/// by the common end and the same place in `new` is a boundary too.
fn differing_entries<'a>(old: &'a [u8], new: &'a [u8], id_len: usize) -> (&'a [u8], &'a [u8]) {
    let same = numstat::same_start(old, new);
    let mut start = 0;
    while let Some(end) = entry_end(old, start, id_len).filter(|&end| end <= same) {
        start = end;
    }
    let (old_rest, new_rest) = (&old[start..], &new[start..]);
    let same_end = numstat::same_end(old_rest, new_rest);
    // Boundaries are offsets into the rests; the common end starts at `old_rest.len() -
    // same_end` in `old_rest`, at the same distance from the end in `new_rest`.
    let (mut old_at, mut new_at) = (0, 0);
    loop {
        if old_rest.len() - old_at <= same_end {
            let new_boundary = new_rest.len() - (old_rest.len() - old_at);
            while new_at < new_boundary {
                match entry_end(new_rest, new_at, id_len) {
                    Some(end) => new_at = end,
                    None => return (old_rest, new_rest),
                }
            }
            if new_at == new_boundary {
                return (&old_rest[..old_at], &new_rest[..new_at]);
            }
        }
        match entry_end(old_rest, old_at, id_len) {
            Some(end) => old_at = end,
            None => return (old_rest, new_rest),
        }
    }
}

/// Tree `id` (the empty tree if `None`), shared with the object cache rather than copied: a
/// repository's root tree is often large and every commit reads two of them.
fn read_tree(
    objects: &PackedObjects<'_>,
    id: Option<ObjectId>,
) -> Result<std::sync::Arc<Vec<u8>>, gix::Error> {
    let fail = |what| Err(gix::error::ErrorExt::raise(gix::error::message(what)));
    let Some(id) = id.filter(|id| !id.is_empty_tree()) else {
        return Ok(Default::default());
    };
    match objects.object(&id)? {
        Some((gix::objs::Kind::Tree, data)) => Ok(data),
        Some(_) => fail("a commit's tree is not a tree"),
        None => fail("a commit's tree is missing"),
    }
}

/// Splits gix's changes into file pairs (renames become a deletion and an addition, like
/// `--no-renames`) and the renames themselves. Directories are dropped: git lists files only.
fn pairs_of(changes: Vec<gix::object::tree::diff::ChangeDetached>) -> (Vec<FilePair>, Vec<Rename>) {
    use gix::object::tree::diff::ChangeDetached as Change;

    let file = |mode: EntryMode, id: ObjectId| (!mode.is_tree()).then_some((mode, id));
    let mut pairs = Vec::with_capacity(changes.len());
    let mut renames = Vec::new();
    for change in changes {
        match change {
            Change::Addition {
                location,
                entry_mode,
                id,
                ..
            } => {
                pairs.push(FilePair {
                    path: location,
                    old: None,
                    new: file(entry_mode, id),
                });
            }
            Change::Deletion {
                location,
                entry_mode,
                id,
                ..
            } => {
                pairs.push(FilePair {
                    path: location,
                    old: file(entry_mode, id),
                    new: None,
                });
            }
            Change::Modification {
                location,
                previous_entry_mode,
                previous_id,
                entry_mode,
                id,
            } => {
                // git canonicalises modes before it compares (`canon_mode`: any regular
                // non-executable file is 100644), so early histories' 100664 → 100644 with the
                // same blob is no change to git; gix compares the raw modes.
                if previous_id == id && previous_entry_mode.kind() == entry_mode.kind() {
                    continue;
                }
                pairs.push(FilePair {
                    path: location,
                    old: file(previous_entry_mode, previous_id),
                    new: file(entry_mode, id),
                });
            }
            Change::Rewrite {
                source_location,
                source_entry_mode,
                source_id,
                diff,
                entry_mode,
                id,
                location,
                copy,
                ..
            } => {
                if !copy {
                    pairs.push(FilePair {
                        path: source_location.clone(),
                        old: file(source_entry_mode, source_id),
                        new: None,
                    });
                }
                let similarity = diff
                    .map_or(100.0, |stats| stats.similarity * 100.0)
                    .round()
                    .clamp(0.0, 100.0) as u8;
                renames.push(Rename {
                    from: source_location.to_str_lossy().into_owned(),
                    to: location.to_str_lossy().into_owned(),
                    similarity,
                });
                pairs.push(FilePair {
                    path: location,
                    old: None,
                    new: file(entry_mode, id),
                });
            }
        }
    }
    pairs.retain(|pair| pair.old.is_some() || pair.new.is_some());
    (pairs, renames)
}

fn side_of(class: Class, text: Option<&Vec<u8>>) -> Side<'_> {
    match (class, text) {
        (Class::Text, Some(text)) => Side::Data(text),
        (Class::Binary, _) => Side::Binary,
        _ => Side::Missing,
    }
}

/// What gix's diff pipeline made of a side.
#[derive(Clone, Copy)]
enum Class {
    Missing,
    Text,
    /// By attributes or size.
    Binary,
}

/// The objects as gix's diff pipeline sees them while it prepares a file pair: for the pair's
/// own blobs it learns that they exist (and their size, from the header) but gets no bytes,
/// which the line diff then reads from the object cache instead of from a copy. Everything
/// else (the `.gitattributes` blobs of the attribute stack) is read in full.
struct Contents<'a, 'r> {
    objects: &'a PackedObjects<'r>,
    sides: [Option<ObjectId>; 2],
}

impl gix::objs::Find for Contents<'_, '_> {
    fn try_find<'a>(
        &self,
        id: &gix::oid,
        buffer: &'a mut Vec<u8>,
    ) -> gix::Result<Option<gix::objs::Data<'a>>> {
        if !self.sides.iter().flatten().any(|side| side.as_ref() == id) {
            return self.objects.try_find(id, buffer);
        }
        buffer.clear();
        Ok(self.objects.object(id)?.map(|(kind, _)| gix::objs::Data {
            kind,
            object_hash: id.kind(),
            data: buffer,
        }))
    }
}

impl gix::objs::FindHeader for Contents<'_, '_> {
    fn try_header(&self, id: &gix::oid) -> gix::Result<Option<gix::objs::Header>> {
        self.objects.try_header(id)
    }
}

fn status_of(pair: &FilePair) -> FileStatus {
    let class = |mode: EntryMode| match mode.kind() {
        EntryKind::Blob | EntryKind::BlobExecutable => 0,
        EntryKind::Link => 1,
        EntryKind::Commit => 2,
        EntryKind::Tree => 3,
    };
    match (pair.old, pair.new) {
        (None, _) => FileStatus::Added,
        (_, None) => FileStatus::Deleted,
        (Some((old, _)), Some((new, _))) if class(old) != class(new) => FileStatus::TypeChanged,
        _ => FileStatus::Modified,
    }
}

/// RFC 3339 in the recorded offset (git's `%aI`), or git's raw `@<seconds> <+hhmm>` for times
/// RFC 3339 cannot express.
pub fn format_time(time: gix::date::Time) -> String {
    let rfc3339 = jiff::tz::Offset::from_seconds(time.offset)
        .ok()
        .zip(jiff::Timestamp::from_second(time.seconds).ok())
        .and_then(|(offset, timestamp)| {
            let civil = offset.to_datetime(timestamp);
            (0..=9999)
                .contains(&civil.year())
                .then(|| timestamp.display_with_offset(offset).to_string())
        });
    rfc3339.unwrap_or_else(|| {
        let sign = if time.offset < 0 { '-' } else { '+' };
        let minutes = time.offset.unsigned_abs() / 60;
        format!(
            "@{} {sign}{:02}{:02}",
            time.seconds,
            minutes / 60,
            minutes % 60
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognized() {
        assert!(looks_like_url("https://example.com/repo.git"));
        assert!(looks_like_url("git://127.0.0.1:9418/repo"));
        assert!(looks_like_url("ssh://git@host/org/repo"));
        assert!(looks_like_url("git@github.com:org/repo.git"));
        assert!(!looks_like_url("/tmp/repo"));
        assert!(!looks_like_url("./repo"));
        assert!(!looks_like_url("repo"));
        assert!(!looks_like_url("./odd:name"));
        assert!(!looks_like_url("C:\\repo"));
    }

    /// Entries of a tree buffer, parsed the simple way.
    fn entries(tree: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < tree.len() {
            let end = entry_end(tree, at, 20).expect("whole entries");
            let name_end = end - 21;
            out.push((
                tree[at..name_end].to_vec(),
                tree[name_end + 1..end].to_vec(),
            ));
            at = end;
        }
        out
    }

    #[test]
    fn trees_are_trimmed_to_whole_differing_entries() {
        // Ids full of NULs, spaces and digits, so that a wrong boundary would parse.
        let mut random = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            random % n
        };
        for case in 0..2000 {
            let names = 1 + next(40);
            let mut old = Vec::new();
            let mut new = Vec::new();
            for name in 0..names {
                let id = |next: &mut dyn FnMut(u64) -> u64| -> Vec<u8> {
                    (0..20)
                        .map(|_| [0u8, b' ', b'1', b'0', b'a'][next(5) as usize])
                        .collect()
                };
                // Names of different lengths, so that entries do not line up by size.
                let name = format!("{}n{name:03}", "0".repeat(next(4) as usize));
                let entry = |id: &[u8]| {
                    let mut entry = format!("100644 {name}").into_bytes();
                    entry.push(0);
                    entry.extend_from_slice(id);
                    entry
                };
                let shared = id(&mut next);
                match next(8) {
                    0 => old.extend(entry(&shared)),
                    1 => new.extend(entry(&shared)),
                    2 => {
                        old.extend(entry(&shared));
                        new.extend(entry(&id(&mut next)));
                    }
                    _ => {
                        old.extend(entry(&shared));
                        new.extend(entry(&shared));
                    }
                }
            }
            let (old_part, new_part) = differing_entries(&old, &new, 20);
            let (full_old, full_new) = (entries(&old), entries(&new));
            let (part_old, part_new) = (entries(old_part), entries(new_part));
            let changed = |a: &[(Vec<u8>, Vec<u8>)], b: &[(Vec<u8>, Vec<u8>)]| {
                let mut changed: Vec<_> = a.iter().filter(|e| !b.contains(e)).cloned().collect();
                changed.extend(b.iter().filter(|e| !a.contains(e)).cloned());
                changed.sort();
                changed
            };
            assert_eq!(
                changed(&part_old, &part_new),
                changed(&full_old, &full_new),
                "case {case}"
            );
            if old == new {
                assert!(old_part.is_empty() && new_part.is_empty(), "case {case}");
            }
        }

        // The same bytes end both trees, but in `new` they are the end of one entry's name and
        // its id, not an entry of their own: nothing may be cut.
        let id = [7u8; 20];
        let mut old = b"100644 x\0".to_vec();
        old.extend_from_slice(&id);
        old.extend_from_slice(b"1 b\0");
        old.extend_from_slice(&id);
        let mut new = b"100644 yy1 b\0".to_vec();
        new.extend_from_slice(&id);
        assert_eq!(differing_entries(&old, &new, 20), (&old[..], &new[..]));
    }

    #[test]
    fn times_keep_their_offset() {
        let time = |seconds, offset| format_time(gix::date::Time { seconds, offset });
        assert_eq!(time(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(time(1_700_000_000, 2 * 3600), "2023-11-15T00:13:20+02:00");
        assert_eq!(
            time(1_700_000_000, -(5 * 3600 + 30 * 60)),
            "2023-11-14T16:43:20-05:30"
        );
        assert_eq!(
            time(300_000_000_000, 3600),
            "@300000000000 +0100",
            "year 11476 has no RFC 3339 form"
        );
    }
}
