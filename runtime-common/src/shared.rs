//! The state the driver task and the application's objects share: the core endpoint, and the
//! wakers of whoever waits on it, behind one mutex.
//!
//! Every access takes the lock, acts on the core, and, when it waits, registers its waker
//! *under the same lock*. The driver dispatches the core's events under that lock too, so an
//! event can never slip between "the core said blocked" and "the waker is registered": no
//! lost wake-ups. Application calls that may give the core something to send wake the driver
//! ([`State::wake_driver`]).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Instant;

use weir_core::adapt::{StrategyChange, TransportChoice};
use weir_core::connection::{ConnectionError, ConnectionStats, Event};
use weir_core::endpoint::ConnectionHandle;
use weir_core::lanes::LaneEvent;
use weir_core::streams::StreamEvent;
use weir_core::wire::VarInt;
use weir_core::{Dir, StreamId};

use crate::engine::Engine;
use crate::error::ConnectionLost;
use crate::socket::{Counters, SocketInfo};
use crate::tcp::TcpTransport;
use crate::tcp::links::TcpCounters;

/// What the driver and the application objects share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The socket as bound (immutable).
    pub(crate) info: SocketInfo,
    /// The socket's counters (atomics: read without the lock).
    pub(crate) counters: Arc<Counters>,
    /// The TCP transport's counters.
    pub(crate) tcp_counters: Arc<TcpCounters>,
    /// The TCP transport's configuration, if the endpoint has one.
    pub(crate) tcp: Option<TcpTransport>,
}

impl Shared {
    pub(crate) fn new(
        core: Engine,
        info: SocketInfo,
        counters: Arc<Counters>,
        tcp: Option<TcpTransport>,
        tcp_counters: Arc<TcpCounters>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                core,
                last_now: Instant::now(),
                conns: HashMap::new(),
                incoming: VecDeque::new(),
                accept_wakers: Wakers::default(),
                drain_wakers: Wakers::default(),
                driver_waker: None,
                driver_woken: false,
                endpoint_refs: 0,
                closing: false,
                stop: false,
                abandon: false,
                driver_gone: false,
                tcp_requests: Vec::new(),
                meetings: Vec::new(),
                follow_transport: tcp.as_ref().is_some_and(|t| t.follow_recommendation),
            }),
            info,
            counters,
            tcp_counters,
            tcp,
        }
    }

    /// The state. A panic while the lock was held (a bug) does not make every later call panic.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Tasks waiting for the same kind of news.
#[derive(Debug, Default)]
pub(crate) struct Wakers(Vec<Waker>);

impl Wakers {
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }

    pub(crate) fn wake_all(&mut self) {
        for waker in self.0.drain(..) {
            waker.wake();
        }
    }
}

/// Stores `waker` for `id`, replacing an older one.
pub(crate) fn register_stream(map: &mut HashMap<StreamId, Waker>, id: StreamId, waker: &Waker) {
    match map.get_mut(&id) {
        Some(w) if w.will_wake(waker) => {}
        Some(w) => w.clone_from(waker),
        None => {
            map.insert(id, waker.clone());
        }
    }
}

/// Stores `waker` for lane `lane`, replacing an older one.
pub(crate) fn register_lane(map: &mut HashMap<u64, Waker>, lane: u64, waker: &Waker) {
    match map.get_mut(&lane) {
        Some(w) if w.will_wake(waker) => {}
        Some(w) => w.clone_from(waker),
        None => {
            map.insert(lane, waker.clone());
        }
    }
}

fn wake_stream(map: &mut HashMap<StreamId, Waker>, id: StreamId) {
    if let Some(waker) = map.remove(&id) {
        waker.wake();
    }
}

/// The application's view of one connection.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// Whether application objects (a `Connection`, its streams) refer to it.
    pub(crate) attached: bool,
    /// A client opened it to our server (`Event::Incoming`): it goes to `accept` once
    /// connected.
    pub(crate) inbound: bool,
    pub(crate) connected: bool,
    pub(crate) error: Option<ConnectionError>,
    pub(crate) drained: bool,
    /// Counters kept for when the core's state is gone.
    pub(crate) last_stats: Option<ConnectionStats>,
    /// Waiting for the handshake or the close.
    pub(crate) lifecycle: Wakers,
    /// Waiting in `accept_bi`/`accept_uni`.
    pub(crate) accept: [Wakers; 2],
    /// Waiting in `open_bi`/`open_uni` for stream credit.
    pub(crate) open: [Wakers; 2],
    /// Waiting for an unreliable message.
    pub(crate) datagrams: Wakers,
    /// Waiting for a message, per lane.
    pub(crate) lanes_readable: HashMap<u64, Waker>,
    /// Waiting for room in the lanes' send buffer.
    pub(crate) lanes_writable: Wakers,
    /// Waiting to read, per stream.
    pub(crate) readers: HashMap<StreamId, Waker>,
    /// Waiting to write, per stream.
    pub(crate) writers: HashMap<StreamId, Waker>,
    /// The newest strategy changes not yet taken by the application, at most
    /// [`STRATEGY_CHANGES_KEPT`] (the oldest go first).
    pub(crate) strategy_changes: VecDeque<StrategyChange>,
}

/// Strategy changes a connection keeps for the application: a minute's worth at the
/// selector's fastest (one per 5 s dwell), so an application that never asks holds little.
pub(crate) const STRATEGY_CHANGES_KEPT: usize = 16;

pub(crate) fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

impl ConnState {
    fn wake_everyone(&mut self) {
        self.lifecycle.wake_all();
        self.datagrams.wake_all();
        self.lanes_writable.wake_all();
        for (_, waker) in self.lanes_readable.drain() {
            waker.wake();
        }
        for w in self.accept.iter_mut().chain(self.open.iter_mut()) {
            w.wake_all();
        }
        for (_, waker) in self.readers.drain().chain(self.writers.drain()) {
            waker.wake();
        }
    }
}

/// The shared state proper.
pub(crate) struct State {
    pub(crate) core: Engine,
    last_now: Instant,
    pub(crate) conns: HashMap<ConnectionHandle, ConnState>,
    /// Accepted by the core and connected, not yet taken by `accept`.
    pub(crate) incoming: VecDeque<ConnectionHandle>,
    pub(crate) accept_wakers: Wakers,
    /// Waiting for every connection to drain (shutdown).
    pub(crate) drain_wakers: Wakers,
    driver_waker: Option<Waker>,
    driver_woken: bool,
    /// `Endpoint` handles alive; with none left, the driver ends once the connections drained.
    pub(crate) endpoint_refs: usize,
    /// Shutting down: no new connections.
    pub(crate) closing: bool,
    /// The driver ends once its queue is flushed.
    pub(crate) stop: bool,
    /// The driver ends at once, flushed or not.
    pub(crate) abandon: bool,
    pub(crate) driver_gone: bool,
    /// Work for the driver's TCP links, each due at its instant.
    pub(crate) tcp_requests: Vec<TcpRequest>,
    /// Rendezvous meetings with other peers (at most [`crate::rendezvous::MAX_MEETINGS`]).
    pub(crate) meetings: Vec<crate::rendezvous::Meeting>,
    /// Clients move to TCP when their strategy recommends it
    /// ([`TcpTransport::follow_recommendation`]).
    follow_transport: bool,
}

/// Something the driver's TCP links must do ([`crate::tcp`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpRequest {
    /// The peer address whose datagrams it concerns.
    pub(crate) remote: SocketAddr,
    /// When it is due.
    pub(crate) at: Instant,
    pub(crate) kind: TcpRequestKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpRequestKind {
    /// Open a link unless this connection's handshake completed (or failed) by then.
    Fallback(ConnectionHandle),
    /// Carry the peer's datagrams over TCP (asked for by this connection).
    Open(ConnectionHandle),
    /// Carry the peer's datagrams over UDP again (asked for by this connection).
    Close(ConnectionHandle),
}

impl State {
    /// Asks the driver to move the datagrams to `remote` to `kind`'s transport now, replacing
    /// an earlier such request for the same peer.
    pub(crate) fn request_transport(&mut self, remote: SocketAddr, kind: TcpRequestKind) {
        let now = self.now();
        self.tcp_requests
            .retain(|r| r.remote != remote || matches!(r.kind, TcpRequestKind::Fallback(_)));
        self.tcp_requests.push(TcpRequest {
            remote,
            at: now,
            kind,
        });
        self.wake_driver();
    }

    /// The current time, never earlier than any time the core was given before (several
    /// threads read the clock and take turns at the lock).
    pub(crate) fn now(&mut self) -> Instant {
        let now = Instant::now().max(self.last_now);
        self.last_now = now;
        now
    }

    /// Makes the driver run: the application gave the core something to do.
    pub(crate) fn wake_driver(&mut self) {
        if !self.driver_woken {
            self.driver_woken = true;
            if let Some(waker) = &self.driver_waker {
                waker.wake_by_ref();
            }
        }
    }

    /// The driver is running now (called by it, under the lock, each round).
    pub(crate) fn driver_running(&mut self, waker: &Waker) {
        self.driver_woken = false;
        match &mut self.driver_waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Why the connection is unusable, if it is.
    pub(crate) fn lost(&self, handle: ConnectionHandle) -> Option<ConnectionLost> {
        match self.conns.get(&handle) {
            Some(ConnState {
                error: Some(error), ..
            }) => Some(ConnectionLost::Closed(error.clone())),
            _ if self.driver_gone => Some(ConnectionLost::EndpointStopped),
            None => Some(ConnectionLost::EndpointStopped),
            Some(_) => None,
        }
    }

    /// Closes a connection (no-op once closed) and lets the driver send the close.
    pub(crate) fn close(&mut self, handle: ConnectionHandle, code: VarInt, reason: &[u8]) {
        let now = self.now();
        if let Some(mut conn) = self.core.connection(handle) {
            conn.close(now, code, reason);
            self.wake_driver();
        }
    }

    /// Hands the core's events to whoever waits for them.
    pub(crate) fn dispatch_events(&mut self) {
        while let Some((handle, event)) = self.core.poll_event() {
            let state = self.conns.entry(handle).or_default();
            // A client whose strategy now recommends TCP (UDP losing heavily without a queue:
            // a network that drops UDP) moves there, if the endpoint follows recommendations.
            let mut to_tcp = false;
            match event {
                Event::Incoming { remote } => {
                    state.inbound = true;
                    if self.closing || self.endpoint_refs == 0 {
                        // Nobody will accept it: refuse it before its handshake costs more.
                        tracing::debug!(%handle, %remote, "incoming connection refused");
                        self.close(handle, VarInt::ZERO, b"endpoint closing");
                    }
                }
                Event::Connected => {
                    state.connected = true;
                    state.last_stats = self.core.connection(handle).map(|c| c.stats());
                    state.lifecycle.wake_all();
                    if state.inbound {
                        // Usable now: queue it for `accept`.
                        if self.closing || self.endpoint_refs == 0 {
                            self.close(handle, VarInt::ZERO, b"endpoint closing");
                        } else {
                            self.incoming.push_back(handle);
                            self.accept_wakers.wake_all();
                        }
                    }
                }
                Event::Stream(event) => match event {
                    StreamEvent::Readable { id } => wake_stream(&mut state.readers, id),
                    StreamEvent::Writable { id } => wake_stream(&mut state.writers, id),
                    // The core answers writes with the peer's code from now on, also once
                    // the stream's state is released (`Connection::stopped`).
                    StreamEvent::Stopped { id, .. } => wake_stream(&mut state.writers, id),
                    StreamEvent::Opened { dir } => state.accept[dir_index(dir)].wake_all(),
                    StreamEvent::Available { dir } => state.open[dir_index(dir)].wake_all(),
                    StreamEvent::Finished { .. } => {}
                },
                Event::DatagramReceived => state.datagrams.wake_all(),
                Event::Lane(LaneEvent::Readable { lane }) => {
                    if let Some(waker) = state.lanes_readable.remove(&lane) {
                        waker.wake();
                    }
                }
                Event::Lane(LaneEvent::Writable) => state.lanes_writable.wake_all(),
                // Counted in the lane statistics.
                Event::Lane(LaneEvent::Expired { .. }) => {}
                Event::Lane(LaneEvent::Undecodable {
                    lane,
                    sequence,
                    error,
                }) => {
                    tracing::debug!(lane, sequence, %error, "lane message dropped");
                }
                Event::StrategyChanged(change) => {
                    tracing::debug!(
                        old = %change.old,
                        new = %change.new,
                        reason = %change.reason,
                        "strategy changed"
                    );
                    to_tcp = self.follow_transport
                        && !state.inbound
                        && change.new.transport == TransportChoice::Tcp
                        && change.old.transport != TransportChoice::Tcp;
                    if state.strategy_changes.len() >= STRATEGY_CHANGES_KEPT {
                        state.strategy_changes.pop_front();
                    }
                    state.strategy_changes.push_back(change);
                }
                // `Connection::remote_address` reads the new address from the core.
                Event::PathChanged { remote } => {
                    tracing::debug!(%handle, %remote, "the peer moved");
                }
                Event::Closed(error) => {
                    state.error = Some(error);
                    state.last_stats = self.core.connection(handle).map(|c| c.stats());
                    state.wake_everyone();
                }
                Event::Drained => {
                    state.drained = true;
                    state.wake_everyone();
                    if !state.attached {
                        self.conns.remove(&handle);
                        self.incoming.retain(|h| *h != handle);
                    }
                    if self.core.connection_count() == 0 {
                        self.drain_wakers.wake_all();
                    }
                }
            }
            if to_tcp && let Some(remote) = self.core.connection(handle).map(|c| c.remote_address())
            {
                tracing::info!(%handle, %remote, "the strategy recommends TCP: switching");
                self.request_transport(remote, TcpRequestKind::Open(handle));
            }
        }
    }

    /// Whether the driver may end: told to stop, or nobody can use the endpoint any more.
    pub(crate) fn driver_may_exit(&self) -> bool {
        self.stop || (self.endpoint_refs == 0 && self.core.connection_count() == 0)
    }

    /// The driver ended: everyone waiting learns it.
    pub(crate) fn driver_ended(&mut self) {
        self.driver_gone = true;
        self.driver_waker = None;
        self.accept_wakers.wake_all();
        self.drain_wakers.wake_all();
        for state in self.conns.values_mut() {
            state.wake_everyone();
        }
    }
}
