//! NAT rebinding over real sockets: a relay in front of the server plays a NAT that gives the
//! client a new port mid-transfer (its old upstream socket is closed, so packets to the old
//! port are lost). The server follows the client to the new address and the transfer ends
//! whole.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{TEST_BOUND, client_for, fill_pattern, pattern_byte, server};
use tokio::net::UdpSocket;
use tokio::sync::Notify;

const TOTAL: usize = 4 << 20;

/// A one-client NAT: datagrams from the client go upstream from the relay's current upstream
/// socket; `rebind` replaces that socket (a new port), as a NAT whose mapping expired does.
async fn nat(server: SocketAddr, rebind: Arc<Notify>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let inside = UdpSocket::bind("127.0.0.1:0").await.expect("bind inside");
    let addr = inside.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut upstream = UdpSocket::bind("127.0.0.1:0").await.expect("bind upstream");
        let mut client: Option<SocketAddr> = None;
        let (mut a, mut b) = (vec![0u8; 65_536], vec![0u8; 65_536]);
        loop {
            tokio::select! {
                got = inside.recv_from(&mut a) => {
                    let Ok((n, from)) = got else { return };
                    client = Some(from);
                    let _ = upstream.send_to(&a[..n], server).await;
                }
                got = upstream.recv_from(&mut b) => {
                    let Ok((n, _)) = got else { return };
                    if let Some(client) = client {
                        let _ = inside.send_to(&b[..n], client).await;
                    }
                }
                () = rebind.notified() => {
                    upstream = UdpSocket::bind("127.0.0.1:0").await.expect("rebind upstream");
                }
            }
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nat_rebinding_mid_transfer_is_followed_and_loses_no_byte() {
    tokio::time::timeout(TEST_BOUND, async {
        let server = server("127.0.0.1:0").await;
        let rebind = Arc::new(Notify::new());
        let (relay, relay_task) = nat(server.local_addr(), rebind.clone()).await;
        let client = client_for(relay).await;
        let receiving = tokio::spawn(async move {
            let conn = server.accept().await.expect("a connection");
            let first = conn.remote_address();
            let mut recv = conn.accept_uni().await.expect("stream");
            let data = recv.read_to_end(TOTAL).await.expect("read");
            (conn, first, data)
        });
        let conn = client
            .connect(relay)
            .await
            .expect("connect through the NAT");
        let mut send = conn.open_uni(0).await.expect("open");
        let mut data = vec![0u8; TOTAL];
        fill_pattern(5, 0, &mut data);
        send.write_all(&data[..TOTAL / 4]).await.expect("write");
        // The NAT gives the client another port while data is in flight.
        rebind.notify_one();
        send.write_all(&data[TOTAL / 4..]).await.expect("write");
        send.finish().expect("finish");
        let (server_conn, first, received) = receiving.await.expect("server task");
        assert_eq!(received.len(), TOTAL, "every byte, once");
        if let Some(at) = (0..TOTAL).find(|&i| received[i] != pattern_byte(5, i as u64)) {
            panic!("byte {at} is wrong");
        }
        let now = server_conn.remote_address();
        assert_ne!(now, first, "the server follows the client's new port");
        let stats = server_conn.stats().expect("stats");
        assert_eq!(stats.migrations, 1, "{stats:?}");
        assert_eq!(stats.path_validation_failures, 0);
        relay_task.abort();
    })
    .await
    .expect("within the bound");
}
