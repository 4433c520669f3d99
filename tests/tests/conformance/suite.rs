//! The conformance tests, each written once against [`Adapter`] and run for every adapter by
//! the `conformance!` macro in `main.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_core::config::ConfigError;
use weir_core::crypto::{ClientTls, Identity};
use weir_core::sim::runs::bottleneck;
use weir_tokio::proxy::{Proxy, ProxyConfig};

use crate::harness::{
    Adapter, BOUND, Client, Conn, ConnectFailure, Ended, Protection, Refusal, Server, Setup,
    loopback,
};

/// Connections and bytes per connection of the integrity test.
const CONNECTIONS: u64 = 10;
const STREAM_BYTES: u64 = 10_000_000;

/// Waits at most [`BOUND`] for `done`; whether it came.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + BOUND;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

fn connect<A: Adapter>(client: &A::Client, to: SocketAddr) -> <A::Client as Client>::Conn {
    match client.connect(to) {
        Ok(conn) => conn,
        Err(e) => panic!("{}: connect: {e:?}", A::NAME),
    }
}

/// One message there and back: the server has accepted the connection (an adapter's
/// `accept` hands out only live connections, so a connection closed before the server took it
/// is never seen by the server's application) and its handshake is confirmed (before that, a
/// close travels as a transport error without the application's code, RFC 9000 §10.2.3).
fn established<A: Adapter>(conn: &<A::Client as Client>::Conn) {
    conn.send_datagram(Bytes::from_static(b"hello"))
        .expect("send");
    assert_eq!(
        conn.recv_datagram(BOUND),
        Some(Bytes::from_static(b"hello")),
        "{}: echo",
        A::NAME
    );
}

/// Ten connections over two client endpoints (five share each endpoint's socket and driver)
/// move ten megabytes each at once; the server checks every byte and counts them.
pub fn integrity<A: Adapter>() {
    let server = A::server(Setup::tls()).expect("server");
    let addr = server.addr();
    let clients = [
        A::client(Setup::tls()).expect("client"),
        A::client(Setup::tls()).expect("client"),
    ];
    std::thread::scope(|scope| {
        let uploads: Vec<_> = (0..CONNECTIONS)
            .map(|seed| {
                let client = &clients[seed as usize % 2];
                scope.spawn(move || {
                    let conn = connect::<A>(client, addr);
                    let counted = conn.upload(seed, STREAM_BYTES);
                    conn.close(0, b"done");
                    counted
                })
            })
            .collect();
        for (seed, upload) in uploads.into_iter().enumerate() {
            let counted = upload.join().expect("upload thread");
            assert_eq!(
                counted,
                Ok(STREAM_BYTES),
                "{}: connection {seed} (u64::MAX: a byte was wrong)",
                A::NAME
            );
        }
    });
    let ended = server.wait_ended(CONNECTIONS as usize, BOUND);
    assert_eq!(ended.len(), CONNECTIONS as usize, "{}: {ended:?}", A::NAME);
    for client in clients {
        assert!(client.shutdown(Duration::from_secs(5)), "{}", A::NAME);
    }
    assert!(server.shutdown(0, Duration::from_secs(5)), "{}", A::NAME);
}

/// A close carries its code and reason to the peer; both ends then drain and forget the
/// connection; a shutdown of idle endpoints completes at once.
pub fn close_and_drain<A: Adapter>() {
    let server = A::server(Setup::tls()).expect("server");
    let client = A::client(Setup::tls()).expect("client");
    let conn = connect::<A>(&client, server.addr());
    established::<A>(&conn);
    assert_eq!(server.connection_count(), 1, "{}", A::NAME);
    conn.close(7, b"bye");
    assert_eq!(
        conn.closed(BOUND),
        Some(Ended::LocallyClosed),
        "{}",
        A::NAME
    );
    assert_eq!(
        server.wait_ended(1, BOUND),
        vec![Ended::PeerClosed {
            code: 7,
            reason: b"bye".to_vec()
        }],
        "{}",
        A::NAME
    );
    assert!(
        eventually(|| client.connection_count() == 0 && server.connection_count() == 0),
        "{}: both ends drain (client {}, server {})",
        A::NAME,
        client.connection_count(),
        server.connection_count()
    );
    let started = Instant::now();
    assert!(client.shutdown(Duration::from_secs(5)), "{}", A::NAME);
    assert!(server.shutdown(0, Duration::from_secs(5)), "{}", A::NAME);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{}: idle endpoints shut down at once",
        A::NAME
    );
}

/// A server shutdown closes its clients' connections with its code.
pub fn shutdown_closes_clients<A: Adapter>() {
    let server = A::server(Setup::tls()).expect("server");
    let client = A::client(Setup::tls()).expect("client");
    let conns = [
        connect::<A>(&client, server.addr()),
        connect::<A>(&client, server.addr()),
    ];
    for conn in &conns {
        established::<A>(conn);
    }
    assert!(server.shutdown(9, Duration::from_secs(5)), "{}", A::NAME);
    for conn in &conns {
        let closed = conn.closed(BOUND);
        assert!(
            matches!(closed, Some(Ended::PeerClosed { code: 9, .. })),
            "{}: {closed:?}",
            A::NAME
        );
    }
    assert!(client.shutdown(Duration::from_secs(5)), "{}", A::NAME);
}

/// Quiet connections without keep-alive end by their idle timeout on both sides, typed, not
/// before it.
pub fn idle_timeout<A: Adapter>() {
    let idle = Duration::from_millis(400);
    let quiet = || {
        Setup::tls_with(|t| {
            t.idle_timeout = idle;
            t.keep_alive_interval = None;
        })
    };
    let server = A::server(quiet()).expect("server");
    let client = A::client(quiet()).expect("client");
    let started = Instant::now();
    let conn = connect::<A>(&client, server.addr());
    assert_eq!(conn.closed(BOUND), Some(Ended::TimedOut), "{}", A::NAME);
    assert!(
        started.elapsed() >= idle,
        "{}: not before the idle timeout",
        A::NAME
    );
    assert_eq!(
        server.wait_ended(1, BOUND),
        vec![Ended::TimedOut],
        "{}",
        A::NAME
    );
}

/// Unreliable messages cross and come back, one at a time (so none is dropped for want of
/// queue room).
pub fn unreliable_messages<A: Adapter>() {
    let server = A::server(Setup::tls()).expect("server");
    let client = A::client(Setup::tls()).expect("client");
    let conn = connect::<A>(&client, server.addr());
    for k in 0..50u32 {
        let message = Bytes::from(format!("tick {k}"));
        conn.send_datagram(message.clone()).expect("send");
        assert_eq!(
            conn.recv_datagram(Duration::from_secs(5)),
            Some(message),
            "{}: echo {k}",
            A::NAME
        );
    }
    // Larger than a datagram: refused, typed, the connection goes on.
    assert!(
        conn.send_datagram(Bytes::from(vec![0u8; 4000])).is_err(),
        "{}",
        A::NAME
    );
    conn.send_datagram(Bytes::from_static(b"still here"))
        .expect("send");
    assert_eq!(
        conn.recv_datagram(Duration::from_secs(5)),
        Some(Bytes::from_static(b"still here")),
        "{}",
        A::NAME
    );
}

/// A relay between a client and a server that can start dropping everything: the server
/// "dies" without a word, as a killed process or a lost network does.
struct Relay {
    addr: SocketAddr,
    dead: Arc<AtomicBool>,
}

impl Relay {
    fn start(server: SocketAddr) -> Self {
        let outside = std::net::UdpSocket::bind(loopback()).expect("relay socket");
        let inside = std::net::UdpSocket::bind(loopback()).expect("relay socket");
        inside.connect(server).expect("relay upstream");
        let addr = outside.local_addr().expect("relay address");
        let dead = Arc::new(AtomicBool::new(false));
        let client = Arc::new(std::sync::Mutex::new(None::<SocketAddr>));
        for towards_server in [true, false] {
            let (from, to) = (
                outside.try_clone().expect("clone"),
                inside.try_clone().expect("clone"),
            );
            let (dead, client) = (dead.clone(), client.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                loop {
                    let received = if towards_server {
                        from.recv_from(&mut buf).map(|(n, peer)| (n, Some(peer)))
                    } else {
                        to.recv(&mut buf).map(|n| (n, None))
                    };
                    let Ok((n, peer)) = received else {
                        return;
                    };
                    if dead.load(Ordering::Relaxed) {
                        continue;
                    }
                    if let Some(peer) = peer {
                        *client.lock().expect("client") = Some(peer);
                        let _ = to.send(&buf[..n]);
                    } else if let Some(peer) = *client.lock().expect("client") {
                        let _ = from.send_to(&buf[..n], peer);
                    }
                }
            });
        }
        Self { addr, dead }
    }

    fn kill(&self) {
        self.dead.store(true, Ordering::Relaxed);
    }
}

/// A server that vanishes is reported to its client as the typed idle timeout, within a
/// bound of the timeout, while the client keeps sending.
pub fn killed_peer<A: Adapter>() {
    let idle = Duration::from_millis(600);
    let setup = || Setup::tls_with(|t| t.idle_timeout = idle);
    let server = A::server(setup()).expect("server");
    let relay = Relay::start(server.addr());
    let client = A::client(setup()).expect("client");
    let conn = connect::<A>(&client, relay.addr);
    assert_eq!(conn.upload(1, 10_000), Ok(10_000), "{}", A::NAME);
    relay.kill();
    let killed = Instant::now();
    let _ = conn.send_datagram(Bytes::from_static(b"anyone?"));
    assert_eq!(conn.closed(BOUND), Some(Ended::TimedOut), "{}", A::NAME);
    // The idle timeout is at least three PTOs (RFC 9000 §10.1), a few hundred milliseconds on
    // loopback: well within a few seconds.
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "{}: took {:?}",
        A::NAME,
        killed.elapsed()
    );
    // The uploads' failures are typed too.
    assert!(conn.upload(2, 1000).is_err(), "{}", A::NAME);
}

/// Bad configurations are refused with the same typed errors by every adapter.
pub fn bad_configurations<A: Adapter>() {
    let insecure = |opted_in| Setup {
        protection: Protection::Insecure { opted_in },
        ..Setup::tls()
    };
    assert!(
        matches!(A::server(insecure(false)), Err(Refusal::InsecureRefused)),
        "{}: the integrity-only protection must be asked for twice",
        A::NAME
    );
    assert!(A::server(insecure(true)).is_ok(), "{}", A::NAME);
    let nothing = Setup {
        protection: Protection::Nothing,
        ..Setup::tls()
    };
    assert!(
        matches!(A::client(nothing), Err(Refusal::Config(_))),
        "{}: an endpoint without security",
        A::NAME
    );
    let zero = Setup {
        zero_recv_buffer: true,
        ..Setup::tls()
    };
    assert!(
        matches!(A::client(zero), Err(Refusal::Socket)),
        "{}",
        A::NAME
    );
    let tiny = Setup::tls_with(|t| t.max_datagram_size = 1000);
    assert!(
        matches!(
            A::server(tiny),
            Err(Refusal::Config(ConfigError::DatagramSize(1000)))
        ),
        "{}: datagrams below QUIC's minimum",
        A::NAME
    );
    let client = A::client(Setup::tls()).expect("client");
    let v6: SocketAddr = "[::1]:4433".parse().expect("literal");
    assert!(
        matches!(
            client.connect(v6),
            Err(ConnectFailure::Refused(Refusal::AddressFamily))
        ),
        "{}",
        A::NAME
    );
    // A wrong pin fails the handshake with the typed TLS error.
    let server = A::server(Setup::tls()).expect("server");
    let other = Identity::self_signed(["localhost"]).expect("identity");
    let wrong = Setup {
        protection: Protection::TlsPinned(
            ClientTls::pinned(vec![other.fingerprint()]).expect("pins"),
        ),
        ..Setup::tls()
    };
    let wrong = A::client(wrong).expect("client");
    assert!(
        matches!(
            wrong.connect(server.addr()),
            Err(ConnectFailure::Handshake(Ended::Tls))
        ),
        "{}",
        A::NAME
    );
}

/// A transfer through `weir proxy`'s link model (a 20 Mbit/s, 30 ms path losing 1 %, one BDP
/// of buffer) arrives intact.
pub fn through_the_proxy<A: Adapter>() {
    const LEN: u64 = 2_000_000;
    let server = A::server(Setup::tls()).expect("server");
    let scenario = bottleneck(20.0, Duration::from_millis(30), 0.01, 1.0);
    let proxy = Proxy::spawn(ProxyConfig::new(loopback(), server.addr(), scenario)).expect("proxy");
    let client = A::client(Setup::tls()).expect("client");
    let conn = connect::<A>(&client, proxy.local_addr());
    let started = Instant::now();
    assert_eq!(conn.upload(3, LEN), Ok(LEN), "{}", A::NAME);
    let elapsed = started.elapsed();
    eprintln!(
        "{}: {LEN} B through the proxy in {elapsed:?} ({:.1} Mbit/s of 20)",
        A::NAME,
        LEN as f64 * 8.0 / elapsed.as_secs_f64() / 1e6
    );
    conn.close(0, b"");
    assert!(client.shutdown(Duration::from_secs(5)), "{}", A::NAME);
}

/// An application that lets go of a connection in the middle of an upload: the server sees
/// the connection closed with code 0 (not a completed upload), and the client endpoint goes on
/// serving new connections.
pub fn dropped_mid_transfer<A: Adapter>() {
    let server = A::server(Setup::tls()).expect("server");
    let client = A::client(Setup::tls()).expect("client");
    let conn = connect::<A>(&client, server.addr());
    established::<A>(&conn);
    conn.abandon(4, 300_000);
    assert_eq!(
        server.wait_ended(1, BOUND),
        vec![Ended::PeerClosed {
            code: 0,
            reason: Vec::new()
        }],
        "{}",
        A::NAME
    );
    let again = connect::<A>(&client, server.addr());
    assert_eq!(again.upload(5, 100_000), Ok(100_000), "{}", A::NAME);
}

/// Connecting to a port nobody listens on (the kernel may answer with ICMP port unreachable):
/// a typed handshake failure within the handshake's bound, and an endpoint that goes on.
pub fn nobody_listening<A: Adapter>() {
    let quick = || Setup::tls_with(|t| t.idle_timeout = Duration::from_millis(500));
    let client = A::client(quick()).expect("client");
    // A port that was just bound and released: nobody listens there.
    let vacant = std::net::UdpSocket::bind(loopback())
        .and_then(|s| s.local_addr())
        .expect("vacant port");
    let started = Instant::now();
    let failed = client.connect(vacant).err();
    assert!(
        matches!(
            failed,
            Some(ConnectFailure::Handshake(
                Ended::HandshakeTimedOut | Ended::TimedOut
            ))
        ),
        "{}: {failed:?}",
        A::NAME
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{}: gave up after {:?}",
        A::NAME,
        started.elapsed()
    );
    let server = A::server(Setup::tls()).expect("server");
    let conn = connect::<A>(&client, server.addr());
    established::<A>(&conn);
}

/// Datagrams larger than the largest IPv4 UDP payload (65 507 bytes): path MTU discovery told
/// to probe up to 65 527 bytes (RFC 9000's largest) on IPv4 loopback, whose kernel refuses the
/// largest probes with `EMSGSIZE` (a probe waits for a congestion window that holds it, so a
/// transfer runs first). The errors are counted, the probes count as lost, discovery settles
/// below them, and transfers on the connection complete with every byte.
pub fn datagram_too_large<A: Adapter>() {
    let huge = || {
        Setup::tls_with(|t| {
            let mtu = t.mtu_discovery.get_or_insert_with(Default::default);
            mtu.upper_bound = 65_527;
            mtu.min_step = 8;
        })
    };
    let server = A::server(huge()).expect("server");
    let client = A::client(huge()).expect("client");
    let conn = connect::<A>(&client, server.addr());
    established::<A>(&conn);
    assert_eq!(conn.upload(6, 4_000_000), Ok(4_000_000), "{}", A::NAME);
    assert!(
        eventually(|| client.socket_errors().too_large > 0),
        "{}: no EMSGSIZE counted: {:?}",
        A::NAME,
        client.socket_errors()
    );
    assert_eq!(conn.upload(7, 4_000_000), Ok(4_000_000), "{}", A::NAME);
}
