//! Gradle build scripts (Groovy and Kotlin DSL), read line by line: a build script is a
//! program, so only the common ways of declaring a dependency are recognized.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

/// `implementation "g:a:v"`, `testImplementation("g:a")`, `api(platform("g:a:v"))`.
static COORDINATES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^\s*([A-Za-z]+)\s*\(?\s*(?:(?:platform|enforcedPlatform|kapt)\s*\(\s*)?["']([^"'\s:$]+):([^"'\s:$]+)(?::[^"']*)?["']"#,
    )
    .expect("a valid regex")
});

/// `implementation group: 'g', name: 'a', version: 'v'`.
static MAP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^\s*([A-Za-z]+)\s*\(?\s*group\s*[:=]\s*["']([^"']+)["']\s*,\s*name\s*[:=]\s*["']([^"']+)["']"#,
    )
    .expect("a valid regex")
});

/// Whether a word is a dependency configuration (`implementation`, `testRuntimeOnly`,
/// `compile`, `classpath`, `kapt`, …) rather than another call taking a string.
fn is_configuration(word: &str) -> bool {
    const EXACT: &[&str] = &[
        "implementation",
        "api",
        "compile",
        "runtime",
        "compileOnly",
        "runtimeOnly",
        "classpath",
        "kapt",
        "ksp",
        "annotationProcessor",
    ];
    const SUFFIXES: &[&str] = &[
        "Implementation",
        "Api",
        "CompileOnly",
        "RuntimeOnly",
        "Compile",
        "Runtime",
        "AnnotationProcessor",
    ];
    EXACT.contains(&word) || SUFFIXES.iter().any(|s| word.ends_with(s))
}

/// `group:name` of each dependency the script declares.
pub(super) fn gradle(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        for pattern in [&*COORDINATES, &*MAP] {
            if let Some(c) = pattern.captures(line)
                && is_configuration(&c[1])
            {
                names.insert(format!("{}:{}", &c[2], &c[3]));
            }
        }
    }
    names
}
