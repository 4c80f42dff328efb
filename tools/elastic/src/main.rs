//! `elastic`: Elastic's host tool (relying-party subcommands: measure, verify).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod attest;
mod measure;
mod verify;

/// Elastic host tool.
#[derive(Debug, Parser)]
#[command(name = "elastic", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Compute the SEV-SNP launch measurement of a `-bios` image.
    Measure(measure::Args),
    /// Verify an SEV-SNP attestation report and its certificate chain.
    Verify(verify::Args),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Measure(args) => measure::main(args),
        Command::Verify(args) => verify::main(args),
    }
}
