//! The binary as an operator meets it: refusals, admin commands, signals.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mokdan");

/// A command with a clean environment (no variables from the developer's shell).
fn mokdan(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir);
    cmd
}

fn assert_one_line_refusal(out: &std::process::Output, var: &str) {
    assert!(!out.status.success(), "should refuse to start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(lines[0].contains(var), "`{}` does not name {var}", lines[0]);
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn production_refuses_each_missing_secret() {
    let dir = tempfile::tempdir().unwrap();
    let full = [
        ("MOKDAN_ENV", "production"),
        ("TWILIO_AUTH_TOKEN", "token"),
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("JWT_SECRET", "a-long-enough-jwt-secret"),
        ("PUBLIC_BASE_URL", "https://calls.example.com/"),
    ];
    for missing in [
        "TWILIO_AUTH_TOKEN",
        "TWILIO_ACCOUNT_SID",
        "JWT_SECRET",
        "PUBLIC_BASE_URL",
    ] {
        let mut cmd = mokdan(dir.path());
        cmd.arg("serve").env("MOKDAN_LISTEN", "127.0.0.1:0");
        for (k, v) in full.iter().filter(|(k, _)| *k != missing) {
            cmd.env(k, v);
        }
        assert_one_line_refusal(&cmd.output().unwrap(), missing);
    }
}

#[test]
fn bad_values_and_unreachable_database_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("PORT", "http"),
        ("MOKDAN_ENV", "staging"),
        (
            "DATABASE_URL",
            "postgres://postgres:secretpw@127.0.0.1:1/nothing",
        ),
        ("DATABASE_URL", "mysql://localhost/x"),
    ] {
        let out = mokdan(dir.path())
            .arg("serve")
            .env(var, value)
            .output()
            .unwrap();
        assert_one_line_refusal(&out, var);
        assert!(!String::from_utf8_lossy(&out.stderr).contains("secretpw"));
    }
}

/// WhatsApp through Twilio with no Twilio account could never send a message: refused at
/// start, in development too, naming the variable.
#[test]
fn whatsapp_through_twilio_without_the_account_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = mokdan(dir.path())
        .arg("serve")
        .env("MOKDAN_LISTEN", "127.0.0.1:0")
        .env("WHATSAPP_PROVIDER", "twilio")
        .env("TWILIO_AUTH_TOKEN", "token")
        .output()
        .unwrap();
    assert_one_line_refusal(&out, "TWILIO_ACCOUNT_SID");
    assert!(String::from_utf8_lossy(&out.stderr).contains("WHATSAPP_PROVIDER=twilio"));
}

/// Starts `serve` with `vars` until it logs its address; its standard output and error up
/// to then, and the child (killed by the caller).
fn serve_until_listening(
    dir: &std::path::Path,
    vars: &[(&str, &str)],
) -> (String, String, std::process::Child) {
    let mut cmd = mokdan(dir);
    cmd.arg("serve")
        .env("MOKDAN_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut seen = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("\"addr\"") || line.contains("addr=") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (seen, stderr, child)
}

/// SQLite in production starts, but says loudly (log and standard error) that it is
/// unusual, unless MOKDAN_SQLITE_IN_PRODUCTION=1 says it is intended.
#[test]
fn sqlite_in_production_starts_with_a_loud_warning() {
    let production = [
        ("MOKDAN_ENV", "production"),
        ("TWILIO_AUTH_TOKEN", "token"),
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("JWT_SECRET", "a-long-enough-jwt-secret"),
        ("PUBLIC_BASE_URL", "https://calls.example.com"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (log, stderr, _) = serve_until_listening(dir.path(), &production);
    assert!(log.contains("\"addr\""), "it started: {log}");
    let warning = log
        .lines()
        .find(|l| l.contains("SQLITE_IN_PRODUCTION"))
        .unwrap_or_else(|| panic!("no warning in the log: {log}"));
    assert!(warning.contains("\"WARN\""), "{warning}");
    assert!(
        warning.contains("MOKDAN_SQLITE_IN_PRODUCTION=1"),
        "{warning}"
    );
    assert!(stderr.contains("SQLITE_IN_PRODUCTION"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let mut intended = production.to_vec();
    intended.push(("MOKDAN_SQLITE_IN_PRODUCTION", "1"));
    let (log, stderr, _) = serve_until_listening(dir.path(), &intended);
    assert!(log.contains("\"addr\""), "it started: {log}");
    assert!(!log.contains("SQLITE_IN_PRODUCTION"), "{log}");
    assert!(!stderr.contains("SQLITE_IN_PRODUCTION"), "{stderr}");
}

/// With no configuration at all: SQLite in ./mokdan-data, migrations, ready; SIGTERM exits 0.
#[test]
fn serve_with_no_configuration_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = mokdan(dir.path())
        .arg("serve")
        .env("MOKDAN_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut addr = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("addr=").nth(1) {
            addr = Some(rest.split_whitespace().next().unwrap().to_string());
            break;
        }
    }
    let addr = addr.expect("the server logs its address");
    assert!(dir.path().join("mokdan-data/mokdan.db").is_file());
    let body = http_get(&addr, "/readyz");
    assert!(body.contains(r#""status":"ready""#), "{body}");

    let started = Instant::now();
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not stopped within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).unwrap();
    out
}

fn add_business_and_users(db_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = mokdan(dir.path())
            .args(args)
            .env("DATABASE_URL", db_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            // A command that refuses its arguments exits before reading: a closed pipe is fine.
            let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };
    let out = run(
        &[
            "business",
            "add",
            "--name",
            "מרפאת שיניים",
            "--phone",
            "03-1234567",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(id > 0);

    // The same number in another form is the same number.
    let dup = run(
        &[
            "business",
            "add",
            "--name",
            "x",
            "--phone",
            "+972 3 123 4567",
        ],
        None,
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("--phone"));

    let id_s = id.to_string();
    let owner = run(
        &[
            "user",
            "add",
            "--email",
            "owner@clinic.co.il",
            "--role",
            "owner",
            "--business",
            &id_s,
        ],
        Some("a-good-password\n"),
    );
    assert!(
        owner.status.success(),
        "{}",
        String::from_utf8_lossy(&owner.stderr)
    );
    let op = run(
        &[
            "user",
            "add",
            "--email",
            "op@mokdan.co.il",
            "--role",
            "operator",
        ],
        Some("another-password"),
    );
    assert!(
        op.status.success(),
        "{}",
        String::from_utf8_lossy(&op.stderr)
    );

    for (args, stdin, names) in [
        (
            vec![
                "user",
                "add",
                "--email",
                "owner@clinic.co.il",
                "--role",
                "owner",
                "--business",
                &id_s,
            ],
            "a-good-password",
            "--email",
        ),
        (
            vec!["user", "add", "--email", "a@b.co", "--role", "owner"],
            "a-good-password",
            "--business",
        ),
        (
            vec!["user", "add", "--email", "a@b.co", "--role", "king"],
            "a-good-password",
            "--role",
        ),
        (
            vec![
                "user",
                "add",
                "--email",
                "a@b.co",
                "--role",
                "agent",
                "--business",
                "999999",
            ],
            "a-good-password",
            "--business",
        ),
        (
            vec!["user", "add", "--email", "a@b.co", "--role", "operator"],
            "short",
            "password",
        ),
    ] {
        let out = run(&args, Some(stdin));
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(names),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn admin_commands_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    add_business_and_users(&format!("sqlite://{}/admin.db", dir.path().display()));
}

#[tokio::test]
async fn admin_commands_on_postgres() {
    let db = common::create_pg_database().await;
    let url = common::pg_url(&common::pg_host_port(), &db);
    tokio::task::spawn_blocking(move || add_business_and_users(&url))
        .await
        .unwrap();
}
