//! Dependency manifests: which files declare a project's dependencies, the names each declares,
//! and what a commit added and removed — pure parsers over a file's text, no I/O.
//!
//! The extract stage reads a manifest's blob before and after a commit only when one of the
//! commit's changed paths has a manifest's file name ([`is_manifest_name`]), and records the
//! difference ([`DependencyChanges::between`]) in the commit's enrichment. The facts then travel
//! with the commit: a later run re-derives the story from stored records without any blob.
//!
//! | ecosystem | files (at any depth) | names |
//! |---|---|---|
//! | Cargo | `Cargo.toml` | keys of `[dependencies]`, `[dev-dependencies]`, `[build-dependencies]`, their `[target.*]` forms and `[workspace.dependencies]` (`package = "…"` when renamed); path-only entries are the workspace's own crates and `workspace = true` ones are counted in the workspace's manifest, so both are left out |
//! | npm | `package.json` | keys of `dependencies`, `devDependencies`, `peerDependencies`, `optionalDependencies` |
//! | Go | `go.mod` | `require` lines and blocks, without `// indirect` ones |
//! | Python | `requirements*.txt`, `pyproject.toml` | requirement lines; PEP 621 `[project]` `dependencies` and `optional-dependencies`, PEP 735 `[dependency-groups]`, Poetry's `[tool.poetry.*dependencies]` (not `python`); names normalized as PEP 503 says |
//! | Maven | `pom.xml` | `groupId:artifactId` of every `<dependency>` |
//! | Gradle | `build.gradle`, `build.gradle.kts` | `group:name` in dependency configurations (`implementation "g:a:v"`, `api(platform("g:a"))`, `group: 'g', name: 'a'`) |
//! | Ruby | `Gemfile` | `gem "name"` lines |
//!
//! A file that does not parse is *unknown*, never an error: [`parse`] answers `None`, and a
//! commit whose manifest cannot be read on either side records nothing for it.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

mod gradle;
mod python;
#[cfg(test)]
mod tests;

/// A packaging ecosystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Ecosystem {
    Cargo,
    Npm,
    Go,
    Python,
    Maven,
    Gradle,
    Ruby,
}

impl Ecosystem {
    /// The name a reader knows it by.
    pub fn label(self) -> &'static str {
        match self {
            Self::Cargo => "Cargo",
            Self::Npm => "npm",
            Self::Go => "Go",
            Self::Python => "Python",
            Self::Maven => "Maven",
            Self::Gradle => "Gradle",
            Self::Ruby => "Ruby",
        }
    }
}

/// The kinds of manifest, each read its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Manifest {
    CargoToml,
    PackageJson,
    GoMod,
    Requirements,
    Pyproject,
    Pom,
    Gradle,
    Gemfile,
}

impl Manifest {
    /// The ecosystem whose dependencies it declares.
    pub fn ecosystem(self) -> Ecosystem {
        match self {
            Self::CargoToml => Ecosystem::Cargo,
            Self::PackageJson => Ecosystem::Npm,
            Self::GoMod => Ecosystem::Go,
            Self::Requirements | Self::Pyproject => Ecosystem::Python,
            Self::Pom => Ecosystem::Maven,
            Self::Gradle => Ecosystem::Gradle,
            Self::Gemfile => Ecosystem::Ruby,
        }
    }
}

/// The manifest kind of a file name (the last component of a path), if it is one.
pub fn manifest_of_name(name: &str) -> Option<Manifest> {
    Some(match name {
        "Cargo.toml" => Manifest::CargoToml,
        "package.json" => Manifest::PackageJson,
        "go.mod" => Manifest::GoMod,
        "pyproject.toml" => Manifest::Pyproject,
        "pom.xml" => Manifest::Pom,
        "build.gradle" | "build.gradle.kts" => Manifest::Gradle,
        "Gemfile" => Manifest::Gemfile,
        _ if name.starts_with("requirements") && name.ends_with(".txt") => Manifest::Requirements,
        _ => return None,
    })
}

/// The manifest kind of a `/`-separated path, if its file name is a manifest's.
pub fn manifest_of(path: &str) -> Option<Manifest> {
    manifest_of_name(path.rsplit('/').next().unwrap_or(path))
}

/// Whether a path's bytes end in a manifest's file name: the extract stage's test for every
/// changed file, so it looks at the last component's bytes only, without decoding the path.
pub fn is_manifest_name(path: &[u8]) -> bool {
    let name = match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    };
    // Every manifest name starts with one of these bytes; most files are out after one compare.
    matches!(name.first(), Some(b'C' | b'p' | b'g' | b'r' | b'b' | b'G'))
        && std::str::from_utf8(name).is_ok_and(|name| manifest_of_name(name).is_some())
}

/// The dependency names `text` declares, as a manifest of kind `manifest`; `None` when it
/// cannot be read (not valid TOML, JSON or XML), which means *unknown*.
pub fn parse(manifest: Manifest, text: &str) -> Option<BTreeSet<String>> {
    match manifest {
        Manifest::CargoToml => cargo(text),
        Manifest::PackageJson => npm(text),
        Manifest::GoMod => Some(go(text)),
        Manifest::Requirements => Some(python::requirements(text)),
        Manifest::Pyproject => python::pyproject(text),
        Manifest::Pom => maven(text),
        Manifest::Gradle => Some(gradle::gradle(text)),
        Manifest::Gemfile => Some(ruby(text)),
    }
}

/// A dependency as one manifest declares it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub ecosystem: Ecosystem,
    /// As the ecosystem names it: a crate, a package, a module path, `groupId:artifactId`.
    pub name: String,
    /// The manifest's path in the repository.
    pub manifest: String,
}

/// What a commit changed in its manifests' dependencies (the enrichment's `dependencies`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyChanges {
    /// Declared after the commit and not before, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<Dependency>,
    /// Declared before the commit and not after, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Dependency>,
}

impl DependencyChanges {
    /// Nothing added or removed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// The changes of the manifest at `path` from `old` to `new` declared names (`None` for a
    /// side where the file is absent). A side that could not be read makes the whole
    /// difference unknown: nothing is recorded rather than a guess.
    pub fn between(path: &str, old: Side<'_>, new: Side<'_>) -> Self {
        let Some(manifest) = manifest_of(path) else {
            return Self::default();
        };
        let (Some(old), Some(new)) = (old.names(), new.names()) else {
            return Self::default();
        };
        let dependency = |name: &String| Dependency {
            ecosystem: manifest.ecosystem(),
            name: name.clone(),
            manifest: path.to_owned(),
        };
        Self {
            added: new.difference(old).map(dependency).collect(),
            removed: old.difference(new).map(dependency).collect(),
        }
    }

    /// Adds another manifest's changes (keeping both lists sorted).
    pub fn extend(&mut self, other: Self) {
        self.added.extend(other.added);
        self.removed.extend(other.removed);
        self.added.sort();
        self.removed.sort();
    }
}

/// One side of a manifest's change, as [`DependencyChanges::between`] takes it.
#[derive(Clone, Copy, Debug)]
pub enum Side<'a> {
    /// No file at the path on this side: nothing declared.
    Absent,
    /// The file could not be read (binary, unparseable): unknown.
    Unknown,
    /// The names the file declares ([`parse`]).
    Names(&'a BTreeSet<String>),
}

impl<'a> Side<'a> {
    /// The side of a parse's answer.
    pub fn of(parsed: Option<&'a BTreeSet<String>>) -> Self {
        parsed.map_or(Self::Unknown, Self::Names)
    }

    fn names(self) -> Option<&'a BTreeSet<String>> {
        static NONE: BTreeSet<String> = BTreeSet::new();
        match self {
            Self::Absent => Some(&NONE),
            Self::Unknown => None,
            Self::Names(names) => Some(names),
        }
    }
}

/// Cargo's dependency tables, wherever they sit.
fn cargo(text: &str) -> Option<BTreeSet<String>> {
    let doc: toml::Table = text.parse().ok()?;
    let mut names = BTreeSet::new();
    let mut tables: Vec<&toml::Table> = vec![&doc];
    if let Some(workspace) = doc.get("workspace").and_then(toml::Value::as_table) {
        tables.push(workspace);
    }
    if let Some(targets) = doc.get("target").and_then(toml::Value::as_table) {
        tables.extend(targets.values().filter_map(toml::Value::as_table));
    }
    for table in tables {
        for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = table.get(key).and_then(toml::Value::as_table) else {
                continue;
            };
            for (key, spec) in deps {
                let detail = spec.as_table();
                let field = |name: &str| detail.and_then(|d| d.get(name));
                // `{ path = "../core" }` alone is one of the workspace's own crates, and
                // `{ workspace = true }` is declared (with its source) by the workspace's
                // manifest: counted there, or the workspace's own crates would count here.
                let inherited = field("workspace").and_then(toml::Value::as_bool) == Some(true);
                if inherited || (field("path").is_some() && field("version").is_none()) {
                    continue;
                }
                let name = field("package")
                    .and_then(toml::Value::as_str)
                    .unwrap_or(key);
                names.insert(name.to_owned());
            }
        }
    }
    Some(names)
}

/// npm's four dependency maps.
fn npm(text: &str) -> Option<BTreeSet<String>> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let doc = doc.as_object()?;
    let mut names = BTreeSet::new();
    for key in [
        "dependencies",
        "devDependencies",
        "peerDependencies",
        "optionalDependencies",
    ] {
        if let Some(deps) = doc.get(key).and_then(serde_json::Value::as_object) {
            names.extend(deps.keys().cloned());
        }
    }
    Some(names)
}

/// `require` lines of a `go.mod`, direct ones only.
fn go(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_block = false;
    for line in text.lines() {
        let indirect = line.contains("// indirect");
        let line = line.split("//").next().unwrap_or("").trim();
        let spec = if in_block {
            if line.starts_with(')') {
                in_block = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("require") {
            let rest = rest.trim_start();
            if rest.starts_with('(') {
                in_block = true;
                continue;
            }
            if rest.len() == line.len() - "require".len() {
                continue; // `requires…`: another word
            }
            rest
        } else {
            continue;
        };
        let mut words = spec.split_whitespace();
        if let (Some(module), Some(_version)) = (words.next(), words.next())
            && !indirect
        {
            names.insert(module.trim_matches('"').to_owned());
        }
    }
    names
}

/// `groupId:artifactId` of every `<dependency>` of a `pom.xml`.
fn maven(text: &str) -> Option<BTreeSet<String>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut names = BTreeSet::new();
    let mut path: Vec<Vec<u8>> = Vec::new();
    let (mut group, mut artifact) = (None::<String>, None::<String>);
    let mut seen_element = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(start) => {
                seen_element = true;
                let name = start.local_name().as_ref().to_vec();
                if name == b"dependency" {
                    (group, artifact) = (None, None);
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.pop().as_deref() == Some(b"dependency")
                    && let (Some(g), Some(a)) = (group.take(), artifact.take())
                {
                    names.insert(format!("{g}:{a}"));
                }
            }
            Event::Text(text) => {
                let n = path.len();
                if n >= 2 && path[n - 2] == b"dependency" {
                    let value = text.decode().ok()?;
                    let slot = match path[n - 1].as_slice() {
                        b"groupId" => &mut group,
                        b"artifactId" => &mut artifact,
                        _ => continue,
                    };
                    slot.get_or_insert_with(String::new).push_str(value.trim());
                }
            }
            Event::Empty(_) => seen_element = true,
            Event::Eof => break,
            _ => {}
        }
    }
    // A text with no element at all is no pom.
    (seen_element && path.is_empty()).then_some(names)
}

static GEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s*gem\s*\(?\s*["']([^"'\s]+)["']"#).expect("a valid regex"));

/// `gem "name"` lines of a `Gemfile`.
fn ruby(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| GEM.captures(line))
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_owned()))
        .collect()
}
