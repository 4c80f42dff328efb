//! `exit-code`: exits with the status given as argv[1] (default 0) through
//! `std::process::exit` (WASI `proc_exit`). It prints one line first so a runner can check
//! that output written before the exit is not lost. A non-numeric argument exits 2.
//! wasmtime only accepts statuses below 126 in proc_exit; 126 and above end the run with
//! an error instead (the reference runner then exits 134).

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "0".to_string());
    match arg.parse::<i32>() {
        Ok(code) => {
            println!("exit-code: exiting with {code}");
            std::process::exit(code);
        }
        Err(_) => {
            println!("exit-code: not a number: {arg:?}");
            std::process::exit(2);
        }
    }
}
