//! Sets `GITVIEW_ENRICH_RULES`: a fingerprint of the code that enriches a commit (the enrich
//! stage and the subject and language rules it asks), so an update reuses a stored enrichment
//! only when today's code made it (`gitview_runner::enrich::RULES`). Any edit to these files
//! changes it, a comment too: the cost of a needless change is one update that enriches its
//! earlier commits again, never a story told by yesterday's rules.

use std::path::Path;

use sha2::{Digest, Sha256};

/// The files whose code decides an enrichment, from this crate's folder.
const RULES: &[&str] = &[
    "src/enrich/mod.rs",
    "../history/src/subjects.rs",
    "../history/src/languages.rs",
];

fn main() {
    let mut digest = Sha256::new();
    for file in RULES {
        println!("cargo:rerun-if-changed={file}");
        let text = std::fs::read(Path::new(file))
            .unwrap_or_else(|err| panic!("build.rs reads {file}: {err}"));
        digest.update(file.as_bytes());
        digest.update([0]);
        digest.update(&text);
    }
    let hex: String = digest.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=GITVIEW_ENRICH_RULES={hex}");
}
