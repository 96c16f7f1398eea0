//! `gitview-operator`: see the crate docs of `gitview_operator`.
#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    gitview_operator::cli::main()
}
