//! `hello`: prints a greeting, its arguments (argv[1..]) and its environment (sorted),
//! writes one line to stderr, then exits 0. An argument `exit=N` makes it exit with status N instead.

fn main() {
    println!("hello from a wasm32-wasip1 guest");
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("args: {}", args.len());
    for (i, a) in args.iter().enumerate() {
        println!("  arg[{}] = {a:?}", i + 1);
    }
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.sort();
    println!("env: {}", env.len());
    for (k, v) in &env {
        println!("  {k}={v}");
    }
    let code = args
        .iter()
        .filter_map(|a| a.strip_prefix("exit="))
        .filter_map(|n| n.parse::<i32>().ok())
        .next_back()
        .unwrap_or(0);
    eprintln!("hello: this line goes to stderr");
    println!("exiting with {code}");
    std::process::exit(code);
}
