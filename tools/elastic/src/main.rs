//! `elastic`: the project's host tool. Each subcommand lives in its own module; `main` only
//! parses the command line and dispatches.

mod build;
mod run;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Elastic host tool.
#[derive(Debug, Parser)]
#[command(
    name = "elastic",
    version,
    about = "Elastic host tool: run WASI guests, build, measure, verify"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a wasm32-wasip1 module with Elastic's own WASI implementation (wasi-impl + ramfs).
    Run(run::RunArgs),
    /// Bake WASI guests into a firmware image (from elastic.toml or --guest).
    Build(build::BuildArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run::main(args),
        Command::Build(args) => build::main(args),
    }
}
