//! `fs-demo`: file system tour through Rust std on a preopened directory (argv[1], default
//! `/data`): creates a directory, writes, appends, renames and lists files, reads them
//! back, then removes everything it made. Every step is printed; output is deterministic.

use std::fs;
use std::io::{Read, Write};
use std::process::exit;

fn step<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> T {
    match r {
        Ok(v) => {
            println!("{what}: ok");
            v
        }
        Err(e) => {
            println!("{what}: FAILED: {e}");
            exit(1);
        }
    }
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/data".to_string());
    let base = format!("{root}/fs-demo");
    println!("fs-demo in {root}");
    let _ = fs::remove_dir_all(&base);
    step("create dir fs-demo", fs::create_dir(&base));
    step(
        "create dir fs-demo/notes",
        fs::create_dir(format!("{base}/notes")),
    );
    step(
        "write fs-demo/hello.txt",
        fs::write(format!("{base}/hello.txt"), "hello, file system\n"),
    );
    let mut f = step(
        "open hello.txt for append",
        fs::OpenOptions::new()
            .append(true)
            .open(format!("{base}/hello.txt")),
    );
    step("append a line", f.write_all(b"second line\n"));
    drop(f);
    for i in 1..=3 {
        step(
            &format!("write notes/note{i}.txt"),
            fs::write(
                format!("{base}/notes/note{i}.txt"),
                format!("note number {i}\n").repeat(i),
            ),
        );
    }
    step(
        "rename hello.txt -> greeting.txt",
        fs::rename(format!("{base}/hello.txt"), format!("{base}/greeting.txt")),
    );
    println!(
        "hello.txt exists after rename: {}",
        fs::metadata(format!("{base}/hello.txt")).is_ok()
    );
    let mut text = String::new();
    step(
        "read greeting.txt",
        fs::File::open(format!("{base}/greeting.txt"))
            .and_then(|mut f| f.read_to_string(&mut text)),
    );
    print!("greeting.txt says:\n{text}");
    for dir in [base.clone(), format!("{base}/notes")] {
        let mut names: Vec<(String, bool, u64)> = step(
            &format!("list {}", &dir[root.len() + 1..]),
            fs::read_dir(&dir),
        )
        .filter_map(|e| e.ok())
        .map(|e| {
            let md = e.metadata().ok();
            (
                e.file_name().to_string_lossy().into_owned(),
                md.as_ref().is_some_and(|m| m.is_dir()),
                md.map_or(0, |m| if m.is_dir() { 0 } else { m.len() }),
            )
        })
        .collect();
        names.sort();
        for (n, is_dir, len) in names {
            if is_dir {
                println!("  {n}/");
            } else {
                println!("  {n} ({len} bytes)");
            }
        }
    }
    step(
        "remove notes/note2.txt",
        fs::remove_file(format!("{base}/notes/note2.txt")),
    );
    let left = fs::read_dir(format!("{base}/notes"))
        .map(|d| d.count())
        .unwrap_or(0);
    println!("notes left: {left}");
    step("remove fs-demo recursively", fs::remove_dir_all(&base));
    println!("fs-demo exists at the end: {}", fs::metadata(&base).is_ok());
    println!("fs-demo done");
}
