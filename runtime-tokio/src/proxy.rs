//! A userspace UDP impairment proxy: real datagrams cross weir-core's simulated links in real
//! time (feature `proxy`), so that real programs can be run over a bad network on one machine.
//!
//! The proxy listens on one address and forwards to one upstream. Each client (by source
//! address) gets its own pair of simulator nodes joined by the scenario's links — *forward*
//! carries upstream → client traffic (the flow under test), *reverse* client → upstream — and
//! its own socket towards the upstream, so the upstream sees one address per client. The
//! simulator's virtual clock follows the wall clock: a datagram that arrives is queued on its
//! side's node at the current time, the simulator delays, queues, drops, duplicates, reorders
//! or corrupts it per the link model, and what reaches the far node is sent on for real.
//!
//! ```no_run
//! use std::time::Duration;
//! use weir_core::sim::{LinkConfig, LossModel, Scenario};
//! use weir_tokio::proxy::{Proxy, ProxyConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let link = LinkConfig {
//!     delay: Duration::from_millis(20),
//!     loss: LossModel::Random { p: 0.02 },
//!     ..LinkConfig::default()
//! };
//! let config = ProxyConfig::new(
//!     "127.0.0.1:5000".parse()?,
//!     "127.0.0.1:4433".parse()?,
//!     Scenario::symmetric("lossy", "20 ms, 2% loss", link),
//! );
//! let proxy = Proxy::spawn(config)?;
//! println!("clients connect to {}", proxy.local_addr());
//! tokio::time::sleep(Duration::from_secs(60)).await;
//! let report = proxy.stop().await?;
//! println!("{report:?}");
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use weir_core::Transmit;
use weir_core::sim::{LinkId, LinkStats, Node, NodeId, Scenario, SimError, Simulator};

use weir_runtime::runtime::bind_std;
use weir_runtime::{BindError, SocketConfig};

mod admission;

use admission::{Admission, Admissions};

/// What a client's upstream reader passes to the proxy's loop: the slot, its generation, and
/// the datagram.
type FromUpstream = (usize, u64, BytesMut);

/// What the proxy forwards and how.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where clients send to.
    pub listen: SocketAddr,
    /// Where their traffic goes.
    pub upstream: SocketAddr,
    /// The links between each client and the upstream.
    pub scenario: Scenario,
    /// Seed of the simulator's random decisions.
    pub seed: u64,
    /// Most clients served at once; datagrams from further ones are dropped, unless a client
    /// has been silent (both ways) for `client_idle_timeout`, whose place the newcomer takes.
    pub max_clients: usize,
    /// How long a client may be silent before its place can go to a new client.
    pub client_idle_timeout: Duration,
    /// Socket tuning of the proxy's sockets.
    pub socket: SocketConfig,
}

impl ProxyConfig {
    /// Forwards from `listen` to `upstream` over `scenario`'s links, with seed 1, at most 256
    /// clients (a place freed after 60 s of silence) and default socket tuning.
    pub fn new(listen: SocketAddr, upstream: SocketAddr, scenario: Scenario) -> Self {
        Self {
            listen,
            upstream,
            scenario,
            seed: 1,
            max_clients: 256,
            client_idle_timeout: Duration::from_secs(60),
            socket: SocketConfig::default(),
        }
    }
}

/// Why the proxy could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A socket could not be opened.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The simulator refused the scenario or could not make progress.
    #[error("simulator: {0}")]
    Sim(#[from] SimError),
    /// The listening socket failed.
    #[error("proxy socket: {0}")]
    Io(#[from] io::Error),
    /// The proxy's thread ended before reporting.
    #[error("the proxy thread stopped unexpectedly")]
    Stopped,
}

/// What the proxy did.
#[derive(Debug, Clone, Default)]
pub struct ProxyReport {
    /// Clients seen.
    pub clients: usize,
    /// Clients whose place went to a newcomer after they fell silent (counted in `clients`).
    pub expired: usize,
    /// Datagrams received from clients.
    pub from_clients: u64,
    /// Datagrams received from the upstream.
    pub from_upstream: u64,
    /// Datagrams the links delivered and the proxy sent on.
    pub forwarded: u64,
    /// Datagrams dropped because a socket had no room or failed.
    pub send_failures: u64,
    /// Datagrams from clients beyond `max_clients`, dropped.
    pub refused: u64,
    /// What the links towards the clients did, summed over clients.
    pub forward: Vec<LinkStats>,
    /// What the links towards the upstream did.
    pub reverse: Vec<LinkStats>,
}

/// One side of a client's path inside the simulator: queues what the proxy injects towards its
/// `peer` node, and keeps what arrives from it for the proxy to send on.
struct Relay {
    peer: SocketAddr,
    outbox: VecDeque<BytesMut>,
    inbox: VecDeque<BytesMut>,
}

impl Relay {
    fn new(peer: SocketAddr) -> Self {
        Self {
            peer,
            outbox: VecDeque::new(),
            inbox: VecDeque::new(),
        }
    }
}

impl Node for Relay {
    fn handle_datagram(
        &mut self,
        _now: Instant,
        _from: SocketAddr,
        _ecn: Option<weir_core::EcnCodepoint>,
        datagram: BytesMut,
    ) {
        self.inbox.push_back(datagram);
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let datagram = self.outbox.pop_front()?;
        buf.extend_from_slice(&datagram);
        Some(Transmit {
            destination: self.peer,
            size: datagram.len(),
            segment_size: None,
            ecn: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

struct Client {
    addr: SocketAddr,
    /// Incremented when the place goes to a new client, so that what the previous client's
    /// upstream socket sent is not delivered to the new one.
    generation: u64,
    /// The node on the client's side, and the one on the upstream's.
    near: NodeId,
    far: NodeId,
    links: (LinkId, LinkId),
    upstream: Arc<UdpSocket>,
    reader: tokio::task::JoinHandle<()>,
}

/// A bound proxy; [`run_until`](Self::run_until) forwards.
pub struct Proxy {
    config: ProxyConfig,
    listen: UdpSocket,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("listen", &self.listen.local_addr().ok())
            .field("upstream", &self.config.upstream)
            .finish_non_exhaustive()
    }
}

/// A proxy running on a thread of its own (with its own single-threaded runtime, so that
/// forwarding keeps to the wall clock whatever the caller's runtime does).
#[derive(Debug)]
pub struct ProxyHandle {
    local_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::sync::oneshot::Receiver<Result<ProxyReport, ProxyError>>>,
}

impl ProxyHandle {
    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the proxy and reports what it did.
    pub async fn stop(mut self) -> Result<ProxyReport, ProxyError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.done.take() {
            Some(done) => done.await.unwrap_or(Err(ProxyError::Stopped)),
            None => Err(ProxyError::Stopped),
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Labels of the simulator's nodes: never on the network, only names inside the simulation.
fn node_label(side: u8, index: usize) -> SocketAddr {
    let [_, _, hi, lo] = (index as u32).to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 200 + side, hi, lo)), 1)
}

fn unspecified_like(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

impl Proxy {
    /// Binds the listening socket and checks the scenario.
    pub async fn bind(config: ProxyConfig) -> Result<Self, ProxyError> {
        config.scenario.forward.validate().map_err(SimError::from)?;
        config.scenario.reverse.validate().map_err(SimError::from)?;
        let listen = UdpSocket::from_std(bind_std(config.listen, &config.socket)?)?;
        Ok(Self { config, listen })
    }

    /// Binds and runs a proxy on a new thread; [`ProxyHandle::stop`] ends it.
    pub fn spawn(config: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("weir-proxy".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(ProxyError::Io(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let proxy = match Self::bind(config).await {
                        Ok(proxy) => proxy,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(proxy.local_addr().map_err(ProxyError::Io));
                    let result = proxy
                        .run_until(async move {
                            let _ = stop_rx.await;
                        })
                        .await;
                    let _ = done_tx.send(result);
                });
            })?;
        let local_addr = ready_rx.recv().map_err(|_| ProxyError::Stopped)??;
        Ok(ProxyHandle {
            local_addr,
            stop: Some(stop_tx),
            done: Some(done_rx),
        })
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listen.local_addr()
    }

    /// Forwards until `shutdown` completes, then reports. The future is not `Send` (the
    /// simulator is single-threaded): run it with `block_on`, a `LocalSet`, or use
    /// [`spawn`](Self::spawn).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<ProxyReport, ProxyError> {
        let epoch = Instant::now();
        let mut sim = Simulator::new(self.config.seed, epoch);
        let mut clients: Vec<Client> = Vec::new();
        let mut admissions =
            Admissions::new(self.config.max_clients, self.config.client_idle_timeout);
        let (up_tx, mut up_rx) = mpsc::channel::<FromUpstream>(4096);
        let mut report = ProxyReport::default();
        let mut buf = vec![0u8; u16::MAX as usize];
        tokio::pin!(shutdown);
        loop {
            let next = sim.next_event_time().map(|at| epoch + at);
            let sleep = tokio::time::sleep_until(next.unwrap_or(epoch).into());
            tokio::select! {
                () = &mut shutdown => break,
                received = self.listen.recv_from(&mut buf) => {
                    let (n, from) = match received {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::debug!(error = %e, "proxy: receive error from a client; ignored");
                            continue;
                        }
                    };
                    report.from_clients += 1;
                    sim.run_until(epoch.elapsed())?;
                    let index = match admissions.admit(from, Instant::now()) {
                        Admission::Known(index) => index,
                        Admission::Refused => {
                            report.refused += 1;
                            continue;
                        }
                        Admission::New(index) => {
                            let client = self.add_client(&mut sim, index, from, &up_tx).await?;
                            clients.push(client);
                            report.clients += 1;
                            index
                        }
                        Admission::Reused(index) => {
                            // The table hands out slots in order, so the client exists.
                            let Some(client) = clients.get_mut(index) else {
                                report.refused += 1;
                                continue;
                            };
                            self.reuse_client(&mut sim, client, index, from, &up_tx).await?;
                            report.clients += 1;
                            report.expired += 1;
                            index
                        }
                    };
                    let Some(near) = clients.get(index).map(|c| c.near) else {
                        continue;
                    };
                    if let Some(relay) = sim.node_mut::<Relay>(near) {
                        relay.outbox.push_back(BytesMut::from(&buf[..n]));
                    }
                }
                Some((index, generation, datagram)) = up_rx.recv() => {
                    report.from_upstream += 1;
                    sim.run_until(epoch.elapsed())?;
                    let Some(client) = clients.get(index).filter(|c| c.generation == generation) else {
                        continue;
                    };
                    admissions.touch(index, Instant::now());
                    if let Some(relay) = sim.node_mut::<Relay>(client.far) {
                        relay.outbox.push_back(datagram);
                    }
                }
                () = sleep, if next.is_some() => {}
            }
            sim.run_until(epoch.elapsed())?;
            for client in &clients {
                if let Some(relay) = sim.node_mut::<Relay>(client.near) {
                    for datagram in relay.inbox.drain(..) {
                        match self.listen.try_send_to(&datagram, client.addr) {
                            Ok(_) => report.forwarded += 1,
                            Err(_) => report.send_failures += 1,
                        }
                    }
                }
                if let Some(relay) = sim.node_mut::<Relay>(client.far) {
                    for datagram in relay.inbox.drain(..) {
                        match client.upstream.try_send(&datagram) {
                            Ok(_) => report.forwarded += 1,
                            Err(_) => report.send_failures += 1,
                        }
                    }
                }
            }
        }
        for client in &clients {
            client.reader.abort();
            report
                .forward
                .extend(sim.link_stats(client.links.0).cloned());
            report
                .reverse
                .extend(sim.link_stats(client.links.1).cloned());
        }
        Ok(report)
    }

    /// A new client: its two nodes, its links, its socket towards the upstream.
    async fn add_client(
        &self,
        sim: &mut Simulator,
        index: usize,
        addr: SocketAddr,
        up_tx: &mpsc::Sender<FromUpstream>,
    ) -> Result<Client, ProxyError> {
        let (near_label, far_label) = (node_label(0, index), node_label(1, index));
        let near = sim.add_node(near_label, Relay::new(far_label))?;
        let far = sim.add_node(far_label, Relay::new(near_label))?;
        let links = self.config.scenario.install(sim, far, near)?;
        let (upstream, reader) = self.open_upstream(index, 0, up_tx).await?;
        tracing::info!(client = %addr, "proxy: new client");
        Ok(Client {
            addr,
            generation: 0,
            near,
            far,
            links,
            upstream,
            reader,
        })
    }

    /// Gives a silent client's place to `addr`: a fresh socket towards the upstream (the
    /// upstream sees a new address, as for any new client), empty relays, the same links.
    async fn reuse_client(
        &self,
        sim: &mut Simulator,
        client: &mut Client,
        index: usize,
        addr: SocketAddr,
        up_tx: &mpsc::Sender<FromUpstream>,
    ) -> Result<(), ProxyError> {
        client.reader.abort();
        let generation = client.generation + 1;
        let (upstream, reader) = self.open_upstream(index, generation, up_tx).await?;
        for node in [client.near, client.far] {
            if let Some(relay) = sim.node_mut::<Relay>(node) {
                relay.outbox.clear();
                relay.inbox.clear();
            }
        }
        tracing::info!(client = %addr, previous = %client.addr, "proxy: new client in a silent client's place");
        client.addr = addr;
        client.generation = generation;
        client.upstream = upstream;
        client.reader = reader;
        Ok(())
    }

    /// A connected socket towards the upstream and the task that reads it.
    async fn open_upstream(
        &self,
        index: usize,
        generation: u64,
        up_tx: &mpsc::Sender<FromUpstream>,
    ) -> Result<(Arc<UdpSocket>, tokio::task::JoinHandle<()>), ProxyError> {
        let upstream = self.config.upstream;
        let socket =
            UdpSocket::from_std(bind_std(unspecified_like(upstream), &self.config.socket)?)?;
        socket.connect(upstream).await?;
        let socket = Arc::new(socket);
        let reader = tokio::spawn(read_upstream(
            socket.clone(),
            index,
            generation,
            up_tx.clone(),
        ));
        Ok((socket, reader))
    }
}

/// Passes what the upstream sends to one client's socket on to the proxy's loop.
async fn read_upstream(
    socket: Arc<UdpSocket>,
    index: usize,
    generation: u64,
    to_proxy: mpsc::Sender<FromUpstream>,
) {
    let mut buf = vec![0u8; u16::MAX as usize];
    loop {
        match socket.recv(&mut buf).await {
            Ok(n) => {
                if to_proxy
                    .send((index, generation, BytesMut::from(&buf[..n])))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // An ICMP error for an earlier datagram (the upstream is not listening yet).
            Err(e) => {
                tracing::debug!(error = %e, "proxy: receive error from the upstream; ignored");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}
