//! quinn-proto's endpoint and its connections as one sans-IO engine with the driving surface
//! of weir's core endpoint: datagrams and the timer in; transmits, a deadline and events out.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use slab::Slab;
use weir_core::connection::Event;
use weir_core::endpoint::ConnectionHandle;
use weir_core::wire::VarInt;
use weir_core::{EcnCodepoint, Transmit};

use super::QuicConfig;
use super::conn::{QuicConn, Slot};
use crate::error::ConnectError;

/// Answers the endpoint makes on its own (version negotiation, stateless resets, refusals)
/// waiting to be sent; beyond this many, new ones are dropped (a flood of Initials must not
/// grow memory).
const RESPONSES_KEPT: usize = 256;

pub(crate) struct QuicEndpoint {
    endpoint: quinn_proto::Endpoint,
    config: QuicConfig,
    slots: Slab<Slot>,
    by_quinn: HashMap<quinn_proto::ConnectionHandle, usize>,
    /// Generations tell a reused slot from the connection a stale handle named.
    generation: u32,
    responses: VecDeque<(quinn_proto::Transmit, Vec<u8>)>,
    events: VecDeque<(ConnectionHandle, Event)>,
    /// The slot `poll_transmit` serves first next time (round robin over connections).
    cursor: usize,
    /// The newest time the engine was given (for events reported without one).
    now: Instant,
    /// Whether a server takes new connections (quinn-proto refuses the others).
    accepting: bool,
    /// Where quinn-proto writes: the endpoint's own answers, and each connection's datagram
    /// before it joins the caller's buffer (quinn-proto wants an empty buffer).
    buf: Vec<u8>,
}

impl QuicEndpoint {
    /// `allow_mtud`: the socket sets the don't-fragment bit, so that MTU probes mean something.
    pub(crate) fn new(config: QuicConfig, allow_mtud: bool, now: Instant) -> Self {
        let endpoint = quinn_proto::Endpoint::new(
            Arc::clone(&config.endpoint),
            config.server.clone(),
            allow_mtud,
            None,
        );
        Self {
            endpoint,
            config,
            slots: Slab::new(),
            by_quinn: HashMap::new(),
            generation: 0,
            responses: VecDeque::new(),
            events: VecDeque::new(),
            cursor: 0,
            now,
            accepting: true,
            buf: Vec::new(),
        }
    }

    pub(crate) fn set_accepting(&mut self, accepting: bool) {
        self.accepting = accepting;
    }

    pub(crate) fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        trust: Option<&weir_core::crypto::ClientTls>,
    ) -> Result<ConnectionHandle, ConnectError> {
        self.now = self.now.max(now);
        let (client, server_name) = match trust {
            Some(trust) => self
                .config
                .client_for(trust)
                .map_err(|_| ConnectError::QuicUnsuitableTls)?,
            None => match &self.config.client {
                Some(client) => (client.clone(), self.config.server_name.clone()),
                None => return Err(ConnectError::NoQuicClient),
            },
        };
        let (quinn, conn) = self
            .endpoint
            .connect(now, client, remote, &server_name)
            .map_err(ConnectError::QuicRefused)?;
        Ok(self.insert(quinn, conn, now))
    }

    fn insert(
        &mut self,
        quinn: quinn_proto::ConnectionHandle,
        conn: quinn_proto::Connection,
        now: Instant,
    ) -> ConnectionHandle {
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let index = self.slots.insert(Slot::new(conn, quinn, generation, now));
        self.by_quinn.insert(quinn, index);
        // Slab indices stay far below u32::MAX: every slot is a live connection.
        ConnectionHandle::from_parts(index as u32, generation)
    }

    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        self.now = self.now.max(now);
        self.buf.clear();
        let ecn = ecn.and_then(|e| quinn_proto::EcnCodepoint::from_bits(e.bits()));
        let Some(event) = self
            .endpoint
            .handle(now, from, None, ecn, data, &mut self.buf)
        else {
            return;
        };
        match event {
            quinn_proto::DatagramEvent::ConnectionEvent(quinn, event) => {
                if let Some(slot) = self
                    .by_quinn
                    .get(&quinn)
                    .and_then(|&i| self.slots.get_mut(i))
                {
                    slot.last_heard = now;
                    slot.conn.handle_event(event);
                }
            }
            quinn_proto::DatagramEvent::NewConnection(incoming) => {
                self.buf.clear();
                if self.config.server.is_none() || !self.accepting {
                    let transmit = self.endpoint.refuse(incoming, &mut self.buf);
                    self.queue_response(transmit);
                    return;
                }
                match self.endpoint.accept(incoming, now, &mut self.buf, None) {
                    Ok((quinn, conn)) => {
                        let handle = self.insert(quinn, conn, now);
                        // As weir's core does: the driver learns of the connection first.
                        self.events
                            .push_back((handle, Event::Incoming { remote: from }));
                    }
                    Err(error) => {
                        tracing::debug!(%from, cause = %error.cause, "QUIC connection refused");
                        if let Some(transmit) = error.response {
                            self.queue_response(transmit);
                        }
                    }
                }
            }
            quinn_proto::DatagramEvent::Response(transmit) => self.queue_response(transmit),
        }
    }

    fn queue_response(&mut self, transmit: quinn_proto::Transmit) {
        if self.responses.len() < RESPONSES_KEPT {
            let size = transmit.size.min(self.buf.len());
            self.responses
                .push_back((transmit, self.buf[..size].to_vec()));
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        for (_, slot) in self.slots.iter_mut() {
            if slot.conn.poll_timeout().is_some_and(|at| at <= now) {
                slot.conn.handle_timeout(now);
            }
        }
    }

    /// The next datagram, or GSO batch of at most `max_datagrams` (quinn-proto batches as
    /// weir's core does), appended to `buf`: the endpoint's own answers first, then the
    /// connections in turn.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        max_datagrams: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        self.now = self.now.max(now);
        self.pump();
        if let Some((transmit, data)) = self.responses.pop_front() {
            buf.extend_from_slice(&data);
            return Some(weir_transmit(&transmit, data.len()));
        }
        let end = self.slots.capacity();
        let start = self.cursor.min(end);
        for index in (start..end).chain(0..start) {
            let Some(slot) = self.slots.get_mut(index) else {
                continue;
            };
            // quinn-proto writes into an empty buffer only (it sizes datagrams from the
            // buffer's start), so it gets its own and the transmit is appended to `buf`.
            self.buf.clear();
            // quinn-proto does not bound a batch's bytes: a GSO send must fit one UDP
            // datagram, as weir's core keeps its own batches.
            let mtu = usize::from(slot.conn.current_mtu()).max(1);
            let max = max_datagrams.min(Transmit::MAX_BATCH_BYTES / mtu).max(1);
            if let Some(transmit) = slot.conn.poll_transmit(now, max, &mut self.buf) {
                self.cursor = index + 1;
                let size = transmit.size.min(self.buf.len());
                buf.extend_from_slice(&self.buf[..size]);
                return Some(weir_transmit(&transmit, size));
            }
        }
        None
    }

    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        self.slots
            .iter_mut()
            .filter_map(|(_, slot)| slot.conn.poll_timeout())
            .min()
    }

    pub(crate) fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        if self.events.is_empty() {
            self.pump();
        }
        self.events.pop_front()
    }

    /// Passes each connection's news to the endpoint and back, collects the application
    /// events, and forgets drained connections (after their last events).
    fn pump(&mut self) {
        let now = self.now;
        let mut drained = Vec::new();
        for (index, slot) in self.slots.iter_mut() {
            while let Some(event) = slot.conn.poll_endpoint_events() {
                slot.drained |= event.is_drained();
                if let Some(reply) = self.endpoint.handle_event(slot.quinn, event) {
                    slot.conn.handle_event(reply);
                }
            }
            let handle = ConnectionHandle::from_parts(index as u32, slot.generation);
            while let Some(event) = slot.conn.poll() {
                if let Some(event) = slot.translate(event, now) {
                    self.events.push_back((handle, event));
                }
            }
            if slot.drained {
                if !slot.closed {
                    // Drained without a word (cannot happen with quinn-proto 0.11): the
                    // application must still learn the connection is gone.
                    slot.closed = true;
                    self.events.push_back((
                        handle,
                        Event::Closed(weir_core::connection::ConnectionError::LocallyClosed),
                    ));
                }
                self.events.push_back((handle, Event::Drained));
                drained.push(index);
            }
        }
        for index in drained {
            let slot = self.slots.remove(index);
            self.by_quinn.remove(&slot.quinn);
        }
    }

    pub(crate) fn connection(&mut self, handle: ConnectionHandle) -> Option<QuicConn<'_>> {
        let slot = self
            .slots
            .get_mut(handle.index())
            .filter(|s| s.generation == handle.generation() && !s.drained)?;
        Some(QuicConn {
            slot,
            events: &mut self.events,
            handle,
        })
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.slots.len()
    }

    /// Closes every connection, those still in their handshake included.
    pub(crate) fn close_all(&mut self, now: Instant, code: VarInt, reason: &[u8]) {
        let handles: Vec<ConnectionHandle> = self
            .slots
            .iter()
            .filter(|(_, s)| !s.drained)
            .map(|(index, s)| ConnectionHandle::from_parts(index as u32, s.generation))
            .collect();
        for handle in handles {
            if let Some(mut conn) = self.connection(handle) {
                conn.close(now, code, reason);
            }
        }
    }

    /// Server connections still in their handshake.
    pub(crate) fn handshakes_in_progress(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| !s.connected && s.conn.side().is_server() && !s.closed)
            .count()
    }
}

fn weir_transmit(transmit: &quinn_proto::Transmit, size: usize) -> Transmit {
    Transmit {
        destination: transmit.destination,
        size,
        segment_size: transmit.segment_size,
        // quinn-proto validates ECN itself, from the codepoints passed to `handle_datagram`.
        ecn: transmit.ecn.and_then(|e| EcnCodepoint::from_bits(e as u8)),
    }
}
