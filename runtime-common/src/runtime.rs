//! What an adapter gives the shared layer: a UDP socket registered with its reactor, a timer,
//! and a way to run the driver (DESIGN.md §7: one drive loop, adapters are glue).
//!
//! The driver ([`Driver`]) is written once, here; it follows the core's driving rule and uses
//! quinn-udp for batched receives (GRO) and segmented sends (GSO) on the socket the adapter
//! registered, whatever the runtime. An adapter implements [`Runtime`] in a few dozen lines:
//!
//! - [`Runtime::register`] hands the bound std socket to the runtime's reactor, as a
//!   [`UdpRegistration`]: readiness ([`poll_ready`](UdpRegistration::poll_ready)) and a way to
//!   run one non-blocking operation and learn when the socket would block
//!   ([`try_io`](UdpRegistration::try_io));
//! - [`Runtime::timer`] makes the one timer the driver re-arms ([`DriverTimer`]);
//! - [`Runtime::spawn`] runs the [`Driver`] future until it ends (a task, a thread).
//!
//! The driver calls `try_io` first and asks for readiness only after an operation would have
//! blocked, so a runtime whose readiness is edge-triggered or one-shot (async-io) and one that
//! caches readiness (tokio) both cost one system call per batch while the socket has work.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Instant;

pub use crate::driver::Driver;
pub use crate::socket::bind_std;
/// The socket reference quinn-udp's batched I/O takes.
pub use quinn_udp::UdpSockRef;
/// A borrowed socket, for its options ([`TcpRegistration::socket`]).
pub use socket2::SockRef;

/// Which way an operation on the socket goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Receiving.
    Read,
    /// Sending.
    Write,
}

/// A runtime the shared layer can run on.
pub trait Runtime: Sized + Send + Sync + 'static {
    /// The socket as registered with the runtime's reactor.
    type Socket: UdpRegistration;
    /// The driver's timer.
    type Timer: DriverTimer;
    /// A TCP stream registered with the reactor (the TCP transport's links).
    type TcpStream: TcpRegistration;
    /// A listening TCP socket registered with the reactor.
    type TcpListener: TcpListenerRegistration<Stream = Self::TcpStream>;

    /// Registers a bound, non-blocking socket ([`bind_std`] makes one) with the reactor.
    fn register(socket: std::net::UdpSocket) -> io::Result<Self::Socket>;

    /// Registers a non-blocking TCP stream, connected or with its connect under way (it
    /// becomes writable when the connect completes or fails).
    fn register_tcp(stream: std::net::TcpStream) -> io::Result<Self::TcpStream>;

    /// Registers a non-blocking listening socket.
    fn register_tcp_listener(listener: std::net::TcpListener) -> io::Result<Self::TcpListener>;

    /// A timer, not armed yet.
    fn timer() -> Self::Timer;

    /// Runs `driver` to its end, detached: the endpoint learns of its end through the shared
    /// state, not through a handle.
    fn spawn(driver: Driver<Self>) -> io::Result<()>;
}

/// A UDP socket registered with a reactor.
pub trait UdpRegistration: Send + Unpin + 'static {
    /// `Ready` when the socket may be ready for `direction` (a later operation may still find
    /// it would block); `Pending` after registering the task to be woken when it is.
    fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<()>>;

    /// Runs one non-blocking operation `op` on the socket; an `Err` of kind `WouldBlock` means
    /// the socket was not ready (the runtime may then forget readiness it cached, and may
    /// return it without calling `op` at all when it knows the socket is not ready).
    fn try_io<T>(
        &self,
        direction: Direction,
        op: impl FnOnce(UdpSockRef<'_>) -> io::Result<T>,
    ) -> io::Result<T>;
}

/// The driver's one timer.
pub trait DriverTimer: Send + Unpin + 'static {
    /// Arms the timer for `at`, replacing the instant it was armed for.
    fn reset(&mut self, at: Instant);

    /// `Ready` once the instant the timer was last armed for has passed, on every poll from
    /// then on until the next [`reset`](Self::reset); otherwise `Pending`, after registering the
    /// task to be woken then. Only polled after a `reset`.
    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// A TCP stream registered with a reactor: readiness, and non-blocking reads and writes that
/// say `WouldBlock` when the stream is not ready (the runtime may then forget readiness it
/// cached).
pub trait TcpRegistration: Send + Unpin + 'static {
    /// `Ready` when the stream may be ready for `direction`; `Pending` after registering the
    /// task to be woken when it is.
    fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<()>>;
    /// Reads what the stream holds into `buf`; `Ok(0)` at its end.
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes what the stream takes of `buf`.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    /// The stream's socket, for its options and its pending error.
    fn socket(&self) -> SockRef<'_>;
}

/// A listening TCP socket registered with a reactor.
pub trait TcpListenerRegistration: Send + Unpin + 'static {
    /// The accepted streams, registered.
    type Stream: TcpRegistration;
    /// The next connection, registered, with its peer's address; `Pending` after registering
    /// the task to be woken when one comes.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, SocketAddr)>>;
}
