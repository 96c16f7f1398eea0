use super::*;

fn names(manifest: Manifest, text: &str) -> Vec<String> {
    parse(manifest, text)
        .expect("the manifest parses")
        .into_iter()
        .collect()
}

#[test]
fn manifests_are_known_by_file_name_at_any_depth() {
    for (path, kind) in [
        ("Cargo.toml", Manifest::CargoToml),
        ("crates/core/Cargo.toml", Manifest::CargoToml),
        ("web/package.json", Manifest::PackageJson),
        ("go.mod", Manifest::GoMod),
        ("requirements.txt", Manifest::Requirements),
        ("py/requirements-dev.txt", Manifest::Requirements),
        ("pyproject.toml", Manifest::Pyproject),
        ("java/pom.xml", Manifest::Pom),
        ("app/build.gradle.kts", Manifest::Gradle),
        ("build.gradle", Manifest::Gradle),
        ("Gemfile", Manifest::Gemfile),
    ] {
        assert_eq!(manifest_of(path), Some(kind), "{path}");
        assert!(is_manifest_name(path.as_bytes()), "{path}");
    }
    for path in [
        "Cargo.lock",
        "src/cargo.toml",
        "package-lock.json",
        "go.sum",
        "requirements.in",
        "Gemfile.lock",
        "settings.gradle",
        "docs/requirements.md",
        "",
        "dir/",
    ] {
        assert_eq!(manifest_of(path), None, "{path}");
        assert!(!is_manifest_name(path.as_bytes()), "{path}");
    }
    assert!(!is_manifest_name(b"dir/Cargo.toml\xff"));
}

#[test]
fn cargo_reads_every_dependency_table() {
    let text = r#"
[package]
name = "demo"
version = "0.1.0"

[dependencies]
serde = { version = "1", features = ["derive"] }
regex = "1"
json = { package = "serde_json", version = "1" }
demo-core = { path = "../core" }
published-core = { path = "../pub", version = "0.2" }
tokio.workspace = true
inner = { workspace = true, features = ["x"] }

[dev-dependencies]
proptest = "1"

[build-dependencies.cc]
version = "1"

[target.'cfg(unix)'.dependencies]
nix = "0.29"

[workspace.dependencies]
anyhow = "1"
"#;
    assert_eq!(
        names(Manifest::CargoToml, text),
        [
            "anyhow",
            "cc",
            "nix",
            "proptest",
            "published-core",
            "regex",
            "serde",
            "serde_json"
        ]
    );
    assert_eq!(names(Manifest::CargoToml, ""), Vec::<String>::new());
    assert_eq!(parse(Manifest::CargoToml, "[dependencies\nserde = 1"), None);
    // A table where a value is expected is odd but no reason to fail.
    assert_eq!(
        names(Manifest::CargoToml, "dependencies = 3\n[target]\nx = 1\n"),
        Vec::<String>::new()
    );
}

#[test]
fn npm_reads_the_four_maps() {
    let text = r#"{
  "name": "web",
  "version": "1.0.0",
  "scripts": { "build": "vite build" },
  "dependencies": { "react": "^18.2.0", "@tanstack/query": "5" },
  "devDependencies": { "vite": "^5" },
  "peerDependencies": { "react-dom": "*" },
  "optionalDependencies": { "fsevents": "2" }
}"#;
    assert_eq!(
        names(Manifest::PackageJson, text),
        ["@tanstack/query", "fsevents", "react", "react-dom", "vite"]
    );
    assert_eq!(parse(Manifest::PackageJson, "{\"dependencies\": {"), None);
    assert_eq!(parse(Manifest::PackageJson, "[1, 2]"), None);
    assert_eq!(parse(Manifest::PackageJson, ""), None);
}

#[test]
fn go_reads_direct_requirements() {
    let text = "module example.com/app\n\ngo 1.22\n\nrequire github.com/spf13/cobra v1.8.0\n\nrequire (\n\tgolang.org/x/sync v0.7.0\n\tgithub.com/pkg/errors v0.9.1 // indirect\n\t// a comment\n\t\"example.com/quoted\" v1.0.0\n)\n\nreplace example.com/old => example.com/new v1.0.0\nexclude golang.org/x/net v0.1.0\n";
    assert_eq!(
        names(Manifest::GoMod, text),
        [
            "example.com/quoted",
            "github.com/spf13/cobra",
            "golang.org/x/sync"
        ]
    );
    // An unclosed block or junk never fails.
    assert_eq!(
        names(Manifest::GoMod, "require (\n a v1\n\u{0}\u{ffff}"),
        ["a"]
    );
}

#[test]
fn python_requirements_and_pyproject() {
    let text = "# pinned\nrequests[socks]==2.31.0 ; python_version >= \"3.8\"\nDjango>=4.2  # web\n-r base.txt\n-e .\n--hash=sha256:abc\nzope.interface\ngit+https://github.com/org/lib.git#egg=Some_Lib\nhttps://example.com/x.whl\n\n";
    assert_eq!(
        names(Manifest::Requirements, text),
        ["django", "requests", "some-lib", "zope-interface"]
    );
    let pep621 = r#"
[project]
name = "tool"
dependencies = [
    "httpx>=0.27",
    "Rich",
]

[project.optional-dependencies]
docs = ["mkdocs"]

[dependency-groups]
test = ["pytest>=8", {include-group = "docs"}]
"#;
    assert_eq!(
        names(Manifest::Pyproject, pep621),
        ["httpx", "mkdocs", "pytest", "rich"]
    );
    let poetry = r#"
[tool.poetry.dependencies]
python = "^3.11"
Flask = "^3.0"

[tool.poetry.dev-dependencies]
black = "*"

[tool.poetry.group.test.dependencies]
pytest_cov = "*"
"#;
    assert_eq!(
        names(Manifest::Pyproject, poetry),
        ["black", "flask", "pytest-cov"]
    );
    assert_eq!(parse(Manifest::Pyproject, "[project\n"), None);
}

#[test]
fn maven_reads_every_dependency() {
    let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>app</artifactId>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.junit</groupId>
        <artifactId>junit-bom</artifactId>
        <version>5.10.0</version>
        <type>pom</type>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>com.google.guava</groupId>
      <artifactId>guava</artifactId>
    </dependency>
    <!-- <dependency><groupId>x</groupId><artifactId>commented</artifactId></dependency> -->
    <dependency><groupId>${project.groupId}</groupId><artifactId>core</artifactId></dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-compiler-plugin</artifactId>
      </plugin>
    </plugins>
  </build>
</project>
"#;
    assert_eq!(
        names(Manifest::Pom, text),
        [
            "${project.groupId}:core",
            "com.google.guava:guava",
            "org.junit:junit-bom"
        ]
    );
    assert_eq!(
        parse(Manifest::Pom, "<project><dependencies></project>"),
        None
    );
    assert_eq!(parse(Manifest::Pom, "not xml at all"), None);
    assert_eq!(parse(Manifest::Pom, "<project>"), None);
}

#[test]
fn gradle_reads_common_declarations() {
    let groovy = r#"
plugins { id 'java' }
dependencies {
    implementation 'com.google.guava:guava:33.0.0-jre'
    testImplementation "org.junit.jupiter:junit-jupiter:5.10.0"
    compile group: 'commons-io', name: 'commons-io', version: '2.6'
    // implementation 'commented:out:1'
    id 'not:a:dependency'
}
"#;
    assert_eq!(
        names(Manifest::Gradle, groovy),
        [
            "com.google.guava:guava",
            "commons-io:commons-io",
            "org.junit.jupiter:junit-jupiter"
        ]
    );
    let kotlin = r#"
dependencies {
    implementation(platform("org.springframework.boot:spring-boot-dependencies:3.2.0"))
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.8.0")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
    implementation(libs.okhttp)
}
"#;
    assert_eq!(
        names(Manifest::Gradle, kotlin),
        [
            "org.jetbrains.kotlinx:kotlinx-coroutines-core",
            "org.junit.platform:junit-platform-launcher",
            "org.springframework.boot:spring-boot-dependencies"
        ]
    );
}

#[test]
fn ruby_reads_gem_lines() {
    let text = "source 'https://rubygems.org'\nruby '3.3.0'\ngem 'rails', '~> 7.1'\ngem \"pg\"\ngroup :test do\n  gem 'rspec-rails'\nend\n# gem 'old'\n";
    assert_eq!(
        names(Manifest::Gemfile, text),
        ["pg", "rails", "rspec-rails"]
    );
}

#[test]
fn changes_are_the_difference_and_unknown_sides_record_nothing() {
    let old = parse(
        Manifest::CargoToml,
        "[dependencies]\nserde = \"1\"\nlogos = \"0.14\"\n",
    );
    let new = parse(
        Manifest::CargoToml,
        "[dependencies]\nserde = \"1\"\nnom = \"7\"\n",
    );
    let changes = DependencyChanges::between(
        "lexer/Cargo.toml",
        Side::of(old.as_ref()),
        Side::of(new.as_ref()),
    );
    let names = |deps: &[Dependency]| -> Vec<String> {
        deps.iter()
            .map(|d| format!("{:?} {} {}", d.ecosystem, d.name, d.manifest))
            .collect()
    };
    assert_eq!(names(&changes.added), ["Cargo nom lexer/Cargo.toml"]);
    assert_eq!(names(&changes.removed), ["Cargo logos lexer/Cargo.toml"]);
    // A new file declares everything it has; a deleted one drops everything it had.
    let created = DependencyChanges::between("Cargo.toml", Side::Absent, Side::of(new.as_ref()));
    assert_eq!(created.added.len(), 2);
    assert!(created.removed.is_empty());
    // A side that cannot be read is unknown, not empty.
    let broken = parse(Manifest::CargoToml, "[dependencies");
    assert!(
        DependencyChanges::between(
            "Cargo.toml",
            Side::of(broken.as_ref()),
            Side::of(new.as_ref())
        )
        .is_empty()
    );
    assert!(
        DependencyChanges::between("README.md", Side::Absent, Side::of(new.as_ref())).is_empty()
    );
    // Stored as the enrichment spells it, empty lists left out.
    let json = serde_json::to_value(&changes).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({
            "added": [{"ecosystem": "cargo", "name": "nom", "manifest": "lexer/Cargo.toml"}],
            "removed": [{"ecosystem": "cargo", "name": "logos", "manifest": "lexer/Cargo.toml"}],
        })
    );
    let back: DependencyChanges = serde_json::from_value(serde_json::json!({})).expect("reads");
    assert!(back.is_empty());
}

#[test]
fn garbage_never_panics() {
    let samples = [
        "",
        "\u{0}\u{1}\u{2}",
        "[[[[",
        "{\"dependencies\": 3}",
        "<dependency><groupId>a</groupId>",
        "require (",
        "gem",
        "implementation(",
        "-",
        "[tool.poetry]\ndependencies = 1\n[tool.poetry.group]\nx = 1\n",
        "[project]\ndependencies = \"requests\"\n",
    ];
    let kinds = [
        Manifest::CargoToml,
        Manifest::PackageJson,
        Manifest::GoMod,
        Manifest::Requirements,
        Manifest::Pyproject,
        Manifest::Pom,
        Manifest::Gradle,
        Manifest::Gemfile,
    ];
    for kind in kinds {
        for text in samples {
            let _ = parse(kind, text);
        }
        // Every prefix of a real file, cut anywhere (on a character boundary).
        let real = "[dependencies]\nserde = { version = \"1\" }\n<dependency><groupId>g</groupId><artifactId>a</artifactId></dependency>\n{\"dependencies\": {\"x\": \"1\"}}\nrequire (\n a v1\n)\ngem 'x'\n";
        for (cut, _) in real.char_indices() {
            let _ = parse(kind, &real[..cut]);
        }
    }
}
