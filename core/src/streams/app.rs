//! The application's calls on [`StreamsState`].

use std::time::Instant;

use bytes::Bytes;

use super::closed::RecvOutcome;
use super::send::SendStream;
use super::state::StreamsState;
use super::{ClosedStream, Dir, OpenError, ReadError, StreamId, WriteError};
use crate::wire::VarInt;

impl StreamsState {
    /// Opens a stream of `dir` with `priority` (higher is more urgent; 0 is the default).
    /// Fails at the peer's stream limit; STREAMS_BLOCKED is then queued and an `Available`
    /// event follows when the peer raises the limit.
    pub(crate) fn open(&mut self, dir: Dir, priority: i32) -> Result<StreamId, OpenError> {
        let Some(id) = self.limits.open(dir) else {
            return Err(OpenError::Limit {
                dir,
                limit: self.limits.peer_max(dir),
            });
        };
        let stream = self.new_stream(id, priority);
        self.streams.insert(id, stream);
        Ok(id)
    }

    /// The next stream of `dir` the peer opened, in order of stream id.
    pub(crate) fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        self.limits.accept(dir)
    }

    /// Copies as much of `data` as fits into the stream's send buffer (see the buffering policy
    /// in `send.rs`) and returns how much; `Err(Blocked)` if nothing fits (a `Writable` event
    /// follows).
    pub(crate) fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        self.write_with(id, data.len(), |send, n| {
            send.write(data.get(..n).unwrap_or(data));
        })
    }

    /// Like [`write`](Self::write) without copying: the accepted prefix of `data` is kept as
    /// it is (chunks under 256 bytes are copied). The rest is dropped: keep a clone (cheap for
    /// `Bytes`) to write it later.
    pub(crate) fn write_chunk(
        &mut self,
        id: StreamId,
        mut data: Bytes,
    ) -> Result<usize, WriteError> {
        let len = data.len();
        self.write_with(id, len, move |send, n| {
            let chunk = if n == len { data } else { data.split_to(n) };
            send.write_chunk(chunk);
        })
    }

    fn write_with(
        &mut self,
        id: StreamId,
        len: usize,
        write: impl FnOnce(&mut SendStream, usize),
    ) -> Result<usize, WriteError> {
        let room = {
            let Some(send) = self.streams.get(&id).and_then(|s| s.send.as_ref()) else {
                // Released: the peer's stop is remembered (see `closed.rs`).
                return Err(match self.stopped(id) {
                    Some(code) => WriteError::Stopped(code),
                    None => ClosedStream { id }.into(),
                });
            };
            if let Some(code) = send.stopped_by_peer() {
                return Err(WriteError::Stopped(code));
            }
            if !send.is_writable_state() {
                return Err(ClosedStream { id }.into());
            }
            self.write_room(send)
        };
        let n = usize::try_from(room).unwrap_or(usize::MAX).min(len);
        let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else {
            return Err(ClosedStream { id }.into());
        };
        if n > 0 {
            write(send, n);
        }
        if n < len {
            if !send.want_writable {
                send.want_writable = true;
                self.writable_waiters.push(id);
            }
            if send.credit_available() == 0 {
                send.on_credit_blocked();
            }
        }
        self.send_buffered += n as u64;
        self.schedule(id);
        self.queue_control(id);
        if n == 0 && len > 0 {
            return Err(WriteError::Blocked);
        }
        Ok(n)
    }

    /// Ends the stream after the data written so far (a FIN is queued).
    pub(crate) fn finish(&mut self, id: StreamId) -> Result<(), ClosedStream> {
        let send = self
            .streams
            .get_mut(&id)
            .and_then(|s| s.send.as_mut())
            .ok_or(ClosedStream { id })?;
        if !send.finish() {
            return Err(ClosedStream { id });
        }
        self.schedule(id);
        Ok(())
    }

    /// Abandons sending with `error_code`: buffered data is dropped and never retransmitted,
    /// RESET_STREAM is queued (RFC 9000 §3.1). Resetting again is a no-op; resetting a stream
    /// whose data was all acknowledged fails.
    pub(crate) fn reset(&mut self, id: StreamId, error_code: VarInt) -> Result<(), ClosedStream> {
        let was_full = self.send_buffer_full();
        let send = self
            .streams
            .get_mut(&id)
            .and_then(|s| s.send.as_mut())
            .ok_or(ClosedStream { id })?;
        let Some(released) = send.reset(error_code) else {
            return if send.is_reset() {
                Ok(())
            } else {
                Err(ClosedStream { id })
            };
        };
        self.send_buffered = self.send_buffered.saturating_sub(released);
        self.schedule(id);
        self.queue_control(id);
        if was_full && !self.send_buffer_full() {
            self.wake_all_writable();
        }
        Ok(())
    }

    /// Reads up to `max_len` contiguous bytes (a zero-copy slice of a received datagram, or a
    /// copy for small pieces). `Ok(None)` once the stream ended cleanly (also on later calls,
    /// after the stream's state is released too), `Err(Blocked)` when nothing is there yet (a
    /// `Readable` event follows), `Err(Reset)` if the peer reset it (also on later calls),
    /// `Err(ClosedStream)` after [`stop`](Self::stop), on a stream we only send on, or on a
    /// released stream the record of closed streams no longer holds. Reading returns
    /// flow-control credit to the peer and, at `now`, lets the windows auto-tune.
    pub(crate) fn read(
        &mut self,
        now: Instant,
        id: StreamId,
        max_len: usize,
    ) -> Result<Option<Bytes>, ReadError> {
        let rtt = self.rtt;
        let Some(recv) = self.streams.get_mut(&id).and_then(|s| s.recv.as_mut()) else {
            return self.read_released(id);
        };
        let before = recv.buffered();
        let result = recv.read(id, max_len, now, rtt);
        self.recv_buffered = self
            .recv_buffered
            .saturating_sub(before.saturating_sub(recv.buffered()));
        if let Ok(Some(data)) = &result {
            self.conn_recv.consume(data.len() as u64, Some((now, rtt)));
        }
        self.queue_control(id);
        self.maybe_release(id);
        result
    }

    /// A read on a stream without a live receive half: what its record says (see
    /// `closed.rs`).
    fn read_released(&self, id: StreamId) -> Result<Option<Bytes>, ReadError> {
        match self.closed.get(id).and_then(|o| o.recv) {
            Some(RecvOutcome::Finished) => Ok(None),
            Some(RecvOutcome::Reset(code)) => Err(ReadError::Reset(code)),
            Some(RecvOutcome::Stopped) | None => Err(ClosedStream { id }.into()),
        }
    }

    /// Stops reading with `error_code`: buffered and future data is discarded (its credit
    /// returned) and STOP_SENDING is queued if the peer may still send (RFC 9000 §3.5).
    pub(crate) fn stop(&mut self, id: StreamId, error_code: VarInt) -> Result<(), ClosedStream> {
        let recv = self
            .streams
            .get_mut(&id)
            .and_then(|s| s.recv.as_mut())
            .ok_or(ClosedStream { id })?;
        let before = recv.buffered();
        let released = recv.stop(error_code);
        self.recv_buffered = self
            .recv_buffered
            .saturating_sub(before.saturating_sub(recv.buffered()));
        self.conn_recv.consume(released, None);
        self.queue_control(id);
        self.maybe_release(id);
        Ok(())
    }

    /// Changes the stream's priority; it takes effect from the next frame.
    pub(crate) fn set_priority(&mut self, id: StreamId, priority: i32) -> Result<(), ClosedStream> {
        let stream = self.streams.get_mut(&id).ok_or(ClosedStream { id })?;
        if stream.priority == priority {
            return Ok(());
        }
        if stream.queued {
            self.scheduler.remove(id, stream.priority);
            self.scheduler.push(id, priority);
        }
        stream.priority = priority;
        Ok(())
    }
}
