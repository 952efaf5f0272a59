//! A real SMTP server for tests (PyPI `aiosmtpd`, scripts/smtp_sink.py): each message it
//! receives is read back as JSON (envelope, decoded subject, decoded parts). Used by the
//! notification and team tests; skipped with a message when aiosmtpd is not installed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// aiosmtpd's Python: `MOKDAN_SMTP_PYTHON` (scripts/test.sh), else the venv it makes.
fn smtp_python() -> Option<PathBuf> {
    let python = std::env::var_os("MOKDAN_SMTP_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/mokdan-smtp-venv/bin/python"))
        })?;
    let ok = std::process::Command::new(&python)
        .args(["-c", "import aiosmtpd.controller"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

/// A real SMTP server on a free port, writing each message it receives as JSON.
pub struct SmtpSink {
    port: u16,
    folder: tempfile::TempDir,
    child: tokio::process::Child,
}

impl SmtpSink {
    pub async fn start() -> Option<SmtpSink> {
        let Some(python) = smtp_python() else {
            eprintln!(
                "skipped: no aiosmtpd (set MOKDAN_SMTP_PYTHON, or run scripts/test.sh, which \
                 installs it into ~/.cache/mokdan-smtp-venv)"
            );
            return None;
        };
        let folder = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smtp_sink.py");
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .arg(folder.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP server starts")
            .unwrap()
            .unwrap_or_default();
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server said {line:?}"));
        Some(SmtpSink {
            port,
            folder,
            child,
        })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Value> {
        let mut out: Vec<(String, Value)> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (
                    p.display().to_string(),
                    serde_json::from_str(&text).unwrap(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, v)| v).collect()
    }

    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}
