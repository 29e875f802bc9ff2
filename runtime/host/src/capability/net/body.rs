//! Request and response bodies metered against the call's byte budgets,
//! with an idle timeout between response chunks.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::Error;

/// Bytes left of one budget, shared by every body of a call.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    limit: u64,
    used: AtomicU64,
}

impl ByteBudget {
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self { limit, used: AtomicU64::new(0) })
    }

    /// Takes `n` bytes; false (and nothing taken) if that would pass the
    /// limit.
    fn take(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    /// Bytes taken so far.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes still available.
    pub(crate) fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used())
    }
}

/// Which way a body flows; decides the error a spent budget gives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Direction {
    Request,
    Response,
}

/// A body whose data frames are charged to a [`ByteBudget`]. A frame that
/// does not fit fails the body (`http-request-body-size` or
/// `http-response-body-size`) and is not passed on. For responses, `idle`
/// bounds the wait for each next frame.
pub(crate) struct Metered<B> {
    inner: B,
    budget: Arc<ByteBudget>,
    direction: Direction,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
}

impl<B> Metered<B> {
    pub(crate) fn new(
        inner: B,
        budget: Arc<ByteBudget>,
        direction: Direction,
        idle: Option<Duration>,
    ) -> Self {
        let idle = idle.map(|d| (d, Box::pin(tokio::time::sleep(d))));
        Self { inner, budget, direction, idle }
    }

    fn spent(&self) -> Error {
        match self.direction {
            Direction::Request => Error::HttpRequestBodySize(Some(self.budget.limit())),
            Direction::Response => Error::HttpResponseBodySize(Some(self.budget.limit())),
        }
    }
}

impl<B> Body for Metered<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Error>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && !self.budget.take(data.len() as u64)
                {
                    return Poll::Ready(Some(Err(self.spent())));
                }
                if let Some((after, sleep)) = self.idle.as_mut() {
                    let deadline = Instant::now() + *after;
                    sleep.as_mut().reset(deadline);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let idle_expired = match self.idle.as_mut() {
                    Some((_, sleep)) => sleep.as_mut().poll(cx).is_ready(),
                    None => false,
                };
                if idle_expired {
                    Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_never_passes_its_limit() {
        let budget = ByteBudget::new(10);
        assert!(budget.take(6));
        assert!(!budget.take(5), "6 + 5 > 10");
        assert!(budget.take(4));
        assert_eq!(budget.used(), 10);
        assert!(!budget.take(1));
    }
}
