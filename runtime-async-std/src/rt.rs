//! async-io under weir's shared layer: the socket's registration with async-io's reactor, an
//! async-io timer, and the driver's thread.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::{Async, Timer};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use weir_runtime::runtime::{
    Direction, Driver, DriverTimer, Runtime, SockRef, TcpListenerRegistration, TcpRegistration,
    UdpRegistration, UdpSockRef,
};

/// async-io as weir's shared layer runs on it (smol's and async-std's reactor): the socket
/// registered with async-io's reactor, an async-io [`Timer`], the driver on a thread of its
/// own under [`async_io::block_on`].
#[derive(Debug, Clone, Copy)]
pub struct AsyncIo;

impl Runtime for AsyncIo {
    type Socket = AsyncIoSocket;
    type Timer = AsyncIoTimer;
    type TcpStream = AsyncIoTcp;
    type TcpListener = AsyncIoTcpListener;

    fn register(socket: std::net::UdpSocket) -> io::Result<Self::Socket> {
        Async::new(socket).map(AsyncIoSocket)
    }

    fn register_tcp(stream: TcpStream) -> io::Result<Self::TcpStream> {
        Async::new(stream).map(AsyncIoTcp)
    }

    fn register_tcp_listener(listener: TcpListener) -> io::Result<Self::TcpListener> {
        Async::new(listener).map(AsyncIoTcpListener)
    }

    fn timer() -> Self::Timer {
        AsyncIoTimer {
            timer: Timer::never(),
            at: None,
        }
    }

    fn spawn(driver: Driver<Self>) -> io::Result<()> {
        // Detached: the endpoint learns of the driver's end through the shared state, and the
        // thread ends with the driver.
        std::thread::Builder::new()
            .name("weir-driver".into())
            .spawn(move || async_io::block_on(driver))
            .map(drop)
    }
}

/// The endpoint's socket, registered with async-io's reactor.
#[derive(Debug)]
pub struct AsyncIoSocket(Async<std::net::UdpSocket>);

impl UdpRegistration for AsyncIoSocket {
    /// async-io reports an event once: the driver asks only after an operation would have
    /// blocked, and the reactor's level-triggered interest then fires at once if the socket
    /// became ready meanwhile.
    fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<()>> {
        match direction {
            Direction::Read => self.0.poll_readable(cx),
            Direction::Write => self.0.poll_writable(cx),
        }
    }

    fn try_io<T>(
        &self,
        _direction: Direction,
        op: impl FnOnce(UdpSockRef<'_>) -> io::Result<T>,
    ) -> io::Result<T> {
        op(self.0.get_ref().into())
    }
}

/// The driver's timer: an async-io [`Timer`], with "elapsed" kept true after it fired (an
/// async-io timer fires once).
#[derive(Debug)]
pub struct AsyncIoTimer {
    timer: Timer,
    at: Option<Instant>,
}

impl DriverTimer for AsyncIoTimer {
    fn reset(&mut self, at: Instant) {
        self.at = Some(at);
        self.timer.set_at(at);
    }

    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.at {
            Some(at) if Instant::now() >= at => Poll::Ready(()),
            Some(_) => Pin::new(&mut self.timer).poll(cx).map(|_| ()),
            None => Poll::Pending,
        }
    }
}

/// A TCP link's stream, registered with async-io's reactor.
#[derive(Debug)]
pub struct AsyncIoTcp(Async<TcpStream>);

impl TcpRegistration for AsyncIoTcp {
    fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<()>> {
        match direction {
            Direction::Read => self.0.poll_readable(cx),
            Direction::Write => self.0.poll_writable(cx),
        }
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut self.0.get_ref()).read(buf)
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        (&mut self.0.get_ref()).write(buf)
    }

    fn socket(&self) -> SockRef<'_> {
        SockRef::from(self.0.get_ref())
    }
}

/// The TCP transport's listening socket, registered with async-io's reactor.
#[derive(Debug)]
pub struct AsyncIoTcpListener(Async<TcpListener>);

impl TcpListenerRegistration for AsyncIoTcpListener {
    type Stream = AsyncIoTcp;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(AsyncIoTcp, SocketAddr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, peer)) => {
                    return Poll::Ready(
                        stream
                            .set_nonblocking(true)
                            .and_then(|()| Async::new(stream))
                            .map(|stream| (AsyncIoTcp(stream), peer)),
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = std::task::ready!(self.0.poll_readable(cx)) {
                        return Poll::Ready(Err(e));
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
