//! weir-tokio and weir-async-std (under smol's and async-std's executors) through the suite's
//! blocking surface. Both are weir-runtime's `Endpoint<R>`, so the glue is written once,
//! generic over the runtime `R` and the executor that runs the test's tasks.

use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use weir_runtime::runtime::Runtime;
use weir_runtime::{
    BindError, Config, ConnectError, Connection, ConnectionLost, Endpoint, SocketConfig, VarInt,
};

use crate::harness::{
    self, Adapter, Client, Conn, ConnectFailure, Ended, Outcomes, PatternCheck, Refusal, Server,
    Setup, SocketErrors,
};

/// Runs the suite's futures: the executor the application would use.
pub trait Executor: Send + Sync + 'static {
    /// Its name in failure messages.
    const NAME: &'static str;
    /// Runs `future` to its end on the calling thread.
    fn block_on<F: Future>(future: F) -> F::Output;
    /// Runs `task` in the background.
    fn spawn(task: impl Future<Output = ()> + Send + 'static);
}

/// A multi-threaded tokio runtime shared by the test binary (never dropped, so no task ever
/// drops it from inside).
pub struct TokioExec;

fn tokio_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

impl Executor for TokioExec {
    const NAME: &'static str = "weir-tokio";
    fn block_on<F: Future>(future: F) -> F::Output {
        tokio_runtime().block_on(future)
    }
    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        drop(tokio_runtime().spawn(task));
    }
}

/// smol's executor (the one async-std's users are moving to).
pub struct SmolExec;

impl Executor for SmolExec {
    const NAME: &'static str = "weir-async-std under smol";
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(task).detach();
    }
}

/// async-std's executor (discontinued, still supported).
pub struct AsyncStdExec;

impl Executor for AsyncStdExec {
    const NAME: &'static str = "weir-async-std under async-std";
    fn block_on<F: Future>(future: F) -> F::Output {
        async_std::task::block_on(future)
    }
    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        drop(async_std::task::spawn(task));
    }
}

/// `future`, or `None` after `within` (async-io's timer: it runs beside any executor).
async fn within<T>(within: Duration, future: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(future.await) }, async {
        async_io::Timer::after(within).await;
        None
    })
    .await
}

fn ended(lost: &ConnectionLost) -> Ended {
    match lost {
        ConnectionLost::Closed(error) => Ended::from_core(error),
        ConnectionLost::EndpointStopped => Ended::EndpointStopped,
    }
}

fn refusal(error: BindError) -> Refusal {
    match error {
        BindError::InsecureRefused => Refusal::InsecureRefused,
        BindError::Config(config) => Refusal::Config(config),
        BindError::Socket(_) => Refusal::Socket,
        other => Refusal::Other(other.to_string()),
    }
}

fn config(setup: &Setup, server: bool) -> Config {
    harness::adapter_config!(Config, SocketConfig, setup, server)
}

/// weir-runtime's endpoint on runtime `R`, its tasks on executor `E`.
pub struct RuntimeAdapter<R, E>(PhantomData<(R, E)>);

/// A server: the endpoint, and the outcomes its connection tasks record.
pub struct RtServer<R: Runtime, E> {
    endpoint: Endpoint<R>,
    outcomes: Arc<Outcomes>,
    _exec: PhantomData<E>,
}

/// Serves one connection: the conformance behaviour of [`harness::Server`].
async fn serve<E: Executor>(conn: Connection, outcomes: Arc<Outcomes>) {
    let echo = conn.clone();
    E::spawn(async move {
        while let Ok(message) = echo.read_datagram().await {
            if echo.send_datagram(message.data).is_err() {
                break;
            }
        }
    });
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        E::spawn(async move {
            let mut check = PatternCheck::default();
            while let Ok(Some(chunk)) = recv.read_chunk(64 * 1024).await {
                check.feed(&chunk);
            }
            if send.write_all(&check.answer()).await.is_ok() {
                let _ = send.finish();
            }
        });
    }
    outcomes.push(ended(&conn.closed().await));
}

impl<R: Runtime, E: Executor> Server for RtServer<R, E> {
    fn addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    fn wait_ended(&self, n: usize, within: Duration) -> Vec<Ended> {
        self.outcomes.wait(n, within)
    }

    fn connection_count(&self) -> usize {
        self.endpoint.connection_count()
    }

    fn shutdown(self, code: u64, grace: Duration) -> bool {
        E::block_on(self.endpoint.shutdown(
            VarInt::from_u64(code).expect("code"),
            b"shutdown",
            grace,
        ))
    }
}

/// A client endpoint.
pub struct RtClient<R: Runtime, E> {
    endpoint: Endpoint<R>,
    _exec: PhantomData<E>,
}

impl<R: Runtime, E: Executor> Client for RtClient<R, E> {
    type Conn = RtConn<E>;

    fn connect(&self, to: SocketAddr) -> Result<RtConn<E>, ConnectFailure> {
        let connected = E::block_on(within(harness::BOUND, self.endpoint.connect(to)))
            .ok_or_else(|| ConnectFailure::Handshake(Ended::Other("no answer".into())))?;
        match connected {
            Ok(conn) => Ok(RtConn {
                conn,
                _exec: PhantomData,
            }),
            Err(ConnectError::Handshake(lost)) => Err(ConnectFailure::Handshake(ended(&lost))),
            Err(ConnectError::AddressFamily { .. }) => {
                Err(ConnectFailure::Refused(Refusal::AddressFamily))
            }
            Err(ConnectError::Refused(_) | ConnectError::EndpointClosed) => {
                Err(ConnectFailure::Refused(Refusal::CannotConnect))
            }
            Err(other) => Err(ConnectFailure::Refused(Refusal::Other(other.to_string()))),
        }
    }

    fn connection_count(&self) -> usize {
        self.endpoint.connection_count()
    }

    fn socket_errors(&self) -> SocketErrors {
        let stats = self.endpoint.socket_stats();
        SocketErrors {
            refused: stats.connection_refused,
            too_large: stats.message_too_large,
        }
    }

    fn shutdown(self, grace: Duration) -> bool {
        E::block_on(self.endpoint.shutdown(VarInt::ZERO, b"", grace))
    }
}

/// A client connection.
pub struct RtConn<E> {
    conn: Connection,
    _exec: PhantomData<E>,
}

impl<E: Executor> Conn for RtConn<E> {
    fn upload(&self, seed: u64, len: u64) -> Result<u64, Ended> {
        E::block_on(async {
            let lost = |e: &dyn std::fmt::Display| Ended::Other(e.to_string());
            let (mut send, mut recv) = self.conn.open_bi(0).await.map_err(|e| ended(&e))?;
            for chunk in harness::upload_chunks(seed, len, 64 * 1024) {
                send.write_chunk(chunk).await.map_err(|e| lost(&e))?;
            }
            send.finish().map_err(|e| lost(&e))?;
            let answer = recv.read_to_end(8).await.map_err(|e| lost(&e))?;
            let answer = <[u8; 8]>::try_from(&answer[..]).map_err(|_| lost(&"short answer"))?;
            Ok(u64::from_be_bytes(answer))
        })
    }

    fn send_datagram(&self, data: Bytes) -> Result<(), Ended> {
        self.conn
            .send_datagram(data)
            .map_err(|e| Ended::Other(e.to_string()))
    }

    fn recv_datagram(&self, wait: Duration) -> Option<Bytes> {
        E::block_on(within(wait, self.conn.read_datagram()))
            .and_then(Result::ok)
            .map(|message| message.data)
    }

    fn close(&self, code: u64, reason: &[u8]) {
        self.conn
            .close(VarInt::from_u64(code).expect("code"), reason);
    }

    fn abandon(self, seed: u64, len: u64) {
        E::block_on(async {
            let (mut send, _recv) = self.conn.open_bi(0).await.expect("open");
            for chunk in harness::upload_chunks(seed, len, 64 * 1024) {
                send.write_chunk(chunk).await.expect("write");
            }
        });
        // The streams are gone; the connection goes with `self`.
    }

    fn closed(&self, wait: Duration) -> Option<Ended> {
        E::block_on(within(wait, self.conn.closed())).map(|lost| ended(&lost))
    }
}

impl<R: Runtime, E: Executor> Adapter for RuntimeAdapter<R, E> {
    const NAME: &'static str = E::NAME;
    type Server = RtServer<R, E>;
    type Client = RtClient<R, E>;

    fn server(setup: Setup) -> Result<Self::Server, Refusal> {
        let endpoint = E::block_on(Endpoint::<R>::bind(
            harness::loopback(),
            config(&setup, true),
        ))
        .map_err(refusal)?;
        let outcomes = Arc::new(Outcomes::default());
        let accepting = endpoint.clone();
        let recorded = outcomes.clone();
        E::spawn(async move {
            while let Some(conn) = accepting.accept().await {
                E::spawn(serve::<E>(conn, recorded.clone()));
            }
        });
        Ok(RtServer {
            endpoint,
            outcomes,
            _exec: PhantomData,
        })
    }

    fn client(setup: Setup) -> Result<Self::Client, Refusal> {
        let endpoint = E::block_on(Endpoint::<R>::bind(
            harness::loopback(),
            config(&setup, false),
        ))
        .map_err(refusal)?;
        Ok(RtClient {
            endpoint,
            _exec: PhantomData,
        })
    }
}
