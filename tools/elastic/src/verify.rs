//! placeholder
use std::process::ExitCode;
/// Arguments of `elastic verify`.
#[derive(Debug, clap::Args)]
pub struct Args {}
/// Runs `elastic verify`.
pub fn main(_args: Args) -> ExitCode {
    ExitCode::FAILURE
}
