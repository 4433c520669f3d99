//! The application's calls on lanes (see [`crate::lanes`]).

use std::time::Instant;

use bytes::Bytes;

use super::{Connection, Phase};
use crate::lanes::{LaneConfig, LaneError, LaneStats, Message, SendMessageError, SendOptions};

impl Connection {
    /// Sets up the sending side of `lane`: delivery mode, priority, weight, coalescing. The
    /// mode cannot change once the lane carried a message; the rest can, at any time. A lane
    /// never configured sends reliable-ordered messages at priority 0.
    pub fn configure_lane(&mut self, lane: u64, config: LaneConfig) -> Result<(), LaneError> {
        self.lanes.configure(lane, config)
    }

    /// The configuration of `lane`'s sending side.
    pub fn lane_config(&self, lane: u64) -> LaneConfig {
        self.lanes.lane_config(lane)
    }

    /// Queues `data` as one message on `lane`, to be given up at `deadline` if it was not
    /// delivered by then (not sent in full, or not acknowledged on a reliable lane); returns
    /// the message's number within the lane. Messages up to the smaller of both ends'
    /// `max_message_size` are fragmented as needed.
    pub fn send_message(
        &mut self,
        now: Instant,
        lane: u64,
        data: Bytes,
        deadline: Option<Instant>,
    ) -> Result<u64, SendMessageError> {
        self.send_message_with(
            now,
            lane,
            data,
            SendOptions::default().with_deadline(deadline),
        )
    }

    /// [`send_message`](Self::send_message) with per-message [`SendOptions`]: a deadline, and
    /// a compression in place of the lane's (used only with a codec the peer announced, and
    /// only when it shrinks the message; the limit on the message's size applies to its length
    /// before compression).
    pub fn send_message_with(
        &mut self,
        now: Instant,
        lane: u64,
        data: Bytes,
        options: SendOptions,
    ) -> Result<u64, SendMessageError> {
        match self.phase {
            Phase::Closing | Phase::Draining | Phase::Drained => {
                return Err(SendMessageError::Closed);
            }
            Phase::Handshaking | Phase::Established => {}
        }
        self.lanes.send(now, lane, data, options)
    }

    /// Lets the messages `lane` holds for coalescing go now.
    pub fn flush_lane(&mut self, lane: u64) {
        self.lanes.flush(lane);
    }

    /// Lets every message held for coalescing go now.
    pub fn flush_lanes(&mut self) {
        self.lanes.flush_all();
    }

    /// The next message received on any lane, in the order lanes became readable; messages
    /// past their deadline are dropped on the way.
    pub fn recv_message(&mut self, now: Instant) -> Option<Message> {
        self.lanes.recv(now, None)
    }

    /// The next message received on `lane`.
    pub fn recv_message_on(&mut self, now: Instant, lane: u64) -> Option<Message> {
        self.lanes.recv(now, Some(lane))
    }

    /// The lanes' counters, both directions.
    pub fn lane_stats(&self) -> LaneStats {
        self.lanes.stats()
    }
}
