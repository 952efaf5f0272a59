//! A TCP proxy between the server and PostgreSQL that the benchmark can cut.
//!
//! "PostgreSQL gone for 15 s" must look to the server exactly as an outage does: open
//! connections reset, new connections refused. Cutting a proxy does that without stopping
//! a database other programs on the machine may be using.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct CutProxy {
    pub addr: std::net::SocketAddr,
    down: Arc<AtomicBool>,
    cut_tx: watch::Sender<u64>,
}

impl CutProxy {
    pub async fn start(target: String) -> anyhow::Result<CutProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let down = Arc::new(AtomicBool::new(false));
        let (cut_tx, cut_rx) = watch::channel(0u64);
        let flag = down.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if flag.load(Ordering::Relaxed) {
                    drop(inbound); // refused: the database is "down"
                    continue;
                }
                let mut cut = cut_rx.clone();
                // Only a cut after this connection opened ends it.
                cut.borrow_and_update();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let mut inbound = inbound;
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Ok(CutProxy { addr, down, cut_tx })
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.down.store(true, Ordering::Relaxed);
        self.cut_tx.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::Relaxed);
    }
}
