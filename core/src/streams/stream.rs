//! One stream: its two halves and its scheduling bookkeeping.

use super::StreamState;
use super::closed::Outcome;
use super::recv::RecvStream;
use super::send::SendStream;

/// A stream's state inside [`StreamsState`](super::StreamsState).
#[derive(Debug)]
pub(super) struct Stream {
    /// Our sending half (`None` on the peer's unidirectional streams).
    pub(super) send: Option<SendStream>,
    /// Our receiving half (`None` on our unidirectional streams).
    pub(super) recv: Option<RecvStream>,
    /// Scheduling priority: higher is more urgent.
    pub(super) priority: i32,
    /// In the scheduler.
    pub(super) queued: bool,
    /// In the list of streams waiting for connection credit.
    pub(super) conn_blocked: bool,
    /// In the control-frame queue.
    pub(super) in_control_queue: bool,
}

impl Stream {
    /// A stream with the given halves.
    pub(super) fn new(send: Option<SendStream>, recv: Option<RecvStream>, priority: i32) -> Self {
        Self {
            send,
            recv,
            priority,
            queued: false,
            conn_blocked: false,
            in_control_queue: false,
        }
    }

    /// Whether both halves are done, so the state can be released.
    pub(super) fn is_terminal(&self) -> bool {
        self.send.as_ref().is_none_or(SendStream::is_terminal)
            && self.recv.as_ref().is_none_or(RecvStream::is_terminal)
    }

    /// How the stream ended, once it [`is_terminal`](Self::is_terminal).
    pub(super) fn outcome(&self) -> Outcome {
        Outcome {
            send: self.send.as_ref().and_then(SendStream::outcome),
            recv: self.recv.as_ref().and_then(RecvStream::outcome),
        }
    }

    /// Whether a control frame waits.
    pub(super) fn has_control(&self) -> bool {
        self.send.as_ref().is_some_and(SendStream::has_control)
            || self.recv.as_ref().is_some_and(RecvStream::has_control)
    }

    /// Whether a STREAM frame can be built (`conn_credit`: the connection allows new data).
    pub(super) fn is_sendable(&self, conn_credit: bool) -> bool {
        self.send
            .as_ref()
            .is_some_and(|s| s.is_sendable(conn_credit))
    }

    /// The state the application sees (the mapping is documented on [`StreamState`]).
    pub(super) fn public_state(&self) -> StreamState {
        let send_reset = self
            .send
            .as_ref()
            .is_some_and(|s| s.is_reset() || s.stopped_by_peer().is_some());
        let recv_reset = self.recv.as_ref().is_some_and(RecvStream::is_reset);
        if send_reset || recv_reset {
            return StreamState::Reset;
        }
        let local_done = self.send.as_ref().is_none_or(SendStream::is_finishing);
        let remote_done = self
            .recv
            .as_ref()
            .is_none_or(RecvStream::is_finished_by_peer);
        match (local_done, remote_done) {
            (false, false) => StreamState::Open,
            (true, false) => StreamState::HalfClosedLocal,
            (false, true) => StreamState::HalfClosedRemote,
            (true, true) => StreamState::Closed,
        }
    }
}
