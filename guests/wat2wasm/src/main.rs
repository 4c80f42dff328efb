//! `wat2wasm`: host tool that assembles WebAssembly text (`.wat`) into binary modules
//! with the `wat` crate, for the hand-written fault guests in `guests/wat/`.
//!
//! Usage: `wat2wasm IN.wat OUT.wasm`, or `wat2wasm --dir IN_DIR OUT_DIR` to assemble every
//! `*.wat` in IN_DIR into OUT_DIR/<stem>.wasm. Outputs are only rewritten when their bytes
//! change, so repeated builds keep timestamps stable.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Assembles `input` and writes `output` if the result differs from what is there.
fn assemble(input: &Path, output: &Path) -> Result<bool, String> {
    let bytes = wat::parse_file(input).map_err(|e| format!("{}: {e}", input.display()))?;
    if std::fs::read(output).ok().as_deref() == Some(&bytes[..]) {
        return Ok(false);
    }
    std::fs::write(output, &bytes).map_err(|e| format!("{}: {e}", output.display()))?;
    Ok(true)
}

/// Every `*.wat` file in `dir`, sorted.
fn wat_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wat"))
        .collect();
    files.sort();
    Ok(files)
}

fn run(args: &[String]) -> Result<(), String> {
    match args {
        [flag, in_dir, out_dir] if flag == "--dir" => {
            std::fs::create_dir_all(out_dir).map_err(|e| format!("{out_dir}: {e}"))?;
            for wat in wat_files(Path::new(in_dir))? {
                let stem = wat.file_stem().ok_or("file without a name")?;
                let out = Path::new(out_dir).join(stem).with_extension("wasm");
                if assemble(&wat, &out)? {
                    println!(
                        "updated {}",
                        out.file_name()
                            .map_or(String::new(), |n| n.to_string_lossy().into_owned())
                    );
                }
            }
            Ok(())
        }
        [input, output] => assemble(Path::new(input), Path::new(output)).map(|_| ()),
        _ => Err("usage: wat2wasm IN.wat OUT.wasm | wat2wasm --dir IN_DIR OUT_DIR".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wat2wasm: {e}");
            ExitCode::FAILURE
        }
    }
}
