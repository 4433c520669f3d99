//! tokio under weir's shared layer: the socket's registration, the timer, the task.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use std::net::SocketAddr;
use tokio::io::Interest;

use weir_runtime::runtime::{
    Direction, Driver, DriverTimer, Runtime, SockRef, TcpListenerRegistration, TcpRegistration,
    UdpRegistration, UdpSockRef,
};

/// tokio as weir's shared layer runs on it: the socket registered with tokio's reactor, a
/// tokio `Sleep` as the driver's timer, the driver spawned as a task on the current runtime.
#[derive(Debug, Clone, Copy)]
pub struct Tokio;

impl Runtime for Tokio {
    type Socket = TokioSocket;
    type Timer = TokioTimer;
    type TcpStream = TokioTcp;
    type TcpListener = TokioTcpListener;

    fn register(socket: std::net::UdpSocket) -> io::Result<Self::Socket> {
        tokio::net::UdpSocket::from_std(socket).map(TokioSocket)
    }

    fn register_tcp(stream: std::net::TcpStream) -> io::Result<Self::TcpStream> {
        tokio::net::TcpStream::from_std(stream).map(TokioTcp)
    }

    fn register_tcp_listener(listener: std::net::TcpListener) -> io::Result<Self::TcpListener> {
        tokio::net::TcpListener::from_std(listener).map(TokioTcpListener)
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

/// A TCP link's stream, registered with tokio's reactor.
#[derive(Debug)]
pub struct TokioTcp(tokio::net::TcpStream);

impl TcpRegistration for TokioTcp {
    fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<()>> {
        match direction {
            Direction::Read => self.0.poll_read_ready(cx),
            Direction::Write => self.0.poll_write_ready(cx),
        }
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn socket(&self) -> SockRef<'_> {
        SockRef::from(&self.0)
    }
}

/// The TCP transport's listening socket, registered with tokio's reactor.
#[derive(Debug)]
pub struct TokioTcpListener(tokio::net::TcpListener);

impl TcpListenerRegistration for TokioTcpListener {
    type Stream = TokioTcp;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TokioTcp, SocketAddr)>> {
        self.0
            .poll_accept(cx)
            .map(|accepted| accepted.map(|(stream, peer)| (TokioTcp(stream), peer)))
    }
}
