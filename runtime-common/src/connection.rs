//! A connection as the application holds it: streams, messages, stats, close.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use weir_core::adapt::StrategyChange;
use weir_core::connection::{ConnectionStats, Datagram};
use weir_core::endpoint::ConnectionHandle;
use weir_core::streams::OpenError;
use weir_core::wire::VarInt;
use weir_core::{Dir, StreamId};

use crate::error::{ConnectionLost, SendDatagramError};
use crate::shared::{Shared, State, TcpRequestKind, dir_index};
use crate::stream::{RecvStream, SendStream};
use crate::tcp::Transport;

/// A weir connection. Cheap to clone; all clones and the connection's streams share it. When
/// the last of them is dropped the connection is closed with code 0.
#[derive(Clone)]
pub struct Connection {
    pub(crate) inner: Arc<ConnRef>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("handle", &self.inner.handle)
            .field("remote", &self.inner.remote)
            .finish()
    }
}

/// What every application object of one connection holds.
pub(crate) struct ConnRef {
    pub(crate) shared: Arc<Shared>,
    pub(crate) handle: ConnectionHandle,
    remote: SocketAddr,
}

impl Drop for ConnRef {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let Some(conn) = state.conns.get_mut(&self.handle) else {
            return;
        };
        conn.attached = false;
        if conn.drained {
            state.conns.remove(&self.handle);
        } else if conn.error.is_none() {
            state.close(self.handle, VarInt::ZERO, b"");
        }
    }
}

impl Connection {
    /// Wraps a connection whose state is registered and marked attached.
    pub(crate) fn new(shared: Arc<Shared>, handle: ConnectionHandle, remote: SocketAddr) -> Self {
        Self {
            inner: Arc::new(ConnRef {
                shared,
                handle,
                remote,
            }),
        }
    }

    /// Runs `f` on the state under the lock, with this connection's handle.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State, ConnectionHandle) -> R) -> R {
        f(&mut self.inner.shared.lock(), self.inner.handle)
    }

    /// The peer's address: where it is now, if it moved (NAT rebinding or migration: a server
    /// follows its client); the last one known once the connection is gone.
    pub fn remote_address(&self) -> SocketAddr {
        self.with_state(|state, handle| {
            state
                .core
                .connection(handle)
                .map_or(self.inner.remote, |c| c.remote_address())
        })
    }

    /// Moves this connection's datagrams to `transport` (see [`crate::tcp`]): to a TCP link to
    /// the peer's address, or back to UDP. The connection carries on: what was in flight on the
    /// old transport and is lost is sent again, nothing reaches the application twice, and the
    /// peer follows the move as it follows a NAT rebinding. The move applies to every
    /// connection of this endpoint to the same peer address. A client-side call: a server's
    /// connections follow their clients. Refused (`false`) without a TCP transport
    /// ([`Config::tcp`](crate::Config::tcp)) or on the QUIC path.
    pub fn set_transport(&self, transport: Transport) -> bool {
        if self.inner.shared.tcp.is_none() {
            return false;
        }
        let remote = self.remote_address();
        let handle = self.inner.handle;
        let kind = match transport {
            Transport::Tcp => TcpRequestKind::Open(handle),
            Transport::Udp => TcpRequestKind::Close(handle),
        };
        self.with_state(|state, _| state.request_transport(remote, kind));
        true
    }

    /// The core's handle of this connection (for logs).
    pub fn handle(&self) -> ConnectionHandle {
        self.inner.handle
    }

    /// Opens a bidirectional stream with `priority` (higher is served first), waiting for stream
    /// credit if the peer's limit is reached.
    pub async fn open_bi(&self, priority: i32) -> Result<(SendStream, RecvStream), ConnectionLost> {
        let id = self.open(Dir::Bi, priority).await?;
        Ok((
            SendStream::new(self.clone(), id),
            RecvStream::new(self.clone(), id),
        ))
    }

    /// Opens a unidirectional stream with `priority`, waiting for stream credit if need be.
    pub async fn open_uni(&self, priority: i32) -> Result<SendStream, ConnectionLost> {
        let id = self.open(Dir::Uni, priority).await?;
        Ok(SendStream::new(self.clone(), id))
    }

    /// The next bidirectional stream the peer opened.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), ConnectionLost> {
        let id = self.accept(Dir::Bi).await?;
        Ok((
            SendStream::new(self.clone(), id),
            RecvStream::new(self.clone(), id),
        ))
    }

    /// The next unidirectional stream the peer opened.
    pub async fn accept_uni(&self) -> Result<RecvStream, ConnectionLost> {
        let id = self.accept(Dir::Uni).await?;
        Ok(RecvStream::new(self.clone(), id))
    }

    async fn open(&self, dir: Dir, priority: i32) -> Result<StreamId, ConnectionLost> {
        poll_fn(|cx| {
            self.with_state(|state, handle| {
                if let Some(lost) = state.lost(handle) {
                    return Poll::Ready(Err(lost));
                }
                let Some(mut conn) = state.core.connection(handle) else {
                    return Poll::Ready(Err(ConnectionLost::EndpointStopped));
                };
                let opened = conn.open(dir, priority);
                let waiting = state.conns.get_mut(&handle);
                match (opened, waiting) {
                    (Ok(id), _) => {
                        state.wake_driver();
                        Poll::Ready(Ok(id))
                    }
                    (Err(_), None) => Poll::Ready(Err(ConnectionLost::EndpointStopped)),
                    (Err(OpenError::Limit { .. }), Some(conn)) => {
                        conn.open[dir_index(dir)].register(cx.waker());
                        // The core queued STREAMS_BLOCKED for the peer.
                        state.wake_driver();
                        Poll::Pending
                    }
                    (Err(OpenError::ConnectionClosed), Some(conn)) => {
                        // Closed, and the driver has yet to report why.
                        conn.lifecycle.register(cx.waker());
                        state.wake_driver();
                        Poll::Pending
                    }
                }
            })
        })
        .await
    }

    async fn accept(&self, dir: Dir) -> Result<StreamId, ConnectionLost> {
        poll_fn(|cx| {
            self.with_state(|state, handle| {
                if let Some(lost) = state.lost(handle) {
                    return Poll::Ready(Err(lost));
                }
                let accepted = state
                    .core
                    .connection(handle)
                    .and_then(|mut c| c.accept(dir));
                match (accepted, state.conns.get_mut(&handle)) {
                    (Some(id), _) => Poll::Ready(Ok(id)),
                    (None, Some(conn)) => {
                        conn.accept[dir_index(dir)].register(cx.waker());
                        Poll::Pending
                    }
                    (None, None) => Poll::Ready(Err(ConnectionLost::EndpointStopped)),
                }
            })
        })
        .await
    }

    /// The largest unreliable message [`send_datagram`](Self::send_datagram) accepts now.
    pub fn max_datagram_size(&self) -> Result<usize, SendDatagramError> {
        self.with_state(|state, handle| {
            if let Some(lost) = state.lost(handle) {
                return Err(lost.into());
            }
            let mut conn = state
                .core
                .connection(handle)
                .ok_or(ConnectionLost::EndpointStopped)?;
            conn.max_datagram_size()
        })
    }

    /// Queues an unreliable message on channel 0, without a deadline.
    pub fn send_datagram(&self, data: Bytes) -> Result<(), SendDatagramError> {
        self.send_datagram_on(0, data, None)
    }

    /// Queues an unreliable message on `channel`, dropped unless sent within `ttl`. When the
    /// queue is full the oldest queued message is dropped (the newest state matters most).
    pub fn send_datagram_on(
        &self,
        channel: u64,
        data: Bytes,
        ttl: Option<Duration>,
    ) -> Result<(), SendDatagramError> {
        self.with_state(|state, handle| {
            if let Some(lost) = state.lost(handle) {
                return Err(lost.into());
            }
            let now = state.now();
            let mut conn = state
                .core
                .connection(handle)
                .ok_or(ConnectionLost::EndpointStopped)?;
            conn.send_datagram(now, channel, data, ttl)?;
            state.wake_driver();
            Ok(())
        })
    }

    /// The next unreliable message from the peer.
    pub async fn read_datagram(&self) -> Result<Datagram, ConnectionLost> {
        poll_fn(|cx| self.poll_read_datagram(cx)).await
    }

    fn poll_read_datagram(&self, cx: &mut Context<'_>) -> Poll<Result<Datagram, ConnectionLost>> {
        self.with_state(|state, handle| {
            let now = state.now();
            if let Some(datagram) = state
                .core
                .connection(handle)
                .and_then(|mut c| c.recv_datagram(now))
            {
                return Poll::Ready(Ok(datagram));
            }
            if let Some(lost) = state.lost(handle) {
                return Poll::Ready(Err(lost));
            }
            match state.conns.get_mut(&handle) {
                Some(conn) => {
                    conn.datagrams.register(cx.waker());
                    Poll::Pending
                }
                None => Poll::Ready(Err(ConnectionLost::EndpointStopped)),
            }
        })
    }

    /// The strategy changes since the last call, oldest first (at most the newest 16 are
    /// kept): what the connection's strategy selector changed and why. The strategy in force is
    /// in [`stats`](Self::stats) (`strategy`).
    pub fn take_strategy_changes(&self) -> Vec<StrategyChange> {
        self.with_state(|state, handle| {
            state
                .conns
                .get_mut(&handle)
                .map(|c| c.strategy_changes.drain(..).collect())
                .unwrap_or_default()
        })
    }

    /// A snapshot of the connection's counters and estimates (the last one taken, once the
    /// connection is gone).
    pub fn stats(&self) -> Option<ConnectionStats> {
        self.with_state(|state, handle| {
            if let Some(conn) = state.core.connection(handle) {
                return Some(conn.stats());
            }
            state.conns.get(&handle).and_then(|c| c.last_stats.clone())
        })
    }

    /// Closes the connection with an application error code and a reason for the peer. Data
    /// not yet sent is abandoned; see [`Endpoint::shutdown`](crate::Endpoint::shutdown) for a
    /// graceful end.
    pub fn close(&self, code: VarInt, reason: &[u8]) {
        self.with_state(|state, handle| state.close(handle, code, reason));
    }

    /// Waits until the connection is closed, and says why.
    pub async fn closed(&self) -> ConnectionLost {
        poll_fn(|cx| {
            self.with_state(|state, handle| {
                if let Some(lost) = state.lost(handle) {
                    return Poll::Ready(lost);
                }
                match state.conns.get_mut(&handle) {
                    Some(conn) => {
                        conn.lifecycle.register(cx.waker());
                        Poll::Pending
                    }
                    None => Poll::Ready(ConnectionLost::EndpointStopped),
                }
            })
        })
        .await
    }
}
