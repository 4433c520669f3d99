//! `weir perf server`: counts bulk streams, echoes game messages.

use std::time::Instant;

use weir_runtime::runtime::Runtime;
use weir_tokio::{Config, Connection, ReadError, RecvStream, SendStream, VarInt};

use super::{
    BULK_DEADLINE, GAME_LANE, LaneSetup, LiveError, MODE_BULK, MODE_GAME, MODE_LANE, ServerArgs,
    server_config,
};
use crate::scenario::fmt_duration;

pub async fn run<R: Runtime>(args: &ServerArgs) -> Result<(), LiveError> {
    let transport = args.transport.transport();
    let (security, pin) = args.security.config(args.transport.quic())?;
    let config = Config {
        server: Some(server_config(transport.clone())),
        client: transport,
        tcp: args.transport.tcp(),
        ..security
    };
    let endpoint = weir_runtime::Endpoint::<R>::bind(args.listen, config).await?;
    match pin {
        // First, alone on its line, for scripts: `--pin` of the clients.
        Some(pin) => println!("pin: {pin}"),
        None if args.security.insecure => {
            println!("INSECURE: no encryption, no authentication (--insecure)");
        }
        None => {}
    }
    println!(
        "weir perf server listening on {} (socket buffers {} / {} B, GSO {} segments, GRO {})",
        endpoint.local_addr(),
        endpoint.socket_info().send_buffer,
        endpoint.socket_info().recv_buffer,
        endpoint.socket_info().max_gso_segments,
        endpoint.socket_info().gro_segments,
    );
    if let Some(tcp) = args.transport.tcp() {
        println!(
            "  and for TCP (clients on networks that drop UDP) on {}",
            tcp.listen_addr.unwrap_or(endpoint.local_addr())
        );
    }
    // A server met through a rendezvous service serves the client it met (and any other).
    args.transport.meet(&endpoint).await?;
    if let Some(every) = args.status {
        tokio::spawn(status(endpoint.clone(), every));
    }
    loop {
        tokio::select! {
            conn = endpoint.accept() => match conn {
                Some(conn) => { tokio::spawn(serve(conn)); }
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    endpoint
        .shutdown(
            0u32.into(),
            b"server stopping",
            std::time::Duration::from_secs(2),
        )
        .await;
    Ok(())
}

/// A status line every `every`: what admission control is doing.
async fn status<R: Runtime>(endpoint: weir_runtime::Endpoint<R>, every: std::time::Duration) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = endpoint.stats();
        println!(
            "{:>7.1} s: {} connections, {} handshakes in progress; {} Initials, {} accepted, \
             {} Retries, {} over the per-address limit, {} handshakes timed out, {} resets, \
             {} refused",
            started.elapsed().as_secs_f64(),
            endpoint.connection_count(),
            endpoint.handshakes_in_progress(),
            s.datagrams_received,
            s.connections_accepted,
            s.retries_sent,
            s.initials_over_address_limit,
            s.handshakes_timed_out,
            s.stateless_resets_sent,
            s.connections_refused,
        );
    }
}

pub(super) async fn serve(conn: Connection) {
    let peer = conn.remote_address();
    let started = Instant::now();
    while let Ok((send, mut recv)) = conn.accept_bi().await {
        let conn = conn.clone();
        tokio::spawn(async move {
            let mut mode = [0u8; 1];
            let outcome = match recv.read(&mut mode).await {
                Ok(Some(1)) if mode[0] == MODE_BULK => bulk(send, recv).await,
                Ok(Some(1)) if mode[0] == MODE_GAME => echo(&conn).await,
                Ok(Some(1)) if mode[0] == MODE_LANE => echo_lane(&conn, &mut recv).await,
                Ok(_) => Ok(()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = outcome {
                eprintln!("{peer}: {e}");
            }
        });
    }
    let why = conn.closed().await;
    println!(
        "{}",
        finished_line(peer, started.elapsed(), conn.stats().as_ref(), &why)
    );
}

/// The line the server prints when a client's connection ends: who, how long, how much each
/// way, the path it saw, and how it ended.
pub(super) fn finished_line(
    peer: std::net::SocketAddr,
    elapsed: std::time::Duration,
    stats: Option<&weir_core::connection::ConnectionStats>,
    why: &dyn std::fmt::Display,
) -> String {
    let path = stats.map_or_else(String::new, |s| {
        format!(
            ": {} B in, {} B out, srtt {:.1} ms, {} packets lost of {}",
            s.bytes_received,
            s.bytes_sent,
            s.srtt.as_secs_f64() * 1e3,
            s.packets_lost,
            s.packets_sent,
        )
    });
    format!(
        "client {peer} finished after {}{path} ({why})",
        fmt_duration(elapsed)
    )
}

/// Counts the stream's bytes and answers with the count, at the stream's end or when a timed
/// run resets it at its deadline ([`BULK_DEADLINE`]).
async fn bulk(mut send: SendStream, mut recv: RecvStream) -> Result<(), LiveError> {
    let started = Instant::now();
    let mut received = 0u64;
    loop {
        match recv.read_chunk(usize::MAX).await {
            Ok(Some(chunk)) => received += chunk.len() as u64,
            Ok(None) => break,
            Err(ReadError::Reset(code)) if code == VarInt::from_u32(BULK_DEADLINE) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let elapsed = started.elapsed();
    send.write_all(&received.to_be_bytes()).await?;
    send.finish()?;
    println!(
        "bulk: {received} B in {} ({:.1} Mbit/s)",
        fmt_duration(elapsed),
        received as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9) / 1e6
    );
    Ok(())
}

/// Reads the lane the client announced ([`LaneSetup`]) and echoes every message on it, with
/// the same settings, until the connection closes.
async fn echo_lane(conn: &Connection, recv: &mut RecvStream) -> Result<(), LiveError> {
    let mut setup = [0u8; LaneSetup::LEN];
    let mut filled = 0;
    while filled < setup.len() {
        match recv.read(&mut setup[filled..]).await? {
            Some(n) => filled += n,
            None => break,
        }
    }
    let setup = LaneSetup::decode(&setup[..filled])?;
    let lane = conn.lane(GAME_LANE, setup.config)?;
    while let Ok(message) = lane.recv().await {
        let sent = match setup.deadline {
            Some(ttl) => lane.send_with_deadline(message.data, ttl).await,
            None => lane.send(message.data).await,
        };
        if sent.is_err() {
            break;
        }
    }
    Ok(())
}

/// Echoes every message until the connection closes.
async fn echo(conn: &Connection) -> Result<(), LiveError> {
    while let Ok(message) = conn.read_datagram().await {
        conn.send_datagram(message.data)?;
    }
    Ok(())
}
