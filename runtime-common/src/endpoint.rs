//! The endpoint: one UDP socket, one driver, many connections.

use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use weir_core::config::Seed;
use weir_core::endpoint::{Endpoint as CoreEndpoint, EndpointStats};
use weir_core::wire::VarInt;

use crate::config::Config;
use crate::connection::Connection;
use crate::driver::Driver;
use crate::engine::Engine;
use crate::error::{BindError, ConnectError, SocketConfigError};
use crate::quic::QuicEndpoint;
use crate::rendezvous::{MAX_MEETINGS, Meeting, PeerPath, RendezvousError};
use crate::runtime::{DriverTimer, Runtime};
use crate::shared::{ConnState, Shared, TcpRequest, TcpRequestKind};
use crate::socket::{self, SocketInfo, SocketStats, UdpIo};
use crate::tcp::{TcpConfigError, TcpLinks, TcpStats, TcpTransport};

/// A weir endpoint on a UDP socket: connects to servers, and accepts connections when it has a
/// server configuration. Cheap to clone. One driver ([`Driver`](crate::runtime::Driver)), which
/// [`bind`](Self::bind) starts on the runtime `R` (a task on tokio's, a thread of its own for
/// async-io's), drives the socket, the timers and every connection; it ends when the endpoint
/// and all its connections are dropped (or at [`shutdown`](Self::shutdown)).
///
/// Applications name it through their adapter: `weir_tokio::Endpoint`,
/// `weir_async_std::Endpoint`.
pub struct Endpoint<R: Runtime> {
    inner: Arc<EndpointRef>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> Clone for Endpoint<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Endpoint<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local_addr", &self.inner.shared.info.local_addr)
            .finish_non_exhaustive()
    }
}

struct EndpointRef {
    shared: Arc<Shared>,
}

impl Drop for EndpointRef {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.endpoint_refs = 0;
        // Nobody can accept these any more.
        for handle in std::mem::take(&mut state.incoming) {
            state.close(handle, VarInt::ZERO, b"endpoint dropped");
        }
        state.wake_driver();
    }
}

impl<R: Runtime> Endpoint<R> {
    /// Binds a UDP socket to `addr`, tuned per `config.socket`, and starts the endpoint's
    /// driver on the runtime (for tokio, the current one). Every configuration is validated
    /// first.
    pub async fn bind(addr: SocketAddr, config: Config) -> Result<Self, BindError> {
        let (endpoint, driver) = Self::bind_with_driver(addr, config).await?;
        R::spawn(driver).map_err(|source| BindError::Io {
            op: "start the driver of",
            addr,
            source,
        })?;
        Ok(endpoint)
    }

    /// Binds as [`bind`](Self::bind) does but leaves the driver to the caller: the returned
    /// [`Driver`] is a future that must be polled to its end (a task on the application's
    /// executor, for instance `smol::spawn(driver).detach()`), or nothing is sent, received or
    /// timed. Running it on the executor that runs the application's tasks saves a wake-up
    /// across threads per hop, which a latency-bound application (a game's ticks) notices;
    /// [`bind`](Self::bind)'s own placement (the runtime's) keeps the driver from waiting behind
    /// busy application tasks. The driver ends as a spawned one does; dropping it early stops
    /// the endpoint, and every waiting call learns it.
    pub async fn bind_with_driver(
        addr: SocketAddr,
        config: Config,
    ) -> Result<(Self, Driver<R>), BindError> {
        let core = match config.quic {
            Some(_) => None,
            None => Some(core_endpoint(&config)?),
        };
        let tcp = match (&config.quic, &config.tcp) {
            (None, Some(tcp)) => {
                tcp.validate()?;
                Some(tcp.clone())
            }
            _ => None,
        };
        let listen = tcp
            .as_ref()
            .filter(|tcp| tcp.listen && config.server.is_some());
        let (socket, listener) = bind_sockets(addr, &config.socket, listen)?;
        Self::start(addr, (socket, listener), core, tcp, &config)
    }

    /// Binds `shards` endpoints to the same address with `SO_REUSEPORT` (Unix): the kernel
    /// spreads peers over the sockets by their address (one peer always reaches the same
    /// shard), and each shard's driver is its own task (or thread), so a multi-threaded runtime
    /// runs them in parallel. Each shard is an independent endpoint: accept on every one of
    /// them. With port 0 the first shard picks the port and the others join it. Each shard
    /// draws its own seed; a fixed seed `n` gives shard `k` the seed `n + k`, and a given secret
    /// has the shard number mixed into its last byte.
    pub async fn bind_shards(
        addr: SocketAddr,
        mut config: Config,
        shards: usize,
    ) -> Result<Vec<Self>, BindError> {
        if shards == 0 {
            return Err(SocketConfigError::NoShards.into());
        }
        config.socket.reuse_port = true;
        let mut endpoints: Vec<Self> = Vec::with_capacity(shards);
        let seed = config.endpoint.seed.clone();
        for shard in 0..shards {
            let addr = endpoints.first().map_or(addr, |e| e.local_addr());
            config.endpoint.seed = shard_seed(&seed, shard);
            if shard == 1
                && let Some(tcp) = &mut config.tcp
            {
                // The first shard alone listens for TCP (its port is the shards' port).
                tcp.listen = false;
            }
            endpoints.push(Self::bind(addr, config.clone()).await?);
        }
        Ok(endpoints)
    }

    fn start(
        addr: SocketAddr,
        (socket, listener): (std::net::UdpSocket, Option<std::net::TcpListener>),
        core: Option<CoreEndpoint>,
        tcp: Option<TcpTransport>,
        config: &Config,
    ) -> Result<(Self, Driver<R>), BindError> {
        let (io, info) =
            UdpIo::new(socket, &config.socket, R::register).map_err(|source| BindError::Io {
                op: "register",
                addr,
                source,
            })?;
        // Probes the kernel fragments would all succeed: MTU discovery needs the don't-fragment
        // bit (quinn-udp sets it, IP_PMTUDISC_PROBE on Linux, where the platform lets it).
        let core = match (core, &config.quic) {
            (Some(mut core), _) => {
                if info.may_fragment {
                    core.disable_mtu_discovery();
                }
                Engine::Weir(Box::new(core))
            }
            (None, Some(quic)) => Engine::Quic(Box::new(QuicEndpoint::new(
                quic.clone(),
                !info.may_fragment,
                Instant::now(),
            ))),
            (None, None) => Engine::Weir(Box::new(core_endpoint(config)?)),
        };
        let listener = listener
            .map(R::register_tcp_listener)
            .transpose()
            .map_err(|source| BindError::Io {
                op: "register the TCP listener beside",
                addr,
                source,
            })?;
        let links = TcpLinks::<R>::new(tcp.clone(), listener);
        let shared = Arc::new(Shared::new(
            core,
            info,
            io.counters.clone(),
            tcp,
            links.counters.clone(),
        ));
        shared.lock().endpoint_refs = 1;
        // From here on, dropping `inner` (on error too) lets the driver end.
        let inner = Arc::new(EndpointRef {
            shared: shared.clone(),
        });
        let endpoint = Self {
            inner,
            runtime: PhantomData,
        };
        Ok((endpoint, Driver::<R>::new(shared, io, links)))
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.shared.info.local_addr
    }

    /// The socket as the kernel set it up (buffer sizes granted, GSO/GRO).
    pub fn socket_info(&self) -> SocketInfo {
        self.inner.shared.info
    }

    /// What the socket did, including the errors it counted and survived.
    pub fn socket_stats(&self) -> SocketStats {
        self.inner.shared.counters.snapshot()
    }

    /// Meets another peer through the rendezvous service at `service` (see
    /// [`weir_core::rendezvous`]), from this endpoint's own socket: both peers call it with the
    /// same secret `session` (from the game's lobby); it returns once the path to the other
    /// peer is known — punched through both NATs, or relayed by the service when punching
    /// failed (or [`ClientConfig::relay_only`](weir_core::rendezvous::ClientConfig) asks for
    /// it). Then one peer [`connect`](Self::connect)s to [`PeerPath::peer`] and the other
    /// [`accept`](Self::accept)s (the lobby decides who). The meeting lives on — it keeps the
    /// relay and the NAT's mapping to the service alive — until
    /// [`leave_rendezvous`](Self::leave_rendezvous); meeting again with the same session starts
    /// over. Refused on the QUIC path.
    pub async fn rendezvous(
        &self,
        service: SocketAddr,
        session: weir_core::rendezvous::SessionId,
        config: weir_core::rendezvous::ClientConfig,
    ) -> Result<PeerPath, RendezvousError> {
        {
            let mut state = self.inner.shared.lock();
            if state.closing || state.driver_gone || matches!(state.core, Engine::Quic(_)) {
                return Err(RendezvousError::Unavailable);
            }
            state.meetings.retain(|m| m.session != session);
            if state.meetings.len() >= MAX_MEETINGS {
                return Err(RendezvousError::TooManyMeetings);
            }
            let mut nonce = [0u8; 8];
            getrandom::fill(&mut nonce).map_err(|_| RendezvousError::Unavailable)?;
            let now = state.now();
            state.meetings.push(Meeting::new(
                now,
                service,
                session,
                u64::from_be_bytes(nonce),
                config,
            ));
            state.wake_driver();
        }
        poll_fn(|cx| {
            let mut state = self.inner.shared.lock();
            if state.driver_gone {
                return Poll::Ready(Err(RendezvousError::Unavailable));
            }
            let Some(index) = state.meetings.iter().position(|m| m.session == session) else {
                return Poll::Ready(Err(RendezvousError::Unavailable));
            };
            match state.meetings[index].outcome {
                Some(Ok(path)) => Poll::Ready(Ok(path)),
                Some(Err(e)) => {
                    // A failed meeting keeps nothing alive.
                    state.meetings.remove(index);
                    Poll::Ready(Err(e))
                }
                None => {
                    state.meetings[index].waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Ends the meeting of `session`: no more registrations with the service, no more relay.
    /// Returns whether there was one.
    pub fn leave_rendezvous(&self, session: weir_core::rendezvous::SessionId) -> bool {
        let mut state = self.inner.shared.lock();
        let before = state.meetings.len();
        state.meetings.retain(|m| m.session != session);
        state.meetings.len() != before
    }

    /// What the TCP transport did: links opened, accepted and closed, records carried and
    /// dropped (all zero without [`Config::tcp`]).
    pub fn tcp_stats(&self) -> TcpStats {
        self.inner.shared.tcp_counters.snapshot()
    }

    /// What the core endpoint dropped or answered on its own (zeros on the QUIC path).
    pub fn stats(&self) -> EndpointStats {
        self.inner.shared.lock().core.stats()
    }

    /// Connections alive (closing ones included).
    pub fn connection_count(&self) -> usize {
        self.inner.shared.lock().core.connection_count()
    }

    /// Server connections whose handshake is in progress (half-open), as admission control
    /// counts them.
    pub fn handshakes_in_progress(&self) -> usize {
        self.inner.shared.lock().core.handshakes_in_progress()
    }

    /// Connects to `remote`; completes when the handshake does (or fails, at the latest after
    /// the client transport's idle timeout).
    pub async fn connect(&self, remote: SocketAddr) -> Result<Connection, ConnectError> {
        self.connect_inner(remote, None).await
    }

    /// Like [`connect`](Self::connect), trusting the server as `tls` says (another server
    /// name, other pins or roots) instead of the endpoint's TLS client configuration.
    ///
    /// On the QUIC path the trust replaces the configuration's client side, with the same
    /// application protocols.
    pub async fn connect_tls(
        &self,
        remote: SocketAddr,
        tls: weir_core::crypto::ClientTls,
    ) -> Result<Connection, ConnectError> {
        self.connect_inner(remote, Some(tls)).await
    }

    async fn connect_inner(
        &self,
        remote: SocketAddr,
        tls: Option<weir_core::crypto::ClientTls>,
    ) -> Result<Connection, ConnectError> {
        let info = &self.inner.shared.info;
        let reachable = match (info.local_addr, remote) {
            (SocketAddr::V4(_), SocketAddr::V4(_)) | (SocketAddr::V6(_), SocketAddr::V6(_)) => true,
            (SocketAddr::V6(_), SocketAddr::V4(_)) => info.dual_stack,
            (SocketAddr::V4(_), SocketAddr::V6(_)) => false,
        };
        if !reachable {
            return Err(ConnectError::AddressFamily {
                remote,
                local: info.local_addr,
            });
        }
        let handle = {
            let mut state = self.inner.shared.lock();
            if state.closing || state.driver_gone {
                return Err(ConnectError::EndpointClosed);
            }
            let now = state.now();
            let handle = state.core.connect(now, remote, tls)?;
            let fallback = self
                .inner
                .shared
                .tcp
                .as_ref()
                .and_then(|t| t.fallback_after);
            if let Some(after) = fallback {
                state.tcp_requests.push(TcpRequest {
                    remote,
                    at: now + after,
                    kind: TcpRequestKind::Fallback(handle),
                });
            }
            state.conns.insert(
                handle,
                ConnState {
                    attached: true,
                    ..ConnState::default()
                },
            );
            state.wake_driver();
            handle
        };
        // Dropping the future from here on drops the connection, which closes it.
        let conn = Connection::new(self.inner.shared.clone(), handle, remote);
        poll_fn(|cx| {
            conn.with_state(|state, handle| {
                if let Some(lost) = state.lost(handle) {
                    return Poll::Ready(Err(ConnectError::Handshake(lost)));
                }
                match state.conns.get_mut(&handle) {
                    Some(c) if c.connected => Poll::Ready(Ok(())),
                    Some(c) => {
                        c.lifecycle.register(cx.waker());
                        Poll::Pending
                    }
                    None => Poll::Ready(Err(ConnectError::EndpointClosed)),
                }
            })
        })
        .await?;
        Ok(conn)
    }

    /// The next connection a client opened (its handshake complete); `None` once the endpoint
    /// is shutting down or its driver stopped.
    pub async fn accept(&self) -> Option<Connection> {
        let shared = &self.inner.shared;
        let handle = poll_fn(|cx| {
            let mut state = shared.lock();
            while let Some(handle) = state.incoming.pop_front() {
                if let Some(conn) = state.conns.get_mut(&handle)
                    && conn.error.is_none()
                {
                    conn.attached = true;
                    return Poll::Ready(Some(handle));
                }
            }
            if state.closing || state.driver_gone {
                return Poll::Ready(None);
            }
            state.accept_wakers.register(cx.waker());
            Poll::Pending
        })
        .await?;
        let remote = shared
            .lock()
            .core
            .connection(handle)
            .map(|c| c.remote_address());
        let remote = remote.unwrap_or(self.local_addr());
        Some(Connection::new(shared.clone(), handle, remote))
    }

    /// Closes every connection with `code` and `reason`, waits up to `timeout` for them to
    /// drain (their CONNECTION_CLOSE sent, the closing period over), then stops the driver
    /// once it has flushed what it holds. Returns whether everything drained in time. New
    /// connections are refused from the start; `accept` returns `None`.
    pub async fn shutdown(&self, code: VarInt, reason: &[u8], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let shared = &self.inner.shared;
        {
            let mut state = shared.lock();
            state.closing = true;
            // New clients are refused at once (CONNECTION_REFUSED), not left to time out.
            state.core.set_accepting(false);
            // Every connection, those still in their handshake included (the core closes
            // those with a transport-level APPLICATION_ERROR, RFC 9000 §10.2.3).
            let now = state.now();
            state.core.close_all(now, code, reason);
            state.wake_driver();
            state.accept_wakers.wake_all();
        }
        let drained = poll_fn(|cx| {
            let mut state = shared.lock();
            if state.core.connection_count() == 0 || state.driver_gone {
                return Poll::Ready(());
            }
            state.drain_wakers.register(cx.waker());
            Poll::Pending
        });
        let drained = until::<R, _>(deadline, drained).await.is_some();
        {
            let mut state = shared.lock();
            state.stop = true;
            state.wake_driver();
        }
        // Flushing is quick; a driver that cannot finish by the deadline is cut off.
        let grace = deadline.max(Instant::now() + Duration::from_millis(100));
        let stopped = poll_fn(|cx| {
            let mut state = shared.lock();
            if state.driver_gone {
                return Poll::Ready(());
            }
            state.drain_wakers.register(cx.waker());
            Poll::Pending
        });
        if until::<R, _>(grace, stopped).await.is_none() {
            tracing::warn!("the endpoint driver did not stop in time; abandoning its queue");
            let mut state = shared.lock();
            state.abandon = true;
            state.wake_driver();
        }
        drained
    }
}

/// `future`'s output, or `None` if `deadline` passes first (on the runtime's timer).
async fn until<R: Runtime, F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut timer = R::timer();
    timer.reset(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        timer.poll_elapsed(cx).map(|()| None)
    })
    .await
}

/// The seed of shard `shard`: shards must not share connection IDs or keys.
fn shard_seed(seed: &Seed, shard: usize) -> Seed {
    match seed {
        Seed::FromOs => Seed::FromOs,
        Seed::Fixed(n) => Seed::Fixed(n.wrapping_add(shard as u64)),
        Seed::Secret(bytes) => {
            let mut bytes = *bytes;
            bytes[31] ^= shard as u8;
            Seed::Secret(bytes)
        }
    }
}

/// The core endpoint, seeded from the operating system unless the configuration fixes the seed
/// (DESIGN.md §2: the core never draws randomness itself).
/// Tries for an ephemeral UDP port whose number TCP has free, when the TCP listener goes on the
/// UDP socket's port number.
const LISTEN_ATTEMPTS: usize = 8;

/// The UDP socket and, for `listen`, the TCP listener beside it (on the same port number
/// unless `listen_addr` says otherwise). With port 0, a UDP port whose number TCP has in use
/// is given back for another.
fn bind_sockets(
    addr: SocketAddr,
    config: &crate::config::SocketConfig,
    listen: Option<&TcpTransport>,
) -> Result<(std::net::UdpSocket, Option<std::net::TcpListener>), BindError> {
    let mut attempt = 0;
    loop {
        let socket = socket::bind_std(addr, config)?;
        let Some(tcp) = listen else {
            return Ok((socket, None));
        };
        let at = match tcp.listen_addr {
            Some(at) => at,
            None => socket.local_addr().map_err(|source| BindError::Io {
                op: "read the address of",
                addr,
                source,
            })?,
        };
        match tcp.socket.listen_std(at) {
            Ok(listener) => return Ok((socket, Some(listener))),
            Err(TcpConfigError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse
                    && addr.port() == 0
                    && tcp.listen_addr.is_none()
                    && attempt + 1 < LISTEN_ATTEMPTS =>
            {
                attempt += 1;
            }
            // The UDP port's number is taken on TCP (an HTTPS server beside an HTTP/3 one on
            // 443, say): the endpoint serves UDP without the fallback rather than not at all.
            // A listener the configuration names must work.
            Err(error) if tcp.listen_addr.is_none() => {
                tracing::warn!(%at, %error, "no TCP fallback listener: the port is taken on TCP");
                return Ok((socket, None));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn core_endpoint(config: &Config) -> Result<CoreEndpoint, BindError> {
    if config.endpoint.security == Some(weir_core::crypto::Security::InsecureIntegrityOnly)
        && !config.allow_insecure
    {
        return Err(BindError::InsecureRefused);
    }
    let mut endpoint = config.endpoint.clone();
    endpoint
        .seed
        .resolve(|bytes| getrandom::fill(bytes))
        .map_err(BindError::Entropy)?;
    let mut core = CoreEndpoint::new(Instant::now(), endpoint, config.server.clone())?;
    core.set_client_config(config.client.clone())?;
    Ok(core)
}
