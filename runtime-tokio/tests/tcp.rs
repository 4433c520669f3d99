//! TCP fallback sockets: every option is read back from the kernel.

use std::time::Duration;

use socket2::SockRef;
use weir_tokio::{
    TcpConfig, TcpConfigError, TokioTcpConfig, available_congestion_controls, read_settings,
};

fn config() -> TcpConfig {
    TcpConfig {
        nodelay: true,
        keepalive_idle: Some(Duration::from_secs(7)),
        keepalive_interval: Some(Duration::from_secs(3)),
        keepalive_probes: Some(4),
        // 2 × BDP = 2 × (40 Mbit/s × 20 ms) = 200 kB, under the default wmem_max/rmem_max.
        expected_rate_bps: 40_000_000,
        expected_rtt: Duration::from_millis(20),
        ..TcpConfig::default()
    }
}

#[tokio::test]
async fn options_are_applied_and_read_back() {
    let mut config = config();
    let available = available_congestion_controls();
    // Ask for an algorithm other than the default where the kernel has one.
    config.congestion = ["reno", "cubic"]
        .into_iter()
        .find(|a| available.iter().any(|x| x == a))
        .map(str::to_owned);
    assert_eq!(config.bdp_buffer(), 200_000);
    let listener = config
        .listen("127.0.0.1:0".parse().expect("literal"))
        .expect("listen");
    let addr = listener.local_addr().expect("address");
    let accept = tokio::spawn(async move { listener.accept().await.expect("accept").0 });
    let stream = config.connect(addr).await.expect("connect");
    let accepted = accept.await.expect("accept task");
    for (side, socket) in [
        ("client", SockRef::from(&stream)),
        ("server", SockRef::from(&accepted)),
    ] {
        let s = read_settings(socket).expect("read back");
        assert!(s.nodelay, "{side}: {s:?}");
        assert!(s.keepalive, "{side}: {s:?}");
        assert_eq!(s.keepalive_idle, Duration::from_secs(7), "{side}");
        assert_eq!(s.keepalive_interval, Duration::from_secs(3), "{side}");
        assert_eq!(s.keepalive_probes, 4, "{side}");
        // Linux doubles the request (and the kernel may round it up).
        assert!(s.send_buffer >= 200_000, "{side}: {s:?}");
        assert!(s.recv_buffer >= 200_000, "{side}: {s:?}");
        if let Some(asked) = &config.congestion {
            assert_eq!(s.congestion.as_deref(), Some(asked.as_str()), "{side}");
        }
        eprintln!("{side}: {s:?}");
    }
}

#[tokio::test]
async fn an_unknown_congestion_control_names_the_available_ones() {
    let available = available_congestion_controls();
    if available.is_empty() {
        eprintln!("SKIPPED: no /proc/sys/net/ipv4/tcp_available_congestion_control here");
        return;
    }
    // "vegas" where the kernel lacks it, else a name no kernel has.
    let missing = if available.iter().any(|a| a == "vegas") {
        "no-such-algorithm"
    } else {
        "vegas"
    };
    let config = TcpConfig {
        congestion: Some(missing.to_owned()),
        ..config()
    };
    let err = config
        .connect("127.0.0.1:9".parse().expect("literal"))
        .await
        .expect_err("unknown algorithm");
    match &err {
        TcpConfigError::UnknownCongestion {
            requested,
            available: listed,
        } => {
            assert_eq!(requested, missing);
            assert_eq!(listed, &available);
        }
        other => panic!("expected UnknownCongestion, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(missing) && message.contains(&available[0]),
        "{message}"
    );
}

#[test]
fn zero_values_are_rejected() {
    let zero = TcpConfig {
        send_buffer: Some(0),
        ..TcpConfig::default()
    };
    assert!(matches!(
        zero.validate(),
        Err(TcpConfigError::Zero("send_buffer"))
    ));
    let probes = TcpConfig {
        keepalive_probes: Some(0),
        ..TcpConfig::default()
    };
    assert!(probes.validate().is_err());
}
