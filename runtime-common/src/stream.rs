//! Streams, with typed-error methods; the runtimes' `AsyncWrite` / `AsyncRead` traits are
//! implemented in `io_traits` (features `tokio-io`, `futures-io`).

use std::future::poll_fn;
#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
use std::io;
use std::task::{Context, Poll};

use bytes::Bytes;
use weir_core::StreamId;
use weir_core::streams::{ReadError as CoreReadError, WriteError as CoreWriteError};
use weir_core::wire::VarInt;

use crate::connection::Connection;
use crate::engine::ConnMut;
use crate::error::{ConnectionLost, ReadError, WriteError};
use crate::shared::register_stream;

/// The sending half of a stream. Dropping it without [`finish`](Self::finish) or
/// [`reset`](Self::reset) finishes it.
#[derive(Debug)]
pub struct SendStream {
    conn: Connection,
    id: StreamId,
    /// Finished or reset: nothing more to do on drop.
    done: bool,
}

impl SendStream {
    pub(crate) fn new(conn: Connection, id: StreamId) -> Self {
        Self {
            conn,
            id,
            done: false,
        }
    }

    /// The stream's ID.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Writes a prefix of `buf`, waiting for room if none; returns how much was taken.
    pub async fn write(&mut self, buf: &[u8]) -> Result<usize, WriteError> {
        poll_fn(|cx| self.poll_write_with(cx, |c, id| c.write(id, buf))).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> Result<(), WriteError> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Writes all of `data` without copying it (small pieces excepted).
    pub async fn write_chunk(&mut self, mut data: Bytes) -> Result<(), WriteError> {
        while !data.is_empty() {
            let n = poll_fn(|cx| self.poll_write_with(cx, |c, id| c.write_chunk(id, data.clone())))
                .await?;
            let _ = data.split_to(n);
        }
        Ok(())
    }

    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(&mut ConnMut<'_>, StreamId) -> Result<usize, CoreWriteError>,
    ) -> Poll<Result<usize, WriteError>> {
        let id = self.id;
        self.conn.with_state(|state, handle| {
            if let Some(lost) = state.lost(handle) {
                return Poll::Ready(Err(lost.into()));
            }
            let Some(mut conn) = state.core.connection(handle) else {
                return Poll::Ready(Err(ConnectionLost::EndpointStopped.into()));
            };
            let closed = conn.is_closed();
            let result = write(&mut conn, id);
            state.wake_driver();
            let Some(waiting) = state.conns.get_mut(&handle) else {
                return Poll::Ready(Err(ConnectionLost::EndpointStopped.into()));
            };
            match result {
                Ok(n) => Poll::Ready(Ok(n)),
                Err(CoreWriteError::Blocked) => {
                    register_stream(&mut waiting.writers, id, cx.waker());
                    Poll::Pending
                }
                Err(CoreWriteError::Stopped(code)) => Poll::Ready(Err(WriteError::Stopped(code))),
                Err(CoreWriteError::ClosedStream(_)) if closed => {
                    // The connection closed; the driver has yet to report why.
                    waiting.lifecycle.register(cx.waker());
                    Poll::Pending
                }
                Err(CoreWriteError::ClosedStream(_)) => Poll::Ready(Err(WriteError::ClosedStream)),
            }
        })
    }

    /// Ends the stream after the data written so far. The peer reads to the end, then sees the
    /// end of the stream.
    pub fn finish(&mut self) -> Result<(), WriteError> {
        self.end(|c, id| c.finish(id))
    }

    /// Abandons the stream with an application error code: data not yet acknowledged is not
    /// retransmitted and the peer's reads fail with [`ReadError::Reset`].
    pub fn reset(&mut self, code: VarInt) -> Result<(), WriteError> {
        self.end(|c, id| c.reset(id, code))
    }

    fn end(
        &mut self,
        op: impl FnOnce(&mut ConnMut<'_>, StreamId) -> Result<(), weir_core::streams::ClosedStream>,
    ) -> Result<(), WriteError> {
        let id = self.id;
        let result = self.conn.with_state(|state, handle| {
            if let Some(lost) = state.lost(handle) {
                return Err(lost.into());
            }
            let mut conn = state
                .core
                .connection(handle)
                .ok_or(ConnectionLost::EndpointStopped)?;
            // A stream the peer stopped can be neither finished nor reset: say so with its
            // code, which the core keeps after the stream's state is gone.
            let result = op(&mut conn, id).map_err(|_| match conn.stopped(id) {
                Some(code) => WriteError::Stopped(code),
                None => WriteError::ClosedStream,
            });
            state.wake_driver();
            result
        });
        if result.is_ok() {
            self.done = true;
        }
        result
    }

    /// Changes the stream's priority (higher is served first).
    pub fn set_priority(&self, priority: i32) -> Result<(), WriteError> {
        self.conn.with_state(|state, handle| {
            let mut conn = state
                .core
                .connection(handle)
                .ok_or(ConnectionLost::EndpointStopped)?;
            conn.set_priority(self.id, priority)
                .map_err(|_| WriteError::ClosedStream)
        })
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        let id = self.id;
        let done = self.done;
        self.conn.with_state(|state, handle| {
            if let Some(conn) = state.conns.get_mut(&handle) {
                conn.writers.remove(&id);
            }
            if !done
                && state.lost(handle).is_none()
                && let Some(mut conn) = state.core.connection(handle)
            {
                // Finishing fails harmlessly on a stream that was already reset.
                let _ = conn.finish(id);
                state.wake_driver();
            }
        });
    }
}

impl SendStream {
    /// Writes a prefix of `buf` (the runtimes' `AsyncWrite::poll_write`).
    #[cfg(any(feature = "tokio-io", feature = "futures-io"))]
    pub(crate) fn poll_write_io(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |c, id| c.write(id, buf))
            .map_err(io::Error::from)
    }

    /// Finishes the stream once (the runtimes' `AsyncWrite::poll_shutdown`/`poll_close`).
    /// Written data is in the connection's send buffer, which the driver empties on its own:
    /// there is nothing to flush.
    #[cfg(any(feature = "tokio-io", feature = "futures-io"))]
    pub(crate) fn shutdown_io(&mut self) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        self.finish().map_err(io::Error::from)
    }
}

/// The receiving half of a stream. Dropping it before the end of the stream asks the peer to
/// stop sending (code 0).
#[derive(Debug)]
pub struct RecvStream {
    conn: Connection,
    id: StreamId,
    /// The end, a reset or a stop was seen: nothing more to do on drop.
    done: bool,
    /// The end of the stream was seen: later reads return the end again without asking the
    /// core (which keeps answering the end too, until the connection itself is gone).
    ended: bool,
}

impl RecvStream {
    pub(crate) fn new(conn: Connection, id: StreamId) -> Self {
        Self {
            conn,
            id,
            done: false,
            ended: false,
        }
    }

    /// The stream's ID.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Reads into `buf`; `Ok(None)` at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ReadError> {
        poll_fn(|cx| self.poll_read_slice(cx, buf)).await
    }

    /// Reads up to `max` bytes without copying; `Ok(None)` at the end of the stream.
    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, ReadError> {
        poll_fn(|cx| {
            let mut chunk = None;
            self.poll_read_with(cx, max, |data| {
                chunk = Some(data);
                false
            })
            .map_ok(|end| if end { None } else { chunk.take() })
        })
        .await
    }

    /// Reads to the end of the stream, failing past `limit` bytes with
    /// [`ReadError::ClosedStream`] after stopping the stream.
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, ReadError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.read_chunk(usize::MAX).await? {
            if out.len() + chunk.len() > limit {
                let _ = self.stop(VarInt::ZERO);
                return Err(ReadError::ClosedStream);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Fills a prefix of `buf` with what is there: `Ready(Ok(Some(n)))`, or `Ready(Ok(None))`
    /// at the end of the stream (`Some(0)` for an empty `buf`).
    fn poll_read_slice(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<Option<usize>, ReadError>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(Some(0)));
        }
        let mut filled = 0;
        self.poll_read_with(cx, buf.len(), |data| {
            let end = filled + data.len();
            if let Some(dst) = buf.get_mut(filled..end) {
                dst.copy_from_slice(&data);
                filled = end;
            }
            filled < buf.len()
        })
        .map_ok(|end| (!end).then_some(filled))
    }

    /// Reads chunks of at most `max` bytes into `sink` while it returns `true` and data is
    /// there. `Ready(Ok(true))` when the stream ended before any data; `Pending` only when
    /// nothing was read.
    fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        mut max: usize,
        mut sink: impl FnMut(Bytes) -> bool,
    ) -> Poll<Result<bool, ReadError>> {
        if self.ended {
            return Poll::Ready(Ok(true));
        }
        let id = self.id;
        let mut ended = false;
        let result = self.conn.with_state(|state, handle| {
            let now = state.now();
            let Some(mut conn) = state.core.connection(handle) else {
                let lost = state
                    .lost(handle)
                    .unwrap_or(ConnectionLost::EndpointStopped);
                return Poll::Ready(Err(lost.into()));
            };
            let closed = conn.is_closed();
            let mut got = false;
            let outcome = loop {
                match conn.read(now, id, max) {
                    Ok(Some(data)) => {
                        got = true;
                        max -= data.len().min(max);
                        if !sink(data) || max == 0 {
                            break Ok(false);
                        }
                    }
                    Ok(None) => {
                        ended = true;
                        break Ok(!got);
                    }
                    Err(CoreReadError::Blocked) if got => break Ok(false),
                    Err(error) => break Err(error),
                }
            };
            if got {
                // Reading returns flow-control credit the peer may be waiting for.
                state.wake_driver();
            }
            match outcome {
                Ok(end) => Poll::Ready(Ok(end)),
                Err(CoreReadError::Reset(code)) => Poll::Ready(Err(ReadError::Reset(code))),
                Err(error) => {
                    if let Some(lost) = state.lost(handle) {
                        return Poll::Ready(Err(lost.into()));
                    }
                    let Some(waiting) = state.conns.get_mut(&handle) else {
                        return Poll::Ready(Err(ConnectionLost::EndpointStopped.into()));
                    };
                    match error {
                        CoreReadError::Blocked => {
                            register_stream(&mut waiting.readers, id, cx.waker());
                            Poll::Pending
                        }
                        _ if closed => {
                            // The connection closed; the driver has yet to report why.
                            waiting.lifecycle.register(cx.waker());
                            state.wake_driver();
                            Poll::Pending
                        }
                        // Stopped by us, or unknown: the core reports a clean end, or a
                        // reset's code, after the stream's state is released.
                        _ => Poll::Ready(Err(ReadError::ClosedStream)),
                    }
                }
            }
        });
        if let Poll::Ready(Ok(true) | Err(_)) = result {
            self.done = true;
        }
        self.ended |= ended;
        result
    }

    /// Asks the peer to stop sending, with an application error code; unread data is dropped.
    pub fn stop(&mut self, code: VarInt) -> Result<(), ReadError> {
        let id = self.id;
        self.done = true;
        self.conn.with_state(|state, handle| {
            if let Some(lost) = state.lost(handle) {
                return Err(lost.into());
            }
            let mut conn = state
                .core
                .connection(handle)
                .ok_or(ConnectionLost::EndpointStopped)?;
            conn.stop(id, code).map_err(|_| ReadError::ClosedStream)?;
            state.wake_driver();
            Ok(())
        })
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        let id = self.id;
        let done = self.done;
        self.conn.with_state(|state, handle| {
            if let Some(conn) = state.conns.get_mut(&handle) {
                conn.readers.remove(&id);
            }
            if !done
                && state.lost(handle).is_none()
                && let Some(mut conn) = state.core.connection(handle)
            {
                let _ = conn.stop(id, VarInt::ZERO);
                state.wake_driver();
            }
        });
    }
}

impl RecvStream {
    /// Reads into `buf` (the runtimes' `AsyncRead::poll_read`): the number of bytes read,
    /// 0 at the end of the stream (or for an empty `buf`).
    #[cfg(feature = "futures-io")]
    pub(crate) fn poll_read_io(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_slice(cx, buf)
            .map_ok(|n| n.unwrap_or(0))
            .map_err(io::Error::from)
    }

    /// Reads into `buf` through `sink` (the tokio `ReadBuf` fills without initialising).
    #[cfg(feature = "tokio-io")]
    pub(crate) fn poll_read_sink(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        sink: impl FnMut(Bytes) -> bool,
    ) -> Poll<io::Result<()>> {
        if max == 0 {
            return Poll::Ready(Ok(()));
        }
        self.poll_read_with(cx, max, sink)
            .map_ok(|_| ())
            .map_err(io::Error::from)
    }
}
