//! The connection's life: handshake progress, timers, probe timeouts, closing and draining.

use std::time::{Duration, Instant};

use super::handshake::Progress;
use super::timers::Timer;
use super::{CloseFrame, Connection, ConnectionError, Event, Phase, TransportParameters};
use crate::error::{TransportError, TransportErrorCode};
use crate::recovery::{LossTimer, SpaceId, TimerInputs};
use crate::streams::{PeerLimits, Side};
use crate::wire::VarInt;

impl Connection {
    // ----- Handshake -----

    /// Reads the handshake stream of `space` and acts on what the handshake achieved.
    pub(super) fn advance_handshake(
        &mut self,
        now: Instant,
        space: SpaceId,
    ) -> Result<(), TransportError> {
        if self.is_tls() {
            return self.advance_tls(now, space);
        }
        let mut progress = Vec::new();
        let stream = &mut self.spaces[space.index()].handshake;
        self.handshake.read(stream, &mut progress)?;
        for step in progress {
            match step {
                Progress::PeerParameters(params) => self.on_peer_parameters(now, *params)?,
                Progress::Complete if self.side == Side::Client => self.set_established(now),
                // Only a client that received our ServerHello can finish: it then addresses us
                // with the connection ID we chose. A ClientFinished sent blind, to the ID the
                // client picked itself, proves nothing (RFC 9000 §8.1).
                Progress::Complete if !self.packet_proves_receipt => {
                    return Err(TransportError::protocol_violation(
                        "ClientFinished not addressed to the server's connection ID",
                    ));
                }
                Progress::Complete => self.on_handshake_complete(now),
            }
        }
        Ok(())
    }

    pub(super) fn on_peer_parameters(
        &mut self,
        _now: Instant,
        params: TransportParameters,
    ) -> Result<(), TransportError> {
        // RFC 9000 §7.3: the connection IDs both ends used must be authenticated.
        let mismatch =
            |what: &str| TransportError::transport_parameter(format!("{what} does not match"));
        match self.side {
            Side::Client => {
                if params.original_destination_connection_id != Some(self.ids.original_dcid) {
                    return Err(mismatch("original_destination_connection_id"));
                }
                if params.initial_source_connection_id != Some(self.ids.remote) {
                    return Err(mismatch("initial_source_connection_id"));
                }
                if params.retry_source_connection_id != self.ids.retry_scid {
                    return Err(mismatch("retry_source_connection_id"));
                }
            }
            Side::Server => {
                if params.initial_source_connection_id != Some(self.ids.remote) {
                    return Err(mismatch("initial_source_connection_id"));
                }
            }
        }
        let limits = PeerLimits {
            max_data: params.initial_max_data,
            max_stream_data_bidi_local: params.initial_max_stream_data_bidi_local,
            max_stream_data_bidi_remote: params.initial_max_stream_data_bidi_remote,
            max_stream_data_uni: params.initial_max_stream_data_uni,
            max_streams_bidi: params.initial_max_streams_bidi,
            max_streams_uni: params.initial_max_streams_uni,
        };
        self.streams.set_peer_limits(&limits)?;
        self.lanes.set_peer(crate::lanes::PeerLanes {
            max_lanes: params.max_lanes,
            max_message_size: params.max_lane_message_size,
            lane_window: params.initial_max_lane_data,
            window: params.initial_max_lanes_data,
            decompress: params.lane_decompress,
            zstd_dictionary: params.lane_zstd_dictionary,
        });
        // RFC 9000 §10.1: the effective idle timeout is the minimum of both, zero meaning none.
        let local = self.config.idle_timeout;
        self.idle_timeout = match (local.is_zero(), params.max_idle_timeout.is_zero()) {
            (true, true) => None,
            (true, false) => Some(params.max_idle_timeout),
            (false, true) => Some(local),
            (false, false) => Some(local.min(params.max_idle_timeout)),
        };
        if self.side == Side::Client {
            self.cids.set_handshake_token(params.stateless_reset_token);
        }
        self.peer_params = Some(params);
        Ok(())
    }

    pub(super) fn set_established(&mut self, _now: Instant) {
        if self.phase == Phase::Handshaking {
            self.phase = Phase::Established;
            self.events.push_back(Event::Connected);
        }
    }

    /// Server: the ClientFinished arrived; client: HANDSHAKE_DONE arrived.
    pub(super) fn on_handshake_complete(&mut self, now: Instant) {
        if self.side == Side::Server {
            self.handshake_done_pending = true;
            self.set_established(now);
        }
        self.confirm_handshake(now);
    }

    /// Both ends know the handshake completed: the Initial and Handshake spaces are done
    /// (RFC 9001 §4.9, RFC 9002 §6.4).
    pub(super) fn confirm_handshake(&mut self, now: Instant) {
        if self.handshake_confirmed {
            return;
        }
        self.handshake_confirmed = true;
        for id in [SpaceId::Initial, SpaceId::Handshake] {
            self.discard_space(now, id);
        }
        // Path MTU discovery starts, and the strategy's datagram size (a pinned one, say)
        // takes effect, within what the path is known to carry.
        let peer_max = self
            .peer_params
            .as_ref()
            .map_or(u64::from(self.config.max_datagram_size), |p| {
                p.max_udp_payload_size
            });
        self.pmtu.start(now, peer_max);
        let strategy = self
            .selector
            .as_ref()
            .map_or(self.strategy, |selector| *selector.current());
        self.apply_strategy(now, strategy);
    }

    pub(super) fn discard_space(&mut self, now: Instant, id: SpaceId) {
        let space = &mut self.spaces[id.index()];
        if space.discarded {
            return;
        }
        self.keys[id.index()] = None;
        space.discard(&mut self.scratch_lost);
        self.loss.reset_pto_count();
        self.set_loss_timer(now);
    }

    // ----- Timers -----

    /// Every deadline the connection has, by reason.
    pub(super) fn timer_deadlines(&self) -> [Option<(Timer, Instant)>; 10] {
        // A deadline the connection cannot act on must not be reported, or a driver would spin:
        // no ACK timer while the anti-amplification limit forbids sending (the next datagram
        // from the peer lifts it) or for short packets this end cannot send yet (a server
        // without the client's parameters), no keep-alive while a PING is already owed.
        let can_send = !self.at_amplification_limit();
        let data_usable = self.data_space_usable();
        let ack = self
            .spaces
            .iter()
            .filter(|s| s.id != SpaceId::Data || data_usable)
            .filter_map(|s| s.ack_timer())
            .min()
            .filter(|_| can_send);
        let ping_owed = self.spaces[SpaceId::Data.index()].ping_pending;
        let keep_alive = match (self.phase, self.config.keep_alive_interval) {
            (Phase::Established, Some(interval)) if !ping_owed => {
                Some(self.last_ack_eliciting_sent.unwrap_or(self.last_activity) + interval)
            }
            _ => None,
        };
        let active = matches!(self.phase, Phase::Handshaking | Phase::Established);
        [
            self.loss
                .deadline()
                .filter(|_| active)
                .map(|t| (Timer::LossDetection, t)),
            ack.filter(|_| active).map(|t| (Timer::Ack, t)),
            self.idle_deadline()
                .filter(|_| self.phase != Phase::Drained)
                .map(|t| (Timer::Idle, t)),
            keep_alive.map(|t| (Timer::KeepAlive, t)),
            self.timers
                .get(Timer::Close)
                .filter(|_| !active)
                .map(|t| (Timer::Close, t)),
            self.timers
                .get(Timer::CloseResend)
                .filter(|_| self.phase == Phase::Closing)
                .map(|t| (Timer::CloseResend, t)),
            self.timers
                .get(Timer::Pacing)
                .filter(|_| active)
                .map(|t| (Timer::Pacing, t)),
            self.handshake_deadline().map(|t| (Timer::Handshake, t)),
            self.lanes
                .next_timeout()
                .filter(|_| active)
                .map(|t| (Timer::Lanes, t)),
            self.paths
                .deadline()
                .filter(|_| active)
                .map(|t| (Timer::PathValidation, t)),
        ]
    }

    /// Server: a handshake that hears nothing from the client for `handshake_timeout` is
    /// abandoned. A spoofed Initial is never followed by anything, so its half-open connection
    /// goes after that long; a real client on a bad path keeps its handshake alive with every
    /// Initial it repeats (at most 3 s apart with the capped probe backoff).
    fn handshake_deadline(&self) -> Option<Instant> {
        let timeout = self.handshake_timeout?;
        (self.phase == Phase::Handshaking).then(|| self.last_activity + timeout)
    }

    fn idle_deadline(&self) -> Option<Instant> {
        let timeout = self.idle_timeout?;
        // RFC 9000 §10.1: at least three PTOs, so that a few lost probes never end a connection.
        // Without the backoff: a peer that vanished must not keep the connection alive for ever
        // by making our probes back off.
        let floor = (self.rtt.pto_base() + self.peer_max_ack_delay()) * 3;
        Some(self.last_activity + timeout.max(floor))
    }

    /// The current probe timeout interval.
    pub(super) fn pto(&self) -> Duration {
        self.loss.current_pto(&self.rtt, self.peer_max_ack_delay())
    }

    pub(super) fn peer_max_ack_delay(&self) -> Duration {
        if self.handshake_confirmed {
            self.peer_params
                .as_ref()
                .map_or(Duration::ZERO, |p| p.max_ack_delay)
        } else {
            Duration::ZERO
        }
    }

    /// Whether the server is blocked by the anti-amplification limit: what is left of its
    /// budget does not fit a packet. (A budget of a few bytes is as good as none: arming a probe
    /// timer on it would make the timer come due again and again with nothing to send.)
    pub(super) fn at_amplification_limit(&self) -> bool {
        !self.address_validated && self.datagram_budget() < super::send::MIN_PACKET_ROOM
    }

    /// The longest probe interval now: shorter while real-time messages flow.
    fn probe_timeout_cap(&self, now: Instant) -> Option<Duration> {
        let cap = self.config.max_probe_timeout;
        match self.config.realtime_max_probe_timeout {
            Some(realtime) if self.realtime_flowing(now) => {
                Some(cap.map_or(realtime, |c| c.min(realtime)))
            }
            _ => cap,
        }
    }

    /// Re-arms the loss detection timer from the current state (RFC 9002 Appendix A.8).
    pub(super) fn set_loss_timer(&mut self, now: Instant) {
        let inputs = TimerInputs {
            now,
            max_ack_delay: self.peer_max_ack_delay(),
            handshake_confirmed: self.handshake_confirmed,
            has_handshake_keys: false,
            peer_completed_address_validation: self.side == Side::Server
                || self.handshake_confirmed,
            at_amplification_limit: self.at_amplification_limit(),
            max_pto: self.probe_timeout_cap(now),
        };
        let [a, b, c] = &self.spaces;
        self.loss
            .set_timer([&a.recovery, &b.recovery, &c.recovery], &self.rtt, &inputs);
    }

    /// Acts on every timer that expired by `now`; calling it early or late is harmless.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Drained {
            return;
        }
        if self.idle_deadline().is_some_and(|t| t <= now) {
            let timeout = self.idle_timeout.unwrap_or_default();
            self.report_closed(ConnectionError::TimedOut(timeout));
            self.drain_now();
            return;
        }
        if self.handshake_deadline().is_some_and(|t| t <= now) {
            // A half-open connection from a flood, or a client too slow for the limit: dropped
            // silently (a close would only be reflected at a spoofed address). A real client
            // sends its Initial again and starts over.
            let limit = self.handshake_timeout.unwrap_or_default();
            self.report_closed(ConnectionError::HandshakeTimedOut(limit));
            self.drain_now();
            return;
        }
        match self.phase {
            Phase::Closing | Phase::Draining => {
                if self.timers.get(Timer::Close).is_some_and(|t| t <= now) {
                    self.drain_now();
                } else if self.phase == Phase::Closing
                    && let Some(at) = self.timers.get(Timer::CloseResend)
                    && at <= now
                {
                    self.close_pending = true;
                    let interval = at.saturating_duration_since(self.close_started) * 2;
                    self.timers.set(
                        Timer::CloseResend,
                        now + interval.max(Duration::from_millis(1)),
                    );
                }
                return;
            }
            Phase::Handshaking | Phase::Established | Phase::Drained => {}
        }
        if self.timers.get(Timer::Pacing).is_some_and(|t| t <= now) {
            self.timers.stop(Timer::Pacing);
        }
        if self.lanes.next_timeout().is_some_and(|t| t <= now) {
            self.lanes.on_timeout(now);
        }
        if self.paths.deadline().is_some_and(|t| t <= now) {
            self.on_path_timeout(now);
        }
        if let Some(expired) = self.loss.on_timeout(now) {
            match expired {
                LossTimer::LossTime(space) => {
                    let outcome = {
                        let sp = &mut self.spaces[space.index()];
                        self.scratch_lost.clear();
                        sp.recovery
                            .detect_lost(now, &self.rtt, &mut self.scratch_lost)
                    };
                    self.on_packets_lost(now, space, outcome);
                    self.adapt(now);
                }
                LossTimer::Pto(space) => self.on_pto(now, space),
            }
            self.set_loss_timer(now);
        }
        if self.phase == Phase::Established
            && let Some(interval) = self.config.keep_alive_interval
            && self.last_ack_eliciting_sent.unwrap_or(self.last_activity) + interval <= now
        {
            self.spaces[SpaceId::Data.index()].ping_pending = true;
        }
    }

    /// A probe timeout: send one or two ack-eliciting packets in `space` (RFC 9002 §6.2.4),
    /// with new data if there is some, else the oldest unacknowledged data again, else a PING.
    pub(super) fn on_pto(&mut self, _now: Instant, space: SpaceId) {
        self.stats.pto_count += 1;
        self.probes = 2;
        self.probe_space = space;
        let has_new = match space {
            SpaceId::Data => self.streams.has_pending() || self.datagrams.has_pending(),
            SpaceId::Initial | SpaceId::Handshake => {
                self.spaces[space.index()].handshake.has_pending()
            }
        };
        if has_new {
            return;
        }
        let oldest = self.spaces[space.index()]
            .oldest_ack_eliciting()
            .map(|(_, packet)| packet.data.clone());
        match oldest {
            Some(frames) => {
                self.requeue_frames(space, &frames);
                let sp = &mut self.spaces[space.index()];
                let nothing = match space {
                    SpaceId::Data => !self.streams.has_pending(),
                    _ => !sp.handshake.has_pending(),
                };
                if nothing {
                    sp.ping_pending = true;
                }
            }
            None => self.spaces[space.index()].ping_pending = true,
        }
    }

    // ----- Closing -----

    /// Enters the closing state, queuing a CONNECTION_CLOSE (RFC 9000 §10.2).
    pub(super) fn start_closing(
        &mut self,
        now: Instant,
        frame: CloseFrame,
        error: ConnectionError,
    ) {
        if self.is_closed() {
            return;
        }
        self.phase = Phase::Closing;
        self.close_frame = Some(frame);
        self.close_pending = true;
        self.close_started = now;
        self.timers.set(Timer::Close, now + self.pto() * 3);
        // The peer only learns of the close from this frame, and nothing acknowledges it: on a
        // lossy path, repeat it at growing intervals through the closing period, as well as in
        // answer to the peer's packets (RFC 9000 §10.2.1 allows both).
        let first = (self.rtt.smoothed() / 2).max(Duration::from_millis(1));
        self.timers.set(Timer::CloseResend, now + first);
        self.loss.cancel();
        self.report_closed(error);
    }

    /// Closes because the peer broke the protocol.
    pub(super) fn close_with_error(&mut self, now: Instant, error: TransportError) {
        let frame = CloseFrame::Transport {
            code: VarInt::saturating_from_u64(error.code.into_inner()),
            frame_type: VarInt::saturating_from_u64(error.frame.map_or(0, |f| f.value())),
            reason: error.reason.to_string().into_bytes().into(),
        };
        let reported = match self.tls_failure.take() {
            Some(tls) => ConnectionError::Tls(tls),
            None => ConnectionError::TransportError(error),
        };
        self.start_closing(now, frame, reported);
    }

    /// The peer closed: drain (RFC 9000 §10.2.2).
    ///
    /// Unless this end was closing already, it answers with one CONNECTION_CLOSE (NO_ERROR), as
    /// RFC 9000 §10.2.2 allows: a close that did not come from the peer — forged from its
    /// address while packets are not authenticated, or a stale one — then still reaches the
    /// peer, which stops at once instead of waiting out its idle timeout.
    pub(super) fn start_draining(&mut self, now: Instant, error: ConnectionError) {
        if matches!(self.phase, Phase::Draining | Phase::Drained) {
            return;
        }
        let already_closing = self.phase == Phase::Closing;
        self.phase = Phase::Draining;
        self.close_pending = false;
        if !already_closing {
            self.timers.set(Timer::Close, now + self.pto() * 3);
            self.close_frame = Some(CloseFrame::Transport {
                code: VarInt::ZERO,
                frame_type: VarInt::ZERO,
                reason: bytes::Bytes::from_static(b"closing in answer to your CONNECTION_CLOSE"),
            });
            self.close_pending = true;
        }
        self.loss.cancel();
        self.report_closed(error);
    }

    pub(super) fn report_closed(&mut self, error: ConnectionError) {
        if !self.closed_reported {
            self.closed_reported = true;
            self.events.push_back(Event::Closed(error));
        }
    }

    /// The peer sent a stateless reset (RFC 9000 §10.3.1): drain at once, sending nothing.
    pub(crate) fn on_stateless_reset(&mut self) {
        if self.phase == Phase::Drained {
            return;
        }
        self.stats.stateless_resets_received += 1;
        self.report_closed(ConnectionError::Reset);
        self.drain_now();
    }

    pub(super) fn drain_now(&mut self) {
        self.phase = Phase::Drained;
        self.timers.stop_all();
        self.loss.cancel();
        self.events.push_back(Event::Drained);
    }

    /// The error a received CONNECTION_CLOSE reports.
    pub(super) fn peer_close_error(close: &crate::wire::frame::ConnectionClose) -> ConnectionError {
        use crate::wire::frame::ConnectionClose;
        match close {
            ConnectionClose::Application { error_code, reason } => {
                ConnectionError::ApplicationClosed {
                    code: error_code.into_inner(),
                    reason: super::Reason(reason.clone()),
                }
            }
            ConnectionClose::Transport {
                error_code,
                frame_type,
                reason,
            } => ConnectionError::PeerTransportError {
                code: TransportErrorCode::from_u64(error_code.into_inner()),
                frame: (frame_type.into_inner() != 0)
                    .then(|| crate::wire::FrameType::new(frame_type.into_inner())),
                reason: super::Reason(reason.clone()),
            },
        }
    }
}
