//! tokio under weir's shared layer: the socket's registration, the timer, the task.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::Interest;
use weir_runtime::runtime::{Direction, Driver, DriverTimer, Runtime, UdpRegistration, UdpSockRef};

/// tokio as weir's shared layer runs on it: the socket registered with tokio's reactor, a
/// tokio `Sleep` as the driver's timer, the driver spawned as a task on the current runtime.
#[derive(Debug, Clone, Copy)]
pub struct Tokio;

impl Runtime for Tokio {
    type Socket = TokioSocket;
    type Timer = TokioTimer;

    fn register(socket: std::net::UdpSocket) -> io::Result<Self::Socket> {
        tokio::net::UdpSocket::from_std(socket).map(TokioSocket)
    }

    fn timer() -> Self::Timer {
        TokioTimer(Box::pin(tokio::time::sleep(std::time::Duration::ZERO)))
    }

    fn spawn(driver: Driver<Self>) -> io::Result<()> {
        // Detached: the endpoint learns of the driver's end through the shared state.
        drop(tokio::spawn(driver));
        Ok(())
    }
}

fn interest(direction: Direction) -> Interest {
    match direction {
        Direction::Read => Interest::READABLE,
        Direction::Write => Interest::WRITABLE,
    }
}

/// The endpoint's socket, registered with tokio's reactor.
#[derive(Debug)]
pub struct TokioSocket(tokio::net::UdpSocket);

impl UdpRegistration for TokioSocket {
    fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<()>> {
        match direction {
            Direction::Read => self.0.poll_recv_ready(cx),
            Direction::Write => self.0.poll_send_ready(cx),
        }
    }

    fn try_io<T>(
        &self,
        direction: Direction,
        op: impl FnOnce(UdpSockRef<'_>) -> io::Result<T>,
    ) -> io::Result<T> {
        // tokio forgets the readiness it cached when `op` would block.
        let socket = &self.0;
        socket.try_io(interest(direction), || op(socket.into()))
    }
}

/// The driver's timer: a tokio `Sleep`.
#[derive(Debug)]
pub struct TokioTimer(Pin<Box<tokio::time::Sleep>>);

impl DriverTimer for TokioTimer {
    fn reset(&mut self, at: Instant) {
        self.0.as_mut().reset(at.into());
    }

    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
