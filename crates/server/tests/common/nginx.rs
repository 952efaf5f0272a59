//! Debian's nginx in front of the test's nodes, configured as `deploy/` documents.
//!
//! The generated `nginx.conf` includes `deploy/nginx/mokdan-upgrade-map.conf` and
//! `deploy/nginx/mokdan-proxy.conf` as they are, and copies the `upstream mokdan` block of
//! `deploy/nginx/mokdan-site.conf` with only the node addresses replaced: what the test
//! proves is what docs/deployment.md tells operators to install. nginx runs as a non-daemon child
//! (`daemon off`) with its prefix, logs and temp files in a temp dir, plain HTTP on a free
//! loopback port (TLS is the one part of the site left out).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::node::free_port;

/// The repository's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// The nginx binary, or `None` with the reason the test is skipped.
pub fn binary() -> Option<PathBuf> {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).is_file() {
            return Some(PathBuf::from(p));
        }
    }
    eprintln!("SKIPPED: nginx is not installed (scripts/test.sh installs Debian's nginx package)");
    None
}

/// The documented site's `upstream mokdan { … }` with its `server` addresses replaced by
/// `nodes`, in order (one `server` line per node, each keeping its parameters).
pub fn upstream_block(nodes: &[SocketAddr]) -> String {
    let site = std::fs::read_to_string(deploy_dir().join("nginx/mokdan-site.conf")).unwrap();
    let start = site
        .find("upstream mokdan {")
        .expect("the site has `upstream mokdan`");
    let end = start + site[start..].find("\n}").expect("upstream block ends") + 2;
    let block = &site[start..end];
    let template = block
        .lines()
        .find(|l| l.trim_start().starts_with("server "))
        .expect("a server line");
    let params: String = template
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .skip(2)
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Vec::new();
    let mut placed = false;
    for line in block.lines() {
        if line.trim_start().starts_with("server ") {
            if !placed {
                for n in nodes {
                    out.push(format!("    server {n} {params};"));
                }
                placed = true;
            }
        } else {
            out.push(line.to_string());
        }
    }
    out.join("\n")
}

pub struct Nginx {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Nginx {
    /// A loopback address for nginx, chosen before the nodes that need it in
    /// `PUBLIC_BASE_URL`.
    pub fn pick_addr() -> SocketAddr {
        format!("127.0.0.1:{}", free_port()).parse().unwrap()
    }

    /// Starts nginx on `addr` proxying to `nodes`; `None` (test skipped) without nginx.
    pub async fn start(addr: SocketAddr, nodes: &[SocketAddr]) -> Option<Nginx> {
        let bin = binary()?;
        let dir = tempfile::tempdir().unwrap();
        // Worker processes run as `nobody`: let them reach the temp files.
        let _ = Command::new("chmod")
            .args(["0755", &dir.path().display().to_string()])
            .status();
        let d = dir.path().display().to_string();
        let deploy = deploy_dir().canonicalize().unwrap().display().to_string();
        let conf = format!(
            r#"worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format nodes '$request_method $uri $status upstream=$upstream_addr ustatus=$upstream_status';
    access_log {d}/access.log nodes;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {deploy}/nginx/mokdan-upgrade-map.conf;
{upstream}
    server {{
        listen {addr};
        server_name localhost;
        include {deploy}/nginx/mokdan-proxy.conf;
    }}
}}
"#,
            upstream = upstream_block(nodes)
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(bin)
            .args(["-p", &d, "-c", &path.display().to_string(), "-e"])
            .arg(dir.path().join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx { addr, dir, child };
        nginx.wait_listening().await;
        Some(nginx)
    }

    async fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", self.error_log());
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx not listening:\n{}",
                self.error_log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// One line per request: `METHOD URI STATUS upstream=… ustatus=…`.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master (our own child) stops it and its worker.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
