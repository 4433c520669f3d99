//! Flow control through the whole layer: blocked writes, credit returned by reading, window
//! auto-tuning, and the *_BLOCKED frames.

use std::time::Duration;

use super::{build, deliver, endpoint, epoch, events, exchange, open_limits, pair, read_all};
use crate::streams::{Dir, PeerLimits, Side, StreamEvent, StreamsConfig, WriteError};
use crate::wire::frame::{Frame, Iter};

fn frames(payload: &bytes::Bytes) -> Vec<Frame> {
    Iter::new(payload.clone())
        .map(|f| f.expect("valid"))
        .collect()
}

fn small_windows() -> StreamsConfig {
    StreamsConfig {
        stream_receive_window: 1000,
        max_stream_receive_window: 1000,
        receive_window: 1500,
        max_receive_window: 1500,
        ..StreamsConfig::default()
    }
}

#[test]
fn writes_stop_at_the_stream_credit_and_resume_when_the_reader_reads() {
    let (mut client, mut server) = pair(&small_windows());
    let now = epoch();
    let id = client.open(Dir::Bi, 0).expect("allowed");
    assert_eq!(client.write(id, &[1; 3000]), Ok(1000), "credit-limited");
    assert_eq!(client.write(id, &[1; 10]), Err(WriteError::Blocked));
    assert_eq!(client.send_buffered(), 1000);
    // STREAM_DATA_BLOCKED goes out once.
    let p = build(&mut client, 1200).expect("data");
    assert!(frames(&p.payload).iter().any(|f| matches!(
        f,
        Frame::StreamDataBlocked { limit, .. } if limit.into_inner() == 1000
    )));
    deliver(&mut server, &p.payload).expect("within the window");
    client.on_acked(&p.sent);
    assert_eq!(client.send_buffered(), 0);
    assert!(build(&mut client, 1200).is_none(), "blocked once per limit");
    assert_eq!(events(&mut client), [], "no credit yet: not writable");
    // The server reads: the window update follows, the writer wakes.
    assert_eq!(server.accept(Dir::Bi), Some(id));
    assert_eq!(read_all(&mut server, now, id).0.len(), 1000);
    exchange(&mut server, &mut client);
    assert_eq!(events(&mut client), [StreamEvent::Writable { id }]);
    assert_eq!(client.write(id, &[1; 3000]), Ok(1000));
}

#[test]
fn connection_credit_gates_sending_not_writing() {
    let (mut client, mut server) = pair(&small_windows());
    let now = epoch();
    let a = client.open(Dir::Uni, 0).expect("allowed");
    let b = client.open(Dir::Uni, 0).expect("allowed");
    assert_eq!(client.write(a, &[1; 1000]), Ok(1000));
    assert_eq!(client.write(b, &[2; 1000]), Ok(1000));
    // 2000 bytes buffered, 1500 allowed on the connection.
    let mut sent = 0;
    while let Some(p) = build(&mut client, 1200) {
        sent += p.sent.chunks.iter().map(|c| u64::from(c.len)).sum::<u64>();
        deliver(&mut server, &p.payload).expect("within the connection window");
        client.on_acked(&p.sent);
    }
    assert_eq!(sent, 1500);
    assert!(
        !client.has_pending(),
        "nothing sendable: the streams are parked"
    );
    // The server reads one stream; MAX_DATA reopens the flow.
    let (data, _) = read_all(&mut server, now, a);
    assert_eq!(data.len(), 1000);
    exchange(&mut server, &mut client);
    exchange(&mut client, &mut server);
    let (data, _) = read_all(&mut server, now, b);
    assert_eq!(data.len(), 1000);
}

#[test]
fn data_blocked_is_sent_once_per_limit() {
    let peer = PeerLimits {
        max_data: 100,
        ..open_limits()
    };
    let mut client = endpoint(Side::Client, &StreamsConfig::default(), &peer);
    let id = client.open(Dir::Bi, 0).expect("allowed");
    client.write(id, &[0; 500]).expect("room");
    let p = build(&mut client, 1200).expect("data");
    let f = frames(&p.payload);
    assert_eq!(p.sent.chunks.iter().map(|c| c.len).sum::<u32>(), 100);
    assert!(
        !f.iter().any(|f| matches!(f, Frame::DataBlocked(_))),
        "not yet known"
    );
    let p = build(&mut client, 1200).expect("DATA_BLOCKED");
    assert!(matches!(frames(&p.payload)[..], [Frame::DataBlocked(l)] if l.into_inner() == 100));
    assert!(build(&mut client, 1200).is_none());
    // Lost: sent again while still blocked at 100.
    client.on_lost(&p.sent);
    assert!(build(&mut client, 1200).is_some());
    client.on_max_data(300);
    let p = build(&mut client, 1200).expect("data");
    assert_eq!(p.sent.chunks.iter().map(|c| c.len).sum::<u32>(), 200);
}

#[test]
fn receive_window_doubles_when_the_reader_is_fast() {
    let config = StreamsConfig {
        stream_receive_window: 4000,
        max_stream_receive_window: 64_000,
        receive_window: 1 << 20,
        max_receive_window: 1 << 20,
        ..StreamsConfig::default()
    };
    let (mut client, mut server) = pair(&config);
    let rtt = Duration::from_millis(50);
    server.set_rtt(rtt);
    let id = client.open(Dir::Uni, 0).expect("allowed");
    let mut now = epoch();
    let window = |s: &crate::streams::StreamsState| {
        s.streams
            .get(&id)
            .and_then(|st| st.recv.as_ref())
            .map(|r| r.window())
    };
    // The sender is limited by the window only, the reader keeps up, and updates come every
    // RTT: the window grows to its maximum.
    for _ in 0..40 {
        let _ = client.write(id, &[7; 100_000]);
        exchange(&mut client, &mut server);
        read_all(&mut server, now, id);
        exchange(&mut server, &mut client);
        now += rtt;
    }
    assert_eq!(window(&server), Some(64_000));
}

#[test]
fn a_slow_reader_keeps_the_window() {
    let config = StreamsConfig {
        stream_receive_window: 4000,
        max_stream_receive_window: 64_000,
        ..StreamsConfig::default()
    };
    let (mut client, mut server) = pair(&config);
    let rtt = Duration::from_millis(50);
    server.set_rtt(rtt);
    let id = client.open(Dir::Uni, 0).expect("allowed");
    let mut now = epoch();
    for _ in 0..20 {
        let _ = client.write(id, &[7; 8000]);
        exchange(&mut client, &mut server);
        read_all(&mut server, now, id);
        exchange(&mut server, &mut client);
        now += rtt * 3;
    }
    let window = server
        .streams
        .get(&id)
        .and_then(|s| s.recv.as_ref())
        .map(|r| r.window());
    assert_eq!(window, Some(4000));
}

#[test]
fn stopping_returns_the_credit_of_discarded_data() {
    let (mut client, mut server) = pair(&small_windows());
    let now = epoch();
    let a = client.open(Dir::Uni, 0).expect("allowed");
    client.write(a, &[1; 1000]).expect("room");
    exchange(&mut client, &mut server);
    assert_eq!(server.recv_buffered(), 1000);
    server
        .stop(a, crate::wire::VarInt::from_u32(5))
        .expect("open");
    assert_eq!(server.recv_buffered(), 0);
    exchange(&mut server, &mut client);
    // The client got STOP_SENDING; the connection window has room for a new stream.
    assert!(events(&mut client).contains(&StreamEvent::Stopped {
        id: a,
        error_code: crate::wire::VarInt::from_u32(5)
    }));
    let b = client.open(Dir::Uni, 0).expect("allowed");
    assert_eq!(client.write(b, &[2; 1000]), Ok(1000));
    exchange(&mut client, &mut server);
    assert_eq!(read_all(&mut server, now, b).0.len(), 1000);
}
