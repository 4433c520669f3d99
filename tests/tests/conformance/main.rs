//! One conformance suite for every runtime adapter: weir-tokio, weir-async-std (under smol's
//! and async-std's executors) and weir-mio pass the same tests, written once in `suite.rs`
//! against the blocking surface of `harness.rs`; each adapter's glue maps its API and typed
//! errors onto it.
//!
//! The suite: integrity (ten connections of ten megabytes, every byte checked), a clean close
//! and drain, a server shutdown, the idle timeout, unreliable messages, a killed peer's typed
//! error, an application that lets go of a connection mid-transfer, a connect to a port nobody
//! listens on, bad configurations refused with the same errors, and a transfer through
//! `weir proxy`'s link model. All over loopback, every wait bounded.

mod harness;
mod mio_adapter;
mod runtime_adapter;
mod suite;

use mio_adapter::MioAdapter;
use runtime_adapter::{AsyncStdExec, RuntimeAdapter, SmolExec, TokioExec};

type WeirTokio = RuntimeAdapter<weir_tokio::Tokio, TokioExec>;
type WeirSmol = RuntimeAdapter<weir_async_std::AsyncIo, SmolExec>;
type WeirAsyncStd = RuntimeAdapter<weir_async_std::AsyncIo, AsyncStdExec>;

/// Declares every test of the suite for each adapter, as `<adapter>::<test>`.
macro_rules! conformance {
    ($($module:ident => $adapter:ty),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[test]
            fn datagram_too_large() {
                suite::datagram_too_large::<$adapter>();
            }

            #[test]
            fn integrity() {
                suite::integrity::<$adapter>();
            }

            #[test]
            fn close_and_drain() {
                suite::close_and_drain::<$adapter>();
            }

            #[test]
            fn shutdown_closes_clients() {
                suite::shutdown_closes_clients::<$adapter>();
            }

            #[test]
            fn idle_timeout() {
                suite::idle_timeout::<$adapter>();
            }

            #[test]
            fn unreliable_messages() {
                suite::unreliable_messages::<$adapter>();
            }

            #[test]
            fn killed_peer() {
                suite::killed_peer::<$adapter>();
            }

            #[test]
            fn bad_configurations() {
                suite::bad_configurations::<$adapter>();
            }

            #[test]
            fn dropped_mid_transfer() {
                suite::dropped_mid_transfer::<$adapter>();
            }

            #[test]
            fn nobody_listening() {
                suite::nobody_listening::<$adapter>();
            }

            #[test]
            fn through_the_proxy() {
                suite::through_the_proxy::<$adapter>();
            }
        }
    )*};
}

conformance! {
    tokio => WeirTokio,
    smol => WeirSmol,
    async_std => WeirAsyncStd,
    mio => MioAdapter,
}
