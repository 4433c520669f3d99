//! Feedback from loss recovery: a packet's [`StreamsSent`] record was acknowledged or lost.

use super::sent::{self, StreamControl, StreamsSent, flags};
use super::state::StreamsState;
use super::{Dir, StreamEvent};

impl StreamsState {
    /// The packet that carried `sent` was acknowledged: release acknowledged data, complete
    /// streams (a `Finished` event when all data and the FIN are acknowledged), release fully
    /// closed streams, and wake writers that have room again.
    pub(crate) fn on_acked(&mut self, sent: &StreamsSent) {
        let was_full = self.send_buffer_full();
        for chunk in &sent.chunks {
            let id = chunk.id;
            let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else {
                continue;
            };
            let range = chunk.offset..chunk.offset.saturating_add(u64::from(chunk.len));
            let (released, finished) = send.on_acked(range, chunk.fin);
            self.send_buffered = self.send_buffered.saturating_sub(released);
            if released > 0 {
                self.wake_writable(id);
            }
            // A retransmission queued by a spurious loss may be covered now.
            self.schedule(id);
            if finished {
                self.events.push_back(StreamEvent::Finished { id });
                self.maybe_release(id);
            }
        }
        for &(id, kind) in &sent.controls {
            if kind == StreamControl::Reset
                && let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut())
                && send.on_reset_acked()
            {
                self.maybe_release(id);
            }
        }
        if was_full && !self.send_buffer_full() {
            self.wake_all_writable();
        }
    }

    /// The packet that carried `sent` was declared lost: queue again what is still needed —
    /// stream data (never for a reset stream), FINs, and control frames that are still
    /// relevant, which are re-sent with their current values.
    pub(crate) fn on_lost(&mut self, sent: &StreamsSent) {
        for chunk in &sent.chunks {
            let id = chunk.id;
            let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else {
                continue;
            };
            let range = chunk.offset..chunk.offset.saturating_add(u64::from(chunk.len));
            send.on_lost(range, chunk.fin);
            self.schedule(id);
        }
        for &(id, kind) in &sent.controls {
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            match kind {
                StreamControl::Reset => stream.send.as_mut().map(|s| s.on_reset_lost()),
                StreamControl::DataBlocked => stream.send.as_mut().map(|s| s.on_blocked_lost()),
                StreamControl::StopSending => stream.recv.as_mut().map(|r| r.on_stop_lost()),
                StreamControl::MaxStreamData => {
                    stream.recv.as_mut().map(|r| r.on_max_stream_data_lost())
                }
            };
            self.queue_control(id);
        }
        if sent.flags & flags::MAX_DATA != 0 {
            self.conn_recv.requeue();
        }
        if sent.flags & flags::DATA_BLOCKED != 0 {
            self.conn_send.requeue_blocked();
        }
        for dir in Dir::ALL {
            if sent.flags & sent::max_streams_flag(dir) != 0 {
                self.limits.on_max_streams_lost(dir);
            }
            if sent.flags & sent::streams_blocked_flag(dir) != 0 {
                self.limits.on_streams_blocked_lost(dir);
            }
        }
    }
}
