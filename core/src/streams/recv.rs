//! The receive half of a stream: RFC 9000 §3.2 states, final-size rules (§4.5), the stream's
//! receive window, and reassembly.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::assembler::Assembler;
use super::closed::RecvOutcome;
use super::flow::RecvWindow;
use super::{ReadError, StreamId};
use crate::error::TransportError;
use crate::wire::VarInt;

/// RFC 9000 §3.2 receive-stream states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecvState {
    /// Receiving; the final size is unknown.
    Recv,
    /// The FIN arrived; data is missing.
    SizeKnown,
    /// Every byte up to the final size arrived; the application has not read to the end.
    DataRecvd,
    /// The application read to the end (or stopped and the final size is known). Terminal.
    DataRead,
    /// The peer reset the stream; the application has not been told.
    ResetRecvd(VarInt),
    /// The application was told of the reset (or had stopped). Terminal.
    ResetRead(VarInt),
}

/// What a frame or an application call changed, for the connection-level bookkeeping.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecvDelta {
    /// Increase of the bytes the peer used on this stream (connection flow control).
    pub(super) received: u64,
    /// Bytes to return to the connection window without being read (discarded by a reset or
    /// a stop).
    pub(super) released: u64,
    /// Whether reading stopped blocking (a `Readable` event is due).
    pub(super) readable: bool,
}

/// One stream's receive half.
#[derive(Debug)]
pub(super) struct RecvStream {
    state: RecvState,
    asm: Assembler,
    window: RecvWindow,
    final_size: Option<u64>,
    /// The application's STOP_SENDING code, once it stopped reading.
    stopped: Option<VarInt>,
    stop_pending: bool,
    /// Bytes returned to the connection window (read, or discarded).
    credited: u64,
}

impl RecvStream {
    /// A receive half with a window of `window` bytes, growing to `max_window`.
    pub(super) fn new(window: u64, max_window: u64) -> Self {
        Self {
            state: RecvState::Recv,
            asm: Assembler::default(),
            window: RecvWindow::new(window, max_window),
            final_size: None,
            stopped: None,
            stop_pending: false,
            credited: 0,
        }
    }

    /// The RFC 9000 state.
    #[cfg(test)]
    pub(super) fn state(&self) -> RecvState {
        self.state
    }

    /// Whether the final size is known (the peer finished, or reset).
    pub(super) fn is_finished_by_peer(&self) -> bool {
        !matches!(self.state, RecvState::Recv)
    }

    /// Whether the peer reset the stream.
    pub(super) fn is_reset(&self) -> bool {
        matches!(
            self.state,
            RecvState::ResetRecvd(_) | RecvState::ResetRead(_)
        )
    }

    /// Whether nothing more will happen on this half.
    pub(super) fn is_terminal(&self) -> bool {
        matches!(self.state, RecvState::DataRead | RecvState::ResetRead(_))
    }

    /// How the half ended, once it is terminal (kept after the stream's state is released).
    /// A stop by the application wins over what the peer did after it: reads failed from the
    /// stop on.
    pub(super) fn outcome(&self) -> Option<RecvOutcome> {
        match self.state {
            _ if !self.is_terminal() => None,
            _ if self.stopped.is_some() => Some(RecvOutcome::Stopped),
            RecvState::ResetRead(code) => Some(RecvOutcome::Reset(code)),
            _ => Some(RecvOutcome::Finished),
        }
    }

    /// Bytes buffered for the application.
    pub(super) fn buffered(&self) -> u64 {
        self.asm.buffered()
    }

    /// Bytes the peer used on this stream (for flow control).
    pub(super) fn received(&self) -> u64 {
        self.window.received()
    }

    /// Whether reading would not block.
    pub(super) fn is_readable(&self) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        match self.state {
            RecvState::Recv | RecvState::SizeKnown => self.asm.has_readable(),
            RecvState::DataRecvd | RecvState::ResetRecvd(_) => true,
            RecvState::DataRead | RecvState::ResetRead(_) => false,
        }
    }

    /// Checks a STREAM frame (RFC 9000 §4.5, §4.1) and returns the bytes the peer will have
    /// used on this stream after it.
    pub(super) fn check_frame(
        &self,
        id: StreamId,
        offset: u64,
        len: u64,
        fin: bool,
    ) -> Result<u64, TransportError> {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| TransportError::flow_control(format!("stream {id}: offset overflow")))?;
        if let Some(final_size) = self.final_size {
            if end > final_size {
                return Err(TransportError::final_size(format!(
                    "stream {id}: data up to {end} beyond the final size {final_size}"
                )));
            }
            if fin && end != final_size {
                return Err(TransportError::final_size(format!(
                    "stream {id}: final size changed from {final_size} to {end}"
                )));
            }
        }
        if fin && end < self.window.received() {
            return Err(TransportError::final_size(format!(
                "stream {id}: final size {end} below data already received up to {}",
                self.window.received()
            )));
        }
        if !self.window.allows(end) {
            return Err(TransportError::flow_control(format!(
                "stream {id}: data up to {end} beyond the limit {}",
                self.window.advertised()
            )));
        }
        Ok(end.max(self.window.received()))
    }

    /// Applies a STREAM frame that passed [`check_frame`](Self::check_frame) (and the
    /// connection-level check).
    pub(super) fn on_frame(
        &mut self,
        id: StreamId,
        offset: u64,
        data: Bytes,
        fin: bool,
        max_fragments: usize,
    ) -> Result<RecvDelta, TransportError> {
        let was_readable = self.is_readable();
        let end = offset.saturating_add(data.len() as u64);
        let mut delta = RecvDelta {
            received: self.window.receive_to(end),
            ..RecvDelta::default()
        };
        if !matches!(self.state, RecvState::Recv | RecvState::SizeKnown) {
            return Ok(delta); // everything is in already, or the stream was reset
        }
        if fin {
            self.final_size = Some(end);
            self.state = RecvState::SizeKnown;
        }
        if self.stopped.is_some() {
            delta.released = self.release_all();
            if self.final_size.is_some() {
                self.state = RecvState::DataRead;
            }
            return Ok(delta);
        }
        self.asm.insert(offset, data, max_fragments).map_err(|e| {
            TransportError::protocol_violation(format!(
                "stream {id}: more than {max_fragments} disjoint ranges buffered ({}); \
                 reassembly limit (DESIGN.md §2)",
                e.ranges
            ))
        })?;
        if self
            .final_size
            .is_some_and(|size| self.asm.contiguous_end() >= size)
        {
            self.state = RecvState::DataRecvd;
        }
        delta.readable = !was_readable && self.is_readable();
        Ok(delta)
    }

    /// Checks a RESET_STREAM's final size (RFC 9000 §4.5) and returns the bytes the peer will
    /// have used on this stream after it.
    pub(super) fn check_reset(&self, id: StreamId, final_size: u64) -> Result<u64, TransportError> {
        if let Some(known) = self.final_size
            && known != final_size
        {
            return Err(TransportError::final_size(format!(
                "stream {id}: reset with final size {final_size}, but it is {known}"
            )));
        }
        if final_size < self.window.received() {
            return Err(TransportError::final_size(format!(
                "stream {id}: reset with final size {final_size} below data received up to {}",
                self.window.received()
            )));
        }
        if !self.window.allows(final_size) {
            return Err(TransportError::flow_control(format!(
                "stream {id}: reset with final size {final_size} beyond the limit {}",
                self.window.advertised()
            )));
        }
        Ok(final_size)
    }

    /// Applies a RESET_STREAM that passed [`check_reset`](Self::check_reset).
    pub(super) fn on_reset(&mut self, error_code: VarInt, final_size: u64) -> RecvDelta {
        let mut delta = RecvDelta {
            received: self.window.receive_to(final_size),
            ..RecvDelta::default()
        };
        // RFC 9000 §3.2: in Data Recvd every byte is here; we deliver them and ignore the reset.
        if !matches!(self.state, RecvState::Recv | RecvState::SizeKnown) {
            return delta;
        }
        self.final_size = Some(final_size);
        delta.released = self.release_all();
        if self.stopped.is_some() {
            self.state = RecvState::ResetRead(error_code);
        } else {
            self.state = RecvState::ResetRecvd(error_code);
            delta.readable = true;
        }
        delta
    }

    /// Drops the buffered data and returns every byte the peer used to the connection window;
    /// returns the bytes released.
    fn release_all(&mut self) -> u64 {
        self.asm.discard();
        let released = self.window.received().saturating_sub(self.credited);
        self.credited = self.window.received();
        released
    }

    /// The application reads up to `max_len` bytes (`Ok(None)` at the end). The stream window
    /// gets the credit back here; the caller returns the data's length to the connection
    /// window.
    pub(super) fn read(
        &mut self,
        id: StreamId,
        max_len: usize,
        now: Instant,
        rtt: Duration,
    ) -> Result<Option<Bytes>, ReadError> {
        if self.stopped.is_some() {
            return Err(super::ClosedStream { id }.into());
        }
        match self.state {
            RecvState::ResetRecvd(code) => {
                self.state = RecvState::ResetRead(code);
                return Err(ReadError::Reset(code));
            }
            RecvState::ResetRead(code) => return Err(ReadError::Reset(code)),
            RecvState::DataRead => return Ok(None),
            RecvState::Recv | RecvState::SizeKnown | RecvState::DataRecvd => {}
        }
        if max_len == 0 {
            return if self.asm.has_readable() {
                Ok(Some(Bytes::new()))
            } else if self.state == RecvState::DataRecvd {
                self.state = RecvState::DataRead;
                Ok(None)
            } else {
                Err(ReadError::Blocked)
            };
        }
        match self.asm.read(max_len) {
            Some(data) => {
                self.credited = self.asm.read_offset();
                let tune = (self.state == RecvState::Recv).then_some((now, rtt));
                self.window.consume(data.len() as u64, tune);
                Ok(Some(data))
            }
            None if self.state == RecvState::DataRecvd => {
                self.state = RecvState::DataRead;
                Ok(None)
            }
            None => Err(ReadError::Blocked),
        }
    }

    /// The application stops reading with `error_code`: buffered data is dropped, further data
    /// is discarded on arrival, and STOP_SENDING is queued while the final size is unknown.
    /// Once it is known the half is done at once (RFC 9000 §3.5 makes STOP_SENDING optional
    /// there: the peer's last retransmissions are acknowledged and ignored). Returns the bytes
    /// to credit to the connection window.
    pub(super) fn stop(&mut self, error_code: VarInt) -> u64 {
        if self.stopped.is_some() || self.is_terminal() {
            return 0;
        }
        self.stopped = Some(error_code);
        let released = self.release_all();
        self.state = match self.state {
            // RFC 9000 §3.5: STOP_SENDING is useful while the peer may still send.
            RecvState::Recv => {
                self.stop_pending = true;
                RecvState::Recv
            }
            RecvState::SizeKnown | RecvState::DataRecvd => RecvState::DataRead,
            RecvState::ResetRecvd(code) => RecvState::ResetRead(code),
            terminal => terminal,
        };
        released
    }

    /// Whether a control frame waits: STOP_SENDING or MAX_STREAM_DATA.
    pub(super) fn has_control(&self) -> bool {
        self.stop_frame_due() || self.max_stream_data_due()
    }

    fn stop_frame_due(&self) -> bool {
        self.stop_pending && self.state == RecvState::Recv
    }

    /// MAX_STREAM_DATA is useful only while the final size is unknown and we read.
    fn max_stream_data_due(&self) -> bool {
        self.window.is_pending() && self.state == RecvState::Recv && self.stopped.is_none()
    }

    /// Takes a pending STOP_SENDING: its error code.
    pub(super) fn take_stop(&mut self) -> Option<VarInt> {
        let due = self.stop_frame_due();
        self.stop_pending = false;
        due.then_some(self.stopped).flatten()
    }

    /// Takes a pending MAX_STREAM_DATA: the limit to send.
    pub(super) fn take_max_stream_data(&mut self) -> Option<u64> {
        self.max_stream_data_due()
            .then(|| self.window.take_update())
    }

    /// A STOP_SENDING was lost: send it again if the peer may still send.
    pub(super) fn on_stop_lost(&mut self) {
        if self.stopped.is_some() && self.state == RecvState::Recv {
            self.stop_pending = true;
        }
    }

    /// A MAX_STREAM_DATA was lost: send the current limit again if still useful.
    pub(super) fn on_max_stream_data_lost(&mut self) {
        if self.state == RecvState::Recv && self.stopped.is_none() {
            self.window.requeue();
        }
    }

    /// The peer says it is blocked at `limit` (STREAM_DATA_BLOCKED).
    pub(super) fn on_peer_blocked(&mut self, limit: u64, tune: Option<(Instant, Duration)>) {
        if self.state == RecvState::Recv && self.stopped.is_none() {
            self.window.on_peer_blocked(limit, tune);
        }
    }

    /// Disjoint received ranges held for reassembly.
    pub(super) fn fragments(&self) -> usize {
        self.asm.ranges()
    }

    /// The stream window's current size (for tests and statistics).
    #[cfg(test)]
    pub(super) fn window(&self) -> u64 {
        self.window.window()
    }

    /// The reassembly buffer (for the memory-bound tests).
    #[cfg(test)]
    pub(super) fn assembler(&self) -> &Assembler {
        &self.asm
    }
}
