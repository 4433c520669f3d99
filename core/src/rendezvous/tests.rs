//! Two peers and a service on an in-memory network whose direct path between the peers can be
//! cut (what a symmetric NAT does to punching), in virtual time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::congestion::test_epoch;

const SESSION: SessionId = SessionId([0x5a; 16]);

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, last], port))
}

struct Net {
    now: Instant,
    server: RendezvousServer,
    server_addr: SocketAddr,
    peers: [(SocketAddr, RendezvousClient); 2],
    /// Whether datagrams between the peers get through.
    direct: bool,
    /// Relayed datagrams each peer received.
    relayed: [Vec<Vec<u8>>; 2],
    events: [Vec<ClientEvent>; 2],
}

impl Net {
    fn new(direct: bool, config: ClientConfig) -> Self {
        let now = test_epoch();
        let server_addr = addr(1, 3478);
        let peer = |last, nonce| {
            (
                addr(last, 40_000),
                RendezvousClient::new(now, server_addr, SESSION, nonce, config),
            )
        };
        Self {
            now,
            server: RendezvousServer::new(ServerConfig::default()).expect("config"),
            server_addr,
            peers: [peer(2, 11), peer(3, 22)],
            direct,
            relayed: [Vec::new(), Vec::new()],
            events: [Vec::new(), Vec::new()],
        }
    }

    /// Delivers everything queued, at once (the network has no delay: ordering is what matters).
    fn deliver(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..2 {
                let from = self.peers[i].0;
                while let Some((to, bytes)) = self.peers[i].1.poll_transmit() {
                    moved = true;
                    if to == self.server_addr {
                        self.server.handle(self.now, from, &bytes);
                    } else if let Some(j) = self.peers.iter().position(|(a, _)| *a == to)
                        && self.direct
                    {
                        let _ = self.peers[j].1.handle(self.now, from, &bytes);
                    }
                }
            }
            while let Some((to, bytes)) = self.server.poll_transmit() {
                moved = true;
                if let Some(j) = self.peers.iter().position(|(a, _)| *a == to) {
                    let now = self.now;
                    let server = self.server_addr;
                    if let Handled::Relayed { datagram, .. } =
                        self.peers[j].1.handle(now, server, &bytes)
                    {
                        self.relayed[j].push(datagram.to_vec());
                    }
                }
            }
            for i in 0..2 {
                while let Some(event) = self.peers[i].1.poll_event() {
                    self.events[i].push(event);
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs timers and deliveries until `until`.
    fn run(&mut self, until: Duration) {
        let end = self.now + until;
        loop {
            for (_, peer) in &mut self.peers {
                peer.handle_timeout(self.now);
            }
            self.server.handle_timeout(self.now);
            self.deliver();
            let next = self
                .peers
                .iter()
                .filter_map(|(_, p)| p.poll_timeout())
                .chain(self.server.poll_timeout())
                .min();
            match next {
                Some(at) if at <= end => self.now = at.max(self.now),
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
    }
}

#[test]
fn peers_find_each_other_and_punch_through() {
    let mut net = Net::new(true, ClientConfig::default());
    net.run(Duration::from_millis(500));
    for i in 0..2 {
        let other = net.peers[1 - i].0;
        assert!(
            net.events[i].contains(&ClientEvent::Punched { peer: other }),
            "{:?}",
            net.events[i]
        );
        assert_eq!(net.peers[i].1.peer(), Some((other, false)));
    }
    assert_eq!(net.server.stats().introductions, 1);
    assert_eq!(net.server.stats().relayed, 0);
}

#[test]
fn a_cut_direct_path_falls_back_to_the_relay_and_datagrams_pass() {
    let config = ClientConfig::default();
    let mut net = Net::new(false, config);
    net.run(config.punch_timeout + Duration::from_millis(100));
    for i in 0..2 {
        let other = net.peers[i ^ 1].0;
        assert!(
            net.events[i].contains(&ClientEvent::Relaying { peer: other }),
            "{:?}",
            net.events[i]
        );
    }
    // A weir datagram from peer 0 reaches peer 1 through the service, as from peer 0.
    let mut wrapped = Vec::new();
    let to = net.peers[0].1.wrap_relay(b"weir packet", &mut wrapped);
    assert_eq!(to, Some(net.server_addr));
    let from = net.peers[0].0;
    net.server
        .handle(net.now + Duration::from_secs(1), from, &wrapped);
    net.deliver();
    assert_eq!(net.relayed[1], vec![b"weir packet".to_vec()]);
    // Registrations are refreshed, so the session outlives the server's timeout.
    net.run(Duration::from_secs(60));
    assert_eq!(net.server.stats().sessions, 1);
    assert!(
        net.events
            .iter()
            .all(|e| !e.contains(&ClientEvent::ServerTimedOut))
    );
}

#[test]
fn a_silent_server_times_out() {
    let config = ClientConfig::default();
    let now = test_epoch();
    let mut client = RendezvousClient::new(now, addr(1, 1), SESSION, 1, config);
    let mut t = now;
    let mut registers = 0;
    while let Some(at) = client.poll_timeout() {
        t = at;
        client.handle_timeout(t);
        while client.poll_transmit().is_some() {
            registers += 1;
        }
    }
    assert_eq!(client.poll_event(), Some(ClientEvent::ServerTimedOut));
    assert_eq!(t, now + config.server_timeout);
    assert_eq!(registers, 40, "one every 250 ms for 10 s");
}

#[test]
fn strangers_and_other_sessions_are_dropped() {
    let now = test_epoch();
    let server = addr(1, 1);
    let mut client = RendezvousClient::new(now, server, SESSION, 1, ClientConfig::default());
    let mut other = Vec::new();
    message::Message::Peer {
        peer: addr(9, 9),
        observed: addr(9, 9),
    }
    .encode(&SessionId([1; 16]), &mut other);
    assert_eq!(client.handle(now, server, &other), Handled::Dropped);
    // The right session, but a Peer from someone who is not the server.
    let mut forged = Vec::new();
    message::Message::Peer {
        peer: addr(9, 9),
        observed: addr(9, 9),
    }
    .encode(&SESSION, &mut forged);
    assert_eq!(client.handle(now, addr(9, 9), &forged), Handled::Dropped);
    // A relayed datagram before relaying is dropped too.
    let mut relay = Vec::new();
    message::Message::Relay { payload: b"x" }.encode(&SESSION, &mut relay);
    assert_eq!(client.handle(now, server, &relay), Handled::Dropped);
    assert_eq!(client.handle(now, server, b"\x00wr"), Handled::Dropped);
    assert_eq!(client.stats().dropped, 4);
    assert_eq!(client.poll_event(), None);
}
