//! Lanes as the application holds them (see `weir_core::lanes`): numbered message channels
//! with a delivery mode, a priority and deadlines.

use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use weir_core::lanes::{
    Compression, LaneConfig, LaneStats, Message, SendMessageError, SendOptions,
};

use crate::connection::Connection;
use crate::error::{ConnectionLost, LaneSendError};

/// One lane of a connection: both directions of lane number [`number`](Self::number). Cheap to
/// clone. Sending follows the lane's configuration (set by
/// [`Connection::lane`]); receiving follows the mode the peer sends with.
#[derive(Clone)]
pub struct Lane {
    conn: Connection,
    lane: u64,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").field("lane", &self.lane).finish()
    }
}

impl Connection {
    /// Lane `lane` of this connection, its sending side set up with `config` (delivery mode,
    /// priority, weight, coalescing, compression: see [`LaneConfig::compression`]). Calling it again for the same lane changes the
    /// configuration (not the mode, once the lane carried a message).
    pub fn lane(&self, lane: u64, config: LaneConfig) -> Result<Lane, LaneSendError> {
        self.with_state(|state, handle| {
            if state.core.is_quic() {
                return Err(LaneSendError::NotOnQuic);
            }
            if let Some(lost) = state.lost(handle) {
                return Err(LaneSendError::ConnectionLost(lost));
            }
            let conn = state
                .core
                .weir_connection(handle)
                .ok_or(LaneSendError::ConnectionLost(
                    ConnectionLost::EndpointStopped,
                ))?;
            conn.configure_lane(lane, config)
                .map_err(LaneSendError::Config)?;
            Ok(())
        })?;
        Ok(Lane {
            conn: self.clone(),
            lane,
        })
    }

    /// The lanes' counters, both directions.
    pub fn lane_stats(&self) -> Option<LaneStats> {
        self.with_state(|state, handle| state.core.weir_connection(handle).map(|c| c.lane_stats()))
    }
}

impl Lane {
    /// The lane's number.
    pub fn number(&self) -> u64 {
        self.lane
    }

    /// Sends `data` as one message, without a deadline; returns its number within the lane.
    /// Waits while the send buffer is full.
    pub async fn send(&self, data: Bytes) -> Result<u64, LaneSendError> {
        self.send_inner(data, None, None).await
    }

    /// Sends `data` as one message compressed with `compression` instead of the lane's
    /// setting (only with a codec the peer announced, and only if it shrinks the message),
    /// given up `ttl` from now if a `ttl` is given.
    pub async fn send_compressed(
        &self,
        data: Bytes,
        compression: Compression,
        ttl: Option<Duration>,
    ) -> Result<u64, LaneSendError> {
        self.send_inner(data, ttl, Some(compression)).await
    }

    /// Sends `data` as one message that is given up `ttl` from now unless delivered by then:
    /// not sent (or, on a reliable lane, not acknowledged) in full. The peer drops it if it
    /// arrives later.
    pub async fn send_with_deadline(
        &self,
        data: Bytes,
        ttl: Duration,
    ) -> Result<u64, LaneSendError> {
        self.send_inner(data, Some(ttl), None).await
    }

    async fn send_inner(
        &self,
        data: Bytes,
        ttl: Option<Duration>,
        compression: Option<Compression>,
    ) -> Result<u64, LaneSendError> {
        let mut data = Some(data);
        poll_fn(|cx| self.poll_send(cx, &mut data, ttl, compression)).await
    }

    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        data: &mut Option<Bytes>,
        ttl: Option<Duration>,
        compression: Option<Compression>,
    ) -> Poll<Result<u64, LaneSendError>> {
        let lane = self.lane;
        self.conn.with_state(|state, handle| {
            if let Some(lost) = state.lost(handle) {
                return Poll::Ready(Err(LaneSendError::ConnectionLost(lost)));
            }
            let now = state.now();
            let Some(conn) = state.core.weir_connection(handle) else {
                return Poll::Ready(Err(LaneSendError::ConnectionLost(
                    ConnectionLost::EndpointStopped,
                )));
            };
            let Some(bytes) = data.clone() else {
                return Poll::Ready(Err(LaneSendError::Rejected(SendMessageError::Closed)));
            };
            let options = SendOptions {
                deadline: ttl.map(|t| now + t),
                compression,
            };
            match conn.send_message_with(now, lane, bytes, options) {
                Ok(seq) => {
                    data.take();
                    state.wake_driver();
                    Poll::Ready(Ok(seq))
                }
                Err(SendMessageError::Blocked) => {
                    if let Some(c) = state.conns.get_mut(&handle) {
                        c.lanes_writable.register(cx.waker());
                    }
                    state.wake_driver();
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(LaneSendError::Rejected(e))),
            }
        })
    }

    /// Lets the messages this lane holds for coalescing go now.
    pub fn flush(&self) {
        let lane = self.lane;
        self.conn.with_state(|state, handle| {
            if let Some(conn) = state.core.weir_connection(handle) {
                conn.flush_lane(lane);
                state.wake_driver();
            }
        });
    }

    /// The next message the peer sent on this lane.
    pub async fn recv(&self) -> Result<Message, ConnectionLost> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Message, ConnectionLost>> {
        let lane = self.lane;
        self.conn.with_state(|state, handle| {
            let now = state.now();
            if let Some(message) = state
                .core
                .weir_connection(handle)
                .and_then(|c| c.recv_message_on(now, lane))
            {
                // Reading may have freed flow-control credit to announce.
                state.wake_driver();
                return Poll::Ready(Ok(message));
            }
            if let Some(lost) = state.lost(handle) {
                return Poll::Ready(Err(lost));
            }
            match state.conns.get_mut(&handle) {
                Some(conn) => {
                    crate::shared::register_lane(&mut conn.lanes_readable, lane, cx.waker());
                    Poll::Pending
                }
                None => Poll::Ready(Err(ConnectionLost::EndpointStopped)),
            }
        })
    }
}
