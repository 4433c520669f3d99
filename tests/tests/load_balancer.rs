//! A fleet behind a stateless load balancer (`weir_core::lb`, QUIC-LB's plaintext algorithm):
//! three servers write their server IDs into their connection IDs, a load balancer routes by
//! them (and by the client's address for the client's first Initials), and every client's
//! connection stays on its server — even when the client's NAT gives it another port after
//! the handshake, which sends its packets to another server under address-hash routing, and
//! when the client then moves to one of the server's spare connection IDs (each carries the
//! server ID too).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use weir_core::config::{EndpointConfig, ServerConfig, TransportConfig};
use weir_core::connection::LocalPathChange;
use weir_core::crypto::{ClientTls, Identity, TlsConfig};
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::lb::{LoadBalancerConfig, RoutableCids};
use weir_core::streams::StreamEvent;
use weir_core::wire::PartialDecode;
use weir_core::{Event, StreamId};
use weir_tests::epoch;

const SERVERS: usize = 3;
const CLIENTS: usize = 12;
const BYTES: usize = 200_000;
const CID_LEN: usize = 8;

struct Fleet {
    now: Instant,
    servers: Vec<Endpoint>,
    clients: Vec<(Endpoint, SocketAddr, ConnectionHandle)>,
    lb: Option<LoadBalancerConfig>,
    /// Bytes each server read, per client address it first saw.
    read: Vec<u64>,
    /// Datagrams the load balancer sent to each server.
    routed: Vec<u64>,
}

fn server_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 1, 0, i as u8 + 1], 4433))
}

fn client_addr(i: usize, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 2, 0, i as u8 + 1], port))
}

fn fleet(routable: bool) -> Fleet {
    let t0 = epoch();
    let identity = Identity::self_signed(["localhost"]).expect("identity");
    let server_tls = TlsConfig::server(&identity).expect("server tls");
    let client_tls =
        TlsConfig::client(ClientTls::pinned(vec![identity.fingerprint()]).expect("pins"));
    let mut lb = None;
    let servers = (0..SERVERS)
        .map(|i| {
            let routable_cids = routable.then(|| {
                let cfg = RoutableCids::new(1, &[i as u8 + 1]).expect("routable");
                lb = Some(cfg.load_balancer());
                cfg
            });
            Endpoint::new(
                t0,
                EndpointConfig {
                    cid_len: CID_LEN,
                    routable_cids,
                    ..EndpointConfig::tls_fixed(100 + i as u64, server_tls.clone())
                },
                Some(ServerConfig::new(
                    TransportConfig::default(),
                    weir_tests::retry_policy(false),
                )),
            )
            .expect("server")
        })
        .collect();
    let clients = (0..CLIENTS)
        .map(|i| {
            let mut ep = Endpoint::new(
                t0,
                EndpointConfig::tls_fixed(200 + i as u64, client_tls.clone()),
                None,
            )
            .expect("client");
            ep.set_client_config(TransportConfig::default())
                .expect("config");
            // Every client dials the load balancer's one address.
            let handle = ep.connect(t0, server_addr(99)).expect("connect");
            (ep, client_addr(i, 5000), handle)
        })
        .collect();
    Fleet {
        now: t0,
        servers,
        clients,
        lb,
        read: vec![0; SERVERS],
        routed: vec![0; SERVERS],
    }
}

impl Fleet {
    /// The load balancer: the server ID of the destination connection ID, else a hash of the
    /// client's address.
    fn route(&self, from: SocketAddr, datagram: &[u8]) -> usize {
        let by_id = PartialDecode::new(BytesMut::from(datagram), CID_LEN)
            .ok()
            .and_then(|(partial, _)| {
                let lb = self.lb?;
                let id = lb.server_id(partial.dcid())?;
                usize::from(id[0]).checked_sub(1)
            })
            .filter(|&i| i < SERVERS);
        by_id.unwrap_or_else(|| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            from.hash(&mut h);
            (h.finish() % SERVERS as u64) as usize
        })
    }

    fn step(&mut self) -> bool {
        let mut moved = false;
        let mut buf = Vec::new();
        let mut to_servers = Vec::new();
        for (ep, addr, _) in &mut self.clients {
            while let Some(t) = ep.poll_transmit(self.now, 1, &mut buf) {
                to_servers.push((*addr, buf[..t.size].to_vec()));
                buf.clear();
            }
        }
        for (from, datagram) in to_servers {
            moved = true;
            let i = self.route(from, &datagram);
            self.routed[i] += 1;
            self.servers[i].handle_datagram(self.now, from, None, BytesMut::from(&datagram[..]));
        }
        let mut to_clients = Vec::new();
        for server in &mut self.servers {
            while let Some(t) = server.poll_transmit(self.now, 1, &mut buf) {
                to_clients.push((t.destination, buf[..t.size].to_vec()));
                buf.clear();
            }
        }
        for (to, datagram) in to_clients {
            moved = true;
            // The server answers from the load balancer's address.
            if let Some((ep, _, _)) = self.clients.iter_mut().find(|(_, a, _)| *a == to) {
                ep.handle_datagram(
                    self.now,
                    server_addr(99),
                    None,
                    BytesMut::from(&datagram[..]),
                );
            }
        }
        for (i, server) in self.servers.iter_mut().enumerate() {
            while let Some((handle, event)) = server.poll_event() {
                moved = true;
                let id = match event {
                    Event::Stream(StreamEvent::Readable { id }) => Some(id),
                    Event::Stream(StreamEvent::Opened { .. }) => None,
                    _ => continue,
                };
                let Some(conn) = server.connection(handle) else {
                    continue;
                };
                while conn.accept_uni().is_some() {}
                if let Some(id) = id {
                    while let Ok(Some(chunk)) = conn.read(self.now, id, usize::MAX) {
                        self.read[i] += chunk.len() as u64;
                    }
                }
            }
        }
        for (ep, _, _) in &mut self.clients {
            while ep.poll_event().is_some() {
                moved = true;
            }
        }
        moved
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            for _ in 0..10_000 {
                if !self.step() {
                    break;
                }
            }
            let next = self
                .servers
                .iter_mut()
                .filter_map(|s| s.poll_timeout())
                .chain(self.clients.iter_mut().filter_map(|c| c.0.poll_timeout()))
                .min();
            match next {
                Some(at) if at <= end => {
                    // A 1 ms network: nothing is in flight between steps.
                    self.now = self.now.max(at).max(self.now + Duration::from_millis(1));
                    for s in &mut self.servers {
                        s.handle_timeout(self.now);
                    }
                    for c in &mut self.clients {
                        c.0.handle_timeout(self.now);
                    }
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// Every client sends its stream.
    fn start_transfers(&mut self) {
        for (ep, _, handle) in &mut self.clients {
            let conn = ep.connection(*handle).expect("connected");
            let id: StreamId = conn.open_uni(0).expect("stream");
            let data = bytes::Bytes::from(vec![7u8; BYTES]);
            let mut sent = 0;
            while sent < BYTES {
                match conn.write_chunk(id, data.slice(sent..)) {
                    Ok(n) if n > 0 => sent += n,
                    _ => break,
                }
            }
            assert_eq!(sent, BYTES, "the send buffer takes the whole stream");
            conn.finish(id).expect("finish");
        }
    }

    /// Every client's NAT hands it another port.
    fn rebind_all(&mut self) {
        for (i, (_, addr, _)) in self.clients.iter_mut().enumerate() {
            *addr = client_addr(i, 6000);
        }
    }

    /// Every client's driver moves it to another local port and says so: each client takes one
    /// of its server's spare connection IDs.
    fn move_all(&mut self) {
        for (i, (ep, addr, handle)) in self.clients.iter_mut().enumerate() {
            *addr = client_addr(i, 7000);
            let moved = ep
                .local_path_changed(self.now, *handle, LocalPathChange::Port)
                .expect("an established client moves");
            assert!(moved, "the server issued spare IDs");
        }
    }

    fn connections_alive(&mut self) -> usize {
        self.clients
            .iter_mut()
            .filter_map(|(ep, _, h)| ep.connection(*h).map(|c| !c.is_closed()))
            .filter(|open| *open)
            .count()
    }
}

/// Routable connection IDs keep every connection on its server across a rebinding of every
/// client, and across a move of every client to a spare connection ID mid-transfer; every byte
/// arrives and the load is spread over the fleet.
#[test]
fn routable_connection_ids_keep_connections_on_their_servers_across_rebinding() {
    let mut f = fleet(true);
    let lb = f.lb.expect("routable");
    f.run_for(Duration::from_millis(50));
    assert_eq!(f.connections_alive(), CLIENTS, "every handshake completed");
    f.rebind_all();
    f.start_transfers();
    f.run_for(Duration::from_millis(100));
    f.move_all();
    f.run_for(Duration::from_secs(10));
    assert_eq!(
        f.read.iter().sum::<u64>(),
        (CLIENTS * BYTES) as u64,
        "{:?}",
        f.read
    );
    assert!(
        f.read.iter().all(|&r| r > 0),
        "every server took some: {:?}",
        f.read
    );
    assert_eq!(f.connections_alive(), CLIENTS);
    // Every server's connection IDs name it, the spares as the handshake's.
    for (i, server) in f.servers.iter_mut().enumerate() {
        let handles: Vec<_> = server.connection_handles().collect();
        assert!(!handles.is_empty());
        for h in handles {
            let conn = server.connection(h).expect("alive");
            assert_eq!(lb.server_id(&conn.local_cid()), Some(&[i as u8 + 1][..]));
            let cids: Vec<_> = conn.local_cids().collect();
            assert_eq!(cids.len(), 4, "the default limit of 4");
            for cid in cids {
                assert_eq!(lb.server_id(&cid), Some(&[i as u8 + 1][..]));
            }
            assert_eq!(
                conn.stats().cids.retired_by_peer,
                1,
                "the client moved once"
            );
        }
    }
}

/// The control: with random connection IDs the load balancer can only hash addresses, and
/// after the rebinding most clients' packets reach a server that does not know them.
#[test]
fn without_routable_ids_a_rebinding_breaks_connections_behind_the_balancer() {
    let mut f = fleet(false);
    f.run_for(Duration::from_millis(50));
    assert_eq!(f.connections_alive(), CLIENTS, "every handshake completed");
    f.rebind_all();
    f.start_transfers();
    f.run_for(Duration::from_secs(10));
    let delivered = f.read.iter().sum::<u64>();
    eprintln!(
        "random IDs behind the balancer: {delivered} of {} bytes delivered, {} of {CLIENTS} connections open",
        CLIENTS * BYTES,
        f.connections_alive()
    );
    assert!(
        delivered < (CLIENTS * BYTES) as u64,
        "address hashing kept every connection: {:?}",
        f.read
    );
    let by_server: HashMap<usize, u64> = f.routed.iter().copied().enumerate().collect();
    assert!(by_server.values().all(|&n| n > 0), "{by_server:?}");
}
