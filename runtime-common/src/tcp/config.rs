//! Tuning of the TCP transport's sockets (DESIGN.md §7): `TCP_NODELAY`, keep-alive timing,
//! buffers of 2 × BDP and the congestion-control algorithm, all through socket2 (no `unsafe`).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use crate::config::bdp_bytes;

/// Where Linux lists the congestion-control algorithms it has.
const AVAILABLE_CC: &str = "/proc/sys/net/ipv4/tcp_available_congestion_control";

/// Options of a TCP socket. Buffers are 2 × the expected BDP unless given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// Disable Nagle's algorithm (games want every small write sent at once).
    pub nodelay: bool,
    /// Idle time before the first keep-alive probe; `None` leaves keep-alive off.
    pub keepalive_idle: Option<Duration>,
    /// Time between keep-alive probes (with `keepalive_idle`).
    pub keepalive_interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (with `keepalive_idle`).
    pub keepalive_probes: Option<u32>,
    /// Rate of the path the socket expects, in bits per second.
    pub expected_rate_bps: u64,
    /// Round-trip time of the path the socket expects.
    pub expected_rtt: Duration,
    /// Send buffer size, overriding 2 × BDP.
    pub send_buffer: Option<usize>,
    /// Receive buffer size, overriding 2 × BDP.
    pub recv_buffer: Option<usize>,
    /// The congestion-control algorithm (`TCP_CONGESTION`, Linux), e.g. `"bbr"` or `"cubic"`;
    /// `None` keeps the system's default.
    pub congestion: Option<String>,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            nodelay: true,
            keepalive_idle: Some(Duration::from_secs(10)),
            keepalive_interval: Some(Duration::from_secs(2)),
            keepalive_probes: Some(5),
            expected_rate_bps: 100_000_000,
            expected_rtt: Duration::from_millis(50),
            send_buffer: None,
            recv_buffer: None,
            congestion: None,
        }
    }
}

/// Why TCP options could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TcpConfigError {
    /// A buffer size, rate, RTT, keep-alive value or limit of zero.
    #[error("{0} must not be zero")]
    Zero(&'static str),
    /// A link's record buffer that cannot hold one record of the largest datagram.
    #[error("tcp.max_buffered {0} cannot hold one record of the largest datagram (65 537 bytes)")]
    BufferTooSmall(usize),
    /// The kernel has no congestion-control algorithm of that name.
    #[error(
        "TCP congestion control `{requested}` is not available; available: {}",
        available.join(", ")
    )]
    UnknownCongestion {
        /// The name asked for.
        requested: String,
        /// The algorithms the kernel has.
        available: Vec<String>,
    },
    /// The platform has no `TCP_CONGESTION`.
    #[error("choosing the TCP congestion control is not supported on this platform")]
    CongestionUnsupported,
    /// The operating system refused an option.
    #[error("cannot set {option}: {source}")]
    Io {
        /// The option.
        option: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// The options of a socket as the kernel reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSettings {
    /// `TCP_NODELAY`.
    pub nodelay: bool,
    /// `SO_KEEPALIVE`.
    pub keepalive: bool,
    /// `TCP_KEEPIDLE`.
    pub keepalive_idle: Duration,
    /// `TCP_KEEPINTVL`.
    pub keepalive_interval: Duration,
    /// `TCP_KEEPCNT`.
    pub keepalive_probes: u32,
    /// `SO_SNDBUF` (Linux reports twice the request).
    pub send_buffer: usize,
    /// `SO_RCVBUF` (Linux reports twice the request).
    pub recv_buffer: usize,
    /// `TCP_CONGESTION`, where the platform has it.
    pub congestion: Option<String>,
}

fn io_err(option: &'static str) -> impl Fn(io::Error) -> TcpConfigError {
    move |source| TcpConfigError::Io { option, source }
}

impl TcpConfig {
    /// Checks every value (the congestion algorithm is checked when applied).
    pub fn validate(&self) -> Result<(), TcpConfigError> {
        if self.expected_rate_bps == 0 {
            return Err(TcpConfigError::Zero("expected_rate_bps"));
        }
        if self.expected_rtt.is_zero() {
            return Err(TcpConfigError::Zero("expected_rtt"));
        }
        if self.send_buffer == Some(0) {
            return Err(TcpConfigError::Zero("send_buffer"));
        }
        if self.recv_buffer == Some(0) {
            return Err(TcpConfigError::Zero("recv_buffer"));
        }
        if self.keepalive_interval.is_some_and(|d| d.is_zero())
            || self.keepalive_idle.is_some_and(|d| d.is_zero())
        {
            return Err(TcpConfigError::Zero("keep-alive time"));
        }
        if self.keepalive_probes == Some(0) {
            return Err(TcpConfigError::Zero("keepalive_probes"));
        }
        Ok(())
    }

    /// 2 × the expected BDP: the buffer size used unless one is given.
    pub fn bdp_buffer(&self) -> usize {
        bdp_bytes(self.expected_rate_bps, self.expected_rtt).saturating_mul(2)
    }

    /// Applies the options to a socket. Buffers must be sized before `connect`/`listen` for
    /// the window scale to account for them; [`connect_std`](Self::connect_std) and
    /// [`listen_std`](Self::listen_std) do so.
    pub fn apply(&self, socket: SockRef<'_>) -> Result<(), TcpConfigError> {
        self.validate()?;
        socket
            .set_tcp_nodelay(self.nodelay)
            .map_err(io_err("TCP_NODELAY"))?;
        if let Some(idle) = self.keepalive_idle {
            let mut keepalive = TcpKeepalive::new().with_time(idle);
            if let Some(interval) = self.keepalive_interval {
                keepalive = keepalive.with_interval(interval);
            }
            #[cfg(not(any(target_os = "openbsd", target_os = "redox", target_os = "solaris")))]
            if let Some(probes) = self.keepalive_probes {
                keepalive = keepalive.with_retries(probes);
            }
            socket
                .set_tcp_keepalive(&keepalive)
                .map_err(io_err("TCP keep-alive"))?;
        }
        socket
            .set_send_buffer_size(self.send_buffer.unwrap_or_else(|| self.bdp_buffer()))
            .map_err(io_err("SO_SNDBUF"))?;
        socket
            .set_recv_buffer_size(self.recv_buffer.unwrap_or_else(|| self.bdp_buffer()))
            .map_err(io_err("SO_RCVBUF"))?;
        if let Some(name) = &self.congestion {
            set_congestion(&socket, name)?;
        }
        Ok(())
    }

    /// A non-blocking socket to `addr` with the options applied and its connect started (the
    /// options come before the handshake so that the window scale accounts for the buffers):
    /// it becomes writable once the connect completed or failed.
    pub fn connect_std(&self, addr: SocketAddr) -> Result<std::net::TcpStream, TcpConfigError> {
        let socket = self.socket(addr)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || in_progress(&e) => {}
            Err(source) => {
                return Err(TcpConfigError::Io {
                    option: "connect",
                    source,
                });
            }
        }
        Ok(socket.into())
    }

    /// A non-blocking socket listening on `addr`; accepted sockets inherit the options (Linux
    /// copies them from the listener), and [`apply`](Self::apply) can be called on them to be
    /// sure elsewhere.
    pub fn listen_std(&self, addr: SocketAddr) -> Result<std::net::TcpListener, TcpConfigError> {
        let socket = self.socket(addr)?;
        socket
            .set_reuse_address(true)
            .map_err(io_err("SO_REUSEADDR"))?;
        socket.bind(&addr.into()).map_err(io_err("bind"))?;
        socket.listen(1024).map_err(io_err("listen"))?;
        Ok(socket.into())
    }

    fn socket(&self, addr: SocketAddr) -> Result<Socket, TcpConfigError> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(io_err("socket"))?;
        self.apply(SockRef::from(&socket))?;
        socket.set_nonblocking(true).map_err(io_err("O_NONBLOCK"))?;
        Ok(socket)
    }
}

/// Reads a TCP socket's options back from the kernel.
pub fn read_settings(socket: SockRef<'_>) -> io::Result<TcpSettings> {
    Ok(TcpSettings {
        nodelay: socket.tcp_nodelay()?,
        keepalive: socket.keepalive()?,
        keepalive_idle: socket.tcp_keepalive_time()?,
        keepalive_interval: socket.tcp_keepalive_interval()?,
        keepalive_probes: socket.tcp_keepalive_retries()?,
        send_buffer: socket.send_buffer_size()?,
        recv_buffer: socket.recv_buffer_size()?,
        congestion: congestion(&socket),
    })
}

/// The congestion-control algorithms the kernel has (Linux; empty elsewhere or if unreadable).
pub fn available_congestion_controls() -> Vec<String> {
    std::fs::read_to_string(AVAILABLE_CC)
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A non-blocking connect that has started (`EINPROGRESS` on Unix).
fn in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::EINPROGRESS)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
fn set_congestion(socket: &SockRef<'_>, name: &str) -> Result<(), TcpConfigError> {
    let available = available_congestion_controls();
    let unknown = || TcpConfigError::UnknownCongestion {
        requested: name.to_owned(),
        available: available.clone(),
    };
    if !available.is_empty() && !available.iter().any(|a| a == name) {
        return Err(unknown());
    }
    match socket.set_tcp_congestion(name.as_bytes()) {
        Ok(()) => Ok(()),
        // ENOENT: no such algorithm (the list may have been unreadable).
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(unknown()),
        Err(source) => Err(TcpConfigError::Io {
            option: "TCP_CONGESTION",
            source,
        }),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
fn set_congestion(_socket: &SockRef<'_>, _name: &str) -> Result<(), TcpConfigError> {
    Err(TcpConfigError::CongestionUnsupported)
}

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
fn congestion(socket: &SockRef<'_>) -> Option<String> {
    let name = socket.tcp_congestion().ok()?;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Some(String::from_utf8_lossy(&name[..end]).into_owned())
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
fn congestion(_socket: &SockRef<'_>) -> Option<String> {
    None
}
