//! weir with no runtime at all — not tokio, not mio: the sans-IO core driven by a plain
//! blocking `std::net::UdpSocket`, whose read timeout is the core's `poll_timeout`. The
//! simplest correct loop, for a tool, a test rig or a platform without an event loop:
//!
//! 1. send everything the core has ready (`poll_transmit` until `None`);
//! 2. act on the core's events (`poll_event` until `None`);
//! 3. wait for one datagram, at most until the core's next deadline (the socket's read
//!    timeout), and hand it over (`handle_datagram`), or tell the core the time
//!    (`handle_timeout`).
//!
//! An echo server runs in a second thread, each end with its own socket and its own loop; the
//! client sends a line over a TLS 1.3 stream, reads the echo, closes, and both ends drain.
//!
//! `cargo run -p weir-mio --example blocking`

use std::io;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use weir_mio::weir_core::config::{EndpointConfig, ServerConfig};
use weir_mio::weir_core::connection::Event;
use weir_mio::weir_core::crypto::{ClientTls, Identity, Security, TlsConfig};
use weir_mio::weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_mio::weir_core::streams::StreamEvent;
use weir_mio::weir_core::wire::VarInt;

/// What the application decides after an event.
enum Next {
    Continue,
    Stop,
}

/// A core endpoint with `tls`, its secret drawn from the operating system (the core draws no
/// randomness of its own).
fn endpoint(tls: TlsConfig, server: bool) -> Result<Endpoint, Box<dyn std::error::Error>> {
    let mut config = EndpointConfig {
        security: Some(Security::Tls(tls)),
        ..EndpointConfig::default()
    };
    config.seed.resolve(|bytes| getrandom::fill(bytes))?;
    let server = server.then(ServerConfig::default);
    Ok(Endpoint::new(Instant::now(), config, server)?)
}

/// The blocking loop: runs until `app` says stop or `limit` passes.
fn run(
    socket: &UdpSocket,
    endpoint: &mut Endpoint,
    limit: Duration,
    mut app: impl FnMut(&mut Endpoint, ConnectionHandle, Event) -> Next,
) -> io::Result<()> {
    let bound = Instant::now() + limit;
    let mut out = Vec::with_capacity(1500);
    let mut inbuf = vec![0u8; 65_536];
    loop {
        // 1. Send everything that is ready (a core batch of equal segments goes one by one).
        let now = Instant::now();
        while let Some(t) = endpoint.poll_transmit(now, 1, &mut out) {
            let datagram = &out[out.len() - t.size..];
            for segment in datagram.chunks(t.segment_size.unwrap_or(t.size).max(1)) {
                if let Err(e) = socket.send_to(segment, t.destination) {
                    // Lost datagrams are the core's loss recovery's business.
                    eprintln!("send to {}: {e}", t.destination);
                }
            }
            out.clear();
        }
        // 2. Act on events.
        while let Some((handle, event)) = endpoint.poll_event() {
            if let Next::Stop = app(endpoint, handle, event) {
                return Ok(());
            }
        }
        if Instant::now() >= bound {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "example took too long",
            ));
        }
        // 3. Wait for a datagram, at most until the next deadline (a zero read timeout is an
        //    error in std, so at least a millisecond).
        let deadline = endpoint.poll_timeout().map_or(bound, |d| d.min(bound));
        let wait = deadline.saturating_duration_since(Instant::now());
        socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match socket.recv_from(&mut inbuf) {
            Ok((n, from)) => {
                endpoint.handle_datagram(Instant::now(), from, None, BytesMut::from(&inbuf[..n]))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // ICMP port unreachable and the like: note it, carry on.
            Err(e) => eprintln!("receive: {e}"),
        }
        // Early or late is harmless.
        if endpoint
            .poll_timeout()
            .is_some_and(|at| at <= Instant::now())
        {
            endpoint.handle_timeout(Instant::now());
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let identity = Identity::self_signed(["localhost"])?;
    let trust = ClientTls::pinned(vec![identity.fingerprint()])?;

    // The echo server, in its own thread with its own blocking loop.
    let server_socket = UdpSocket::bind("127.0.0.1:0")?;
    let server_addr = server_socket.local_addr()?;
    let mut server = endpoint(TlsConfig::server(&identity)?, true)?;
    let server_thread = std::thread::spawn(move || {
        run(
            &server_socket,
            &mut server,
            Duration::from_secs(10),
            |ep, handle, event| {
                // One client in this example: the server ends with its connection (whose handle
                // is invalid from this event on).
                if let Event::Drained = event {
                    return Next::Stop;
                }
                let now = Instant::now();
                let Some(conn) = ep.connection(handle) else {
                    return Next::Continue;
                };
                match event {
                    Event::Stream(StreamEvent::Opened { .. }) => {
                        while conn.accept_bi().is_some() {}
                    }
                    Event::Stream(StreamEvent::Readable { id }) => loop {
                        match conn.read(now, id, usize::MAX) {
                            Ok(Some(data)) => {
                                let _ = conn.write_chunk(id, data);
                            }
                            Ok(None) => {
                                let _ = conn.finish(id);
                                break;
                            }
                            Err(_) => break,
                        }
                    },
                    Event::Closed(reason) => println!("server: connection closed: {reason}"),
                    _ => {}
                }
                Next::Continue
            },
        )
    });

    // The client.
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let mut client = endpoint(TlsConfig::client(trust), false)?;
    let handle = client.connect(Instant::now(), server_addr)?;
    let mut echo = Vec::new();
    run(
        &socket,
        &mut client,
        Duration::from_secs(10),
        |ep, h, event| {
            if let (Event::Drained, true) = (&event, h == handle) {
                return Next::Stop;
            }
            let now = Instant::now();
            let Some(conn) = ep.connection(h) else {
                return Next::Continue;
            };
            match event {
                Event::Connected => {
                    println!("client: connected to {server_addr}");
                    if let Ok(id) = conn.open_bi(0) {
                        let _ = conn.write(id, b"hello from a blocking loop");
                        let _ = conn.finish(id);
                    }
                }
                Event::Stream(StreamEvent::Readable { id }) => loop {
                    match conn.read(now, id, usize::MAX) {
                        Ok(Some(data)) => echo.extend_from_slice(&data),
                        Ok(None) => {
                            println!("client: echo {:?}", String::from_utf8_lossy(&echo));
                            conn.close(now, VarInt::ZERO, b"thanks");
                            break;
                        }
                        Err(_) => break,
                    }
                },
                Event::Closed(reason) => println!("client: closed: {reason}"),
                _ => {}
            }
            Next::Continue
        },
    )?;
    match server_thread.join() {
        Ok(result) => result?,
        Err(_) => return Err("the server thread panicked".into()),
    }
    println!("both ends drained");
    Ok(())
}
