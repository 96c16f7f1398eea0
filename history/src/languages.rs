//! Languages by path: the language of a file from its name or extension, and which languages
//! are code (what the story's language shares count) rather than prose or data.
//!
//! The enrich stage labels each commit with the languages of its files (`enrichment.languages`);
//! the analyses read paths, so the same table serves both, and a history read back from stored
//! records gets the same answers.

/// Languages by file name, then by extension (lower-cased).
const FILE_NAMES: &[(&str, &str)] = &[
    ("dockerfile", "Dockerfile"),
    ("makefile", "Makefile"),
    ("gnumakefile", "Makefile"),
    ("cmakelists.txt", "CMake"),
    ("jenkinsfile", "Groovy"),
    ("gemfile", "Ruby"),
    ("rakefile", "Ruby"),
    ("build", "Starlark"),
    ("workspace", "Starlark"),
];

const EXTENSIONS: &[(&str, &str)] = &[
    ("rs", "Rust"),
    ("go", "Go"),
    ("c", "C"),
    ("h", "C"),
    ("cc", "C++"),
    ("cpp", "C++"),
    ("cxx", "C++"),
    ("hpp", "C++"),
    ("hh", "C++"),
    ("cs", "C#"),
    ("java", "Java"),
    ("kt", "Kotlin"),
    ("kts", "Kotlin"),
    ("scala", "Scala"),
    ("groovy", "Groovy"),
    ("gradle", "Groovy"),
    ("py", "Python"),
    ("pyi", "Python"),
    ("rb", "Ruby"),
    ("php", "PHP"),
    ("js", "JavaScript"),
    ("mjs", "JavaScript"),
    ("cjs", "JavaScript"),
    ("jsx", "JavaScript"),
    ("ts", "TypeScript"),
    ("tsx", "TypeScript"),
    ("swift", "Swift"),
    ("m", "Objective-C"),
    ("mm", "Objective-C++"),
    ("dart", "Dart"),
    ("lua", "Lua"),
    ("pl", "Perl"),
    ("pm", "Perl"),
    ("r", "R"),
    ("jl", "Julia"),
    ("hs", "Haskell"),
    ("ml", "OCaml"),
    ("mli", "OCaml"),
    ("ex", "Elixir"),
    ("exs", "Elixir"),
    ("erl", "Erlang"),
    ("clj", "Clojure"),
    ("zig", "Zig"),
    ("nim", "Nim"),
    ("sh", "Shell"),
    ("bash", "Shell"),
    ("zsh", "Shell"),
    ("ps1", "PowerShell"),
    ("sql", "SQL"),
    ("html", "HTML"),
    ("htm", "HTML"),
    ("css", "CSS"),
    ("scss", "SCSS"),
    ("less", "Less"),
    ("vue", "Vue"),
    ("svelte", "Svelte"),
    ("md", "Markdown"),
    ("markdown", "Markdown"),
    ("rst", "reStructuredText"),
    ("adoc", "AsciiDoc"),
    ("tex", "TeX"),
    ("json", "JSON"),
    ("yaml", "YAML"),
    ("yml", "YAML"),
    ("toml", "TOML"),
    ("xml", "XML"),
    ("proto", "Protocol Buffers"),
    ("tf", "HCL"),
    ("hcl", "HCL"),
    ("nix", "Nix"),
    ("bzl", "Starlark"),
    ("cmake", "CMake"),
    ("mk", "Makefile"),
];

/// The language of a path, by file name or extension; `None` when unknown.
pub fn language_of(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path).to_lowercase();
    if let Some(&(_, language)) = FILE_NAMES.iter().find(|(n, _)| *n == name) {
        return Some(language);
    }
    let (stem, extension) = name.rsplit_once('.')?;
    if stem.is_empty() {
        return None; // `.gitignore` and friends
    }
    EXTENSIONS
        .iter()
        .find(|(e, _)| *e == extension)
        .map(|&(_, language)| language)
}

/// Languages that are prose or data rather than code: the story's language shares leave them
/// out, so a release's changelog or a lock file does not read as a change of language.
const NOT_CODE: &[&str] = &[
    "Markdown",
    "reStructuredText",
    "AsciiDoc",
    "TeX",
    "JSON",
    "YAML",
    "TOML",
    "XML",
];

/// Whether `language` (a name [`language_of`] answers) is code rather than prose or data.
pub fn is_code(language: &str) -> bool {
    !NOT_CODE.contains(&language)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_by_name_and_extension() {
        assert_eq!(language_of("src/main.rs"), Some("Rust"));
        assert_eq!(language_of("web/App.TSX"), Some("TypeScript"));
        assert_eq!(language_of("deploy/Dockerfile"), Some("Dockerfile"));
        assert_eq!(language_of("build.gradle.kts"), Some("Kotlin"));
        assert_eq!(language_of(".gitignore"), None);
        assert_eq!(language_of("LICENSE"), None);
        assert!(is_code("Rust") && is_code("Shell"));
        assert!(!is_code("Markdown") && !is_code("JSON"));
    }
}
