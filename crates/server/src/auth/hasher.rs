//! Password hashing on a few dedicated threads.
//!
//! Each argon2id run takes 19 MiB and a core for tens of milliseconds. On tokio's blocking
//! pool, a crowd of logins from many addresses (each within its own rate limit) runs as
//! many hashes at once as it has threads, up to 512, and the allocator keeps each thread's
//! freed block: hundreds of megabytes for forty logins. Here a fixed few threads do all the
//! hashing and requests queue for them, so memory stays at a few blocks whatever the crowd,
//! and logins beyond the machine's capacity wait instead of thrashing it.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

/// Hashing threads: one per core, at least two, at most four.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

fn queue() -> &'static Mutex<Sender<Job>> {
    static QUEUE: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads() {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("mokdan-hash-{i}"))
                .spawn(move || work(&rx));
        }
        Mutex::new(tx)
    })
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            // A job that panics loses its answer (its caller sees `None`), not the thread.
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

/// Runs `f` on a hashing thread; `None` if it could not run (or panicked).
pub async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    queue().lock().ok()?.send(job).ok()?;
    rx.await.ok()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn runs_jobs_and_returns_their_results() {
        let results = futures::future::join_all((0..20).map(|i| super::run(move || i * 2))).await;
        assert_eq!(results, (0..20).map(|i| Some(i * 2)).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_panicking_job_does_not_stop_the_others() {
        for _ in 0..super::threads() + 1 {
            assert_eq!(super::run(|| -> u8 { panic!("boom") }).await, None);
        }
        assert_eq!(super::run(|| 7).await, Some(7));
    }
}
