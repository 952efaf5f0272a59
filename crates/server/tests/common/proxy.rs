//! A TCP forwarder that a test can cut and restore, to play a database going away.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

pub struct Proxy {
    pub addr: SocketAddr,
    target: String,
    tasks: Arc<Mutex<Option<JoinSet<()>>>>,
}

impl Proxy {
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = Proxy {
            addr,
            target: target.to_string(),
            tasks: Arc::new(Mutex::new(None)),
        };
        proxy.serve(listener).await;
        proxy
    }

    async fn serve(&self, listener: TcpListener) {
        let mut set = JoinSet::new();
        let target = self.target.clone();
        set.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        *self.tasks.lock().await = Some(set);
    }

    /// Drops every connection and stops listening: the database is "down".
    pub async fn cut(&self) {
        if let Some(mut set) = self.tasks.lock().await.take() {
            set.abort_all();
            while set.join_next().await.is_some() {}
        }
    }

    /// Listens again on the same port: the database is "back".
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener).await;
    }
}
