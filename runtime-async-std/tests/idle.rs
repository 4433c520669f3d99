//! An idle endpoint sleeps: its driver thread wakes only for its timers (async-io's one-shot
//! readiness and timers must not make it spin). Alone in its test binary, so that the process's
//! CPU time is this test's.

mod common;

use std::time::{Duration, Instant};

use weir_async_std::VarInt;

use common::*;

/// The idle time measured (a measurement window, not a synchronisation).
const IDLE: Duration = Duration::from_secs(1);

fn idle_second(exec: Exec) {
    exec.run(async move {
        let server = server().await;
        let addr = server.local_addr();
        let serving = exec.spawn(async move {
            let conn = server.accept().await.expect("client");
            conn.closed().await
        });
        let client = client().await;
        let conn = client.connect(addr).await.expect("connect");
        let packets = conn.stats().expect("stats").packets_sent;
        let cpu = cpu_time::ProcessTime::now();
        let wall = Instant::now();
        async_io::Timer::after(IDLE).await;
        let used = cpu.elapsed();
        let sent = conn.stats().expect("stats").packets_sent - packets;
        let wall = wall.elapsed();
        eprintln!("{exec:?}: idle second: {used:?} of CPU over {wall:?}, {sent} packets");
        // A spinning driver would burn a whole core; a sleeping one uses next to nothing.
        assert!(
            used < Duration::from_millis(200),
            "{used:?} of CPU while idle"
        );
        assert!(sent < 20, "{sent} packets sent by an idle connection");
        conn.close(VarInt::ZERO, b"done");
        let _ = serving.await;
    });
}

#[test]
fn idle_endpoints_do_not_spin() {
    // One executor after the other, in one test: the CPU measured is one run's.
    idle_second(Exec::Smol);
    idle_second(Exec::AsyncStd);
}
