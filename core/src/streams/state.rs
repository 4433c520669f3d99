//! [`StreamsState`]: every stream of one connection, the connection-level flow control and
//! stream limits, the scheduler and the application's events.
//!
//! The methods are split by role: the application's calls in `app.rs`, the peer's frames in
//! `incoming.rs`, packet building in `outgoing.rs`, loss-recovery feedback in `feedback.rs`.
//! This file holds the state, its constructor and the bookkeeping they share.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::closed::{ClosedStreams, SendOutcome};
use super::config::{PeerLimits, StreamsConfig};
use super::flow::{RecvWindow, SendCredit};
use super::limits::StreamLimits;
use super::recv::RecvStream;
use super::scheduler::Scheduler;
use super::send::SendStream;
use super::stream::Stream;
use super::{Dir, Side, StreamEvent, StreamId, StreamState};
use crate::error::TransportError;
use crate::wire::VarInt;
use crate::wire::frame::MAX_STREAM_COUNT;

/// RTT assumed for window auto-tuning until the connection measures one (RFC 9002 §6.2.2:
/// initial RTT 333 ms).
const INITIAL_RTT: Duration = Duration::from_millis(333);

/// The streams of one connection (crate-internal; the connection drives it).
///
/// ## How the connection drives it
///
/// - Handshake: advertise [`local_limits`](Self::local_limits) in the transport parameters;
///   pass the peer's to [`set_peer_limits`](Self::set_peer_limits) once. Feed RTT estimates to
///   [`set_rtt`](Self::set_rtt).
/// - Received frames: STREAM, RESET_STREAM, STOP_SENDING, MAX_DATA, MAX_STREAM_DATA,
///   MAX_STREAMS, *_BLOCKED go to the `on_*` methods. An `Err` is a connection error to close
///   with.
/// - Building a packet: call [`write_control_frames`](Self::write_control_frames) first, then
///   [`write_stream_frames`](Self::write_stream_frames) with the space left, both with the same
///   [`StreamsSent`](super::StreamsSent) record, which the connection keeps with the packet.
///   [`has_pending`](Self::has_pending) says whether a packet is worth building.
/// - Loss recovery: [`on_acked`](Self::on_acked) or [`on_lost`](Self::on_lost) once per
///   record. A record acknowledged after it was declared lost may be passed to `on_acked`
///   too (the queued retransmission is then cancelled); reporting it lost after an
///   acknowledgement only costs a redundant retransmission.
/// - After any of these, drain [`poll_event`](Self::poll_event) into the application's events.
#[derive(Debug)]
pub(crate) struct StreamsState {
    pub(super) side: Side,
    pub(super) config: StreamsConfig,
    /// The peer's transport parameters (zero until the handshake delivers them).
    pub(super) peer: PeerLimits,
    /// Live streams. Released streams are absent; [`StreamLimits`] tells them from unopened,
    /// and `closed` remembers how they ended.
    pub(super) streams: BTreeMap<StreamId, Stream>,
    /// How released streams ended (bounded, see `closed.rs`).
    pub(super) closed: ClosedStreams,
    pub(super) limits: StreamLimits,
    /// Connection-level receive window (MAX_DATA we grant).
    pub(super) conn_recv: RecvWindow,
    /// Connection-level send credit (the peer's MAX_DATA); `used` counts new bytes sent.
    pub(super) conn_send: SendCredit,
    /// Bytes held in all send buffers.
    pub(super) send_buffered: u64,
    /// Bytes held in all reassembly buffers.
    pub(super) recv_buffered: u64,
    pub(super) scheduler: Scheduler,
    /// Streams with new data and no connection credit, rescheduled by MAX_DATA.
    pub(super) conn_blocked: Vec<StreamId>,
    /// Streams that may have control frames to send (entries may be stale).
    pub(super) control: VecDeque<StreamId>,
    /// Streams whose application waits for `Writable` (entries may be stale).
    pub(super) writable_waiters: Vec<StreamId>,
    pub(super) events: VecDeque<StreamEvent>,
    pub(super) rtt: Duration,
}

impl StreamsState {
    /// The streams of a connection on `side`, with `config` (brought into range, see
    /// [`StreamsConfig`]).
    pub(crate) fn new(side: Side, config: &StreamsConfig) -> Self {
        let config = config.normalized();
        Self {
            side,
            peer: PeerLimits::default(),
            streams: BTreeMap::new(),
            closed: ClosedStreams::new(config.closed_stream_ranges),
            limits: StreamLimits::new(
                side,
                [config.max_concurrent_bidi, config.max_concurrent_uni],
            ),
            conn_recv: RecvWindow::new(config.receive_window, config.max_receive_window),
            conn_send: SendCredit::new(0),
            send_buffered: 0,
            recv_buffered: 0,
            scheduler: Scheduler::default(),
            conn_blocked: Vec::new(),
            control: VecDeque::new(),
            writable_waiters: Vec::new(),
            events: VecDeque::new(),
            rtt: INITIAL_RTT,
            config,
        }
    }

    /// What we advertise in our transport parameters.
    pub(crate) fn local_limits(&self) -> PeerLimits {
        let window = self.config.stream_receive_window;
        PeerLimits {
            max_data: self.config.receive_window,
            max_stream_data_bidi_local: window,
            max_stream_data_bidi_remote: window,
            max_stream_data_uni: window,
            max_streams_bidi: self.limits.advertised(Dir::Bi),
            max_streams_uni: self.limits.advertised(Dir::Uni),
        }
    }

    /// Applies the peer's transport parameters (once, when the handshake delivers them; values
    /// only ever raise the limits). Stream counts above 2^60 are a TRANSPORT_PARAMETER_ERROR
    /// (RFC 9000 §18.2).
    pub(crate) fn set_peer_limits(&mut self, limits: &PeerLimits) -> Result<(), TransportError> {
        for (name, count) in [
            ("initial_max_streams_bidi", limits.max_streams_bidi),
            ("initial_max_streams_uni", limits.max_streams_uni),
        ] {
            if count > MAX_STREAM_COUNT {
                return Err(TransportError::transport_parameter(format!(
                    "{name} {count} above 2^60"
                )));
            }
        }
        let peer = &mut self.peer;
        peer.max_data = peer.max_data.max(limits.max_data);
        peer.max_stream_data_bidi_local = peer
            .max_stream_data_bidi_local
            .max(limits.max_stream_data_bidi_local);
        peer.max_stream_data_bidi_remote = peer
            .max_stream_data_bidi_remote
            .max(limits.max_stream_data_bidi_remote);
        peer.max_stream_data_uni = peer.max_stream_data_uni.max(limits.max_stream_data_uni);
        peer.max_streams_bidi = peer.max_streams_bidi.max(limits.max_streams_bidi);
        peer.max_streams_uni = peer.max_streams_uni.max(limits.max_streams_uni);
        for (dir, count) in [
            (Dir::Bi, limits.max_streams_bidi),
            (Dir::Uni, limits.max_streams_uni),
        ] {
            if self.limits.on_max_streams(dir, count)? {
                self.events.push_back(StreamEvent::Available { dir });
            }
        }
        self.on_max_data(limits.max_data);
        // Streams opened before (0-RTT) get the stream credit of their kind.
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            let credit = self.initial_send_credit(id);
            if let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut())
                && send.on_max_stream_data(credit)
            {
                self.wake_writable(id);
            }
        }
        Ok(())
    }

    /// The smoothed RTT, for window auto-tuning.
    pub(crate) fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// The next application event.
    pub(crate) fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    /// The state of stream `id` as the application sees it; `None` if it was never opened.
    pub(crate) fn state(&self, id: StreamId) -> Option<StreamState> {
        match self.streams.get(&id) {
            Some(stream) => Some(stream.public_state()),
            None if self.closed.get(id).is_some_and(|o| o.is_reset()) => Some(StreamState::Reset),
            None => self.limits.is_opened(id).then_some(StreamState::Closed),
        }
    }

    /// The code of the peer's STOP_SENDING if it stopped our sending on `id`, while the
    /// stream's state is held and after (as long as the record of closed streams keeps it).
    pub(crate) fn stopped(&self, id: StreamId) -> Option<VarInt> {
        match self.streams.get(&id) {
            Some(stream) => stream.send.as_ref().and_then(SendStream::stopped_by_peer),
            None => match self.closed.get(id)?.send? {
                SendOutcome::Stopped(code) => Some(code),
                SendOutcome::Finished | SendOutcome::Reset(_) => None,
            },
        }
    }

    /// Ranges held by the record of closed streams.
    #[cfg(test)]
    pub(crate) fn closed_ranges(&self) -> usize {
        self.closed.ranges()
    }

    /// Streams whose state is held (open, or closing).
    pub(crate) fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Bytes held in send buffers (written and not yet acknowledged).
    pub(crate) fn send_buffered(&self) -> u64 {
        self.send_buffered
    }

    /// Bytes held in receive buffers (received and not yet read).
    pub(crate) fn recv_buffered(&self) -> u64 {
        self.recv_buffered
    }

    /// The peer's stream credit for a new stream `id`.
    fn initial_send_credit(&self, id: StreamId) -> u64 {
        match (id.initiator() == self.side, id.dir()) {
            (true, Dir::Bi) => self.peer.max_stream_data_bidi_remote,
            (true, Dir::Uni) => self.peer.max_stream_data_uni,
            (false, _) => self.peer.max_stream_data_bidi_local,
        }
    }

    /// A new stream `id` with the halves its kind has.
    pub(super) fn new_stream(&self, id: StreamId, priority: i32) -> Stream {
        let send = id
            .can_send(self.side)
            .then(|| SendStream::new(self.initial_send_credit(id)));
        let recv = id.can_receive(self.side).then(|| {
            RecvStream::new(
                self.config.stream_receive_window,
                self.config.max_stream_receive_window,
            )
        });
        Stream::new(send, recv, priority)
    }

    /// Makes the scheduler reflect whether `id` can send: queues it, drops it, or parks it
    /// until MAX_DATA when only connection credit is missing (queueing DATA_BLOCKED).
    pub(super) fn schedule(&mut self, id: StreamId) {
        let conn_credit = self.conn_send.available() > 0;
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let sendable = stream.is_sendable(conn_credit);
        if stream.queued && !sendable {
            self.scheduler.remove(id, stream.priority);
            stream.queued = false;
        }
        if !stream.queued && sendable {
            self.scheduler.push(id, stream.priority);
            stream.queued = true;
        }
        let starved = !conn_credit && stream.send.as_ref().is_some_and(SendStream::has_unsent);
        if starved {
            if !stream.conn_blocked {
                stream.conn_blocked = true;
                self.conn_blocked.push(id);
            }
            self.conn_send.on_blocked();
        }
    }

    /// Queues `id` for control frames if it has any.
    pub(super) fn queue_control(&mut self, id: StreamId) {
        if let Some(stream) = self.streams.get_mut(&id)
            && !stream.in_control_queue
            && stream.has_control()
        {
            stream.in_control_queue = true;
            self.control.push_back(id);
        }
    }

    /// Releases `id`'s state if both halves are done; a released peer stream lets the peer
    /// open another (MAX_STREAMS).
    pub(super) fn maybe_release(&mut self, id: StreamId) {
        if !self.streams.get(&id).is_some_and(Stream::is_terminal) {
            return;
        }
        let Some(stream) = self.streams.remove(&id) else {
            return;
        };
        self.closed.insert(id, stream.outcome());
        if stream.queued {
            self.scheduler.remove(id, stream.priority);
        }
        if let Some(send) = &stream.send {
            self.send_buffered = self.send_buffered.saturating_sub(send.buffered());
        }
        if let Some(recv) = &stream.recv {
            self.recv_buffered = self.recv_buffered.saturating_sub(recv.buffered());
        }
        if id.initiator() != self.side {
            self.limits.on_remote_released(id.dir());
        }
    }

    /// Bytes the application may write to `send` now.
    pub(super) fn write_room(&self, send: &SendStream) -> u64 {
        let stream_room = self
            .config
            .stream_send_buffer
            .saturating_sub(send.buffered());
        let conn_room = self.config.send_buffer.saturating_sub(self.send_buffered);
        stream_room.min(conn_room).min(send.credit_available())
    }

    /// Raises `Writable` for `id` if its application waits and there is room now.
    pub(super) fn wake_writable(&mut self, id: StreamId) {
        let Some(send) = self.streams.get(&id).and_then(|s| s.send.as_ref()) else {
            return;
        };
        if !send.want_writable || !send.is_writable_state() || self.write_room(send) == 0 {
            return;
        }
        if let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) {
            send.want_writable = false;
            self.events.push_back(StreamEvent::Writable { id });
        }
    }

    /// Connection-wide send buffer space freed up: wake every waiting stream that has room.
    pub(super) fn wake_all_writable(&mut self) {
        let mut waiters = std::mem::take(&mut self.writable_waiters);
        waiters.retain(|&id| {
            self.wake_writable(id);
            self.streams
                .get(&id)
                .and_then(|s| s.send.as_ref())
                .is_some_and(|s| s.want_writable && s.is_writable_state())
        });
        // Keep the list's allocation; waiters added meanwhile (none today) stay too.
        waiters.append(&mut self.writable_waiters);
        self.writable_waiters = waiters;
    }

    /// Whether the connection-wide send buffer is full (its waiters need a wake-up when it
    /// frees).
    pub(super) fn send_buffer_full(&self) -> bool {
        self.send_buffered >= self.config.send_buffer
    }
}
