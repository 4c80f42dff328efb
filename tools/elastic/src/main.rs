//! `elastic`: the project's host tool. Each subcommand lives in its own module; `main` only
//! parses the command line and dispatches.

mod attest;
mod build;
mod measure;
mod run;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Elastic host tool.
#[derive(Debug, Parser)]
#[command(
    name = "elastic",
    version,
    about = "Elastic host tool: run WASI guests, build images, measure them, verify reports"
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
    /// Compute the SEV-SNP launch measurement of a `-bios` image.
    Measure(measure::Args),
    /// Verify an SEV-SNP attestation report and its certificate chain.
    Verify(verify::Args),
    /// Bake WASI guests into a firmware image (from elastic.toml or --guest).
    Build(build::BuildArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run::main(args),
        Command::Measure(args) => measure::main(args),
        Command::Verify(args) => verify::main(args),
        Command::Build(args) => build::main(args),
    }
}
