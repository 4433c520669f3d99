//! The rendezvous service on a tokio UDP socket (`weir rendezvous --listen ADDR`): the core's
//! [`RendezvousServer`] driven by a socket and a timer. See [`weir_core::rendezvous`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;
use weir_core::rendezvous::{RendezvousServer, ServerConfig, ServerConfigError, ServerStats};

/// The largest datagram read: a relayed weir datagram and its header.
const MAX_DATAGRAM: usize = 65_536;

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RendezvousServiceError {
    /// The configuration is invalid.
    #[error("invalid rendezvous configuration: {0}")]
    Config(#[from] ServerConfigError),
    /// The socket failed.
    #[error("rendezvous socket: {0}")]
    Io(#[from] io::Error),
}

/// A rendezvous service bound to a UDP socket.
#[derive(Debug)]
pub struct RendezvousService {
    socket: UdpSocket,
    server: RendezvousServer,
}

impl RendezvousService {
    /// Binds the service to `addr` with `config`.
    pub async fn bind(
        addr: SocketAddr,
        config: ServerConfig,
    ) -> Result<Self, RendezvousServiceError> {
        let server = RendezvousServer::new(config)?;
        let socket = UdpSocket::bind(addr).await?;
        Ok(Self { socket, server })
    }

    /// The address peers register with.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Serves until `stop` completes, calling `status` with the counters every `every` if
    /// given; returns the final counters. A failed send (a peer gone, ICMP unreachable) is the
    /// peer's loss, not the service's.
    pub async fn run_until(
        mut self,
        stop: impl Future<Output = ()>,
        every: Option<std::time::Duration>,
        mut status: impl FnMut(ServerStats),
    ) -> Result<ServerStats, RendezvousServiceError> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut stop = std::pin::pin!(stop);
        let mut tick = every.map(tokio::time::interval);
        loop {
            let deadline = self.server.poll_timeout();
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let status_tick = async {
                match &mut tick {
                    Some(tick) => {
                        tick.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => break,
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((n, from)) => self.server.handle(Instant::now(), from, &buf[..n]),
                    // ICMP errors for earlier sends surface here on some systems.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset
                        || e.kind() == io::ErrorKind::ConnectionRefused => {}
                    Err(e) => return Err(e.into()),
                },
                () = timer => self.server.handle_timeout(Instant::now()),
                () = status_tick => status(self.server.stats()),
            }
            while let Some((to, datagram)) = self.server.poll_transmit() {
                let _ = self.socket.send_to(&datagram, to).await;
            }
        }
        Ok(self.server.stats())
    }
}
