//! Frames from the peer. Every frame is validated; a violation is returned as the
//! [`TransportError`] to close the connection with, and a frame for a stream whose state was
//! already released is ignored.

use std::time::Instant;

use super::state::StreamsState;
use super::{Dir, StreamEvent, StreamId};
use crate::error::TransportError;
use crate::wire::FrameType;
use crate::wire::frame::{ResetStream, StopSending, StreamFrame};

/// A stream with more reassembly ranges than this makes the connection check its total.
const FRAGMENT_CHECK_FROM: usize = 64;

/// Which of our halves a frame is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    /// Our receiving half (the peer sends: STREAM, RESET_STREAM, STREAM_DATA_BLOCKED).
    Recv,
    /// Our sending half (the peer receives: MAX_STREAM_DATA, STOP_SENDING).
    Send,
}

impl StreamsState {
    /// Resolves the stream a frame names (RFC 9000 §3.2, §19): opens the peer's streams up to
    /// it, and returns whether its state is held (`false`: released, ignore the frame).
    fn stream_for_frame(&mut self, id: StreamId, half: Half) -> Result<bool, TransportError> {
        match half {
            Half::Recv if !id.can_receive(self.side) => {
                return Err(TransportError::stream_state(format!(
                    "stream {id} is our send-only stream"
                )));
            }
            Half::Send if !id.can_send(self.side) => {
                return Err(TransportError::stream_state(format!(
                    "stream {id} is the peer's send-only stream"
                )));
            }
            _ => {}
        }
        if id.initiator() == self.side {
            if !self.limits.is_local_opened(id) {
                return Err(TransportError::stream_state(format!(
                    "stream {id} was never opened"
                )));
            }
        } else {
            let opened = self.limits.open_remote(id)?;
            if !opened.is_empty() {
                for index in opened {
                    if let Some(new) = StreamId::new(self.side.peer(), id.dir(), index) {
                        let stream = self.new_stream(new, 0);
                        self.streams.insert(new, stream);
                    }
                }
                self.events.push_back(StreamEvent::Opened { dir: id.dir() });
            }
        }
        Ok(self.streams.contains_key(&id))
    }

    /// A STREAM frame.
    pub(crate) fn on_stream_frame(&mut self, frame: StreamFrame) -> Result<(), TransportError> {
        let ty = frame.header().frame_type();
        self.stream_frame(frame).map_err(|e| e.in_frame(ty))
    }

    fn stream_frame(&mut self, frame: StreamFrame) -> Result<(), TransportError> {
        let id = StreamId::from_varint(frame.id);
        if !self.stream_for_frame(id, Half::Recv)? {
            return Ok(());
        }
        let max_fragments = self.config.max_fragments_per_stream;
        let Some(recv) = self.streams.get_mut(&id).and_then(|s| s.recv.as_mut()) else {
            return Ok(());
        };
        let offset = frame.offset.into_inner();
        let total = recv.check_frame(id, offset, frame.data.len() as u64, frame.fin)?;
        let conn_total = self
            .conn_recv
            .received()
            .saturating_add(total.saturating_sub(recv.received()));
        if !self.conn_recv.allows(conn_total) {
            return Err(TransportError::flow_control(format!(
                "connection data up to {conn_total} beyond the limit {}",
                self.conn_recv.advertised()
            )));
        }
        let before = recv.buffered();
        let delta = recv.on_frame(id, offset, frame.data, frame.fin, max_fragments)?;
        self.recv_buffered = (self.recv_buffered + recv.buffered()).saturating_sub(before);
        if recv.fragments() > FRAGMENT_CHECK_FROM {
            self.check_total_fragments(id)?;
        }
        self.apply_recv_delta(id, delta);
        Ok(())
    }

    /// The connection-wide bound on reassembly ranges. Summing over the streams is only done
    /// once a stream is fragmented beyond [`FRAGMENT_CHECK_FROM`] ranges, which a legitimate
    /// sender only causes under heavy loss; a peer that spreads its fragments thinly over many
    /// streams reaches the total with each stream past that mark.
    fn check_total_fragments(&self, id: StreamId) -> Result<(), TransportError> {
        let total: usize = self
            .streams
            .values()
            .filter_map(|s| s.recv.as_ref())
            .map(|r| r.fragments())
            .sum();
        if total > self.config.max_fragments {
            return Err(TransportError::protocol_violation(format!(
                "stream {id}: {total} disjoint ranges buffered over all streams, more than {}; \
                 reassembly limit (DESIGN.md §2)",
                self.config.max_fragments
            )));
        }
        Ok(())
    }

    /// Connection-level bookkeeping after a receive half changed.
    fn apply_recv_delta(&mut self, id: StreamId, delta: super::recv::RecvDelta) {
        let received = self.conn_recv.received().saturating_add(delta.received);
        self.conn_recv.receive_to(received);
        if delta.released > 0 {
            self.conn_recv.consume(delta.released, None);
        }
        if delta.readable {
            self.events.push_back(StreamEvent::Readable { id });
        }
        self.maybe_release(id);
    }

    /// A RESET_STREAM frame.
    pub(crate) fn on_reset_stream(&mut self, frame: &ResetStream) -> Result<(), TransportError> {
        self.reset_stream(frame)
            .map_err(|e| e.in_frame(FrameType::RESET_STREAM))
    }

    fn reset_stream(&mut self, frame: &ResetStream) -> Result<(), TransportError> {
        let id = StreamId::from_varint(frame.id);
        if !self.stream_for_frame(id, Half::Recv)? {
            return Ok(());
        }
        let Some(recv) = self.streams.get_mut(&id).and_then(|s| s.recv.as_mut()) else {
            return Ok(());
        };
        let final_size = frame.final_size.into_inner();
        let total = recv.check_reset(id, final_size)?;
        let conn_total = self
            .conn_recv
            .received()
            .saturating_add(total.saturating_sub(recv.received()));
        if !self.conn_recv.allows(conn_total) {
            return Err(TransportError::flow_control(format!(
                "connection data up to {conn_total} (final size of stream {id}) beyond the \
                 limit {}",
                self.conn_recv.advertised()
            )));
        }
        let before = recv.buffered();
        let delta = recv.on_reset(frame.error_code, final_size);
        self.recv_buffered = (self.recv_buffered + recv.buffered()).saturating_sub(before);
        self.apply_recv_delta(id, delta);
        Ok(())
    }

    /// A STOP_SENDING frame: our send half is reset with the peer's code (RFC 9000 §3.5) and
    /// the application gets a `Stopped` event.
    pub(crate) fn on_stop_sending(&mut self, frame: &StopSending) -> Result<(), TransportError> {
        let id = StreamId::from_varint(frame.id);
        if !self
            .stream_for_frame(id, Half::Send)
            .map_err(|e| e.in_frame(FrameType::STOP_SENDING))?
        {
            return Ok(());
        }
        let was_full = self.send_buffer_full();
        let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else {
            return Ok(());
        };
        if let Some(released) = send.on_stop_sending(frame.error_code) {
            self.send_buffered = self.send_buffered.saturating_sub(released);
            self.events.push_back(StreamEvent::Stopped {
                id,
                error_code: frame.error_code,
            });
            self.schedule(id);
            self.queue_control(id);
            if was_full && !self.send_buffer_full() {
                self.wake_all_writable();
            }
        }
        Ok(())
    }

    /// A MAX_DATA frame (or the initial_max_data transport parameter).
    pub(crate) fn on_max_data(&mut self, max: u64) {
        let was_blocked = self.conn_send.available() == 0;
        if !self.conn_send.raise(max) || !was_blocked {
            return;
        }
        let mut parked = std::mem::take(&mut self.conn_blocked);
        for &id in &parked {
            if let Some(stream) = self.streams.get_mut(&id) {
                stream.conn_blocked = false;
            }
            self.schedule(id);
        }
        parked.clear();
        parked.append(&mut self.conn_blocked);
        self.conn_blocked = parked;
    }

    /// A MAX_STREAM_DATA frame.
    pub(crate) fn on_max_stream_data(
        &mut self,
        id: StreamId,
        max: u64,
    ) -> Result<(), TransportError> {
        let known = self
            .stream_for_frame(id, Half::Send)
            .map_err(|e| e.in_frame(FrameType::MAX_STREAM_DATA))?;
        if known
            && let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut())
            && send.on_max_stream_data(max)
        {
            self.wake_writable(id);
        }
        Ok(())
    }

    /// A MAX_STREAMS frame.
    pub(crate) fn on_max_streams(&mut self, dir: Dir, count: u64) -> Result<(), TransportError> {
        let available = self
            .limits
            .on_max_streams(dir, count)
            .map_err(|e| e.in_frame(max_streams_type(dir)))?;
        if available {
            self.events.push_back(StreamEvent::Available { dir });
        }
        Ok(())
    }

    /// A STREAM_DATA_BLOCKED frame at `now`: re-send our limit if the peer missed it or we can
    /// give more (growing the window if the peer keeps hitting it, see `RecvWindow`).
    pub(crate) fn on_stream_data_blocked(
        &mut self,
        now: Instant,
        id: StreamId,
        limit: u64,
    ) -> Result<(), TransportError> {
        let known = self
            .stream_for_frame(id, Half::Recv)
            .map_err(|e| e.in_frame(FrameType::STREAM_DATA_BLOCKED))?;
        if known && let Some(recv) = self.streams.get_mut(&id).and_then(|s| s.recv.as_mut()) {
            recv.on_peer_blocked(limit, Some((now, self.rtt)));
            self.queue_control(id);
        }
        Ok(())
    }

    /// A DATA_BLOCKED frame at `now`.
    pub(crate) fn on_data_blocked(&mut self, now: Instant, limit: u64) {
        self.conn_recv.on_peer_blocked(limit, Some((now, self.rtt)));
    }

    /// A STREAMS_BLOCKED frame.
    pub(crate) fn on_streams_blocked(
        &mut self,
        dir: Dir,
        limit: u64,
    ) -> Result<(), TransportError> {
        self.limits
            .on_streams_blocked(dir, limit)
            .map_err(|e| e.in_frame(streams_blocked_type(dir)))
    }
}

fn max_streams_type(dir: Dir) -> FrameType {
    match dir {
        Dir::Bi => FrameType::MAX_STREAMS_BIDI,
        Dir::Uni => FrameType::MAX_STREAMS_UNI,
    }
}

fn streams_blocked_type(dir: Dir) -> FrameType {
    match dir {
        Dir::Bi => FrameType::STREAMS_BLOCKED_BIDI,
        Dir::Uni => FrameType::STREAMS_BLOCKED_UNI,
    }
}

/// The stream direction of a MAX_STREAMS or STREAMS_BLOCKED frame.
pub(crate) fn dir_from_wire(dir: crate::wire::frame::Dir) -> Dir {
    match dir {
        crate::wire::frame::Dir::Bi => Dir::Bi,
        crate::wire::frame::Dir::Uni => Dir::Uni,
    }
}
