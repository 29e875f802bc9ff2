//! Request and response bodies metered against the call's byte budgets,
//! with an idle timeout between response chunks, and filtered for the
//! call's secret values: a response is redacted before the guest reads it,
//! a request body that carries a value not bound to its destination fails
//! before that part is sent.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::Error;

use crate::redact::{Redactor, Streaming};

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

/// Called with the secret's name when a request body is refused.
pub(crate) type OnRefusal = Arc<dyn Fn(&str) + Send + Sync>;

/// A body passed through a [`Streaming`] filter: data is redacted (or the
/// body refused) across frame boundaries; what is held back is flushed
/// before trailers and at the end.
pub(crate) struct Filtered<B> {
    inner: B,
    stream: Streaming,
    /// For a refusing filter: records the refusal for the call's report.
    on_refusal: Option<OnRefusal>,
    /// A trailers frame waiting behind the flushed data.
    pending: Option<Frame<Bytes>>,
    ended: bool,
}

impl<B> Filtered<B> {
    /// Redacts every value `stream` knows (a response to the guest).
    pub(crate) fn redacting(inner: B, redactor: Arc<Redactor>) -> Self {
        Self { inner, stream: Streaming::redacting(redactor), on_refusal: None, pending: None, ended: false }
    }

    /// Fails with `http-request-denied` at the first value it finds.
    pub(crate) fn refusing(inner: B, redactor: Arc<Redactor>, on_refusal: OnRefusal) -> Self {
        Self {
            inner,
            stream: Streaming::refusing(redactor),
            on_refusal: Some(on_refusal),
            pending: None,
            ended: false,
        }
    }

    fn refused(&self, name: &str) -> Error {
        if let Some(on_refusal) = &self.on_refusal {
            on_refusal(name);
        }
        Error::HttpRequestDenied
    }
}

impl<B> Body for Filtered<B>
where
    B: Body<Data = Bytes, Error = Error> + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if let Some(frame) = self.pending.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => match self.stream.push(&data) {
                    Ok(out) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(out))))),
                    Err(name) => Poll::Ready(Some(Err(self.refused(&name)))),
                },
                Err(trailers) => match self.stream.finish() {
                    Ok(out) => {
                        self.pending = Some(trailers);
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))))
                    }
                    Err(name) => Poll::Ready(Some(Err(self.refused(&name)))),
                },
            },
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => {
                self.ended = true;
                match self.stream.finish() {
                    Ok(out) if out.is_empty() => Poll::Ready(None),
                    Ok(out) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(out))))),
                    Err(name) => Poll::Ready(Some(Err(self.refused(&name)))),
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.pending.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // Redaction changes the length.
        SizeHint::default()
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
