//! The TCP transport's socket tuning ([`TcpConfig`], shared with every adapter) on tokio's
//! sockets, for applications that open TCP sockets of their own with the same options.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use weir_runtime::tcp::{TcpConfig, TcpConfigError};

/// [`TcpConfig`]'s sockets as tokio's.
pub trait TokioTcpConfig {
    /// Connects to `addr` with the options applied before the handshake.
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = Result<TcpStream, TcpConfigError>> + Send;

    /// Listens on `addr` (see [`TcpConfig::listen_std`]).
    fn listen(&self, addr: SocketAddr) -> Result<TcpListener, TcpConfigError>;
}

impl TokioTcpConfig for TcpConfig {
    async fn connect(&self, addr: SocketAddr) -> Result<TcpStream, TcpConfigError> {
        let io = |source| TcpConfigError::Io {
            option: "connect",
            source,
        };
        // The connect is under way: the stream becomes writable when it completed or failed.
        let stream = TcpStream::from_std(self.connect_std(addr)?).map_err(io)?;
        stream.writable().await.map_err(io)?;
        match stream.take_error() {
            Ok(None) => stream.peer_addr().map(|_| stream).map_err(io),
            Ok(Some(source)) | Err(source) => Err(io(source)),
        }
    }

    fn listen(&self, addr: SocketAddr) -> Result<TcpListener, TcpConfigError> {
        TcpListener::from_std(self.listen_std(addr)?).map_err(|source| TcpConfigError::Io {
            option: "register",
            source,
        })
    }
}
