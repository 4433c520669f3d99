//! The endpoint: one UDP socket, the core endpoint it feeds, and the readiness bookkeeping that
//! lets the application's `mio::Poll` drive both.
//!
//! The invariant that keeps the loop from stalling under edge-triggered readiness: the socket
//! is read until `WouldBlock` before the endpoint stops asking for a zero timeout (`readable`
//! is cleared only there), and a send that met `WouldBlock` leaves its datagrams queued and the
//! socket registered for `WRITABLE` until they are flushed. Anything else that gives the core
//! work — an application call through [`Endpoint::connection`], a connect, a receive or send
//! budget spent — makes [`Endpoint::timeout`] zero, so the next [`Endpoint::drive`] comes at
//! once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::{Interest, Registry, Token};
use weir_core::config::ServerConfig;
use weir_core::connection::{Connection, Event};
use weir_core::crypto::{ClientTls, Security};
use weir_core::endpoint::{ConnectionHandle, Endpoint as CoreEndpoint, EndpointStats};
use weir_core::wire::VarInt;

use crate::config::Config;
use crate::error::{BindError, ConnectError};
use crate::socket::{self, Received, SocketInfo, SocketStats, UdpIo};
use crate::txqueue::TxQueue;

/// `recvmmsg` calls per [`Endpoint::drive`] (each up to 8 × 64 KiB with GRO) before the
/// endpoint lets the application's loop run again.
const RECV_CALLS: usize = 16;
/// Datagrams taken from the core before they are sent.
const TX_BATCH: usize = 256;
/// Datagrams sent per [`Endpoint::drive`] before the endpoint lets the loop run again.
const TX_PER_DRIVE: usize = 1024;
/// The wait after a timer that fired and still names the past: the core was just told the
/// time, so this is a deadline it keeps for a reason of its own; wait rather than spin
/// (mio's timeout has millisecond resolution).
const STALE_DEADLINE_WAIT: Duration = Duration::from_millis(1);

/// Where the socket is registered.
struct Registration {
    registry: Registry,
    token: Token,
    interest: Interest,
}

/// A weir endpoint on a UDP socket, driven by the application's own [`mio::Poll`] on the
/// application's thread (see the [crate docs](crate) for the loop).
///
/// - Inputs: [`handle_event`](Self::handle_event) for readiness events,
///   [`drive`](Self::drive) to act on them and on the time, and application calls on the
///   core's [`Connection`]s through [`connection`](Self::connection).
/// - Outputs: [`poll_event`](Self::poll_event) for what happened (the core's events, with the
///   connection's handle), [`timeout`](Self::timeout) for the next `poll.poll`.
///
/// Dropping the endpoint drops its connections without a word to their peers, as a crashed
/// process would (they end by idle timeout); for a clean end, [`close_all`](Self::close_all)
/// and drive until [`connection_count`](Self::connection_count) is zero.
pub struct Endpoint {
    core: CoreEndpoint,
    io: UdpIo,
    info: SocketInfo,
    tx: TxQueue,
    registration: Option<Registration>,
    /// The socket may hold datagrams: edge-triggered readiness says so once, so this stays
    /// set until a receive returns `WouldBlock`.
    readable: bool,
    /// The socket may take datagrams: cleared by a send that returned `WouldBlock`, set by the
    /// writable event that follows.
    writable: bool,
    /// The application reached a connection (or connected) since the last drive: the core may
    /// have something to send.
    touched: bool,
    /// A budget ran out in the last drive: there is more to do at once.
    more: bool,
    /// When the last drive fired the core's timers.
    fired_at: Option<Instant>,
    /// [`close_all`](Self::close_all) was called.
    closing: bool,
    last_now: Instant,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local_addr", &self.info.local_addr)
            .field("token", &self.registration.as_ref().map(|r| r.token))
            .field("connections", &self.core.connection_count())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Binds a UDP socket to `addr`, tuned per `config.socket`, with a core endpoint per the
    /// rest of `config`. Every configuration is validated first; the endpoint's secret is drawn
    /// from the operating system unless the configuration fixes the seed. Register the socket
    /// with [`register`](Self::register) before driving it.
    pub fn bind(addr: SocketAddr, config: Config) -> Result<Self, BindError> {
        let mut core = core_endpoint(&config)?;
        let socket = socket::bind_std(addr, &config.socket)?;
        let (io, info) = UdpIo::new(socket, &config.socket).map_err(|source| BindError::Io {
            op: "set up",
            addr,
            source,
        })?;
        if info.may_fragment {
            // Probes the kernel fragments would all succeed (quinn-udp sets the don't-fragment
            // bit where the platform lets it).
            core.disable_mtu_discovery();
        }
        Ok(Self {
            core,
            io,
            info,
            tx: TxQueue::default(),
            registration: None,
            readable: true,
            writable: true,
            touched: false,
            more: false,
            fired_at: None,
            closing: false,
            last_now: Instant::now(),
        })
    }

    // ----- Registration and readiness -----

    /// Registers the socket with `registry` (your `poll.registry()`) under `token`, for
    /// readable events (and, while sends wait for room, writable ones). The endpoint keeps a
    /// clone of the registry to change its interest on its own.
    pub fn register(&mut self, registry: &Registry, token: Token) -> std::io::Result<()> {
        if self.registration.is_some() {
            self.deregister()?;
        }
        let interest = self.wanted_interest();
        let registry = registry.try_clone()?;
        registry.register(&mut self.io.socket, token, interest)?;
        self.registration = Some(Registration {
            registry,
            token,
            interest,
        });
        // Whatever arrived before the registration raised no event: look.
        self.readable = true;
        self.writable = true;
        Ok(())
    }

    /// Removes the socket from the registry it was registered with (no-op if it is not).
    pub fn deregister(&mut self) -> std::io::Result<()> {
        match self.registration.take() {
            Some(reg) => reg.registry.deregister(&mut self.io.socket),
            None => Ok(()),
        }
    }

    /// The token the socket is registered under.
    pub fn token(&self) -> Option<Token> {
        self.registration.as_ref().map(|r| r.token)
    }

    /// Takes a readiness event from your `poll.poll`: returns `true` if it is this endpoint's
    /// (then call [`drive`](Self::drive) before polling again), `false` for any other token
    /// (the event is yours; nothing changes here).
    pub fn handle_event(&mut self, event: &MioEvent) -> bool {
        if self.token() != Some(event.token()) {
            return false;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            // An error event is a queued ICMP error: the next receive reports and clears it.
            self.readable = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
        true
    }

    /// Does everything that is due, without blocking: receives what the socket holds (until
    /// `WouldBlock`, or a budget that keeps one busy peer from starving the rest of your loop),
    /// fires the core's timers if their deadline passed, and sends what the core has ready
    /// (what the kernel cannot take yet stays queued, and the socket registered for
    /// `WRITABLE`). Then take the events with [`poll_event`](Self::poll_event).
    ///
    /// An endpoint that is not registered receives by trying the socket on every call.
    pub fn drive(&mut self) {
        let now = self.now();
        self.touched = false;
        self.more = false;
        let registered = self.registration.is_some();
        // 1. Receive.
        if self.readable {
            let core = &mut self.core;
            match self.io.recv(RECV_CALLS, |from, ecn, datagram| {
                core.handle_datagram(now, from, ecn, datagram)
            }) {
                Received::Drained => self.readable = !registered,
                Received::Budget => self.more = true,
            }
        }
        // 2. Timers (early or late is harmless; see the core's driving rule).
        if self.core.poll_timeout().is_some_and(|at| at <= now) {
            self.core.handle_timeout(now);
            self.fired_at = Some(now);
        }
        // 3. Send.
        self.send(now);
        if !registered {
            self.writable = true;
        }
        self.update_interest();
    }

    /// Drains the core into the socket, in batches, until the core has nothing ready, the
    /// kernel's buffer is full, or the budget is spent.
    fn send(&mut self, now: Instant) {
        let mut budget = TX_PER_DRIVE;
        loop {
            if !self.tx.is_empty() {
                // While earlier datagrams wait for room the core keeps its own (and can still
                // batch them).
                if !self.writable {
                    return;
                }
                if self.io.send(&mut self.tx) == socket::Sent::WouldBlock {
                    self.writable = false;
                    return;
                }
            }
            if budget == 0 {
                self.more = true;
                return;
            }
            // The core batches for GSO itself, up to what one send of the socket takes.
            let max_segments = self.io.max_segments();
            let core = &mut self.core;
            while self.tx.datagrams() < TX_BATCH && budget > 0 {
                let before = self.tx.datagrams();
                if !self
                    .tx
                    .fill(|buf| core.poll_transmit(now, max_segments, buf))
                {
                    break;
                }
                budget = budget.saturating_sub(self.tx.datagrams().saturating_sub(before));
            }
            if self.tx.is_empty() {
                return;
            }
        }
    }

    fn wanted_interest(&self) -> Interest {
        if self.tx.is_empty() {
            Interest::READABLE
        } else {
            Interest::READABLE | Interest::WRITABLE
        }
    }

    fn update_interest(&mut self) {
        let want = self.wanted_interest();
        let Some(reg) = &mut self.registration else {
            return;
        };
        if reg.interest == want {
            return;
        }
        match reg
            .registry
            .reregister(&mut self.io.socket, reg.token, want)
        {
            Ok(()) => reg.interest = want,
            Err(error) => {
                // Without the writable event, retry sending on the next drive (a zero timeout)
                // rather than wait for an event that will not come.
                tracing::warn!(%error, "cannot change the UDP socket's mio interest");
                self.writable = true;
            }
        }
    }

    /// Whether [`drive`](Self::drive) has work now, without waiting for an event.
    fn has_work(&self) -> bool {
        self.touched
            || self.more
            || (self.readable && self.registration.is_some())
            || (self.writable && !self.tx.is_empty())
    }

    /// When [`drive`](Self::drive) must next run even if no event for this endpoint comes:
    /// now if it has work already, else the core's next deadline; `None` if only an event
    /// can give it work. For loops that combine several endpoints or timers of their own.
    pub fn deadline(&mut self) -> Option<Instant> {
        if self.has_work() {
            return Some(self.last_now);
        }
        let deadline = self.core.poll_timeout()?;
        Some(match self.fired_at {
            Some(fired) if deadline <= fired => fired + STALE_DEADLINE_WAIT,
            _ => deadline,
        })
    }

    /// The timeout to give `poll.poll`: zero if [`drive`](Self::drive) has work now, the time
    /// until the core's next deadline otherwise, `None` (wait for an event) if it has none.
    pub fn timeout(&mut self) -> Option<Duration> {
        if self.has_work() {
            return Some(Duration::ZERO);
        }
        self.deadline()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    // ----- Application -----

    /// The current time for the core's calls that take one (`read`, `send_datagram`, ...):
    /// the clock, never earlier than a time the endpoint was given before.
    pub fn now(&mut self) -> Instant {
        let now = Instant::now().max(self.last_now);
        self.last_now = now;
        now
    }

    /// The next event: a client opened a connection to this server (`Event::Incoming`, the
    /// first event of each such connection: start tracking its handle), a connection connected
    /// (usable from now on: a client's own or an incoming one), a stream or lane has data, a
    /// message arrived, a connection closed (with its typed reason: `Event::Closed`; an
    /// incoming connection whose handshake fails goes from `Incoming` to `Closed`) or drained
    /// (`Event::Drained`, its handle invalid from then on). Drain it after every
    /// [`drive`](Self::drive).
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        let (handle, event) = self.core.poll_event()?;
        if self.closing
            && matches!(event, Event::Incoming { .. })
            && let Some(conn) = self.core.connection(handle)
        {
            // A client that got in as shutdown began: refused before its handshake.
            let now = Instant::now().max(self.last_now);
            conn.close(now, VarInt::ZERO, b"endpoint closing");
            self.touched = true;
        }
        Some((handle, event))
    }

    /// The connection behind `handle`, for application calls: open, accept, write, read,
    /// finish streams; send and receive messages on lanes and unreliable datagrams; stats;
    /// close. `None` once it drained. Whatever the calls queue is sent by the next
    /// [`drive`](Self::drive), which [`timeout`](Self::timeout) asks for at once.
    pub fn connection(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        self.touched = true;
        self.core.connection(handle)
    }

    /// The connection behind `handle`, read-only (statistics, state).
    pub fn connection_ref(&self, handle: ConnectionHandle) -> Option<&Connection> {
        self.core.connection_ref(handle)
    }

    /// Handles of every live connection.
    pub fn connection_handles(&self) -> impl Iterator<Item = ConnectionHandle> + '_ {
        self.core.connection_handles()
    }

    /// Starts a connection to `remote`, trusting the server as the endpoint's TLS client
    /// configuration says. It is usable once [`poll_event`](Self::poll_event) reports
    /// `Event::Connected` for the handle; a handshake that fails reports `Event::Closed`.
    pub fn connect(&mut self, remote: SocketAddr) -> Result<ConnectionHandle, ConnectError> {
        self.connect_inner(remote, None)
    }

    /// Like [`connect`](Self::connect), trusting the server as `tls` says (another server
    /// name, other pins or roots).
    pub fn connect_tls(
        &mut self,
        remote: SocketAddr,
        tls: ClientTls,
    ) -> Result<ConnectionHandle, ConnectError> {
        self.connect_inner(remote, Some(tls))
    }

    fn connect_inner(
        &mut self,
        remote: SocketAddr,
        tls: Option<ClientTls>,
    ) -> Result<ConnectionHandle, ConnectError> {
        let local = self.info.local_addr;
        let reachable = match (local, remote) {
            (SocketAddr::V4(_), SocketAddr::V4(_)) | (SocketAddr::V6(_), SocketAddr::V6(_)) => true,
            (SocketAddr::V6(_), SocketAddr::V4(_)) => self.info.dual_stack,
            (SocketAddr::V4(_), SocketAddr::V6(_)) => false,
        };
        if !reachable {
            return Err(ConnectError::AddressFamily { remote, local });
        }
        if self.closing {
            return Err(ConnectError::ShuttingDown);
        }
        let now = self.now();
        let handle = match tls {
            Some(tls) => self.core.connect_tls(now, remote, tls)?,
            None => self.core.connect(now, remote)?,
        };
        self.touched = true;
        Ok(handle)
    }

    /// Closes one connection with an application `code` and `reason` (no-op if it is closed or
    /// gone). It reports `Event::Drained` once its closing period is over.
    pub fn close(&mut self, handle: ConnectionHandle, code: VarInt, reason: &[u8]) {
        let now = self.now();
        if let Some(conn) = self.connection(handle) {
            conn.close(now, code, reason);
        }
    }

    /// Shutdown: closes every connection with `code` and `reason`, refuses new ones (connects
    /// fail, handshakes that complete are closed). Keep driving until
    /// [`connection_count`](Self::connection_count) is zero (every close sent, every closing
    /// period over, a few round trips) or your own deadline passes.
    pub fn close_all(&mut self, code: VarInt, reason: &[u8]) {
        self.closing = true;
        // New clients are refused at once (CONNECTION_REFUSED) rather than timing out.
        self.core.set_accepting(false);
        let now = self.now();
        self.core.close_all(now, code, reason);
        self.touched = true;
    }

    /// Whether [`close_all`](Self::close_all) was called.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    // ----- Introspection -----

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.info.local_addr
    }

    /// The socket as the kernel set it up (buffer sizes granted, GSO/GRO).
    pub fn socket_info(&self) -> SocketInfo {
        self.info
    }

    /// What the socket did, including the errors it counted and survived.
    pub fn socket_stats(&self) -> SocketStats {
        self.io.stats
    }

    /// What the core endpoint dropped or answered on its own.
    pub fn stats(&self) -> EndpointStats {
        self.core.stats()
    }

    /// Connections alive (closing ones included).
    pub fn connection_count(&self) -> usize {
        self.core.connection_count()
    }

    /// Server connections whose handshake is in progress (half-open).
    pub fn handshakes_in_progress(&self) -> usize {
        self.core.handshakes_in_progress()
    }

    /// The core endpoint, read-only.
    pub fn core(&self) -> &CoreEndpoint {
        &self.core
    }
}

/// The core endpoint, seeded from the operating system unless the configuration fixes the seed
/// (DESIGN.md §2: the core never draws randomness itself), under weir-tokio's security policy.
fn core_endpoint(config: &Config) -> Result<CoreEndpoint, BindError> {
    if config.endpoint.security == Some(Security::InsecureIntegrityOnly) && !config.allow_insecure {
        return Err(BindError::InsecureRefused);
    }
    let mut endpoint = config.endpoint.clone();
    endpoint
        .seed
        .resolve(|bytes| getrandom::fill(bytes))
        .map_err(BindError::Entropy)?;
    let server: Option<ServerConfig> = config.server.clone();
    let mut core = CoreEndpoint::new(Instant::now(), endpoint, server)?;
    core.set_client_config(config.client.clone())?;
    Ok(core)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_can_move_to_the_thread_that_polls_it() {
        fn is_send<T: Send>() {}
        is_send::<Endpoint>();
    }

    /// The path loopback never takes (its sends do not block): datagrams the kernel refused
    /// stay queued, the socket is registered for `WRITABLE`, the loop waits for that event
    /// instead of spinning, and the event flushes the queue and drops the interest again.
    #[test]
    fn a_blocked_send_waits_for_the_writable_event() {
        let mut poll = mio::Poll::new().expect("poll");
        let mut endpoint = Endpoint::bind(
            "127.0.0.1:0".parse().expect("literal"),
            Config::insecure_client(),
        )
        .expect("bind");
        endpoint
            .register(poll.registry(), Token(7))
            .expect("register");
        endpoint.drive();
        let _ = endpoint
            .connect("127.0.0.1:9".parse().expect("literal"))
            .expect("connect");
        // As if the last send had met `WouldBlock`.
        endpoint.writable = false;
        endpoint.drive();
        assert!(!endpoint.tx.is_empty(), "the Initial waits in the queue");
        assert_eq!(endpoint.io.stats.datagrams_sent, 0);
        let interest = endpoint.registration.as_ref().map(|r| r.interest);
        assert_eq!(interest, Some(Interest::READABLE | Interest::WRITABLE));
        assert_ne!(endpoint.timeout(), Some(Duration::ZERO), "no spinning");

        // The socket has room: mio reports it writable.
        let mut events = mio::Events::with_capacity(8);
        let bound = Instant::now() + Duration::from_secs(5);
        while !endpoint.tx.is_empty() {
            assert!(Instant::now() < bound, "no writable event");
            poll.poll(&mut events, endpoint.timeout()).expect("poll");
            for event in events.iter() {
                assert!(endpoint.handle_event(event));
            }
            endpoint.drive();
        }
        assert!(endpoint.io.stats.datagrams_sent > 0);
        let interest = endpoint.registration.as_ref().map(|r| r.interest);
        assert_eq!(
            interest,
            Some(Interest::READABLE),
            "interest dropped once flushed"
        );
    }
}
