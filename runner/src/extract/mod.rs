//! The extract stage: walk a repository's history with gix and turn each commit into a
//! [`CommitRecord`], with per-file line counts equal to `git log --numstat --no-renames`.
//!
//! * [`open`] finds the repository (a working copy, a bare repository, or a directory inside a
//!   working copy, like git does).
//! * [`plan`] resolves the range and lists its commits in `git log` order ([`gitview_git::walk`]).
//! * [`Extractor::commit`] reads one commit, diffs its tree against its first parent's (root
//!   commits against the empty tree; merges not at all, like `git log`, unless asked to), and
//!   counts lines with [`numstat`]. Callers stream: one record at a time.
//!   [`Extractor::extract`] adds what the commit changed in its dependency manifests
//!   ([`Extracted`]): only pairs whose file name is a manifest's (`Cargo.toml`,
//!   `package.json`, …; [`gitview_history::manifests`]) have their blobs parsed, once per
//!   blob id, so a history that rarely touches a manifest pays one byte compare per path.
//! * [`ParallelExtract`] runs extractors on worker threads while the walk is still listing
//!   the commits, and hands the records back in the plan's order (the pipeline's way).
//!
//! Commits, trees and blobs are read through [`PackedObjects`] (git's delta base cache
//! strategy over the pack files, loose objects read rather than mapped), gix's object database
//! only for what that cannot find.
//!
//! Which blobs are binary is decided as gix's diff pipeline decides it in its "as stored in
//! git" mode: no worktree filters and no textconv (git's numstat uses neither), but
//! `.gitattributes` (`-diff`, `binary`, diff drivers with `binary = true`) and
//! `core.bigFileThreshold`, as in git; [`numstat`] looks for the NUL. Attributes come from the
//! index of `HEAD`'s tree (gix's behaviour; git 2.39 reads the working tree's files instead,
//! and nothing in bare repositories). They hold for the whole run, so the pipeline is asked
//! once per path (`Extractor::binary_by_attributes`), not for every blob.

mod error;
pub mod numstat;
pub mod packs;
mod parallel;
mod treediff;

use std::path::Path;

use gitview_git::walk::{self, CommitGraph};
use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::diff::blob::ResourceKind;
use gix::diff::rewrites::Tracker;
use gix::diff::rewrites::tracker::visit::{Destination, Source, SourceKind};
use gix::diff::tree::visit::Change;
use gix::error::ResultExt as _;
use gix::objs::tree::{EntryKind, EntryMode};
use gix::prelude::ObjectIdExt;

use crate::record::{CommitRecord, FileStat, FileStatus, Identity, Person, Rename};
use gitview_history::manifests::{self, DependencyChanges, Manifest};

use numstat::{LineCounts, LineDiff, Side};
use packs::{PackedObjects, Packs};
use treediff::TreeDiff;

pub use error::ExtractError;
pub use parallel::{ParallelExtract, default_threads};

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
    // A repository without commits yet (its `HEAD` names an unborn branch): nothing to walk,
    // and a story that says so. `until` is then the null id.
    if until == "HEAD" && since.is_none() && repo.head().is_ok_and(|head| head.is_unborn()) {
        return Ok(Plan {
            since: None,
            until: ObjectId::null(repo.object_hash()),
            commits: Vec::new(),
        });
    }
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

/// A commit as the extract stage reads it: its record (exactly `git log --numstat`) and what
/// it changed in its dependency manifests, which the record cannot say (it has no contents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    pub record: CommitRecord,
    pub dependencies: DependencyChanges,
}

/// Parsed manifests kept by blob id: a manifest read as a commit's new side is usually the
/// next change's old side.
const MANIFEST_CACHE: usize = 256;

/// Turns commits into [`CommitRecord`]s, reusing diff buffers from one commit to the next.
pub struct Extractor<'r> {
    repo: &'r gix::Repository,
    /// Blob reads, through a delta base cache like git's.
    objects: PackedObjects<'r>,
    options: ExtractOptions,
    resources: gix::diff::blob::Platform,
    mailmap: Option<gix::mailmap::Snapshot>,
    line_diff: LineDiff,
    tree_diff: TreeDiff,
    /// [`Extractor::binary_by_attributes`] of each path seen.
    attributes: std::collections::HashMap<BString, Option<bool>>,
    /// The dependency names of manifest blobs already parsed (`None`: unreadable), by blob and
    /// kind; at most [`MANIFEST_CACHE`], then emptied.
    manifests:
        std::collections::HashMap<(ObjectId, Manifest), Option<std::collections::BTreeSet<String>>>,
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
            tree_diff: TreeDiff::default(),
            attributes: std::collections::HashMap::new(),
            manifests: std::collections::HashMap::new(),
        })
    }

    /// The record of commit `id`.
    pub fn commit(&mut self, id: ObjectId) -> Result<CommitRecord, ExtractError> {
        self.extract(id).map(|extracted| extracted.record)
    }

    /// The record of commit `id` and the changes to its dependency manifests.
    pub fn extract(&mut self, id: ObjectId) -> Result<Extracted, ExtractError> {
        let read = |source| ExtractError::ReadCommit { id, source };
        let commit = self.find_commit(id).map_err(read)?;
        let parents: Vec<ObjectId> = commit.parent_ids().map(|parent| parent.detach()).collect();
        // git log re-encodes a message (and the names) from the commit's `encoding` header to
        // UTF-8; without one the bytes are taken as UTF-8, invalid sequences as U+FFFD.
        let encoding = commit
            .decode()
            .ok()
            .and_then(|decoded| decoded.encoding.map(|e| e.to_owned()));
        let encoding = encoding.as_ref().map(|e| e.as_bytes());
        let author = self
            .person(commit.author().map_err(read)?, encoding)
            .map_err(read)?;
        let committer = self
            .person(commit.committer().map_err(read)?, encoding)
            .map_err(read)?;
        let message = decode_text(commit.message_raw_sloppy(), encoding);

        let base = match parents.as_slice() {
            [] => Some(None),
            [first] => Some(Some(*first)),
            [first, ..] if self.options.first_parent_merge_diffs => Some(Some(*first)),
            _ => None,
        };
        let (files, renames, dependencies) = match base {
            Some(base) => self.diff(id, &commit, base)?,
            None => Default::default(),
        };
        Ok(Extracted {
            record: CommitRecord {
                id: id.to_string(),
                parents: parents.iter().map(ToString::to_string).collect(),
                author,
                committer,
                message,
                files,
                renames,
            },
            dependencies,
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

    fn person(
        &self,
        signature: gix::actor::SignatureRef<'_>,
        encoding: Option<&[u8]>,
    ) -> Result<Person, gix::Error> {
        let signature = signature.trim();
        let time = signature.time()?;
        let name = decode_text(signature.name, encoding);
        let email = decode_text(signature.email, encoding);
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

    /// Files changed from `base` (the empty tree if `None`) to `commit`, in git's order, the
    /// renames, and what the changed manifests changed in the dependencies.
    fn diff(
        &mut self,
        id: ObjectId,
        commit: &gix::Commit<'_>,
        base: Option<ObjectId>,
    ) -> Result<(Vec<FileStat>, Vec<Rename>, DependencyChanges), ExtractError> {
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
        let old_tree = treediff::read(&self.objects, old_tree).map_err(diff_err)?;
        let new_tree = treediff::read(&self.objects, Some(new_tree)).map_err(diff_err)?;

        let hash = self.repo.object_hash();
        let mut pairs = Vec::new();
        let mut renames = Vec::new();
        let mut tracker = self
            .options
            .renames
            .then(|| Tracker::new(gix::diff::Rewrites::default()));
        self.tree_diff
            .changes(&self.objects, hash, &old_tree, &new_tree, |change, path| {
                let change = match tracker.as_mut() {
                    Some(tracker) => tracker.try_push_change(change, path),
                    None => Some(change),
                };
                pairs.extend(change.and_then(|change| pair_of(change, path)));
            })
            .map_err(diff_err)?;
        if let Some(tracker) = tracker.as_mut() {
            tracker
                .emit(
                    |destination, source| {
                        match source {
                            None => pairs.extend(pair_of(destination.change, destination.location)),
                            Some(source) => {
                                rewrite(&mut pairs, &mut renames, &destination, &source);
                            }
                        }
                        std::ops::ControlFlow::Continue(())
                    },
                    &mut self.resources,
                    &self.objects,
                    // Only called to track copies, which are not asked for.
                    |_| Ok::<_, std::convert::Infallible>(()),
                )
                .map_err(diff_err)?;
        }
        self.resources.clear_resource_cache_keep_allocation();

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
        let mut dependencies = DependencyChanges::default();
        // Only pairs whose file name is a manifest's pay: one compare of the name's first byte
        // for most paths, and the blobs (just read for the line counts, so in the object
        // cache) parsed once per blob id.
        for pair in pairs
            .iter()
            .filter(|pair| manifests::is_manifest_name(pair.path.as_ref()))
        {
            let path = pair.path.to_str_lossy();
            let Some(manifest) = manifests::manifest_of(&path) else {
                continue;
            };
            self.parse_manifest(manifest, pair.old)
                .and_then(|()| self.parse_manifest(manifest, pair.new))
                .map_err(|source| ExtractError::DiffBlobs {
                    id,
                    path: path.clone().into_owned(),
                    source,
                })?;
            let side = |side: Option<(EntryMode, ObjectId)>| match side {
                Some((mode, blob)) if mode.is_blob() => manifests::Side::of(
                    self.manifests
                        .get(&(blob, manifest))
                        .and_then(Option::as_ref),
                ),
                Some(_) => manifests::Side::Unknown,
                None => manifests::Side::Absent,
            };
            dependencies.extend(DependencyChanges::between(
                &path,
                side(pair.old),
                side(pair.new),
            ));
        }
        Ok((files, renames, dependencies))
    }

    /// Parses one side of a manifest's change into [`Extractor::manifests`], unless known.
    fn parse_manifest(
        &mut self,
        manifest: Manifest,
        side: Option<(EntryMode, ObjectId)>,
    ) -> Result<(), gix::Error> {
        let Some((_, blob)) = side.filter(|(mode, _)| mode.is_blob()) else {
            return Ok(());
        };
        if self.manifests.contains_key(&(blob, manifest)) {
            return Ok(());
        }
        let (_, data) = self
            .objects
            .object(&blob)?
            .ok_or_else(|| missing("a blob is missing"))?;
        // A manifest is text; one with a NUL is something else, and unknown.
        let names = (!data.contains(&0))
            .then(|| manifests::parse(manifest, &String::from_utf8_lossy(&data)))
            .flatten();
        if self.manifests.len() >= MANIFEST_CACHE {
            self.manifests.clear();
        }
        self.manifests.insert((blob, manifest), names);
        Ok(())
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

        // What gix's diff pipeline makes of each side ("as stored in git", no worktree): the
        // attributes of the path, and the size for `core.bigFileThreshold`. The contents are
        // decoded once, into the object cache, and diffed from there.
        let by_attributes = self.binary_by_attributes(pair.path.as_ref())?;
        let threshold = self.resources.filter.options.large_file_threshold_bytes;
        let mut classes = [Class::Missing; 2];
        let mut texts = [None, None];
        for ((side, class), text) in [pair.old, pair.new]
            .into_iter()
            .zip(&mut classes)
            .zip(&mut texts)
        {
            let Some((_, id)) = side else { continue };
            let (_, data) = self
                .objects
                .object(&id)?
                .ok_or_else(|| missing("a blob is missing"))?;
            let binary =
                by_attributes.unwrap_or_else(|| threshold > 0 && data.len() as u64 > threshold);
            *class = if binary { Class::Binary } else { Class::Text };
            *text = Some(data);
        }
        Ok(self.line_diff.numstat(
            side_of(classes[0], texts[0].as_deref()),
            side_of(classes[1], texts[1].as_deref()),
            same_contents,
        ))
    }

    /// Whether the `.gitattributes` of `path` make it binary (`Some(true)`: `-diff`, `binary`,
    /// a diff driver with `binary = true`), text whatever its size (`Some(false)`), or leave it
    /// to `core.bigFileThreshold` (`None`).
    ///
    /// gix's diff pipeline decides this for every blob it prepares, walking its attribute stack
    /// to the path each time (about a twentieth of the extraction's CPU time). The attributes
    /// are those of `HEAD` for the whole run, so each path is asked once: the pipeline itself
    /// answers, for a stand-in blob of no bytes (binary only by attributes) and one just over
    /// the threshold (binary unless the attributes say text).
    fn binary_by_attributes(&mut self, path: &BStr) -> Result<Option<bool>, gix::Error> {
        if let Some(&known) = self.attributes.get(path) {
            return Ok(known);
        }
        let threshold = self.resources.filter.options.large_file_threshold_bytes;
        let stand_in = ObjectId::empty_blob(self.repo.object_hash());
        let mode = self.resources.filter_mode;
        let mut buffer = Vec::new();
        let mut binary_at = |size: u64| -> Result<bool, gix::Error> {
            let entry = self
                .resources
                .attr_stack
                .at_entry(path, None, &self.objects)
                .or_raise(|| gix::error::message("the attributes of a path could not be read"))?;
            let outcome = self.resources.filter.convert_to_diffable(
                &stand_in,
                EntryKind::Blob,
                path,
                ResourceKind::OldOrSource,
                &mut |_, out| {
                    let _ = entry.matching_attributes(out);
                },
                &StandIn { size },
                mode,
                &mut buffer,
            )?;
            Ok(matches!(
                outcome.data,
                Some(gix::diff::blob::pipeline::Data::Binary { .. })
            ))
        };
        let known = if binary_at(0)? {
            Some(true)
        } else if threshold > 0 && !binary_at(threshold + 1)? {
            Some(false)
        } else {
            None
        };
        self.attributes.insert(path.to_owned(), known);
        Ok(known)
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

/// The file pair of a change the rename tracker did not pair up (or that it never saw).
/// Directories are dropped: git lists files only.
fn pair_of(change: Change, path: &BStr) -> Option<FilePair> {
    let file = |mode: EntryMode, id: ObjectId| (!mode.is_tree()).then_some((mode, id));
    let (old, new) = match change {
        Change::Addition {
            entry_mode, oid, ..
        } => (None, file(entry_mode, oid)),
        Change::Deletion {
            entry_mode, oid, ..
        } => (file(entry_mode, oid), None),
        Change::Modification {
            previous_entry_mode,
            previous_oid,
            entry_mode,
            oid,
        } => {
            // git canonicalises modes before it compares (`canon_mode`: any regular
            // non-executable file is 100644), so early histories' 100664 → 100644 with the
            // same blob is no change to git; gix compares the raw modes.
            if previous_oid == oid && previous_entry_mode.kind() == entry_mode.kind() {
                return None;
            }
            (
                file(previous_entry_mode, previous_oid),
                file(entry_mode, oid),
            )
        }
    };
    (old.is_some() || new.is_some()).then(|| FilePair {
        path: path.to_owned(),
        old,
        new,
    })
}

/// A rename (or copy) the tracker found: recorded in `renames`, and in `pairs` as a deletion
/// (not for a copy) and an addition, like `--no-renames`.
fn rewrite(
    pairs: &mut Vec<FilePair>,
    renames: &mut Vec<Rename>,
    destination: &Destination<'_, Change>,
    source: &Source<'_, Change>,
) {
    if source.kind == SourceKind::Rename {
        pairs.extend(pair_of(
            Change::Deletion {
                entry_mode: source.entry_mode,
                oid: source.id,
                relation: None,
            },
            source.location,
        ));
    }
    let similarity = source
        .diff
        .map_or(100.0, |stats| stats.similarity * 100.0)
        .round()
        .clamp(0.0, 100.0) as u8;
    renames.push(Rename {
        from: source.location.to_str_lossy().into_owned(),
        to: destination.location.to_str_lossy().into_owned(),
        similarity,
    });
    let (id, entry_mode) = destination.change.oid_and_entry_mode();
    pairs.extend(pair_of(
        Change::Addition {
            entry_mode,
            oid: id.to_owned(),
            relation: None,
        },
        destination.location,
    ));
}

fn side_of(class: Class, text: Option<&Vec<u8>>) -> Side<'_> {
    match (class, text) {
        (Class::Text, Some(text)) => Side::Data(text),
        (Class::Binary, _) => Side::Binary,
        _ => Side::Missing,
    }
}

/// What gix's diff pipeline makes of a side.
#[derive(Clone, Copy)]
enum Class {
    Missing,
    Text,
    /// By attributes or size.
    Binary,
}

/// The one blob [`Extractor::binary_by_attributes`] shows gix's diff pipeline: `size` bytes
/// long by its header, with no contents to read (the pipeline only reads them to look for a
/// NUL, which [`numstat`] does itself).
struct StandIn {
    size: u64,
}

impl gix::objs::Find for StandIn {
    fn try_find<'a>(
        &self,
        id: &gix::oid,
        buffer: &'a mut Vec<u8>,
    ) -> gix::Result<Option<gix::objs::Data<'a>>> {
        buffer.clear();
        Ok(Some(gix::objs::Data {
            kind: gix::objs::Kind::Blob,
            object_hash: id.kind(),
            data: buffer,
        }))
    }
}

impl gix::objs::FindHeader for StandIn {
    fn try_header(&self, _: &gix::oid) -> gix::Result<Option<gix::objs::Header>> {
        Ok(Some(gix::objs::Header {
            kind: gix::objs::Kind::Blob,
            size: self.size,
        }))
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

/// Text of a commit in the encoding its header names (`None`: UTF-8), as UTF-8: what git log
/// prints. Bytes that are not valid in the encoding become U+FFFD; an encoding
/// `encoding_rs` does not know is read as UTF-8 (git would leave the bytes as they are).
pub fn decode_text(bytes: &[u8], encoding: Option<&[u8]>) -> String {
    let encoding = encoding
        .and_then(encoding_rs::Encoding::for_label_no_replacement)
        .filter(|e| *e != encoding_rs::UTF_8);
    match encoding {
        // Labels such as `ISO-8859-1` and `latin1` are windows-1252 to encoding_rs, as to
        // browsers: the same characters, plus printable ones where latin-1 has C1 controls.
        Some(encoding) => encoding.decode_without_bom_handling(bytes).0.into_owned(),
        None => bytes.to_str_lossy().into_owned(),
    }
}

/// RFC 3339 in the recorded offset (git's `%aI`), or git's raw `@<seconds> <+hhmm>` for times
/// RFC 3339 cannot express ([`gitview_core::time::format_recorded`]).
pub fn format_time(time: gix::date::Time) -> String {
    gitview_core::time::format_recorded(time.seconds, time.offset)
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

    #[test]
    fn text_is_decoded_from_the_commits_encoding() {
        let latin1 = b"Caf\xe9 \x80";
        assert_eq!(decode_text(latin1, Some(b"ISO-8859-1")), "Café €");
        assert_eq!(decode_text(latin1, Some(b"latin1")), "Café €");
        assert_eq!(
            decode_text(b"\x83n\x83\x8d\x81[", Some(b"Shift_JIS")),
            "ハロー"
        );
        // UTF-8, no header, or a label nobody knows: UTF-8 with U+FFFD for invalid bytes.
        for encoding in [None, Some(&b"UTF-8"[..]), Some(b"x-unknown")] {
            assert_eq!(decode_text(latin1, encoding), "Caf\u{fffd} \u{fffd}");
            assert_eq!(decode_text("Café".as_bytes(), encoding), "Café");
        }
    }
}
