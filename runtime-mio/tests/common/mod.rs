//! The two-endpoint harness of weir-mio's tests: a server and a client endpoint on one mio
//! `Poll` in this thread, driven by the crate's loop, with a wall-clock bound on every run (a
//! test ends by bound, not by hope).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use weir_mio::weir_core::config::TransportConfig;
use weir_mio::weir_core::crypto::{ClientTls, Identity};
use weir_mio::{Config, ConnectionHandle, Endpoint, Event};

pub const SERVER: Token = Token(0);
pub const CLIENT: Token = Token(1);

/// Which endpoint an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Server,
    Client,
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal")
}

/// One self-signed identity for the whole test binary.
pub fn identity() -> &'static Identity {
    static IDENTITY: OnceLock<Identity> = OnceLock::new();
    IDENTITY.get_or_init(|| Identity::self_signed(["localhost"]).expect("identity"))
}

pub fn pinned() -> ClientTls {
    ClientTls::pinned(vec![identity().fingerprint()]).expect("pinned client")
}

/// TLS server and client configurations; `tweak` adjusts both transports (idle timeout...).
pub fn configs(tweak: impl Fn(&mut TransportConfig)) -> (Config, Config) {
    let mut server = Config::server(identity()).expect("server config");
    if let Some(s) = server.server.as_mut() {
        tweak(&mut s.transport);
    }
    let mut client = Config::client(pinned());
    tweak(&mut client.client);
    (server, client)
}

pub struct Pair {
    pub poll: Poll,
    events: Events,
    pub server: Endpoint,
    pub client: Endpoint,
}

impl Pair {
    pub fn new() -> Self {
        Self::with(configs(|_| {}))
    }

    pub fn with((server, client): (Config, Config)) -> Self {
        let poll = Poll::new().expect("poll");
        let mut server = Endpoint::bind(loopback(), server).expect("bind server");
        let mut client = Endpoint::bind(loopback(), client).expect("bind client");
        server.register(poll.registry(), SERVER).expect("register");
        client.register(poll.registry(), CLIENT).expect("register");
        Self {
            poll,
            events: Events::with_capacity(64),
            server,
            client,
        }
    }

    pub fn endpoint(&mut self, who: Who) -> &mut Endpoint {
        match who {
            Who::Server => &mut self.server,
            Who::Client => &mut self.client,
        }
    }

    /// One turn of the loop: wait for readiness or the earliest deadline (at most until
    /// `bound`), route the events, drive both endpoints, and return their events.
    pub fn turn(&mut self, bound: Instant) -> Vec<(Who, ConnectionHandle, Event)> {
        let deadline = [self.server.deadline(), self.client.deadline()]
            .into_iter()
            .flatten()
            .min()
            .map_or(bound, |d| d.min(bound));
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.poll
            .poll(&mut self.events, Some(timeout))
            .expect("poll");
        for event in self.events.iter() {
            let mine = self.server.handle_event(event) || self.client.handle_event(event);
            assert!(mine, "no other tokens are registered");
        }
        self.server.drive();
        self.client.drive();
        let mut out = Vec::new();
        while let Some((h, e)) = self.server.poll_event() {
            out.push((Who::Server, h, e));
        }
        while let Some((h, e)) = self.client.poll_event() {
            out.push((Who::Client, h, e));
        }
        out
    }

    /// Runs turns until `step` returns `true`, for at most `limit` (then panics).
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut step: impl FnMut(&mut Self, Vec<(Who, ConnectionHandle, Event)>) -> bool,
    ) {
        let bound = Instant::now() + limit;
        loop {
            let events = self.turn(bound);
            if step(self, events) {
                return;
            }
            assert!(Instant::now() < bound, "not done within {limit:?}");
        }
    }

    /// Connects the client; returns (client handle, server handle) once both are connected.
    pub fn connect(&mut self) -> (ConnectionHandle, ConnectionHandle) {
        let addr = self.server.local_addr();
        let client = self.client.connect(addr).expect("connect");
        let (mut client_up, mut server_handle) = (false, None);
        self.run_until(Duration::from_secs(10), |_, events| {
            for (who, h, e) in events {
                match (who, e) {
                    (Who::Client, Event::Connected) if h == client => client_up = true,
                    (Who::Server, Event::Connected) => server_handle = Some(h),
                    (_, Event::Closed(reason)) => panic!("{who:?} closed: {reason}"),
                    _ => {}
                }
            }
            client_up && server_handle.is_some()
        });
        (client, server_handle.expect("server connection"))
    }
}
