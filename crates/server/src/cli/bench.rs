//! `mokdan bench …`: the benchmarks are their own binary, `mokdan-bench`, so their load
//! generators never ship inside the service's library. This command runs that binary from
//! beside this one with the same arguments, and its exit status is the command's.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// The `mokdan-bench` binary beside this one (`cargo build` builds both into one directory).
fn sibling() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let path = me.with_file_name(format!("mokdan-bench{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "`mokdan bench` runs the mokdan-bench binary, and there is none beside this one \
             ({}); build it with `cargo build -p mokdan-bench` (a plain `cargo build` builds both)",
            path.display()
        ))
    }
}

/// Runs `mokdan-bench ARGS…` in this process's place (Unix) or as a child whose exit code
/// becomes this one's.
pub fn run(args: &[OsString]) -> ExitCode {
    let path = match sibling() {
        Ok(path) => path,
        Err(message) => return super::fail(&message),
    };
    let mut command = std::process::Command::new(&path);
    command.args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its usage lines then read `mokdan bench …`, the command that was typed.
        let err = command.arg0("mokdan bench").exec();
        super::fail(&format!("cannot run {}: {err}", path.display()))
    }
    #[cfg(not(unix))]
    match command.status() {
        Ok(status) => status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .map_or(ExitCode::FAILURE, ExitCode::from),
        Err(err) => super::fail(&format!("cannot run {}: {err}", path.display())),
    }
}
