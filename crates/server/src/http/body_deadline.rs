//! A deadline on a whole request body, from the moment its headers arrived (#16.6).
//!
//! hyper's header deadline ([`crate::serve`]) ends once the headers are in; after that a
//! client could send its body a byte every few seconds and hold a socket and a task for as
//! long as it liked (a per-read idle timeout, like tower-http's `RequestBodyTimeout`, does
//! not stop that: each byte resets it). Here the body as a whole must arrive by the
//! deadline. Past it, reading the body fails, and [`crate::serve`] answers
//! `408 Request Timeout` and closes the connection.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The body did not arrive in time.
#[derive(Debug)]
pub struct BodyTimedOut;

impl fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl Error for BodyTimedOut {}

/// `inner`, failing with [`BodyTimedOut`] once `deadline` passes before its end.
pub struct DeadlineBody<B> {
    inner: B,
    sleep: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl<B> DeadlineBody<B> {
    /// The body, and a flag that turns true if its deadline passed while it was read.
    pub fn new(inner: B, deadline: Instant) -> (Self, Arc<AtomicBool>) {
        let expired = Arc::new(AtomicBool::new(false));
        let body = Self {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            expired: expired.clone(),
        };
        (body, expired)
    }
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // What has arrived is handed on; only waiting for more is bounded.
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
