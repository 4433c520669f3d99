//! Meeting another peer through a rendezvous service, on the endpoint's own socket (see
//! [`weir_core::rendezvous`]): [`Endpoint::rendezvous`](crate::Endpoint::rendezvous).
//!
//! The driver runs each meeting's [`RendezvousClient`]: it hands it the rendezvous datagrams
//! (their first byte tells them from weir's), sends what it queues, runs its timers and, while
//! a meeting relays, wraps weir's datagrams to that peer for the service and unwraps the ones
//! the service relays back, so that the core sees one peer address either way.

use std::net::SocketAddr;
use std::task::Waker;
use std::time::Instant;

use bytes::BytesMut;
use weir_core::rendezvous::{
    ClientConfig, ClientEvent, Handled, RefusedReason, RendezvousClient, SessionId,
};

/// Meetings an endpoint holds at most.
pub(crate) const MAX_MEETINGS: usize = 64;

/// How to reach the other peer, once the meeting found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerPath {
    /// The address to connect to (or that will connect): the other peer's public address.
    pub peer: SocketAddr,
    /// Whether the service relays the datagrams (punching failed, or
    /// [`ClientConfig::relay_only`]); `false`: the peers talk directly.
    pub relayed: bool,
    /// This endpoint's public address as the service saw it.
    pub observed: Option<SocketAddr>,
}

/// Why a meeting did not find the other peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RendezvousError {
    /// The service refused the registration.
    #[error("the rendezvous service refused us: {0:?}")]
    Refused(RefusedReason),
    /// The service did not answer.
    #[error("the rendezvous service did not answer")]
    ServerTimedOut,
    /// The endpoint holds as many meetings as it may.
    #[error("too many rendezvous meetings on this endpoint (at most {MAX_MEETINGS})")]
    TooManyMeetings,
    /// The endpoint is shut down, or speaks QUIC ([`Config::quic`](crate::Config::quic)),
    /// whose packets the service's messages cannot share a socket with.
    #[error("the endpoint cannot meet peers (stopped, or on the QUIC path)")]
    Unavailable,
}

/// One meeting: its client, and whoever waits for its outcome.
pub(crate) struct Meeting {
    pub(crate) session: SessionId,
    client: RendezvousClient,
    observed: Option<SocketAddr>,
    pub(crate) outcome: Option<Result<PeerPath, RendezvousError>>,
    pub(crate) waker: Option<Waker>,
}

impl Meeting {
    pub(crate) fn new(
        now: Instant,
        server: SocketAddr,
        session: SessionId,
        nonce: u64,
        config: ClientConfig,
    ) -> Self {
        Self {
            session,
            client: RendezvousClient::new(now, server, session, nonce, config),
            observed: None,
            outcome: None,
            waker: None,
        }
    }

    /// The peer whose datagrams go through the service now, if this meeting relays.
    fn relayed_peer(&self) -> Option<SocketAddr> {
        self.client
            .peer()
            .and_then(|(peer, relayed)| relayed.then_some(peer))
    }

    /// Takes the client's events: the outcome, once there is one, wakes the waiting task.
    fn take_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            let outcome = match event {
                ClientEvent::Registered { observed } => {
                    self.observed = Some(observed);
                    None
                }
                ClientEvent::PeerFound { .. } => None,
                ClientEvent::Punched { peer } => Some(Ok((peer, false))),
                ClientEvent::Relaying { peer } => Some(Ok((peer, true))),
                ClientEvent::Refused(reason) => Some(Err(RendezvousError::Refused(reason))),
                ClientEvent::ServerTimedOut => Some(Err(RendezvousError::ServerTimedOut)),
            };
            if let Some(outcome) = outcome {
                let observed = self.observed;
                self.outcome = Some(outcome.map(|(peer, relayed)| PeerPath {
                    peer,
                    relayed,
                    observed,
                }));
                if let Some(waker) = self.waker.take() {
                    waker.wake();
                }
            }
        }
    }
}

/// A rendezvous datagram that arrived: handled by the meeting of its session. Returns a
/// datagram the service relayed, to hand to the core as the peer's.
pub(crate) fn receive(
    meetings: &mut [Meeting],
    now: Instant,
    from: SocketAddr,
    datagram: &[u8],
) -> Option<(SocketAddr, BytesMut)> {
    for meeting in meetings.iter_mut() {
        match meeting.client.handle(now, from, datagram) {
            Handled::Dropped => continue,
            Handled::Consumed => {
                meeting.take_events();
                return None;
            }
            Handled::Relayed { from, datagram } => {
                return Some((from, BytesMut::from(datagram)));
            }
        }
    }
    None
}

/// Runs the meetings' due timers; the earliest next one.
pub(crate) fn on_timeout(meetings: &mut [Meeting], now: Instant) -> Option<Instant> {
    let mut next: Option<Instant> = None;
    for meeting in meetings.iter_mut() {
        if meeting.client.poll_timeout().is_some_and(|at| at <= now) {
            meeting.client.handle_timeout(now);
            meeting.take_events();
        }
        if let Some(at) = meeting.client.poll_timeout() {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    next
}

/// The meetings' datagrams to send.
pub(crate) fn transmits(meetings: &mut [Meeting], out: &mut Vec<(SocketAddr, Vec<u8>)>) {
    for meeting in meetings.iter_mut() {
        while let Some(transmit) = meeting.client.poll_transmit() {
            out.push(transmit);
        }
    }
}

/// Wraps a transmit of the core for a relayed peer (each of its `segment_size`-byte
/// datagrams) into `out`; whether it was one.
pub(crate) fn wrap(
    meetings: &mut [Meeting],
    destination: SocketAddr,
    segment_size: usize,
    contents: &[u8],
    out: &mut Vec<(SocketAddr, Vec<u8>)>,
) -> bool {
    let Some(meeting) = meetings
        .iter_mut()
        .find(|m| m.relayed_peer() == Some(destination))
    else {
        return false;
    };
    for datagram in contents.chunks(segment_size.max(1)) {
        let mut wrapped = Vec::with_capacity(datagram.len() + 32);
        if let Some(service) = meeting.client.wrap_relay(datagram, &mut wrapped) {
            out.push((service, wrapped));
        }
    }
    true
}
