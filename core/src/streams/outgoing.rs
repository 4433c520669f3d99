//! Building packets: control frames, then STREAM frames by priority.
//!
//! Frames are written straight into the caller's packet buffer; stream data is copied from the
//! send buffers behind a [`StreamHeader`], so building a packet allocates nothing.

use super::sent::{self, StreamChunk, StreamControl, StreamsSent, flags};
use super::state::StreamsState;
use super::stream::Stream;
use super::{Dir, StreamId};
use crate::wire::VarInt;
use crate::wire::frame::{self, Frame, ResetStream, StopSending, StreamHeader};

/// Longest encoding of a control frame's type and one varint field (the type of every
/// control frame here fits one byte).
const TYPE_AND_VARINT: usize = 1 + VarInt::MAX_SIZE;

/// `x` as a varint (values here are bounded by construction; clamp defensively).
fn varint(x: u64) -> VarInt {
    VarInt::saturating_from_u64(x)
}

fn wire_dir(dir: Dir) -> frame::Dir {
    match dir {
        Dir::Bi => frame::Dir::Bi,
        Dir::Uni => frame::Dir::Uni,
    }
}

impl StreamsState {
    /// Whether a packet built now would carry something of the streams layer: a control frame
    /// or stream data that flow control allows. When it is true, the write calls given room
    /// for one frame (60 bytes) write something.
    pub(crate) fn has_pending(&self) -> bool {
        self.conn_recv.is_pending()
            || self.conn_send.blocked_pending()
            || self.limits.has_control()
            || !self.scheduler.is_empty()
            // Entries of released or settled streams linger until the next write: skip them.
            || self
                .control
                .iter()
                .any(|id| self.streams.get(id).is_some_and(Stream::has_control))
    }

    /// Appends the pending control frames that fit in `max_len` bytes to `buf`, recording them
    /// in `sent`: MAX_DATA and MAX_STREAMS first, then each stream's RESET_STREAM,
    /// STREAM_DATA_BLOCKED, STOP_SENDING and MAX_STREAM_DATA (streams in the order they asked),
    /// then DATA_BLOCKED and STREAMS_BLOCKED. Limits are written with their current values. A
    /// frame is written only when its longest possible encoding fits (at most 25 bytes), so
    /// a few bytes at the end of a packet may stay unused.
    pub(crate) fn write_control_frames(
        &mut self,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut StreamsSent,
    ) {
        let end = buf.len().saturating_add(max_len);
        let room = |buf: &Vec<u8>, need: usize| buf.len().saturating_add(need) <= end;
        if self.conn_recv.is_pending() && room(buf, TYPE_AND_VARINT) {
            let max = self.conn_recv.take_update();
            Frame::MaxData(varint(max)).encode(buf);
            sent.flags |= flags::MAX_DATA;
        }
        for dir in Dir::ALL {
            if room(buf, TYPE_AND_VARINT)
                && let Some(count) = self.limits.take_max_streams(dir)
            {
                Frame::MaxStreams {
                    dir: wire_dir(dir),
                    count: varint(count),
                }
                .encode(buf);
                sent.flags |= sent::max_streams_flag(dir);
            }
        }
        self.write_stream_controls(buf, end, sent);
        if room(buf, TYPE_AND_VARINT)
            && let Some(limit) = self.conn_send.take_blocked()
        {
            Frame::DataBlocked(varint(limit)).encode(buf);
            sent.flags |= flags::DATA_BLOCKED;
        }
        for dir in Dir::ALL {
            if room(buf, TYPE_AND_VARINT)
                && let Some(limit) = self.limits.take_streams_blocked(dir)
            {
                Frame::StreamsBlocked {
                    dir: wire_dir(dir),
                    limit: varint(limit),
                }
                .encode(buf);
                sent.flags |= sent::streams_blocked_flag(dir);
            }
        }
    }

    /// The per-stream control frames, in queue order, while they fit before `end`.
    fn write_stream_controls(&mut self, buf: &mut Vec<u8>, end: usize, sent: &mut StreamsSent) {
        for _ in 0..self.control.len() {
            let Some(id) = self.control.pop_front() else {
                break;
            };
            let Some(stream) = self.streams.get_mut(&id) else {
                continue; // released
            };
            if !write_controls_of(id, stream, buf, end, sent) {
                // Out of room: the stream keeps its place for the next packet.
                self.control.push_front(id);
                return;
            }
            stream.in_control_queue = false;
        }
    }

    /// Appends STREAM frames to `buf` until `max_len` bytes are used or nothing is left to
    /// send: the highest-priority stream first, rotating within a priority level after each
    /// frame; a stream's lost data before its new data; new data within the connection credit.
    /// Frames carry an explicit length, so the caller may append more frames after them.
    #[cfg(test)]
    pub(crate) fn write_stream_frames(
        &mut self,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut StreamsSent,
    ) {
        let end = buf.len().saturating_add(max_len);
        while self.write_stream_frame(buf, end.saturating_sub(buf.len()), sent) {}
    }

    /// The priority of the stream that would send next, if one waits (it may turn out to
    /// have nothing to send after all: then [`write_stream_frame`](Self::write_stream_frame)
    /// moves past it).
    pub(crate) fn front_priority(&self) -> Option<i32> {
        self.scheduler.front_priority()
    }

    /// Appends one STREAM frame of the stream whose turn it is, within `max_len` bytes (see
    /// [`write_stream_frames`](Self::write_stream_frames)); returns whether one was written.
    pub(crate) fn write_stream_frame(
        &mut self,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut StreamsSent,
    ) -> bool {
        let end = buf.len().saturating_add(max_len);
        while let Some(id) = self.scheduler.front() {
            let space = end.saturating_sub(buf.len());
            let conn_credit = self.conn_send.available();
            let Some(stream) = self.streams.get_mut(&id) else {
                self.scheduler.pop();
                continue;
            };
            let plan = stream.send.as_ref().and_then(|s| s.next_frame(conn_credit));
            let (Some(plan), Some(send)) = (plan, stream.send.as_mut()) else {
                // Nothing to send after all (or only new data and no connection credit).
                self.scheduler.pop();
                stream.queued = false;
                self.schedule(id);
                continue;
            };
            let offset = varint(plan.range.start);
            let Some(capacity) = StreamHeader::max_data_len(id.to_varint(), offset, space, true)
            else {
                return false; // not even a header fits
            };
            let len = (plan.range.end - plan.range.start)
                .min(capacity as u64)
                .min(u64::from(u32::MAX));
            let data_end = plan.range.start + len;
            let fin = send.fin_at(data_end);
            if len == 0 && !fin {
                return false; // no room for data
            }
            StreamHeader {
                id: id.to_varint(),
                offset,
                len: len as usize,
                fin,
                explicit_len: true,
            }
            .encode(buf);
            let copied = send.copy_range(plan.range.start..data_end, buf);
            debug_assert_eq!(copied as u64, len, "the send buffer holds what it plans");
            send.on_frame_sent(plan.range.start..data_end, plan.retransmit, fin);
            sent.chunks.push(StreamChunk {
                id,
                offset: plan.range.start,
                len: len as u32,
                fin,
            });
            if !plan.retransmit {
                self.conn_send.consume(len);
            }
            let credit_left = self.conn_send.available() > 0;
            if stream.is_sendable(credit_left) {
                self.scheduler.rotate();
            } else {
                self.scheduler.pop();
                stream.queued = false;
                self.schedule(id);
            }
            if !plan.retransmit && !credit_left {
                self.park_starved_streams();
            }
            return true;
        }
        false
    }

    /// The connection credit ran out: streams that have only new data leave the scheduler
    /// until MAX_DATA (so that [`has_pending`](Self::has_pending) stays accurate), and
    /// DATA_BLOCKED is queued.
    fn park_starved_streams(&mut self) {
        let streams = &mut self.streams;
        let parked = &mut self.conn_blocked;
        let mut starved = false;
        self.scheduler.retain(|id| {
            let Some(stream) = streams.get_mut(&id) else {
                return false;
            };
            if stream.is_sendable(false) {
                return true;
            }
            stream.queued = false;
            if !stream.conn_blocked {
                stream.conn_blocked = true;
                parked.push(id);
            }
            starved = true;
            false
        });
        if starved {
            self.conn_send.on_blocked();
        }
    }
}

/// Writes `stream`'s pending control frames while they fit before `end`; returns `false` if
/// one did not fit (it stays pending).
fn write_controls_of(
    id: StreamId,
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    end: usize,
    sent: &mut StreamsSent,
) -> bool {
    let id_var = id.to_varint();
    // Type, stream id, and up to two more varints.
    let need = |fields: usize| 1 + id_var.size() + fields * VarInt::MAX_SIZE;
    let room = |buf: &Vec<u8>, fields: usize| buf.len().saturating_add(need(fields)) <= end;
    if let Some(send) = stream.send.as_mut() {
        if send.has_control() && !room(buf, 2) {
            return false;
        }
        if let Some((error_code, final_size)) = send.take_reset() {
            ResetStream {
                id: id_var,
                error_code,
                final_size: varint(final_size),
            }
            .encode(buf);
            sent.controls.push((id, StreamControl::Reset));
        }
        if send.has_control() && !room(buf, 1) {
            return false;
        }
        if let Some(limit) = send.take_blocked() {
            Frame::StreamDataBlocked {
                id: id_var,
                limit: varint(limit),
            }
            .encode(buf);
            sent.controls.push((id, StreamControl::DataBlocked));
        }
    }
    if let Some(recv) = stream.recv.as_mut() {
        if recv.has_control() && !room(buf, 1) {
            return false;
        }
        if let Some(error_code) = recv.take_stop() {
            StopSending {
                id: id_var,
                error_code,
            }
            .encode(buf);
            sent.controls.push((id, StreamControl::StopSending));
        }
        if recv.has_control() && !room(buf, 1) {
            return false;
        }
        if let Some(max) = recv.take_max_stream_data() {
            Frame::MaxStreamData {
                id: id_var,
                max: varint(max),
            }
            .encode(buf);
            sent.controls.push((id, StreamControl::MaxStreamData));
        }
    }
    true
}
