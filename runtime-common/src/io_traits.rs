//! The runtimes' byte-stream traits on [`SendStream`] and [`RecvStream`]: tokio's
//! `AsyncWrite`/`AsyncRead` (feature `tokio-io`) and futures-io's (feature `futures-io`, used
//! by smol and async-std). Both are thin calls into the same methods; errors are the typed
//! ones wrapped in [`std::io::Error`].

#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
use std::io;
#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
use std::pin::Pin;
#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
use std::task::{Context, Poll};

#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
use crate::stream::{RecvStream, SendStream};

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for SendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_io(cx, buf)
    }

    /// Written data is in the connection's send buffer, which the driver empties on its own.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Finishes the stream (once).
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().shutdown_io())
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for RecvStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // The end of the stream is a read of zero bytes.
        self.get_mut().poll_read_sink(cx, buf.remaining(), |data| {
            buf.put_slice(&data);
            buf.remaining() > 0
        })
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncWrite for SendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_io(cx, buf)
    }

    /// Written data is in the connection's send buffer, which the driver empties on its own.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Finishes the stream (once).
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().shutdown_io())
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncRead for RecvStream {
    /// The end of the stream is a read of zero bytes.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_io(cx, buf)
    }
}
