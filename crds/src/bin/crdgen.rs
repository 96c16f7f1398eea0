//! Prints the gitview CustomResourceDefinitions as YAML, or writes one file per CRD with
//! `--out-dir DIR`.
use std::{env, fs, path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let out_dir = match args.as_slice() {
        [] => None,
        [flag, dir] if flag == "--out-dir" => Some(PathBuf::from(dir)),
        _ => {
            eprintln!("usage: crdgen [--out-dir DIR]");
            return ExitCode::from(2);
        }
    };
    for crd in gitview_crds::crds() {
        let yaml = match gitview_crds::crd_yaml(&crd) {
            Ok(yaml) => yaml,
            Err(err) => {
                eprintln!(
                    "crdgen: cannot render {}: {err}",
                    gitview_crds::crd_file_name(&crd)
                );
                return ExitCode::FAILURE;
            }
        };
        match &out_dir {
            None => print!("---\n{yaml}"),
            Some(dir) => {
                let path = dir.join(gitview_crds::crd_file_name(&crd));
                if let Err(err) = fs::write(&path, yaml) {
                    eprintln!("crdgen: cannot write {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}
