//! The `mokdan` binary: all behaviour lives in the library (see `cli`).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    mokdan::cli::main()
}
