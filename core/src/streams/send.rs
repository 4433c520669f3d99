//! The send half of a stream: RFC 9000 §3.1 states, the peer's stream credit, the FIN and the
//! reset.
//!
//! ## Buffering policy
//!
//! A write is accepted only within the peer's stream credit (MAX_STREAM_DATA): bytes the peer
//! has not allowed are never buffered, so a receiver that stops reading bounds what the sender
//! holds to one stream window, and buffered new data can always be sent as far as the stream
//! is concerned. The connection credit (MAX_DATA) is shared by all streams and gates *sending*
//! instead (otherwise one stream's writes could take all of it); the connection-wide send
//! buffer bounds what that leaves buffered. Writes are further bounded by the per-stream and
//! connection-wide send buffers (unacknowledged plus unsent bytes).

use std::ops::Range;

use bytes::Bytes;

use super::closed::SendOutcome;
use super::flow::SendCredit;
use super::send_buf::SendBuffer;
use crate::wire::VarInt;

/// RFC 9000 §3.1 send-stream states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendState {
    /// Nothing sent yet.
    Ready,
    /// Sending.
    Send,
    /// The FIN was sent; data may still need retransmission.
    DataSent,
    /// Everything, FIN included, was acknowledged. Terminal.
    DataRecvd,
    /// Reset: RESET_STREAM is queued or in flight.
    ResetSent {
        /// The application error code.
        error_code: VarInt,
        /// The final size reported.
        final_size: u64,
    },
    /// The peer acknowledged the RESET_STREAM. Terminal.
    ResetRecvd {
        /// The application error code.
        error_code: VarInt,
    },
}

/// A STREAM frame to build: data range, and whether it carries the FIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FramePlan {
    /// The data (possibly empty for a FIN alone).
    pub(super) range: Range<u64>,
    /// Whether this is a retransmission (needs no connection credit).
    pub(super) retransmit: bool,
}

/// One stream's send half.
#[derive(Debug)]
pub(super) struct SendStream {
    state: SendState,
    buf: SendBuffer,
    /// The peer's MAX_STREAM_DATA; `used` is the write offset (writes stay within credit).
    credit: SendCredit,
    /// The application called `finish`.
    finishing: bool,
    /// The FIN must be sent (first time, or again after a loss).
    fin_pending: bool,
    fin_acked: bool,
    reset_pending: bool,
    /// The peer's STOP_SENDING code, if it asked us to stop.
    stopped_by_peer: Option<VarInt>,
    /// The application got `Blocked` (or a short write) and waits for `Writable`.
    pub(super) want_writable: bool,
}

impl SendStream {
    /// A send half with `credit` bytes of stream credit from the peer.
    pub(super) fn new(credit: u64) -> Self {
        Self {
            state: SendState::Ready,
            buf: SendBuffer::default(),
            credit: SendCredit::new(credit),
            finishing: false,
            fin_pending: false,
            fin_acked: false,
            reset_pending: false,
            stopped_by_peer: None,
            want_writable: false,
        }
    }

    /// The RFC 9000 state.
    #[cfg(test)]
    pub(super) fn state(&self) -> SendState {
        self.state
    }

    /// Whether the application may still write (neither finished nor reset).
    pub(super) fn is_writable_state(&self) -> bool {
        matches!(self.state, SendState::Ready | SendState::Send) && !self.finishing
    }

    /// Whether the application finished the stream (FIN queued, sent or acknowledged).
    pub(super) fn is_finishing(&self) -> bool {
        self.finishing
    }

    /// Whether the stream was reset (by us, or at the peer's request).
    pub(super) fn is_reset(&self) -> bool {
        matches!(
            self.state,
            SendState::ResetSent { .. } | SendState::ResetRecvd { .. }
        )
    }

    /// The peer's STOP_SENDING code, if it asked us to stop.
    pub(super) fn stopped_by_peer(&self) -> Option<VarInt> {
        self.stopped_by_peer
    }

    /// Whether nothing more will happen on this half.
    pub(super) fn is_terminal(&self) -> bool {
        matches!(
            self.state,
            SendState::DataRecvd | SendState::ResetRecvd { .. }
        )
    }

    /// How the half ended, once it is terminal (kept after the stream's state is released).
    pub(super) fn outcome(&self) -> Option<SendOutcome> {
        match self.state {
            SendState::DataRecvd => Some(SendOutcome::Finished),
            SendState::ResetRecvd { error_code } => Some(match self.stopped_by_peer {
                Some(code) => SendOutcome::Stopped(code),
                None => SendOutcome::Reset(error_code),
            }),
            _ => None,
        }
    }

    /// Bytes held in the send buffer.
    pub(super) fn buffered(&self) -> u64 {
        self.buf.buffered()
    }

    /// Stream credit left for writes.
    pub(super) fn credit_available(&self) -> u64 {
        self.credit.available()
    }

    /// Appends a copy of `data` (the caller bounded it by the room).
    pub(super) fn write(&mut self, data: &[u8]) {
        self.credit.consume(data.len() as u64);
        self.buf.write(data);
    }

    /// Appends `data` without copying (the caller bounded it by the room).
    pub(super) fn write_chunk(&mut self, data: Bytes) {
        self.credit.consume(data.len() as u64);
        self.buf.write_chunk(data);
    }

    /// A write found no stream credit: queue STREAM_DATA_BLOCKED (once per limit).
    pub(super) fn on_credit_blocked(&mut self) -> bool {
        self.credit.on_blocked()
    }

    /// The application finishes the stream. Returns `false` if it cannot (already finished,
    /// or reset).
    pub(super) fn finish(&mut self) -> bool {
        if !self.is_writable_state() {
            return false;
        }
        self.finishing = true;
        self.fin_pending = true;
        true
    }

    /// Resets the stream with `error_code` (RFC 9000 §3.1: from Ready, Send or Data Sent).
    /// Returns the bytes released from the send buffer, or `None` if the stream was already
    /// reset or fully acknowledged.
    pub(super) fn reset(&mut self, error_code: VarInt) -> Option<u64> {
        if !matches!(
            self.state,
            SendState::Ready | SendState::Send | SendState::DataSent
        ) {
            return None;
        }
        self.state = SendState::ResetSent {
            error_code,
            final_size: self.buf.sent_end(),
        };
        self.fin_pending = false;
        self.reset_pending = true;
        Some(self.buf.discard())
    }

    /// The peer sent STOP_SENDING with `error_code`: reset with its code (RFC 9000 §3.5).
    /// Returns the bytes released, or `None` if there was nothing to reset.
    pub(super) fn on_stop_sending(&mut self, error_code: VarInt) -> Option<u64> {
        let released = self.reset(error_code)?;
        self.stopped_by_peer = Some(error_code);
        Some(released)
    }

    /// Whether a STREAM frame can be built: lost data, a FIN, or new data when the connection
    /// has credit (exactly when [`next_frame`](Self::next_frame) would give one).
    pub(super) fn is_sendable(&self, conn_credit: bool) -> bool {
        self.next_frame(u64::from(conn_credit)).is_some()
    }

    /// Whether new data waits for connection credit.
    pub(super) fn has_unsent(&self) -> bool {
        !self.is_reset() && self.buf.has_unsent()
    }

    /// The next STREAM frame, new data limited to `conn_credit` bytes.
    pub(super) fn next_frame(&self, conn_credit: u64) -> Option<FramePlan> {
        if self.is_reset() {
            return None;
        }
        if let Some((range, retransmit)) = self.buf.next_range(conn_credit) {
            return Some(FramePlan { range, retransmit });
        }
        let end = self.buf.end();
        // A FIN alone: every byte was sent already.
        (self.fin_pending && !self.buf.has_unsent()).then_some(FramePlan {
            range: end..end,
            retransmit: true,
        })
    }

    /// Whether a frame ending at `end` carries the FIN.
    pub(super) fn fin_at(&self, end: u64) -> bool {
        self.fin_pending && end == self.buf.end()
    }

    /// Copies the bytes of `range` to `out`; returns how many it copied.
    pub(super) fn copy_range(&self, range: Range<u64>, out: &mut Vec<u8>) -> usize {
        self.buf.copy_range(range, out)
    }

    /// A frame with `range` (and `fin`) went into a packet.
    pub(super) fn on_frame_sent(&mut self, range: Range<u64>, retransmit: bool, fin: bool) {
        self.buf.on_sent(range, retransmit);
        if self.state == SendState::Ready {
            self.state = SendState::Send;
        }
        if fin {
            self.fin_pending = false;
            if self.state == SendState::Send {
                self.state = SendState::DataSent;
            }
        }
    }

    /// The peer acknowledged a frame. Returns the bytes released and whether the stream just
    /// reached Data Recvd (everything, FIN included, acknowledged).
    pub(super) fn on_acked(&mut self, range: Range<u64>, fin: bool) -> (u64, bool) {
        if self.is_reset() {
            return (0, false);
        }
        let released = self.buf.on_acked(range);
        if fin {
            self.fin_acked = true;
            self.fin_pending = false;
        }
        let done = self.state == SendState::DataSent && self.fin_acked && self.buf.all_acked();
        if done {
            self.state = SendState::DataRecvd;
        }
        (released, done)
    }

    /// A frame was lost: queue its data (and FIN) again. Data of a reset stream is never
    /// retransmitted.
    pub(super) fn on_lost(&mut self, range: Range<u64>, fin: bool) {
        if self.is_reset() || self.state == SendState::DataRecvd {
            return;
        }
        self.buf.on_lost(range);
        if fin && !self.fin_acked {
            self.fin_pending = true;
        }
    }

    /// The peer raised its stream limit (MAX_STREAM_DATA). Returns whether it grew.
    pub(super) fn on_max_stream_data(&mut self, limit: u64) -> bool {
        self.credit.raise(limit)
    }

    /// Whether a control frame waits: RESET_STREAM or STREAM_DATA_BLOCKED.
    pub(super) fn has_control(&self) -> bool {
        self.reset_pending || (self.credit.blocked_pending() && self.is_writable_state())
    }

    /// Takes a pending RESET_STREAM: the error code and final size.
    pub(super) fn take_reset(&mut self) -> Option<(VarInt, u64)> {
        if !std::mem::take(&mut self.reset_pending) {
            return None;
        }
        match self.state {
            SendState::ResetSent {
                error_code,
                final_size,
            } => Some((error_code, final_size)),
            _ => None,
        }
    }

    /// Takes a pending STREAM_DATA_BLOCKED: the limit it reports.
    pub(super) fn take_blocked(&mut self) -> Option<u64> {
        let limit = self.credit.take_blocked()?;
        self.is_writable_state().then_some(limit)
    }

    /// The RESET_STREAM was acknowledged.
    pub(super) fn on_reset_acked(&mut self) -> bool {
        if let SendState::ResetSent { error_code, .. } = self.state {
            self.state = SendState::ResetRecvd { error_code };
            self.reset_pending = false;
            return true;
        }
        false
    }

    /// A RESET_STREAM was lost: send it again unless acknowledged meanwhile.
    pub(super) fn on_reset_lost(&mut self) {
        if matches!(self.state, SendState::ResetSent { .. }) {
            self.reset_pending = true;
        }
    }

    /// A STREAM_DATA_BLOCKED was lost: send it again if still blocked at that limit.
    pub(super) fn on_blocked_lost(&mut self) {
        self.credit.requeue_blocked();
    }
}
