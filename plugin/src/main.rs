//! `kubectl gitview`: see the crate's documentation.

fn main() -> std::process::ExitCode {
    gitview_kubectl::main()
}
