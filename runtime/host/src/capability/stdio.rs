//! Standard streams: stdin is closed, stdout and stderr are captured in
//! memory up to a byte cap each.
//!
//! Past the cap, writes still *succeed* for the guest (so a chatty tool is
//! not turned into a crashing one) but the bytes are dropped and the capture
//! is flagged truncated. What is kept is always a prefix of what was written.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::call::Captured;

/// Installs capped stdout and stderr captures; stdin stays closed (the
/// builder's default).
pub(crate) fn prepare(wasi: &mut WasiCtxBuilder, cap_bytes: u64) -> (CappedOutput, CappedOutput) {
    let cap = usize::try_from(cap_bytes).unwrap_or(usize::MAX);
    let stdout = CappedOutput::new(cap);
    let stderr = CappedOutput::new(cap);
    wasi.stdout(stdout.clone());
    wasi.stderr(stderr.clone());
    (stdout, stderr)
}

/// An in-memory output that keeps the first `cap` bytes and counts the rest.
#[derive(Clone, Debug)]
pub(crate) struct CappedOutput {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    kept: BytesMut,
    cap: usize,
    dropped: u64,
}

impl CappedOutput {
    pub(crate) fn new(cap: usize) -> Self {
        Self { inner: Arc::new(Mutex::new(Inner { kept: BytesMut::new(), cap, dropped: 0 })) }
    }

    /// Appends what fits and counts the rest as dropped.
    fn push(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let room = inner.cap.saturating_sub(inner.kept.len());
        let keep = bytes.len().min(room);
        inner.kept.extend_from_slice(&bytes[..keep]);
        inner.dropped += (bytes.len() - keep) as u64;
    }

    /// The kept bytes and the number of bytes dropped.
    pub(crate) fn take(&self) -> Captured {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        Captured { bytes: std::mem::take(&mut inner.kept).freeze(), dropped: inner.dropped }
    }
}

/// The most the guest may write in one `write` call. Bounds the host-side
/// copy per call, not the total.
const WRITE_PERMIT: usize = 64 << 10;

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CappedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_prefix_and_counts_the_rest() {
        let out = CappedOutput::new(5);
        out.push(b"abc");
        out.push(b"defg");
        out.push(b"hi");
        let captured = out.take();
        assert_eq!(&captured.bytes[..], b"abcde");
        assert_eq!(captured.dropped, 4);
    }
}
