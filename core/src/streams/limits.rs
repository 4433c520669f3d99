//! Stream-count limits (RFC 9000 §4.6): how many streams of each direction we may open (the
//! peer's MAX_STREAMS) and how many the peer may open (ours, raised as its streams close so that
//! the configured concurrency stays available).

use std::ops::Range;

use super::{Dir, Side, StreamId};
use crate::error::TransportError;
use crate::wire::frame::MAX_STREAM_COUNT;

/// Our streams of one direction.
#[derive(Debug, Clone, Default)]
struct Local {
    /// Index of the next stream we open.
    next: u64,
    /// The peer's MAX_STREAMS.
    max: u64,
    /// STREAMS_BLOCKED was queued for this limit.
    blocked_at: Option<u64>,
    blocked_pending: bool,
    /// `open` failed: raise an `Available` event when the limit grows.
    want_available: bool,
}

/// The peer's streams of one direction.
#[derive(Debug, Clone, Default)]
struct Remote {
    /// Every stream below this index was opened (and may since be released).
    next: u64,
    /// Streams the peer may open in total: released + concurrency.
    max: u64,
    /// The limit last sent (transport parameter or MAX_STREAMS).
    advertised: u64,
    /// Configured concurrency.
    concurrency: u64,
    /// Index of the next stream `accept` returns.
    next_accept: u64,
    max_streams_pending: bool,
}

/// Stream-count limits of a connection in both directions.
#[derive(Debug, Clone)]
pub(super) struct StreamLimits {
    side: Side,
    local: [Local; 2],
    remote: [Remote; 2],
}

impl StreamLimits {
    /// Limits for `side`, letting the peer have `concurrency[dir]` streams open at once.
    pub(super) fn new(side: Side, concurrency: [u64; 2]) -> Self {
        let remote = concurrency.map(|c| Remote {
            max: c,
            advertised: c,
            concurrency: c,
            ..Remote::default()
        });
        Self {
            side,
            local: Default::default(),
            remote,
        }
    }

    /// What we advertise for `dir` (transport parameter or last MAX_STREAMS).
    pub(super) fn advertised(&self, dir: Dir) -> u64 {
        self.remote[dir.index()].advertised
    }

    /// The peer's limit on our streams of `dir`.
    pub(super) fn peer_max(&self, dir: Dir) -> u64 {
        self.local[dir.index()].max
    }

    /// Opens our next stream of `dir`, or `None` at the peer's limit (then STREAMS_BLOCKED is
    /// queued once per limit, and `Available` follows when the limit grows).
    pub(super) fn open(&mut self, dir: Dir) -> Option<StreamId> {
        let local = &mut self.local[dir.index()];
        if local.next >= local.max {
            local.want_available = true;
            if local.blocked_at != Some(local.max) {
                local.blocked_at = Some(local.max);
                local.blocked_pending = true;
            }
            return None;
        }
        let id = StreamId::new(self.side, dir, local.next)?;
        local.next += 1;
        Some(id)
    }

    /// The peer raised its limit for `dir` (transport parameter or MAX_STREAMS). Returns
    /// whether an `Available` event is due. Counts above 2^60 are a FRAME_ENCODING_ERROR
    /// (RFC 9000 §19.11).
    pub(super) fn on_max_streams(&mut self, dir: Dir, count: u64) -> Result<bool, TransportError> {
        if count > MAX_STREAM_COUNT {
            return Err(TransportError::frame_encoding(format!(
                "MAX_STREAMS {count} above 2^60"
            )));
        }
        let local = &mut self.local[dir.index()];
        if count <= local.max {
            return Ok(false);
        }
        local.max = count;
        Ok(std::mem::take(&mut local.want_available))
    }

    /// Whether we opened the stream `id` (one of ours) at some point.
    pub(super) fn is_local_opened(&self, id: StreamId) -> bool {
        id.index() < self.local[id.dir().index()].next
    }

    /// Whether the stream `id` (either side's) was opened at some point.
    pub(super) fn is_opened(&self, id: StreamId) -> bool {
        if id.initiator() == self.side {
            self.is_local_opened(id)
        } else {
            id.index() < self.remote[id.dir().index()].next
        }
    }

    /// A frame names the peer's stream `id`: the indices it opens now (all lower-numbered
    /// streams of the kind too, RFC 9000 §3.2; empty if already opened), or STREAM_LIMIT_ERROR
    /// beyond our limit.
    pub(super) fn open_remote(&mut self, id: StreamId) -> Result<Range<u64>, TransportError> {
        let remote = &mut self.remote[id.dir().index()];
        let index = id.index();
        if index < remote.next {
            return Ok(index..index);
        }
        if index >= remote.max {
            return Err(TransportError::stream_limit(format!(
                "stream {id} beyond the limit of {} {:?} streams",
                remote.max,
                id.dir()
            )));
        }
        let opened = remote.next..index + 1;
        remote.next = index + 1;
        Ok(opened)
    }

    /// The next of the peer's streams of `dir` not yet handed to the application.
    pub(super) fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        let remote = &mut self.remote[dir.index()];
        if remote.next_accept >= remote.next {
            return None;
        }
        let id = StreamId::new(self.side.peer(), dir, remote.next_accept)?;
        remote.next_accept += 1;
        Some(id)
    }

    /// One of the peer's streams of `dir` was released: allow one more, and queue MAX_STREAMS
    /// once the peer has used at least half of the credit we gave it.
    pub(super) fn on_remote_released(&mut self, dir: Dir) {
        let remote = &mut self.remote[dir.index()];
        remote.max = remote.max.saturating_add(1).min(MAX_STREAM_COUNT);
        let unused = remote.advertised.saturating_sub(remote.next);
        if remote.max > remote.advertised && unused <= remote.concurrency / 2 {
            remote.max_streams_pending = true;
        }
    }

    /// Whether a control frame waits.
    pub(super) fn has_control(&self) -> bool {
        Dir::ALL
            .iter()
            .any(|&d| self.max_streams_due(d) || self.streams_blocked_due(d))
    }

    fn max_streams_due(&self, dir: Dir) -> bool {
        let remote = &self.remote[dir.index()];
        remote.max_streams_pending && remote.max > remote.advertised
    }

    fn streams_blocked_due(&self, dir: Dir) -> bool {
        let local = &self.local[dir.index()];
        local.blocked_pending && local.next >= local.max
    }

    /// Takes a pending MAX_STREAMS for `dir`: the count to send.
    pub(super) fn take_max_streams(&mut self, dir: Dir) -> Option<u64> {
        let due = self.max_streams_due(dir);
        let remote = &mut self.remote[dir.index()];
        remote.max_streams_pending = false;
        if !due {
            return None;
        }
        remote.advertised = remote.max;
        Some(remote.max)
    }

    /// Takes a pending STREAMS_BLOCKED for `dir`: the limit to report.
    pub(super) fn take_streams_blocked(&mut self, dir: Dir) -> Option<u64> {
        let due = self.streams_blocked_due(dir);
        let local = &mut self.local[dir.index()];
        local.blocked_pending = false;
        due.then_some(local.max)
    }

    /// A MAX_STREAMS for `dir` was lost: send the current limit again.
    pub(super) fn on_max_streams_lost(&mut self, dir: Dir) {
        let remote = &mut self.remote[dir.index()];
        // The lost value may be the one recorded as advertised: force a resend.
        remote.max_streams_pending = true;
        remote.advertised = remote.advertised.min(remote.max.saturating_sub(1));
    }

    /// A STREAMS_BLOCKED for `dir` was lost: send it again if still blocked at that limit.
    pub(super) fn on_streams_blocked_lost(&mut self, dir: Dir) {
        let local = &mut self.local[dir.index()];
        if local.next >= local.max && local.blocked_at == Some(local.max) {
            local.blocked_pending = true;
        }
    }

    /// The peer says it is blocked at `limit` streams of `dir` (STREAMS_BLOCKED): resend our
    /// limit if it is higher (the peer missed it).
    pub(super) fn on_streams_blocked(
        &mut self,
        dir: Dir,
        limit: u64,
    ) -> Result<(), TransportError> {
        if limit > MAX_STREAM_COUNT {
            return Err(TransportError::frame_encoding(format!(
                "STREAMS_BLOCKED {limit} above 2^60"
            )));
        }
        let remote = &mut self.remote[dir.index()];
        if remote.max > limit {
            remote.max_streams_pending = true;
            remote.advertised = remote.advertised.min(limit);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TransportErrorCode;

    fn id(side: Side, dir: Dir, index: u64) -> StreamId {
        StreamId::new(side, dir, index).expect("valid index")
    }

    #[test]
    fn local_streams_wait_for_the_peer_limit() {
        let mut l = StreamLimits::new(Side::Client, [0, 0]);
        assert_eq!(l.open(Dir::Bi), None);
        assert!(l.has_control());
        assert_eq!(l.take_streams_blocked(Dir::Bi), Some(0));
        assert_eq!(l.open(Dir::Bi), None);
        assert_eq!(l.take_streams_blocked(Dir::Bi), None, "once per limit");
        assert_eq!(l.on_max_streams(Dir::Bi, 2), Ok(true));
        assert_eq!(
            l.on_max_streams(Dir::Bi, 1),
            Ok(false),
            "lower limits are stale"
        );
        assert_eq!(l.open(Dir::Bi), Some(id(Side::Client, Dir::Bi, 0)));
        assert_eq!(l.open(Dir::Bi), Some(id(Side::Client, Dir::Bi, 1)));
        assert_eq!(l.open(Dir::Bi), None);
        assert!(l.is_local_opened(id(Side::Client, Dir::Bi, 1)));
        assert!(!l.is_local_opened(id(Side::Client, Dir::Bi, 2)));
        assert_eq!(l.take_streams_blocked(Dir::Bi), Some(2));
        l.on_streams_blocked_lost(Dir::Bi);
        assert_eq!(l.take_streams_blocked(Dir::Bi), Some(2));
        l.on_max_streams(Dir::Bi, 3).expect("valid count");
        l.on_streams_blocked_lost(Dir::Bi);
        assert_eq!(l.take_streams_blocked(Dir::Bi), None, "no longer blocked");
        let err = l
            .on_max_streams(Dir::Uni, MAX_STREAM_COUNT + 1)
            .unwrap_err();
        assert_eq!(err.code, TransportErrorCode::FRAME_ENCODING_ERROR);
    }

    #[test]
    fn peer_streams_open_implicitly_up_to_the_limit() {
        let mut l = StreamLimits::new(Side::Server, [4, 1]);
        let peer = Side::Client;
        assert_eq!(l.open_remote(id(peer, Dir::Bi, 2)), Ok(0..3));
        assert_eq!(l.open_remote(id(peer, Dir::Bi, 1)), Ok(1..1));
        assert_eq!(l.open_remote(id(peer, Dir::Bi, 3)), Ok(3..4));
        let err = l.open_remote(id(peer, Dir::Bi, 4)).unwrap_err();
        assert_eq!(err.code, TransportErrorCode::STREAM_LIMIT_ERROR);
        let err = l.open_remote(id(peer, Dir::Uni, 1)).unwrap_err();
        assert_eq!(err.code, TransportErrorCode::STREAM_LIMIT_ERROR);
        for k in 0..4 {
            assert_eq!(l.accept(Dir::Bi), Some(id(peer, Dir::Bi, k)));
        }
        assert_eq!(l.accept(Dir::Bi), None);
        assert_eq!(l.accept(Dir::Uni), None);
    }

    #[test]
    fn max_streams_follows_releases_once_half_the_credit_is_used() {
        let mut l = StreamLimits::new(Side::Server, [4, 0]);
        let peer = Side::Client;
        l.open_remote(id(peer, Dir::Bi, 0)).expect("within limit");
        l.on_remote_released(Dir::Bi);
        assert!(!l.has_control(), "3 of 4 unused: not yet");
        l.open_remote(id(peer, Dir::Bi, 2)).expect("within limit");
        l.on_remote_released(Dir::Bi);
        assert!(l.has_control(), "1 of 4 unused");
        assert_eq!(l.take_max_streams(Dir::Bi), Some(6));
        assert_eq!(l.advertised(Dir::Bi), 6);
        assert_eq!(l.take_max_streams(Dir::Bi), None);
        l.on_max_streams_lost(Dir::Bi);
        assert_eq!(l.take_max_streams(Dir::Bi), Some(6));
        // The new limit is in force: stream 5 may open now, 6 not.
        assert!(l.open_remote(id(peer, Dir::Bi, 5)).is_ok());
        assert!(l.open_remote(id(peer, Dir::Bi, 6)).is_err());
        // A peer blocked below our limit gets it again.
        l.on_streams_blocked(Dir::Bi, 4).expect("valid");
        assert_eq!(l.take_max_streams(Dir::Bi), Some(6));
        l.on_streams_blocked(Dir::Bi, 6).expect("valid");
        assert_eq!(l.take_max_streams(Dir::Bi), None);
        assert!(l.on_streams_blocked(Dir::Bi, MAX_STREAM_COUNT + 1).is_err());
    }
}
