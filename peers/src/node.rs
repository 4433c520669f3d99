//! A quinn-proto endpoint and its connections as a simulator [`Node`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use quinn_proto::{
    Connection, ConnectionHandle, DatagramEvent, Endpoint, Event, Incoming, Transmit,
};
use weir_core::EcnCodepoint;
use weir_core::sim::Node;

use crate::PeerError;
use crate::config::{self, QuinnConfig, SelfSigned};

/// Bound on the rounds of events and application reactions after one input: the application
/// reacts to events and may cause more of them, but never forever.
const MAX_PUMP_ROUNDS: usize = 64;

/// Application logic plugged into a [`QuinnEndpointNode`], the counterpart of weir's
/// [`App`](weir_core::sim::App).
pub trait QuinnApp: 'static {
    /// An application event of one of the endpoint's connections.
    fn on_event(
        &mut self,
        now: Instant,
        handle: ConnectionHandle,
        conn: &mut Connection,
        event: Event,
    );

    /// Called for every connection after every input, once its events are handled: write more,
    /// finish streams, ...
    fn on_tick(&mut self, _now: Instant, _handle: ConnectionHandle, _conn: &mut Connection) {}

    /// The application's own next deadline, if any. It is only asked while the endpoint has a
    /// connection, and must move on once [`QuinnApp::on_tick`] ran at or after it.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// A quinn-proto [`Endpoint`] with its [`Connection`]s and application logic, as a simulator
/// node.
///
/// It follows quinn-proto's driving rules (the doc comment on `quinn_proto::Connection`):
/// 1. an input goes to the endpoint (`Endpoint::handle`), which routes it to a connection
///    (`Connection::handle_event`), starts one (`Endpoint::accept`) or answers on its own;
///    timeouts go to `Connection::handle_timeout`;
/// 2. after every input, each connection's endpoint events go to `Endpoint::handle_event`,
///    whose answers go back to the connection, and its application events to the [`QuinnApp`],
///    until neither has more;
/// 3. the simulator then drains [`Node::poll_transmit`], which asks every connection for one
///    datagram at a time (`max_datagrams = 1`, so no GSO batches), and re-arms its timer from
///    [`Node::poll_timeout`], the earliest of the connections' and the application's deadlines.
///
/// Time is the simulator's `now`, handed to quinn unchanged; nothing here reads a clock.
pub struct QuinnEndpointNode<A: QuinnApp> {
    endpoint: Endpoint,
    connections: Vec<(ConnectionHandle, Connection)>,
    /// Datagrams the endpoint produced on its own (stateless resets, refusals), with their bytes.
    responses: VecDeque<(Transmit, Vec<u8>)>,
    /// Where the next `poll_transmit` starts, so that connections share the sending fairly.
    next_to_poll: usize,
    scratch: Vec<u8>,
    /// The application.
    pub app: A,
}

impl<A: QuinnApp> std::fmt::Debug for QuinnEndpointNode<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuinnEndpointNode")
            .field("connections", &self.connections.len())
            .field("responses", &self.responses.len())
            .finish_non_exhaustive()
    }
}

impl<A: QuinnApp> QuinnEndpointNode<A> {
    /// A server that accepts every connection, authenticated by `identity`; its randomness
    /// comes from `seed`.
    pub fn server(
        config: &QuinnConfig,
        identity: &SelfSigned,
        seed: u64,
        app: A,
    ) -> Result<Self, PeerError> {
        let server = config::server_config(config, identity.server_crypto()?, seed)?;
        Ok(Self::with_endpoint(
            config::endpoint(seed, Some(server)),
            app,
        ))
    }

    /// A client connecting at `now` to `server`, trusting `identity` only; its randomness comes
    /// from `seed`. The Initial packet leaves on the simulator's next step.
    pub fn client(
        config: &QuinnConfig,
        identity: &SelfSigned,
        seed: u64,
        now: Instant,
        server: SocketAddr,
        app: A,
    ) -> Result<Self, PeerError> {
        let client = config::client_config(config, identity.client_crypto()?)?;
        let mut node = Self::with_endpoint(config::endpoint(seed, None), app);
        let (handle, conn) = node
            .endpoint
            .connect(now, client, server, &config.server_name)?;
        node.connections.push((handle, conn));
        Ok(node)
    }

    fn with_endpoint(endpoint: Endpoint, app: A) -> Self {
        Self {
            endpoint,
            connections: Vec::new(),
            responses: VecDeque::new(),
            next_to_poll: 0,
            scratch: Vec::new(),
            app,
        }
    }

    /// The connections not yet drained.
    pub fn connections(&self) -> impl Iterator<Item = (ConnectionHandle, &Connection)> {
        self.connections.iter().map(|(h, c)| (*h, c))
    }

    /// One connection, if it is not yet drained.
    pub fn connection(&self, handle: ConnectionHandle) -> Option<&Connection> {
        self.connections
            .iter()
            .find(|(h, _)| *h == handle)
            .map(|(_, c)| c)
    }

    fn connection_mut(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        self.connections
            .iter_mut()
            .find(|(h, _)| *h == handle)
            .map(|(_, c)| c)
    }

    fn respond(&mut self, transmit: Transmit) {
        let bytes = self.scratch[..transmit.size.min(self.scratch.len())].to_vec();
        self.responses.push_back((transmit, bytes));
    }

    fn accept(&mut self, now: Instant, incoming: Incoming) {
        self.scratch.clear();
        match self.endpoint.accept(incoming, now, &mut self.scratch, None) {
            Ok((handle, conn)) => self.connections.push((handle, conn)),
            Err(error) => {
                if let Some(transmit) = error.response {
                    self.respond(transmit);
                }
            }
        }
    }

    /// Step 2 of the driving rules, for every connection; drops the drained ones.
    fn pump(&mut self, now: Instant) {
        let Self {
            endpoint,
            connections,
            app,
            ..
        } = self;
        connections.retain_mut(|(handle, conn)| {
            let mut drained = false;
            for _ in 0..MAX_PUMP_ROUNDS {
                let mut any = false;
                while let Some(event) = conn.poll_endpoint_events() {
                    any = true;
                    drained |= event.is_drained();
                    if let Some(answer) = endpoint.handle_event(*handle, event) {
                        conn.handle_event(answer);
                    }
                }
                while let Some(event) = conn.poll() {
                    any = true;
                    app.on_event(now, *handle, conn, event);
                }
                app.on_tick(now, *handle, conn);
                if !any {
                    break;
                }
            }
            // After `Drained` the endpoint has forgotten the connection: nothing more to do.
            !drained
        });
    }
}

impl<A: QuinnApp> Node for QuinnEndpointNode<A> {
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ecn: Option<EcnCodepoint>,
        datagram: BytesMut,
    ) {
        self.scratch.clear();
        // The simulator has no local address.
        let ecn = ecn.map(|ecn| match ecn {
            EcnCodepoint::Ect0 => quinn_proto::EcnCodepoint::Ect0,
            EcnCodepoint::Ect1 => quinn_proto::EcnCodepoint::Ect1,
            EcnCodepoint::Ce => quinn_proto::EcnCodepoint::Ce,
        });
        let event = self
            .endpoint
            .handle(now, from, None, ecn, datagram, &mut self.scratch);
        match event {
            Some(DatagramEvent::ConnectionEvent(handle, event)) => {
                if let Some(conn) = self.connection_mut(handle) {
                    conn.handle_event(event);
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => self.accept(now, incoming),
            Some(DatagramEvent::Response(transmit)) => self.respond(transmit),
            None => {}
        }
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        for (_, conn) in &mut self.connections {
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
            }
        }
        self.pump(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<weir_core::Transmit> {
        if let Some((transmit, bytes)) = self.responses.pop_front() {
            buf.extend_from_slice(&bytes);
            return Some(convert(&transmit));
        }
        // Twice: sending can raise endpoint or application events (a connection that gave up
        // on its handshake, say), and what the application does about them may be sendable now.
        for _ in 0..2 {
            let count = self.connections.len();
            for k in 0..count {
                let index = (self.next_to_poll + k) % count;
                let conn = &mut self.connections[index].1;
                if let Some(transmit) = conn.poll_transmit(now, 1, buf) {
                    self.next_to_poll = (index + 1) % count;
                    return Some(convert(&transmit));
                }
            }
            self.pump(now);
        }
        None
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let app = if self.connections.is_empty() {
            None
        } else {
            self.app.poll_timeout()
        };
        self.connections
            .iter_mut()
            .filter_map(|(_, conn)| conn.poll_timeout())
            .chain(app)
            .min()
    }
}

/// quinn's description of a datagram (or GSO batch) in weir's terms; the simulator splits a
/// batch by `segment_size` (quinn only makes one when `max_datagrams > 1`).
fn convert(transmit: &Transmit) -> weir_core::Transmit {
    weir_core::Transmit {
        destination: transmit.destination,
        size: transmit.size,
        segment_size: transmit.segment_size,
        ecn: transmit.ecn.map(|ecn| match ecn {
            quinn_proto::EcnCodepoint::Ect0 => EcnCodepoint::Ect0,
            quinn_proto::EcnCodepoint::Ect1 => EcnCodepoint::Ect1,
            quinn_proto::EcnCodepoint::Ce => EcnCodepoint::Ce,
        }),
    }
}
