//! A Genesys endpoint that never answers, shared by `tests/integration/controller.rs` and
//! `tests/integration/drift.rs`: a loopback TCP listener that accepts every connection, reads
//! nothing, answers nothing and holds the connection open, as an unresponsive tenant's endpoint
//! (or a black-holing proxy) does. It counts the connections it accepted.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The listener; dropping it closes every connection it holds.
pub struct Hanging {
    /// `http://127.0.0.1:PORT/`, for `apiBaseUrl` and `loginBaseUrl`.
    pub url: String,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Hanging {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        Self {
            url,
            accepted,
            task,
        }
    }

    /// Connections accepted so far (each one left unanswered).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.task.abort();
    }
}
