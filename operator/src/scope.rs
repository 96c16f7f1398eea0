//! Which namespaces the operator serves: every namespace (one cluster-wide watch per kind, the
//! default), or the list of `--watch-namespaces`, so that its RBAC can be Roles in those
//! namespaces instead of a ClusterRole.
//!
//! A list means one watcher per namespace and kind, and their events cannot go into one
//! reflector store as they are: every (re)list of a watcher ends with `InitDone`, which
//! replaces the *whole* store with that one namespace's objects. [`Merge`] turns the events of
//! the per-namespace watchers into those of one watcher over all of them: a single initial
//! list once every namespace has listed, then each namespace's relist as the applies and
//! deletes it amounts to.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use kube::api::Api;
use kube::core::NamespaceResourceScope;
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::warn;

/// The namespaces the operator watches and acts in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WatchScope {
    /// Every namespace: cluster-wide watches (needs a ClusterRole).
    #[default]
    All,
    /// Only these namespaces, sorted and without duplicates; never empty.
    Namespaces(Vec<String>),
}

/// Why a `--watch-namespaces` list was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error(
        "an empty namespace name in {0:?}: separate names with single commas, or leave the whole list empty for all namespaces"
    )]
    Empty(String),
    #[error(
        "{0:?} is not a namespace name: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (an RFC 1123 label)"
    )]
    NotALabel(String),
}

/// Whether `name` is an RFC 1123 label, the form of every namespace name.
fn is_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

impl WatchScope {
    /// Parses a comma-separated list of namespace names (spaces around a name are ignored).
    /// An empty list means every namespace; a list that names any namespace never does.
    pub fn parse(list: &str) -> Result<Self, ScopeError> {
        if list.trim().is_empty() {
            return Ok(Self::All);
        }
        let mut names = Vec::new();
        for name in list.split(',').map(str::trim) {
            if name.is_empty() {
                return Err(ScopeError::Empty(list.to_owned()));
            }
            if !is_label(name) {
                return Err(ScopeError::NotALabel(name.to_owned()));
            }
            names.push(name.to_owned());
        }
        names.sort();
        names.dedup();
        Ok(Self::Namespaces(names))
    }

    /// The listed namespaces; `None` for every namespace.
    pub fn namespaces(&self) -> Option<&[String]> {
        match self {
            Self::All => None,
            Self::Namespaces(names) => Some(names),
        }
    }

    /// The events of a watcher of `K` over the scope, with the default backoff and `modify`
    /// applied to every object, ready for one reflector: `cached` must read the store that
    /// reflector writes (it tells what a namespace's relist removed).
    pub fn watch<K, F>(
        &self,
        client: &Client,
        config: &watcher::Config,
        cached: Store<K>,
        modify: F,
    ) -> BoxStream<'static, WatchEvent<K>>
    where
        K: Resource<Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
        F: FnMut(&mut K) + Clone + Send + 'static,
    {
        let Some(namespaces) = self.namespaces() else {
            return watcher(Api::<K>::all(client.clone()), config.clone())
                .default_backoff()
                .modify(modify)
                .inspect(|event| warn_failed(event, None))
                .boxed();
        };
        let watchers = namespaces
            .iter()
            .enumerate()
            .map(|(index, namespace)| {
                watcher(
                    Api::<K>::namespaced(client.clone(), namespace),
                    config.clone(),
                )
                .default_backoff()
                .modify(modify.clone())
                .map(move |event| (index, event))
                .boxed()
            })
            .collect();
        merge_watchers(namespaces.to_vec(), watchers, cached)
    }
}

impl std::str::FromStr for WatchScope {
    type Err = ScopeError;
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        Self::parse(list)
    }
}

impl std::fmt::Display for WatchScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("all namespaces"),
            Self::Namespaces(names) => write!(f, "namespaces {}", names.join(", ")),
        }
    }
}

/// What a watcher stream yields.
pub type WatchEvent<K> = Result<watcher::Event<K>, watcher::Error>;

/// Logs a failed watch (a missing RoleBinding in a listed namespace shows up here); the watcher
/// retries it with backoff.
fn warn_failed<K>(event: &WatchEvent<K>, namespace: Option<&str>) {
    if let Err(err) = event {
        let kind = std::any::type_name::<K>();
        warn!(namespace = namespace.unwrap_or("*"), error = %err, kind, "watch failed; retrying");
    }
}

/// Merges the tagged events of one watcher per namespace (`watchers` yield the index of their
/// namespace in `namespaces`) into the events of one watcher over all of them.
pub fn merge_watchers<K>(
    namespaces: Vec<String>,
    watchers: Vec<BoxStream<'static, (usize, WatchEvent<K>)>>,
    cached: Store<K>,
) -> BoxStream<'static, WatchEvent<K>>
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let mut merge = Merge::new(namespaces.len());
    stream::select_all(watchers)
        .flat_map(move |(index, event)| {
            let namespace = namespaces.get(index).map(String::as_str);
            warn_failed(&event, namespace);
            let merged: Vec<WatchEvent<K>> = match event {
                Ok(event) => {
                    let in_namespace =
                        || cached.state_filter(|o| o.namespace().as_deref() == namespace);
                    merge
                        .push(index, event, in_namespace)
                        .into_iter()
                        .map(Ok)
                        .collect()
                }
                Err(err) => vec![Err(err)],
            };
            stream::iter(merged)
        })
        .boxed()
}

/// The state of merging per-namespace watchers into one (pure: see [`Merge::push`]).
#[derive(Debug)]
pub struct Merge<K> {
    phase: Phase<K>,
}

#[derive(Debug)]
enum Phase<K> {
    /// Not every namespace has listed yet: nothing is emitted; each namespace's objects so far
    /// (by name) and whether its list is complete.
    Initial(Vec<(bool, BTreeMap<String, K>)>),
    /// Every namespace has listed once: events pass through, except the relists in progress,
    /// buffered until they complete.
    Live(Vec<Option<BTreeMap<String, K>>>),
}

impl<K: Resource + Clone> Merge<K> {
    /// The merge of `namespaces` watchers.
    pub fn new(namespaces: usize) -> Self {
        Self {
            phase: Phase::Initial((0..namespaces).map(|_| (false, BTreeMap::new())).collect()),
        }
    }

    /// The merged events for one event of the watcher of namespace `index`. `cached` returns
    /// what the merged store holds in that namespace; it is called only when a relist
    /// completes, to delete what the relist no longer has.
    pub fn push(
        &mut self,
        index: usize,
        event: watcher::Event<K>,
        cached: impl FnOnce() -> Vec<Arc<K>>,
    ) -> Vec<watcher::Event<K>> {
        use watcher::Event::{Apply, Delete, Init, InitApply, InitDone};
        match &mut self.phase {
            Phase::Initial(namespaces) => {
                let Some((listed, objects)) = namespaces.get_mut(index) else {
                    return vec![];
                };
                match event {
                    Init => {
                        *listed = false;
                        objects.clear();
                    }
                    InitApply(object) | Apply(object) => {
                        objects.insert(object.name_any(), object);
                    }
                    Delete(object) => {
                        objects.remove(&object.name_any());
                    }
                    InitDone => *listed = true,
                }
                if !namespaces.iter().all(|(listed, _)| *listed) {
                    return vec![];
                }
                let lists = std::mem::take(namespaces);
                self.phase = Phase::Live((0..lists.len()).map(|_| None).collect());
                std::iter::once(Init)
                    .chain(
                        lists
                            .into_iter()
                            .flat_map(|(_, objects)| objects.into_values().map(InitApply)),
                    )
                    .chain(std::iter::once(InitDone))
                    .collect()
            }
            Phase::Live(relists) => {
                let Some(relist) = relists.get_mut(index) else {
                    return vec![];
                };
                match (event, relist.as_mut()) {
                    (Init, _) => {
                        *relist = Some(BTreeMap::new());
                        vec![]
                    }
                    (InitApply(object), Some(objects)) => {
                        objects.insert(object.name_any(), object);
                        vec![]
                    }
                    (InitDone, Some(_)) => {
                        let objects = relist.take().unwrap_or_default();
                        let mut events: Vec<_> = cached()
                            .iter()
                            .filter(|o| !objects.contains_key(&o.name_any()))
                            .map(|o| Delete(K::clone(o)))
                            .collect();
                        events.extend(objects.into_values().map(Apply));
                        events
                    }
                    (InitDone, None) => vec![],
                    (InitApply(object) | Apply(object), _) => vec![Apply(object)],
                    (Delete(object), _) => vec![Delete(object)],
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt as _;
    use futures::channel::mpsc;
    use k8s_openapi::api::core::v1::Pod;
    use kube::runtime::reflector;
    use watcher::Event::{Apply, Delete, Init, InitApply, InitDone};

    fn pod(namespace: &str, name: &str, version: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = Some(namespace.to_owned());
        pod.metadata.name = Some(name.to_owned());
        pod.metadata.resource_version = Some(version.to_owned());
        pod
    }

    /// An event as `namespace/name@version` (or `Init`/`InitDone`), to compare plans briefly.
    fn show(event: &watcher::Event<Pod>) -> String {
        let id = |p: &Pod| {
            format!(
                "{}/{}@{}",
                p.namespace().unwrap(),
                p.name_any(),
                p.resource_version().unwrap()
            )
        };
        match event {
            Init => "Init".into(),
            InitApply(p) => format!("InitApply {}", id(p)),
            InitDone => "InitDone".into(),
            Apply(p) => format!("Apply {}", id(p)),
            Delete(p) => format!("Delete {}", id(p)),
        }
    }

    fn push(
        merge: &mut Merge<Pod>,
        index: usize,
        event: watcher::Event<Pod>,
        cached: &[Pod],
    ) -> Vec<String> {
        merge
            .push(index, event, || {
                cached.iter().cloned().map(Arc::new).collect()
            })
            .iter()
            .map(show)
            .collect()
    }

    #[test]
    fn an_empty_list_is_every_namespace_and_names_are_sorted_and_deduplicated() {
        assert_eq!(WatchScope::parse(""), Ok(WatchScope::All));
        assert_eq!(WatchScope::parse("  "), Ok(WatchScope::All));
        assert_eq!(
            WatchScope::parse("team-b, team-a,team-b"),
            Ok(WatchScope::Namespaces(vec![
                "team-a".into(),
                "team-b".into()
            ]))
        );
        assert_eq!(
            WatchScope::parse("0ops").unwrap().to_string(),
            "namespaces 0ops"
        );
        assert_eq!(WatchScope::All.to_string(), "all namespaces");
        assert_eq!(WatchScope::All.namespaces(), None);
    }

    #[test]
    fn names_that_are_not_rfc_1123_labels_are_refused_by_name() {
        let long = "a".repeat(64);
        for bad in [
            "Team-A",
            "team_a",
            "-team",
            "team-",
            "team.a",
            "*",
            long.as_str(),
        ] {
            assert_eq!(
                WatchScope::parse(&format!("ok,{bad}")),
                Err(ScopeError::NotALabel(bad.to_owned())),
                "{bad}"
            );
        }
        assert!(WatchScope::parse(&"a".repeat(63)).is_ok());
        // A stray comma never widens the list to every namespace.
        assert_eq!(
            WatchScope::parse("team-a,"),
            Err(ScopeError::Empty("team-a,".into()))
        );
        assert_eq!(WatchScope::parse(","), Err(ScopeError::Empty(",".into())));
        let message = WatchScope::parse("Team-A").unwrap_err().to_string();
        assert!(
            message.contains("\"Team-A\" is not a namespace name") && message.contains("RFC 1123"),
            "{message}"
        );
    }

    #[test]
    fn one_initial_list_once_every_namespace_has_listed() {
        let mut merge = Merge::new(2);
        assert!(push(&mut merge, 0, Init, &[]).is_empty());
        assert!(push(&mut merge, 0, InitApply(pod("a", "p1", "1")), &[]).is_empty());
        assert!(push(&mut merge, 1, Init, &[]).is_empty());
        assert!(push(&mut merge, 0, InitDone, &[]).is_empty());
        // Changes in a namespace that has listed, while another still lists, are held back too.
        assert!(push(&mut merge, 0, Apply(pod("a", "p2", "2")), &[]).is_empty());
        assert!(push(&mut merge, 0, Apply(pod("a", "p1", "3")), &[]).is_empty());
        assert!(push(&mut merge, 1, InitApply(pod("b", "q1", "4")), &[]).is_empty());
        assert!(push(&mut merge, 0, Delete(pod("a", "p2", "5")), &[]).is_empty());
        assert_eq!(
            push(&mut merge, 1, InitDone, &[]),
            ["Init", "InitApply a/p1@3", "InitApply b/q1@4", "InitDone"]
        );
        // Then events pass through.
        assert_eq!(
            push(&mut merge, 1, Apply(pod("b", "q1", "6")), &[]),
            ["Apply b/q1@6"]
        );
        assert_eq!(
            push(&mut merge, 0, Delete(pod("a", "p1", "7")), &[]),
            ["Delete a/p1@7"]
        );
    }

    #[test]
    fn a_namespace_that_relists_before_every_namespace_listed_starts_over() {
        let mut merge = Merge::new(2);
        push(&mut merge, 0, Init, &[]);
        push(&mut merge, 0, InitApply(pod("a", "old", "1")), &[]);
        push(&mut merge, 0, InitDone, &[]);
        push(&mut merge, 0, Init, &[]);
        push(&mut merge, 0, InitApply(pod("a", "new", "2")), &[]);
        push(&mut merge, 1, Init, &[]);
        assert!(
            push(&mut merge, 1, InitDone, &[]).is_empty(),
            "namespace a is relisting"
        );
        assert_eq!(
            push(&mut merge, 0, InitDone, &[]),
            ["Init", "InitApply a/new@2", "InitDone"]
        );
    }

    #[test]
    fn a_later_relist_of_one_namespace_touches_only_that_namespace() {
        let mut merge = Merge::new(2);
        for (index, event) in [(0, Init), (0, InitDone), (1, Init), (1, InitDone)] {
            push(&mut merge, index, event, &[]);
        }
        let cached_in_a = [pod("a", "kept", "1"), pod("a", "gone", "2")];
        assert!(push(&mut merge, 0, Init, &cached_in_a).is_empty());
        assert!(
            push(
                &mut merge,
                0,
                InitApply(pod("a", "kept", "3")),
                &cached_in_a
            )
            .is_empty()
        );
        assert!(push(&mut merge, 0, InitApply(pod("a", "new", "4")), &cached_in_a).is_empty());
        // Namespace b goes on meanwhile.
        assert_eq!(
            push(&mut merge, 1, Apply(pod("b", "q", "5")), &[]),
            ["Apply b/q@5"]
        );
        assert_eq!(
            push(&mut merge, 0, InitDone, &cached_in_a),
            ["Delete a/gone@2", "Apply a/kept@3", "Apply a/new@4"]
        );
        assert_eq!(
            push(&mut merge, 0, Apply(pod("a", "new", "6")), &[]),
            ["Apply a/new@6"]
        );
    }

    /// The merged stream feeds a real reflector: the store is ready only once every namespace
    /// has listed, and one namespace's relist leaves the other namespaces' objects in place.
    #[tokio::test]
    async fn the_merged_stream_keeps_one_store_of_every_namespace() {
        let (store, writer) = reflector::store::<Pod>();
        let (a, a_events) = mpsc::unbounded::<watcher::Event<Pod>>();
        let (b, b_events) = mpsc::unbounded::<watcher::Event<Pod>>();
        let watchers = vec![
            a_events.map(|e| (0, Ok(e))).boxed(),
            b_events.map(|e| (1, Ok(e))).boxed(),
        ];
        let mut merged =
            merge_watchers(vec!["a".into(), "b".into()], watchers, store.clone()).reflect(writer);
        let names = |store: &Store<Pod>| {
            let mut names: Vec<String> = store
                .state()
                .iter()
                .map(|p| format!("{}/{}", p.namespace().unwrap(), p.name_any()))
                .collect();
            names.sort();
            names
        };
        for event in [Init, InitApply(pod("a", "p", "1")), InitDone] {
            a.unbounded_send(event).unwrap();
        }
        for event in [Init, InitApply(pod("b", "q", "2"))] {
            b.unbounded_send(event).unwrap();
        }
        assert!(
            merged.next().now_or_never().is_none(),
            "nothing before b has listed"
        );
        assert!(store.wait_until_ready().now_or_never().is_none());
        b.unbounded_send(InitDone).unwrap();
        for _ in 0..4 {
            merged.next().await.unwrap().unwrap();
        }
        assert!(store.wait_until_ready().now_or_never().is_some());
        assert_eq!(names(&store), ["a/p", "b/q"]);

        // a relists: p is gone, r is new; b's q stays.
        for event in [Init, InitApply(pod("a", "r", "3")), InitDone] {
            a.unbounded_send(event).unwrap();
        }
        assert!(matches!(merged.next().await, Some(Ok(Delete(_)))));
        assert!(matches!(merged.next().await, Some(Ok(Apply(_)))));
        assert_eq!(names(&store), ["a/r", "b/q"]);
    }
}
