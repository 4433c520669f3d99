//! The one task per endpoint that drives the core (DESIGN.md §2's driving rule), written once
//! for every runtime: the socket's readiness and the timer come from the adapter
//! ([`Runtime`](crate::runtime::Runtime)).
//!
//! Each round: receive what the socket holds (outside the lock), then under the lock feed it to
//! the core, fire the timer if due, drain `poll_transmit` into the send queue, dispatch the
//! events, and read the next deadline; then send the queue (outside the lock) and arm the
//! timer. The task sleeps — returns `Pending` — unless one of three things is pending, each of
//! which has registered its waker: the socket is readable (or writable, while sends wait), the
//! timer fired, or an application call woke it. A round that hit a budget (receive calls,
//! datagrams queued, rounds per poll) yields and reschedules itself instead of sleeping, so
//! the driver never starves the runtime and never spins idle.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use weir_core::{EcnCodepoint, Transmit};

use crate::rendezvous;
use crate::runtime::{DriverTimer, Runtime};
use crate::shared::{Shared, State, TcpRequestKind};
use crate::socket::{TxQueue, UdpIo};
use crate::tcp::TcpLinks;

/// `recvmmsg` calls per round.
const RECV_CALLS: usize = 4;
/// Datagrams taken from the core per round before they are sent.
const TX_DATAGRAMS: usize = 256;
/// Rounds per poll before the driver yields to other tasks.
const ROUNDS: usize = 16;

/// The task that drives one endpoint: a future the adapter runs to its end
/// ([`Runtime::spawn`]). It ends once the endpoint is shut down, or dropped with all its
/// connections drained; dropping it earlier stops the endpoint (every waiting call learns it).
pub struct Driver<R: Runtime> {
    shared: Arc<Shared>,
    io: UdpIo<R::Socket>,
    /// The TCP transport's links (empty without one).
    tcp: TcpLinks<R>,
    rx: Vec<(SocketAddr, Option<EcnCodepoint>, BytesMut)>,
    tx: TxQueue,
    timer: R::Timer,
    /// The deadline the timer is armed for.
    deadline: Option<Instant>,
}

impl<R: Runtime> Driver<R> {
    /// Must be called where the runtime can make timers.
    pub(crate) fn new(shared: Arc<Shared>, io: UdpIo<R::Socket>, tcp: TcpLinks<R>) -> Self {
        Self {
            shared,
            io,
            tcp,
            rx: Vec::new(),
            tx: TxQueue::default(),
            timer: R::timer(),
            deadline: None,
        }
    }

    /// One round; returns whether there is more to do at once, or `None` when the driver may end.
    fn round(&mut self, cx: &mut Context<'_>) -> Option<bool> {
        let more_rx = self.io.poll_recv(cx, &mut self.rx, RECV_CALLS);
        let more_tcp_rx = self.tcp.poll_recv(cx, &mut self.rx);
        let mut state = self.shared.lock();
        if state.abandon {
            // Shutdown gave up waiting for the flush.
            return None;
        }
        state.driver_running(cx.waker());
        let now = state.now();
        for (from, ecn, datagram) in self.rx.drain(..) {
            if weir_core::rendezvous::is_rendezvous(&datagram) {
                // The rendezvous service's (or a punching peer's) message; a datagram the
                // service relayed comes out as the peer's.
                if let Some((peer, relayed)) =
                    rendezvous::receive(&mut state.meetings, now, from, &datagram)
                {
                    state.core.handle_datagram(now, peer, None, relayed);
                }
                continue;
            }
            state.core.handle_datagram(now, from, ecn, datagram);
        }
        let timer_fired = self.deadline.is_some_and(|at| at <= now);
        if timer_fired {
            state.core.handle_timeout(now);
        }
        let tcp_deadline = tcp_requests(&mut self.tcp, &mut state, now);
        let meetings_deadline = if state.meetings.is_empty() {
            None
        } else {
            rendezvous::on_timeout(&mut state.meetings, now)
        };
        let mut extra = Vec::new();
        rendezvous::transmits(&mut state.meetings, &mut extra);
        // While earlier sends wait for the socket the core keeps its datagrams (and can still
        // batch them); otherwise drain it into the queue.
        let mut more_tx = !self.tx.is_empty();
        if self.tx.is_empty() {
            // The engine writes each datagram, or a GSO batch of as many as one send of the
            // socket takes, straight into the send queue's buffer.
            let max_segments = self.io.max_segments();
            while self.tx.datagrams() < TX_DATAGRAMS
                && self
                    .tx
                    .fill(|buf| state.core.poll_transmit(now, max_segments, buf))
            {
                // Datagrams to a peer reached over TCP go to its link instead, and those to
                // a peer the rendezvous service relays to go to the service, wrapped.
                let meetings = &mut state.meetings;
                self.tx.divert_last(|to, segment, bytes| {
                    self.tcp.divert(to, segment, bytes)
                        || rendezvous::wrap(meetings, to, segment, bytes, &mut extra)
                });
            }
            more_tx = self.tx.datagrams() >= TX_DATAGRAMS;
        }
        for (destination, bytes) in extra {
            self.tx.fill(|buf| {
                buf.extend_from_slice(&bytes);
                Some(Transmit {
                    destination,
                    size: bytes.len(),
                    segment_size: None,
                    ecn: None,
                })
            });
        }
        state.dispatch_events();
        let mut deadline = [
            state.core.poll_timeout(),
            tcp_deadline,
            meetings_deadline,
            self.tcp.next_idle(),
        ]
        .into_iter()
        .flatten()
        .min();
        let exit = state.driver_may_exit();
        drop(state);

        let sent_all = self.io.poll_send(cx, &mut self.tx) & self.tcp.poll_send(cx);
        if exit && sent_all {
            return None;
        }
        if timer_fired && deadline.is_some_and(|at| at <= now) {
            // The core was just told the time and still names a past deadline: wait a
            // millisecond (the timer's resolution) rather than spin.
            deadline = Some(now + Duration::from_millis(1));
        }
        if deadline != self.deadline {
            self.deadline = deadline;
            if let Some(at) = deadline {
                self.timer.reset(at);
            }
        }
        let timer_due = self.deadline.is_some() && self.timer.poll_elapsed(cx).is_ready();
        Some(more_rx || more_tcp_rx || (more_tx && sent_all) || timer_due)
    }
}

/// Carries out the TCP requests that are due; the instant the next one is.
fn tcp_requests<R: Runtime>(
    tcp: &mut TcpLinks<R>,
    state: &mut State,
    now: Instant,
) -> Option<Instant> {
    if state.tcp_requests.is_empty() {
        return None;
    }
    let mut next: Option<Instant> = None;
    for request in std::mem::take(&mut state.tcp_requests) {
        if request.at > now {
            next = Some(next.map_or(request.at, |n| n.min(request.at)));
            state.tcp_requests.push(request);
            continue;
        }
        let (handle, moved) = match request.kind {
            TcpRequestKind::Fallback(handle) => {
                // Only a handshake still under way falls back.
                let waiting = state
                    .conns
                    .get(&handle)
                    .is_some_and(|c| !c.connected && c.error.is_none() && !c.drained);
                let opened = waiting && tcp.open(request.remote);
                if opened {
                    tracing::info!(
                        remote = %request.remote,
                        "no UDP handshake yet: falling back to TCP"
                    );
                }
                (handle, opened)
            }
            TcpRequestKind::Open(handle) => (handle, tcp.open(request.remote)),
            TcpRequestKind::Close(handle) => {
                tcp.close(request.remote);
                (handle, true)
            }
        };
        if moved {
            // What went out the old way may be lost there: find out now, not after a probe
            // timeout that backs off; and a new connection ID keeps the two transports from
            // being linked by an observer.
            state.core.path_moved(now, handle);
        }
    }
    next
}

impl<R: Runtime> Future for Driver<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        for _ in 0..ROUNDS {
            match this.round(cx) {
                None => return Poll::Ready(()),
                Some(true) => {}
                Some(false) => return Poll::Pending,
            }
        }
        // Budget spent with work left: let other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<R: Runtime> Drop for Driver<R> {
    fn drop(&mut self) {
        // Ended, aborted, or its runtime shut down: nobody may wait for it any longer.
        self.shared.lock().driver_ended();
    }
}
