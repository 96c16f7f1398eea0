//! Writing results to files: JSON Lines, one record per line as it is produced, and small
//! JSON documents.
//!
//! Files appear under their final name only once complete: each is written to a `.partial`
//! sibling and renamed at the end, so a crashed run never leaves a truncated `commits.jsonl`
//! that looks finished.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Errors writing output files.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("could not write {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not serialize a record for {path:?}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Writes one JSON value per line.
#[derive(Debug)]
pub struct JsonlWriter {
    path: PathBuf,
    partial: PathBuf,
    out: BufWriter<File>,
    lines: u64,
}

impl JsonlWriter {
    /// Starts `path` (as `path.partial` until [`finish`](Self::finish)).
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        let partial = partial_path(path);
        let file = File::create(&partial).map_err(|source| OutputError::Io {
            path: partial.clone(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            partial,
            out: BufWriter::new(file),
            lines: 0,
        })
    }

    /// Appends one line.
    pub fn write<T: Serialize>(&mut self, value: &T) -> Result<(), OutputError> {
        serde_json::to_writer(&mut self.out, value).map_err(|source| {
            if source.is_io() {
                OutputError::Io {
                    path: self.partial.clone(),
                    source: source.into(),
                }
            } else {
                OutputError::Json {
                    path: self.path.clone(),
                    source,
                }
            }
        })?;
        self.out
            .write_all(b"\n")
            .map_err(|source| OutputError::Io {
                path: self.partial.clone(),
                source,
            })?;
        self.lines += 1;
        Ok(())
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Flushes, syncs and moves the file to its final name.
    pub fn finish(self) -> Result<u64, OutputError> {
        let io = |source| OutputError::Io {
            path: self.partial.clone(),
            source,
        };
        let file = self.out.into_inner().map_err(|err| io(err.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&self.partial, &self.path).map_err(|source| OutputError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.lines)
    }
}

/// Writes `value` as pretty-printed JSON (with a final newline) to `path`.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), OutputError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|source| OutputError::Json {
        path: path.to_owned(),
        source,
    })?;
    text.push(b'\n');
    write_bytes(path, &text)
}

/// Writes `bytes` to `path` (through a `.partial` sibling renamed at the end).
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let partial = partial_path(path);
    std::fs::write(&partial, bytes).map_err(|source| OutputError::Io {
        path: partial.clone(),
        source,
    })?;
    std::fs::rename(&partial, path).map_err(|source| OutputError::Io {
        path: path.to_owned(),
        source,
    })
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".partial");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn lines_appear_under_the_final_name_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut writer = JsonlWriter::create(&path).unwrap();
        writer.write(&serde_json::json!({"a": 1})).unwrap();
        writer.write(&"two").unwrap();
        assert!(!path.exists(), "not visible before finish");
        assert_eq!(writer.finish().unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n\"two\"\n"
        );
        assert!(!dir.path().join("out.jsonl.partial").exists());
    }

    #[test]
    fn json_documents_end_with_a_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        write_json(&path, &serde_json::json!({"k": "v"})).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n  \"k\": \"v\"\n}\n"
        );
    }
}
