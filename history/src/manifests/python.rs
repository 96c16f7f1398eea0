//! Python's manifests: requirement files and `pyproject.toml` (PEP 621, PEP 735, Poetry).

use std::collections::BTreeSet;

/// The names of a requirements file's lines: options (`-r`, `-e`, `--hash`), comments and
/// URLs without an `#egg=` name are skipped.
pub(super) fn requirements(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or("").trim();
        if line.starts_with('#') || line.starts_with('-') {
            continue;
        }
        if line.contains("://") {
            if let Some(egg) = line.split("#egg=").nth(1) {
                names.extend(requirement_name(egg));
            }
            continue;
        }
        names.extend(requirement_name(line));
    }
    names
}

/// The distribution name of a PEP 508 requirement (`requests[socks]>=2; python_version<"4"`),
/// normalized as PEP 503 says: lower case, runs of `-`, `_` and `.` as one `-`.
pub(super) fn requirement_name(spec: &str) -> Option<String> {
    let spec = spec.trim();
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let name = &spec[..end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(normalize(name))
}

fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The dependencies of a `pyproject.toml`: PEP 621's `[project]`, PEP 735's
/// `[dependency-groups]` and Poetry's tables.
pub(super) fn pyproject(text: &str) -> Option<BTreeSet<String>> {
    let doc: toml::Table = text.parse().ok()?;
    let mut names = BTreeSet::new();
    let strings = |value: Option<&toml::Value>| -> Vec<String> {
        value
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_str)
            .filter_map(requirement_name)
            .collect()
    };
    if let Some(project) = doc.get("project").and_then(toml::Value::as_table) {
        names.extend(strings(project.get("dependencies")));
        if let Some(extras) = project
            .get("optional-dependencies")
            .and_then(toml::Value::as_table)
        {
            for group in extras.values() {
                names.extend(strings(Some(group)));
            }
        }
    }
    if let Some(groups) = doc.get("dependency-groups").and_then(toml::Value::as_table) {
        for group in groups.values() {
            // `{include-group = "…"}` entries are tables, not requirements.
            names.extend(strings(Some(group)));
        }
    }
    let poetry = doc
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(toml::Value::as_table);
    if let Some(poetry) = poetry {
        let mut tables: Vec<&toml::Table> = ["dependencies", "dev-dependencies"]
            .iter()
            .filter_map(|key| poetry.get(*key).and_then(toml::Value::as_table))
            .collect();
        if let Some(groups) = poetry.get("group").and_then(toml::Value::as_table) {
            tables.extend(
                groups
                    .values()
                    .filter_map(|g| g.get("dependencies"))
                    .filter_map(toml::Value::as_table),
            );
        }
        for table in tables {
            names.extend(
                table
                    .keys()
                    .filter(|k| !k.eq_ignore_ascii_case("python"))
                    .map(|k| normalize(k)),
            );
        }
    }
    Some(names)
}
