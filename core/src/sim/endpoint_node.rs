//! A weir [`Endpoint`] as a simulator node, with the application logic plugged in.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;

use super::Node;
use crate::adapt::StrategyChange;
use crate::connection::Event;
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::{EcnCodepoint, Transmit};

/// Application logic plugged into an [`EndpointNode`].
pub trait App: 'static {
    /// An event of one of the endpoint's connections.
    fn on_event(
        &mut self,
        now: Instant,
        endpoint: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    );

    /// Called after every input, once the events are handled: write more, open streams, ...
    fn on_tick(&mut self, _now: Instant, _endpoint: &mut Endpoint) {}

    /// The application's own next deadline (a game tick), if any.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// A weir endpoint plus application logic, as a simulator node. It follows the driving rule:
/// after every input it drains events into the application, lets it act, and leaves the
/// simulator to drain `poll_transmit`.
pub struct EndpointNode<A: App> {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The application.
    pub app: A,
    /// Every strategy change of the endpoint's connections, in order (at most
    /// [`STRATEGY_LOG_LIMIT`]), for the reports.
    pub strategy_log: Vec<(Instant, ConnectionHandle, StrategyChange)>,
    /// Datagrams asked for per [`Endpoint::poll_transmit`]: 1 (the default) sends one at a
    /// time; more lets the endpoint hand over GSO batches, which the simulator splits into
    /// their datagrams as a network would.
    pub max_datagrams: usize,
}

/// Most strategy changes an [`EndpointNode`] logs (the selector's dwell time allows 12 a
/// minute per connection).
pub const STRATEGY_LOG_LIMIT: usize = 10_000;

impl<A: App> EndpointNode<A> {
    /// Wraps an endpoint and its application.
    pub fn new(endpoint: Endpoint, app: A) -> Self {
        Self {
            endpoint,
            app,
            strategy_log: Vec::new(),
            max_datagrams: 1,
        }
    }

    fn pump(&mut self, now: Instant) {
        // Bounded: the application reacts to events, which it may cause more of.
        for _ in 0..64 {
            let mut any = false;
            while let Some((handle, event)) = self.endpoint.poll_event() {
                any = true;
                if let Event::StrategyChanged(change) = &event
                    && self.strategy_log.len() < STRATEGY_LOG_LIMIT
                {
                    self.strategy_log.push((now, handle, change.clone()));
                }
                self.app.on_event(now, &mut self.endpoint, handle, event);
            }
            self.app.on_tick(now, &mut self.endpoint);
            if !any {
                break;
            }
        }
    }
}

impl<A: App> Node for EndpointNode<A> {
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ecn: Option<EcnCodepoint>,
        datagram: BytesMut,
    ) {
        self.endpoint.handle_datagram(now, from, ecn, datagram);
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.endpoint.poll_transmit(now, self.max_datagrams, buf)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        match (self.endpoint.poll_timeout(), self.app.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
