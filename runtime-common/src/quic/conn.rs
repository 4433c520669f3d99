//! One quinn-proto connection seen through the operations the application objects use on a
//! weir connection, with quinn-proto's results turned into weir's.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use weir_core::adapt::{Strategy, TransportChoice};
use weir_core::congestion::ControllerKind;
use weir_core::connection::{ConnectionError, ConnectionStats, Datagram, Event, Reason};
use weir_core::endpoint::ConnectionHandle;
use weir_core::streams::{ClosedStream, OpenError, ReadError, StreamEvent, WriteError};
use weir_core::wire::VarInt;
use weir_core::{Dir, StreamId, TransportError, TransportErrorCode};

use crate::error::{SendDatagramError, UnsupportedOnQuic};

/// What the endpoint keeps of one QUIC connection.
pub(crate) struct Slot {
    pub(crate) conn: quinn_proto::Connection,
    pub(crate) quinn: quinn_proto::ConnectionHandle,
    pub(crate) generation: u32,
    /// The handshake completed.
    pub(crate) connected: bool,
    /// The application was told the connection closed (or closed it itself).
    pub(crate) closed: bool,
    /// quinn-proto released the connection: the endpoint forgets it after the last events.
    pub(crate) drained: bool,
    /// When a datagram of this connection last arrived (to say how long an idle timeout was).
    pub(crate) last_heard: Instant,
    /// Streams this end opened, per direction (index 0 bidirectional): the peer's limit when
    /// the next open fails.
    pub(crate) opened: [u64; 2],
    /// DATAGRAM frames received, numbering them as weir numbers its messages.
    pub(crate) datagrams_received: u64,
}

impl Slot {
    pub(crate) fn new(
        conn: quinn_proto::Connection,
        quinn: quinn_proto::ConnectionHandle,
        generation: u32,
        now: Instant,
    ) -> Self {
        Self {
            conn,
            quinn,
            generation,
            connected: false,
            closed: false,
            drained: false,
            last_heard: now,
            opened: [0; 2],
            datagrams_received: 0,
        }
    }

    /// quinn-proto's application event as weir's, if the application has a use for it.
    pub(crate) fn translate(&mut self, event: quinn_proto::Event, now: Instant) -> Option<Event> {
        use quinn_proto::StreamEvent as Q;
        Some(match event {
            quinn_proto::Event::HandshakeDataReady | quinn_proto::Event::DatagramsUnblocked => {
                return None;
            }
            quinn_proto::Event::Connected => {
                self.connected = true;
                Event::Connected
            }
            quinn_proto::Event::ConnectionLost { reason } => {
                if self.closed {
                    return None;
                }
                self.closed = true;
                Event::Closed(connection_error(reason, now - self.last_heard))
            }
            quinn_proto::Event::DatagramReceived => Event::DatagramReceived,
            quinn_proto::Event::Stream(event) => Event::Stream(match event {
                Q::Opened { dir } => StreamEvent::Opened { dir: weir_dir(dir) },
                Q::Available { dir } => StreamEvent::Available { dir: weir_dir(dir) },
                Q::Readable { id } => StreamEvent::Readable { id: weir_id(id) },
                Q::Writable { id } => StreamEvent::Writable { id: weir_id(id) },
                Q::Finished { id } => StreamEvent::Finished { id: weir_id(id) },
                Q::Stopped { id, error_code } => StreamEvent::Stopped {
                    id: weir_id(id),
                    error_code: weir_varint(error_code),
                },
            }),
        })
    }
}

/// A QUIC connection as the application objects use it.
pub(crate) struct QuicConn<'a> {
    pub(crate) slot: &'a mut Slot,
    pub(crate) events: &'a mut VecDeque<(ConnectionHandle, Event)>,
    pub(crate) handle: ConnectionHandle,
}

impl QuicConn<'_> {
    pub(crate) fn remote_address(&self) -> SocketAddr {
        self.slot.conn.remote_address()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.slot.closed || self.slot.conn.is_closed()
    }

    pub(crate) fn open(&mut self, dir: Dir, priority: i32) -> Result<StreamId, OpenError> {
        if self.is_closed() {
            return Err(OpenError::ConnectionClosed);
        }
        let index = usize::from(dir == Dir::Uni);
        let Some(id) = self.slot.conn.streams().open(quinn_dir(dir)) else {
            return Err(OpenError::Limit {
                dir,
                limit: self.slot.opened[index],
            });
        };
        self.slot.opened[index] += 1;
        // A stream just opened is known: setting its priority cannot fail.
        let _ = self.slot.conn.send_stream(id).set_priority(priority);
        Ok(weir_id(id))
    }

    pub(crate) fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        self.slot.conn.streams().accept(quinn_dir(dir)).map(weir_id)
    }

    pub(crate) fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        self.slot
            .conn
            .send_stream(quinn_id(id))
            .write(data)
            .map_err(|e| write_error(e, id))
    }

    pub(crate) fn write_chunk(&mut self, id: StreamId, data: Bytes) -> Result<usize, WriteError> {
        let mut chunks = [data];
        self.slot
            .conn
            .send_stream(quinn_id(id))
            .write_chunks(&mut chunks)
            .map(|written| written.bytes)
            .map_err(|e| write_error(e, id))
    }

    pub(crate) fn finish(&mut self, id: StreamId) -> Result<(), ClosedStream> {
        self.slot
            .conn
            .send_stream(quinn_id(id))
            .finish()
            .map_err(|_| ClosedStream { id })
    }

    /// The peer's STOP_SENDING code while quinn-proto holds the stream (it keeps no record of
    /// released streams).
    pub(crate) fn stopped(&mut self, id: StreamId) -> Option<VarInt> {
        self.slot
            .conn
            .send_stream(quinn_id(id))
            .stopped()
            .ok()
            .flatten()
            .map(weir_varint)
    }

    pub(crate) fn reset(&mut self, id: StreamId, code: VarInt) -> Result<(), ClosedStream> {
        self.slot
            .conn
            .send_stream(quinn_id(id))
            .reset(quinn_varint(code))
            .map_err(|_| ClosedStream { id })
    }

    pub(crate) fn set_priority(&mut self, id: StreamId, priority: i32) -> Result<(), ClosedStream> {
        self.slot
            .conn
            .send_stream(quinn_id(id))
            .set_priority(priority)
            .map_err(|_| ClosedStream { id })
    }

    pub(crate) fn read(&mut self, id: StreamId, max: usize) -> Result<Option<Bytes>, ReadError> {
        let mut stream = self.slot.conn.recv_stream(quinn_id(id));
        let mut chunks = stream.read(true).map_err(|_| ClosedStream { id })?;
        let read = chunks.next(max);
        // Whether credit is due to the peer: the caller wakes the driver after a read anyway.
        let _ = chunks.finalize();
        match read {
            Ok(Some(chunk)) => Ok(Some(chunk.bytes)),
            Ok(None) => Ok(None),
            Err(quinn_proto::ReadError::Blocked) => Err(ReadError::Blocked),
            Err(quinn_proto::ReadError::Reset(code)) => Err(ReadError::Reset(weir_varint(code))),
        }
    }

    pub(crate) fn stop(&mut self, id: StreamId, code: VarInt) -> Result<(), ClosedStream> {
        self.slot
            .conn
            .recv_stream(quinn_id(id))
            .stop(quinn_varint(code))
            .map_err(|_| ClosedStream { id })
    }

    pub(crate) fn max_datagram_size(&mut self) -> Result<usize, SendDatagramError> {
        use weir_core::connection::SendDatagramError as Core;
        if self.is_closed() {
            return Err(SendDatagramError::Rejected(Core::Closed));
        }
        if !self.slot.connected {
            return Err(SendDatagramError::Rejected(Core::NotConnected));
        }
        self.slot
            .conn
            .datagrams()
            .max_size()
            .ok_or(SendDatagramError::Rejected(Core::UnsupportedByPeer))
    }

    /// Queues a DATAGRAM frame; a full queue drops the oldest, as weir's does.
    pub(crate) fn send_datagram(
        &mut self,
        channel: u64,
        data: Bytes,
        ttl: Option<std::time::Duration>,
    ) -> Result<(), SendDatagramError> {
        use weir_core::connection::SendDatagramError as Core;
        if channel != 0 {
            return Err(UnsupportedOnQuic::Channels.into());
        }
        if ttl.is_some() {
            return Err(UnsupportedOnQuic::TimeToLive.into());
        }
        let max = self.max_datagram_size()?;
        let size = data.len();
        match self.slot.conn.datagrams().send(data, true) {
            Ok(()) => Ok(()),
            Err(quinn_proto::SendDatagramError::UnsupportedByPeer) => {
                Err(SendDatagramError::Rejected(Core::UnsupportedByPeer))
            }
            Err(quinn_proto::SendDatagramError::Disabled) => {
                Err(UnsupportedOnQuic::DatagramsDisabled.into())
            }
            Err(quinn_proto::SendDatagramError::TooLarge) => {
                Err(SendDatagramError::Rejected(Core::TooLarge { size, max }))
            }
            // Only without dropping the oldest, which is never asked.
            Err(quinn_proto::SendDatagramError::Blocked(_)) => Ok(()),
        }
    }

    pub(crate) fn recv_datagram(&mut self) -> Option<Datagram> {
        let data = self.slot.conn.datagrams().recv()?;
        let sequence = self.slot.datagrams_received;
        self.slot.datagrams_received += 1;
        Some(Datagram {
            channel: 0,
            sequence,
            data,
            deadline: None,
        })
    }

    /// Closes the connection (once) and tells the application, as weir's core does.
    pub(crate) fn close(&mut self, now: Instant, code: VarInt, reason: &[u8]) {
        if self.slot.closed {
            return;
        }
        self.slot.closed = true;
        self.slot
            .conn
            .close(now, quinn_varint(code), Bytes::copy_from_slice(reason));
        self.events
            .push_back((self.handle, Event::Closed(ConnectionError::LocallyClosed)));
    }

    pub(crate) fn stats(&self) -> ConnectionStats {
        let quinn = self.slot.conn.stats();
        let rtt = self.slot.conn.rtt();
        let strategy = Strategy {
            transport: TransportChoice::Quic,
            ..Strategy::plain(
                controller_kind(self.slot.conn.congestion_state()),
                quinn.path.current_mtu,
            )
        };
        ConnectionStats {
            packets_sent: quinn.path.sent_packets,
            bytes_sent: quinn.udp_tx.bytes,
            packets_received: quinn.udp_rx.datagrams,
            bytes_received: quinn.udp_rx.bytes,
            packets_lost: quinn.path.lost_packets,
            bytes_lost: quinn.path.lost_bytes,
            congestion_events: quinn.path.congestion_events,
            srtt: rtt,
            latest_rtt: rtt,
            min_rtt: quinn.path.min_rtt,
            cwnd: quinn.path.cwnd,
            ..ConnectionStats::zeroed(strategy)
        }
    }
}

/// The algorithm behind quinn-proto's controller: weir's (through weir-quinn-cc) or quinn's own
/// CUBIC, NewReno and BBR. An application's own controller is reported as CUBIC, quinn-proto's
/// default.
fn controller_kind(controller: &dyn quinn_proto::congestion::Controller) -> ControllerKind {
    use quinn_proto::congestion::{Bbr, NewReno};
    let any = controller.clone_box().into_any();
    if let Some(weir) = any.downcast_ref::<weir_quinn_cc::WeirController>() {
        weir.kind()
    } else if any.is::<NewReno>() {
        ControllerKind::NewReno
    } else if any.is::<Bbr>() {
        ControllerKind::Bbr
    } else {
        ControllerKind::Cubic
    }
}

/// Why quinn-proto lost a connection, as weir says it.
pub(crate) fn connection_error(
    error: quinn_proto::ConnectionError,
    idle: std::time::Duration,
) -> ConnectionError {
    use quinn_proto::ConnectionError as Q;
    match error {
        Q::VersionMismatch => ConnectionError::VersionMismatch,
        Q::TransportError(e) => ConnectionError::TransportError(TransportError::new(
            TransportErrorCode::from_u64(u64::from(e.code)),
            e.reason,
        )),
        Q::ConnectionClosed(close) => ConnectionError::PeerTransportError {
            code: TransportErrorCode::from_u64(u64::from(close.error_code)),
            frame: None,
            reason: Reason(close.reason),
        },
        Q::ApplicationClosed(close) => ConnectionError::ApplicationClosed {
            code: close.error_code.into_inner(),
            reason: Reason(close.reason),
        },
        Q::Reset => ConnectionError::Reset,
        Q::TimedOut => ConnectionError::TimedOut(idle),
        Q::LocallyClosed => ConnectionError::LocallyClosed,
        Q::CidsExhausted => ConnectionError::TransportError(TransportError::new(
            // CONNECTION_ID_LIMIT_ERROR (RFC 9000 §20.1).
            TransportErrorCode::from_u64(0x9),
            "no connection IDs left",
        )),
    }
}

fn write_error(error: quinn_proto::WriteError, id: StreamId) -> WriteError {
    match error {
        quinn_proto::WriteError::Blocked => WriteError::Blocked,
        quinn_proto::WriteError::Stopped(code) => WriteError::Stopped(weir_varint(code)),
        quinn_proto::WriteError::ClosedStream => WriteError::ClosedStream(ClosedStream { id }),
    }
}

fn weir_dir(dir: quinn_proto::Dir) -> Dir {
    match dir {
        quinn_proto::Dir::Bi => Dir::Bi,
        quinn_proto::Dir::Uni => Dir::Uni,
    }
}

fn quinn_dir(dir: Dir) -> quinn_proto::Dir {
    match dir {
        Dir::Bi => quinn_proto::Dir::Bi,
        Dir::Uni => quinn_proto::Dir::Uni,
    }
}

/// QUIC's stream IDs and weir's share their layout (RFC 9000 §2.1).
fn weir_id(id: quinn_proto::StreamId) -> StreamId {
    StreamId::from_varint(weir_varint(id.into()))
}

fn quinn_id(id: StreamId) -> quinn_proto::StreamId {
    quinn_varint(id.to_varint()).into()
}

fn weir_varint(v: quinn_proto::VarInt) -> VarInt {
    // Both hold 62-bit values.
    VarInt::from_u64(v.into_inner()).unwrap_or(VarInt::MAX)
}

fn quinn_varint(v: VarInt) -> quinn_proto::VarInt {
    quinn_proto::VarInt::from_u64(v.into_inner()).unwrap_or(quinn_proto::VarInt::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_keep_their_kind() {
        for raw in [0u64, 1, 2, 3, 4, 401, (1 << 62) - 1] {
            let q = quinn_proto::StreamId::from(quinn_proto::VarInt::from_u64(raw).unwrap());
            let w = weir_id(q);
            assert_eq!(w.to_varint().into_inner(), raw);
            assert_eq!(quinn_id(w), q);
            assert_eq!(weir_dir(q.dir()), w.dir());
        }
    }

    #[test]
    fn close_reasons_are_weirs() {
        let idle = std::time::Duration::from_secs(3);
        assert_eq!(
            connection_error(quinn_proto::ConnectionError::TimedOut, idle),
            ConnectionError::TimedOut(idle)
        );
        assert_eq!(
            connection_error(quinn_proto::ConnectionError::Reset, idle),
            ConnectionError::Reset
        );
    }
}
