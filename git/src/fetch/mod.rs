//! The fetch stage: bring a remote repository's history into a local bare repository with gix,
//! over git://, ssh:// (the `ssh` program) or http(s) (reqwest with rustls on ring).
//!
//! [`fetch`] creates a bare repository at [`FetchRequest::dest`] — or fetches into the one
//! already there, transferring only new objects (negotiation offers every local ref) — and
//! resolves the wanted ref ([`FetchRequest::git_ref`]: a branch, a tag, a full commit id, or
//! the remote's `HEAD`) to a commit. [`fetch_cached`] does the same into a cache directory keyed
//! by the URL, for `gitview-runner analyze <url>` on a laptop.
//!
//! # The local layout
//!
//! The remote is anonymous (no `remote.*` section is written: the URL stays out of the git
//! config). A branch is stored as `refs/heads/<branch>` and `HEAD` points to it; a tag as
//! `refs/tags/<tag>`, a commit id as nothing, and `HEAD` is then detached at the commit. So
//! `HEAD` always names what was fetched, and the runner's extraction can read the clone like any
//! repository. A full fetch also fetches every tag (`refs/tags/*`) for release detection.
//!
//! # History: full, or shallow down to `since`
//!
//! A full run needs the whole history: `git log --numstat` diffs a root commit against the
//! empty tree, so a shallow boundary would turn the boundary commits into fake roots and
//! falsify their counts. [`History::Full`] therefore fetches everything, and unshallows an
//! existing shallow repository.
//!
//! A range with a known excluded end ([`History::Since`]) needs only the commits after `since`
//! — plus the parents the walk and the diffs of those commits read. gix has no partial clone
//! (blob filters), and the protocol's `deepen-not` only takes ref names, while `since` is a
//! commit id. We use **iterative deepening**: a fresh clone starts at depth
//! [`INITIAL_DEPTH`]; after each fetch the `git log since..tip` walk ([`crate::walk`], the one
//! the runner's `extract::plan` uses) runs over the local graph and fails the moment it reads a
//! commit at the shallow boundary (whose parents are absent) or a missing commit; then the
//! depth is doubled (`deepen`) and the walk tried again, up to [`MAX_DEEPEN_ROUNDS`], after
//! which the rest of the history is fetched at once. A walk that never touches the boundary
//! visits exactly the commits it visits in the full repository, and every parent it reads
//! has its tree, so the range and its first-parent diffs equal those of a full clone
//! (`tests/fetch.rs` checks the records). A typical incremental run — `since` a few dozen
//! commits below the tip — costs one round trip. Fetching into an existing repository that
//! already holds `since` needs no deepening at all.
//!
//! # Credentials
//!
//! [`Credentials`] reach gix only through the connection's credential hook (http(s) basic
//! auth) or as file paths on the `ssh` command line (`-i key`, `UserKnownHostsFile`); they are
//! never written to the URL, the git config, refs, reflogs or logs. gix refuses to send basic
//! auth over plain `http://`, so authenticated http needs TLS; [`FetchRequest::extra_root_certificates`]
//! adds a private CA (a self-hosted server's, or a test's).
//!
//! With a mounted ssh key, `core.sshCommand` (in memory only) runs `ssh -i <key> -E <log>`
//! with `IdentitiesOnly`, `BatchMode` and strict host key checking against the mounted
//! `known_hosts`. Without a key, ssh:// uses the machine's `ssh` as it is configured (the
//! laptop case). `ssh` writes its diagnostics to a log inside the repository for the length
//! of a round, so that a refused key or host key is reported as an authentication failure
//! (gix sees only an early end of stream); the log is removed after each round.
//!
//! Not covered: a stalled git:// or ssh:// connection has no read timeout (http(s) has
//! reqwest's 30 s per read), so it hangs until the pod's deadline.
//!
//! # Errors
//!
//! [`FetchError::is_invalid_input`] separates what no retry can fix — repository not found,
//! authentication refused, unknown ref, `since` not in the history — from transient failures:
//! connection refused, timeouts, 5xx, interrupted transfers. Messages name the URL with any
//! userinfo replaced by `***`.
//!
//! # Progress
//!
//! gix's progress (objects and bytes received, objects indexed) is logged as `fetch progress`
//! events about once a [`FetchRequest::progress_interval`], and the outcome as one
//! `fetch finished` event.

mod cache;
mod credentials;
mod error;
mod progress;
mod route;
mod shallow;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gitview_core::remote::redact;
use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::protocol::handshake::Ref;
use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Status, Tags};

pub use cache::{cache_path, default_cache_root, fetch_cached};
pub use credentials::{Credentials, DEFAULT_TOKEN_USERNAME, Secret};
pub use error::FetchError;
pub use progress::{FetchProgress, ProgressHook};

use error::{is_unknown_object, reclassify_ssh};
use route::{Route, SshTarget};
use shallow::range_is_complete;

/// Depth of the first fetch of a fresh shallow clone.
pub const INITIAL_DEPTH: u32 = 64;
/// Rounds of doubling the depth before the rest of the history is fetched at once.
pub const MAX_DEEPEN_ROUNDS: u32 = 8;
/// Where `ssh` writes its diagnostics, inside the repository, during a round (removed after).
const SSH_LOG: &str = "gitview-ssh.log";
/// How often progress is logged by default.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// How much history a fetch must bring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum History {
    /// Everything reachable from the ref: a full run.
    Full,
    /// Enough for `git log since..<ref>` and its diffs: `since`, the excluded end of the
    /// range, is a full commit id (the last analyzed commit, or a resolved `--since`).
    Since(ObjectId),
}

impl History {
    /// The history a range with excluded end `since` needs: shallow when `since` is a full
    /// commit id (an incremental run's last analyzed commit), else everything — a branch or
    /// tag name cannot be located before it is fetched.
    pub fn for_since(since: Option<&str>) -> Self {
        since
            .filter(|rev| rev.len() == 40)
            .and_then(|rev| ObjectId::from_hex(rev.as_bytes()).ok())
            .map_or(Self::Full, Self::Since)
    }
}

/// What to fetch, from where, into where.
#[derive(Clone, Debug)]
pub struct FetchRequest {
    /// The repository URL (https, http, ssh or git; no password in it).
    pub url: String,
    /// A branch or tag (short or full ref name), a full commit id, or `None` for the remote's
    /// `HEAD`.
    pub git_ref: Option<String>,
    /// How much history is needed.
    pub history: History,
    /// The bare repository to create, or to fetch into if one is there.
    pub dest: PathBuf,
    /// How to authenticate.
    pub credentials: Credentials,
    /// PEM files of extra CA certificates trusted for https, besides the system's.
    pub extra_root_certificates: Vec<PathBuf>,
    /// How often to log progress.
    pub progress_interval: Duration,
    /// Sees every progress sample (on the sampler thread), besides the log.
    pub on_progress: Option<ProgressHook>,
    /// The egress policy every connection to the remote is checked against (see
    /// [`gitview_egress`]), or `None` on a laptop, where the user fetches on their own behalf
    /// and `ssh` follows their own configuration.
    pub egress: Option<gitview_egress::Policy>,
}

impl FetchRequest {
    /// A request for the whole history of `url`'s `HEAD` into `dest`, without credentials.
    pub fn new(url: impl Into<String>, dest: impl Into<PathBuf>) -> Self {
        Self {
            url: url.into(),
            git_ref: None,
            history: History::Full,
            dest: dest.into(),
            credentials: Credentials::none(),
            extra_root_certificates: Vec::new(),
            progress_interval: DEFAULT_PROGRESS_INTERVAL,
            on_progress: None,
            egress: None,
        }
    }
}

/// What a fetch produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The bare repository (open it with the runner's `extract::open`).
    pub git_dir: PathBuf,
    /// The commit the ref resolved to (annotated tags peeled); `HEAD` points at it.
    pub commit: ObjectId,
    /// The remote's full ref name (`refs/heads/main`, `refs/tags/v1`), or `None` when a commit
    /// id was asked for.
    pub ref_name: Option<String>,
    /// True if the repository lacks part of the history (see [`History::Since`]).
    pub shallow: bool,
    /// True if the repository was created by this call rather than fetched into.
    pub created: bool,
    /// Objects in the packs received over all rounds (0 when nothing new was needed). A thin
    /// pack is completed with the local delta bases it refers to, and those count too.
    pub objects_received: u64,
    /// Pack bytes received over all rounds.
    pub bytes_received: u64,
    /// Fetch round trips (more than one when deepening).
    pub rounds: u32,
}

/// The ref asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Wanted {
    /// The remote's `HEAD`.
    Head,
    /// A full ref name (`refs/…`).
    Full(String),
    /// A short name: `refs/heads/<name>`, else `refs/tags/<name>`.
    Short(String),
    /// A full commit id.
    Commit(ObjectId),
}

impl Wanted {
    fn parse(git_ref: Option<&str>) -> Result<Self, FetchError> {
        let Some(name) = git_ref else {
            return Ok(Self::Head);
        };
        let invalid = |reason| FetchError::InvalidRef {
            git_ref: name.to_owned(),
            reason,
        };
        if name == "HEAD" {
            return Ok(Self::Head);
        }
        if name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return ObjectId::from_hex(name.as_bytes())
                .map(Self::Commit)
                .map_err(|_| invalid("not a commit id"));
        }
        if name.contains(['~', '^', ':', '*', '?', '[', '\\', ' '])
            || name.contains("..")
            || name.contains("@{")
        {
            return Err(invalid(
                "a fetch takes a branch, a tag or a full commit id, not a revision expression",
            ));
        }
        gix::refs::PartialName::try_from(name).map_err(|_| invalid("not a valid ref name"))?;
        if name.starts_with("refs/") {
            Ok(Self::Full(name.to_owned()))
        } else {
            Ok(Self::Short(name.to_owned()))
        }
    }

    /// Fetch refspecs, most preferred first.
    fn refspecs(&self) -> Vec<String> {
        match self {
            Self::Head => vec!["HEAD".to_owned()],
            Self::Full(name) => vec![format!("+{name}:{name}")],
            Self::Short(name) => vec![
                format!("+refs/heads/{name}:refs/heads/{name}"),
                format!("+refs/tags/{name}:refs/tags/{name}"),
            ],
            Self::Commit(id) => vec![id.to_string()],
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Head => "HEAD".to_owned(),
            Self::Full(name) | Self::Short(name) => name.clone(),
            Self::Commit(id) => id.to_string(),
        }
    }
}

/// The remote ref the wanted one resolved to in the ref map.
#[derive(Clone, Debug)]
struct Target {
    /// The remote's full ref name (the symbolic target for `HEAD`), if a ref.
    ref_name: Option<String>,
    /// What the ref points to (a tag object for annotated tags).
    object: ObjectId,
}

/// Fetches `request.url` into `request.dest`: see the module docs.
pub fn fetch(request: &FetchRequest) -> Result<Fetched, FetchError> {
    crate::tls::install_crypto_provider();
    let url = redact(&request.url);
    let wanted = Wanted::parse(request.git_ref.as_deref())?;
    let certificates = read_certificates(&request.extra_root_certificates)?;
    // Resolved and checked once, before anything connects; every round dials what was checked.
    let route = Route::of(&request.url, &url, request.egress)?;
    let (repo, created) = open_or_init(&request.dest, &request.credentials, route.ssh_target())?;
    tracing::info!(
        url = %url,
        git_ref = %wanted.describe(),
        history = ?request.history,
        dest = %request.dest.display(),
        credentials = request.credentials.kind(),
        incremental = !created,
        "fetch started"
    );
    let started = Instant::now();
    let reporter = progress::Reporter::start(
        url.clone(),
        request.progress_interval,
        request.on_progress.clone(),
    );
    let local = |source| FetchError::Local {
        path: request.dest.clone(),
        source,
    };

    let mut shallow = match request.history {
        History::Full if repo.is_shallow().map_err(local)? => Shallow::undo(),
        History::Full => Shallow::NoChange,
        History::Since(_) if created => Shallow::DepthAtRemote(
            std::num::NonZeroU32::new(INITIAL_DEPTH).expect("a positive constant"),
        ),
        History::Since(_) => Shallow::NoChange,
    };
    let mut depth = INITIAL_DEPTH;
    let mut rounds = 0;
    let mut objects_received = 0;
    let mut bytes_received = 0;
    let (target, commit) = loop {
        rounds += 1;
        // The path the ssh command was given in `open_or_init`.
        let ssh_log = request.dest.join(SSH_LOG);
        let _ = std::fs::remove_file(&ssh_log);
        let round = fetch_round(
            &repo,
            request,
            &url,
            &wanted,
            &certificates,
            &route,
            shallow.clone(),
            &reporter,
        );
        let ssh_diagnostics = std::fs::read_to_string(&ssh_log).unwrap_or_default();
        let _ = std::fs::remove_file(&ssh_log);
        let round = round.map_err(|err| reclassify_ssh(err, &ssh_diagnostics))?;
        objects_received += round.objects;
        bytes_received += round.bytes;
        let commit = peel_to_commit(&repo, &url, &wanted, round.target.object)?;
        let History::Since(since) = request.history else {
            break (round.target, commit);
        };
        match range_is_complete(&repo, since, commit).map_err(local)? {
            true => break (round.target, commit),
            false if !repo.is_shallow().map_err(local)? => {
                return Err(FetchError::SinceNotInHistory {
                    url,
                    since,
                    git_ref: wanted.describe(),
                });
            }
            false if rounds > MAX_DEEPEN_ROUNDS => shallow = Shallow::undo(),
            false => {
                shallow = Shallow::Deepen(depth);
                depth = depth.saturating_mul(2);
            }
        }
        tracing::info!(
            url = %url,
            round = rounds,
            since = %since,
            next = ?shallow,
            "since not reached yet: deepening"
        );
    };
    drop(reporter);
    point_head(&repo, &target, commit).map_err(local)?;
    let fetched = Fetched {
        git_dir: repo.path().to_owned(),
        commit,
        ref_name: target.ref_name,
        shallow: repo.is_shallow().map_err(local)?,
        created,
        objects_received,
        bytes_received,
        rounds,
    };
    tracing::info!(
        url = %url,
        commit = %fetched.commit,
        ref_name = fetched.ref_name.as_deref().unwrap_or(""),
        shallow = fetched.shallow,
        objects = fetched.objects_received,
        bytes = fetched.bytes_received,
        rounds,
        seconds = started.elapsed().as_secs_f64(),
        "fetch finished"
    );
    Ok(fetched)
}

/// A remote's branches and the commits they point at, like `git ls-remote --heads URL`:
/// nothing is fetched. gix talks to remotes through a repository, so an empty bare one is kept
/// in `scratch` (created on first use, reused after; it never receives objects). Branch names
/// come without `refs/heads/`, sorted. Every connection is checked against `egress` (the
/// operator polls on tenants' behalf), as in [`fetch`].
pub fn list_branches(
    url: &str,
    credentials: &Credentials,
    scratch: &Path,
    egress: Option<gitview_egress::Policy>,
) -> Result<Vec<(String, ObjectId)>, FetchError> {
    crate::tls::install_crypto_provider();
    let shown = redact(url);
    let route = Route::of(url, &shown, egress)?;
    let (repo, _) = open_or_init(scratch, credentials, route.ssh_target())?;
    let ssh_log = scratch.join(SSH_LOG);
    let listed = list_remote(&repo, url, &shown, credentials, &route);
    // `ssh` says in its log why it failed: a refused key or host key is no transient failure.
    let ssh_diagnostics = std::fs::read_to_string(&ssh_log).unwrap_or_default();
    let _ = std::fs::remove_file(&ssh_log);
    listed.map_err(|err| reclassify_ssh(err, &ssh_diagnostics))
}

fn list_remote(
    repo: &gix::Repository,
    url: &str,
    shown: &str,
    credentials: &Credentials,
    route: &Route,
) -> Result<Vec<(String, ObjectId)>, FetchError> {
    let shown = shown.to_owned();
    let remote = repo
        .remote_at(url)
        .and_then(|remote| {
            remote.with_refspecs(["+refs/heads/*:refs/remotes/origin/*"], Direction::Fetch)
        })
        .map_err(|source| FetchError::InvalidUrl {
            url: shown.clone(),
            source,
        })?
        .with_fetch_tags(Tags::None);
    let mut connection = route
        .connect(&remote, Direction::Fetch, &shown)?
        .with_credentials(credentials.helper());
    if let Some(guard) = route.http_guard() {
        let options =
            http_options(repo, url, &[], Some(guard)).map_err(|source| FetchError::InvalidUrl {
                url: shown.clone(),
                source,
            })?;
        connection.set_transport_options(options);
    }
    let prepared = connection
        .prepare_fetch(
            gix::progress::Discard,
            gix::remote::ref_map::Options::default(),
        )
        .map_err(|err| route.classify(err, &shown))?;
    let mut branches: Vec<(String, ObjectId)> = prepared
        .ref_map()
        .remote_refs
        .iter()
        .filter_map(|r| {
            let (name, target, peeled) = r.unpack();
            let branch = name.strip_prefix(b"refs/heads/")?.to_str().ok()?;
            Some((branch.to_owned(), peeled.or(target)?.to_owned()))
        })
        .collect();
    branches.sort();
    branches.dedup_by(|a, b| a.0 == b.0);
    Ok(branches)
}

fn read_certificates(paths: &[PathBuf]) -> Result<Vec<reqwest::Certificate>, FetchError> {
    let mut certificates = Vec::new();
    for path in paths {
        let unreadable = |source| FetchError::CertificateUnreadable {
            path: path.clone(),
            source,
        };
        let pem = std::fs::read(path).map_err(unreadable)?;
        let bundle = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|err| unreadable(std::io::Error::new(std::io::ErrorKind::InvalidData, err)))?;
        certificates.extend(bundle);
    }
    Ok(certificates)
}

/// Opens the bare repository at `dest`, or creates it. Configuration is isolated from the
/// machine's (no global or system config, no `GIT_*` variables): credential helpers, URL
/// rewrites or an `ssh` command from elsewhere must not apply. Overrides live in memory only.
/// With an `ssh` target (an ssh:// route under the egress policy), `ssh` is pointed at its
/// checked address.
fn open_or_init(
    dest: &Path,
    credentials: &Credentials,
    ssh: Option<&SshTarget>,
) -> Result<(gix::Repository, bool), FetchError> {
    let mut overrides = vec![
        // No reflogs: nothing in the repository records where or how it was fetched.
        "core.logAllRefUpdates=false".to_owned(),
    ];
    let command = credentials
        .ssh_command(&dest.join(SSH_LOG))
        .or_else(|| ssh.map(|_| "ssh".to_owned()));
    if let Some(mut command) = command {
        if let Some(target) = ssh {
            command.push_str(&target.options());
        }
        overrides.push(format!("core.sshCommand={command}"));
        overrides.push("ssh.variant=ssh".to_owned());
    }
    let options = gix::open::Options::isolated().config_overrides(overrides);
    let failed = |source| FetchError::Destination {
        path: dest.to_owned(),
        source,
    };
    let exists = std::fs::read_dir(dest)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if exists {
        let repo = gix::open_opts(dest, options).map_err(failed)?;
        return Ok((repo, false));
    }
    std::fs::create_dir_all(dest).map_err(|err| failed(gix::Error::from_error(err)))?;
    let repo = gix::ThreadSafeRepository::init_opts(
        dest,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        options,
    )
    .map_err(failed)?
    .to_thread_local();
    Ok((repo, true))
}

/// What one fetch round brought.
struct Round {
    target: Target,
    objects: u64,
    bytes: u64,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one round's inputs, all borrowed from `fetch`'s locals; a struct would only rename them"
)]
fn fetch_round(
    repo: &gix::Repository,
    request: &FetchRequest,
    url: &str,
    wanted: &Wanted,
    certificates: &[reqwest::Certificate],
    route: &Route,
    shallow: Shallow,
    reporter: &progress::Reporter,
) -> Result<Round, FetchError> {
    let invalid_url = |source| FetchError::InvalidUrl {
        url: url.to_owned(),
        source,
    };
    let mut refspecs = wanted.refspecs();
    let tags = match request.history {
        History::Full => {
            refspecs.push("+refs/tags/*:refs/tags/*".to_owned());
            Tags::None
        }
        // Tags pointing into the fetched commits only: a tag refspec would fetch each tag's
        // history to the same depth.
        History::Since(_) => Tags::Included,
    };
    let remote = repo
        .remote_at(request.url.as_str())
        .and_then(|remote| {
            remote.with_refspecs(refspecs.iter().map(String::as_str), Direction::Fetch)
        })
        .map_err(invalid_url)?
        .with_fetch_tags(tags);
    let mut connection = route
        .connect(&remote, Direction::Fetch, url)?
        .with_credentials(request.credentials.helper());
    if !certificates.is_empty() || route.http_guard().is_some() {
        let options = http_options(repo, &request.url, certificates, route.http_guard())
            .map_err(invalid_url)?;
        connection.set_transport_options(options);
    }
    let prepared = connection
        .prepare_fetch(
            reporter.item("refs"),
            gix::remote::ref_map::Options::default(),
        )
        .map_err(|err| route.classify(err, url))?;
    let target = find_target(prepared.ref_map(), wanted, url)?;
    let interrupt = AtomicBool::new(false);
    let outcome = prepared
        .with_shallow(shallow)
        .receive(reporter.item("fetch"), &interrupt)
        .map_err(|err| match wanted {
            // The server refuses a want it does not have ("not our ref").
            Wanted::Commit(_) if is_unknown_object(&err) => FetchError::UnknownRef {
                url: url.to_owned(),
                git_ref: wanted.describe(),
            },
            _ => route.classify(err, url),
        })?;
    let (objects, bytes) = match &outcome.status {
        Status::Change {
            write_pack_bundle, ..
        } => {
            // The refs point into the new pack now: the `.keep` that protected it from a
            // concurrent gc would otherwise keep it from every later repack.
            if let Some(keep) = &write_pack_bundle.keep_path {
                let _ = std::fs::remove_file(keep);
            }
            (
                u64::from(write_pack_bundle.index.num_objects),
                write_pack_bundle
                    .data_path
                    .as_deref()
                    .and_then(|path| std::fs::metadata(path).ok())
                    .map_or(0, |meta| meta.len()),
            )
        }
        Status::NoPackReceived { .. } => (0, 0),
    };
    Ok(Round {
        target,
        objects,
        bytes,
    })
}

/// gix's http options for `url`, with `certificates` added to the reqwest client's roots and
/// the egress policy's hooks (`guard`) installed in it.
fn http_options(
    repo: &gix::Repository,
    url: &str,
    certificates: &[reqwest::Certificate],
    guard: Option<&gitview_egress::HttpGuard>,
) -> gix::Result<Box<dyn std::any::Any>> {
    use gix::protocol::transport::client::blocking_io::http;
    let mut options = repo
        .transport_options(url.as_bytes().as_bstr(), None)?
        .and_then(|options| options.downcast::<http::Options>().ok())
        .map(|options| *options)
        .unwrap_or_default();
    let certificates = certificates.to_vec();
    let guard = guard.cloned();
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |builder| {
            let builder = match &guard {
                Some(guard) => guard.blocking(builder),
                None => builder,
            };
            Ok(certificates.iter().cloned().fold(
                builder,
                reqwest::blocking::ClientBuilder::add_root_certificate,
            ))
        })),
        configure_request: None,
    };
    options.backend = Some(Arc::new(Mutex::new(backend)));
    Ok(Box::new(options))
}

fn find_target(
    ref_map: &gix::remote::fetch::RefMap,
    wanted: &Wanted,
    url: &str,
) -> Result<Target, FetchError> {
    let unknown = || FetchError::UnknownRef {
        url: url.to_owned(),
        git_ref: wanted.describe(),
    };
    if let Wanted::Commit(id) = wanted {
        return Ok(Target {
            ref_name: None,
            object: *id,
        });
    }
    let candidates: Vec<String> = match wanted {
        Wanted::Head => vec!["HEAD".to_owned()],
        Wanted::Full(name) => vec![name.clone()],
        Wanted::Short(name) => vec![format!("refs/heads/{name}"), format!("refs/tags/{name}")],
        Wanted::Commit(_) => Vec::new(),
    };
    for candidate in &candidates {
        let found = ref_map
            .mappings
            .iter()
            .find_map(|mapping| match &mapping.remote {
                gix::remote::fetch::refmap::Source::Ref(r) => {
                    let (name, _, _) = r.unpack();
                    (name == candidate.as_bytes()).then_some(r)
                }
                gix::remote::fetch::refmap::Source::ObjectId(_) => None,
            });
        let Some(found) = found else { continue };
        return match found {
            Ref::Symbolic {
                target,
                tag,
                object,
                ..
            } => Ok(Target {
                ref_name: Some(target.to_string()),
                object: tag.unwrap_or(*object),
            }),
            Ref::Direct {
                full_ref_name,
                object,
            } => Ok(Target {
                ref_name: Some(full_ref_name.to_string()),
                object: *object,
            }),
            Ref::Peeled {
                full_ref_name, tag, ..
            } => Ok(Target {
                ref_name: Some(full_ref_name.to_string()),
                object: *tag,
            }),
            Ref::Unborn { target, .. } => Err(FetchError::EmptyRepository {
                url: url.to_owned(),
                target: target.to_string(),
            }),
        };
    }
    Err(unknown())
}

fn peel_to_commit(
    repo: &gix::Repository,
    url: &str,
    wanted: &Wanted,
    object: ObjectId,
) -> Result<ObjectId, FetchError> {
    repo.find_object(object)
        .and_then(|object| object.peel_to_commit())
        .map(|commit| commit.id)
        .map_err(|source| FetchError::NotACommit {
            url: url.to_owned(),
            git_ref: wanted.describe(),
            source,
        })
}

/// Points `HEAD` at what was fetched: the branch (creating `refs/heads/<branch>` when it was
/// the remote's `HEAD`), else detached at the commit.
fn point_head(repo: &gix::Repository, target: &Target, commit: ObjectId) -> gix::Result<()> {
    use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
    let log = LogChange {
        mode: RefLog::AndReference,
        force_create_reflog: false,
        message: "gitview fetch".into(),
    };
    let new = match target.ref_name.as_deref() {
        Some(name) if name.starts_with("refs/heads/") => {
            repo.reference(name, commit, PreviousValue::Any, "gitview fetch")?;
            gix::refs::Target::Symbolic(name.try_into().map_err(gix::Error::from_error)?)
        }
        _ => gix::refs::Target::Object(commit),
    };
    repo.edit_reference(RefEdit {
        change: Change::Update {
            log,
            expected: PreviousValue::Any,
            new,
        },
        name: "HEAD".try_into().map_err(gix::Error::from_error)?,
        deref: false,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_into_what_can_be_fetched() {
        assert_eq!(Wanted::parse(None).expect("head"), Wanted::Head);
        assert_eq!(Wanted::parse(Some("HEAD")).expect("head"), Wanted::Head);
        assert_eq!(
            Wanted::parse(Some("main")).expect("short"),
            Wanted::Short("main".into())
        );
        assert_eq!(
            Wanted::parse(Some("refs/tags/v1")).expect("full"),
            Wanted::Full("refs/tags/v1".into())
        );
        let id = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            Wanted::parse(Some(id)).expect("commit"),
            Wanted::Commit(ObjectId::from_hex(id.as_bytes()).expect("hex"))
        );
        for bad in ["HEAD~2", "main^", "a..b", "x:y", "@{1}", "refs/heads/a b"] {
            let err = Wanted::parse(Some(bad)).expect_err(bad);
            assert!(err.is_invalid_input(), "{bad}");
        }
    }

    #[test]
    fn only_a_full_commit_id_allows_a_shallow_fetch() {
        let id = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            History::for_since(Some(id)),
            History::Since(ObjectId::from_hex(id.as_bytes()).expect("hex"))
        );
        for other in [None, Some("v1.0"), Some("0123456"), Some(&"g".repeat(40))] {
            assert_eq!(History::for_since(other), History::Full, "{other:?}");
        }
    }

    #[test]
    fn short_names_try_branches_before_tags() {
        assert_eq!(
            Wanted::Short("v1".into()).refspecs(),
            ["+refs/heads/v1:refs/heads/v1", "+refs/tags/v1:refs/tags/v1"]
        );
    }
}
