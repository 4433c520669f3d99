//! The endpoint's UDP socket: created and tuned with socket2, wrapped as a [`mio`] socket,
//! read with batched receives (GRO) and written with segmented sends (GSO) through quinn-udp,
//! and the error policy (count, log, carry on).
//!
//! Nothing here blocks: every call returns at `WouldBlock`, which the caller turns into
//! interest in the next readiness event.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV6};

use bytes::BytesMut;
use quinn_udp::{RecvMeta, UdpSocketState};
use socket2::{Domain, Protocol, Socket, Type};
use weir_core::EcnCodepoint;

use crate::config::SocketConfig;
use crate::error::{BindError, SocketConfigError};
use crate::txqueue::TxQueue;

/// Largest UDP payload, and so the size of each receive buffer: a GRO batch never exceeds it.
const RX_CHUNK: usize = u16::MAX as usize;
/// Receive buffers per `recvmmsg` call.
const RX_BATCH: usize = if quinn_udp::BATCH_SIZE < 8 {
    quinn_udp::BATCH_SIZE
} else {
    8
};

/// What the socket is, as the kernel set it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketInfo {
    /// The address the socket is bound to.
    pub local_addr: SocketAddr,
    /// Send buffer in bytes as the kernel reports it (Linux doubles the request).
    pub send_buffer: usize,
    /// Receive buffer in bytes as the kernel reports it.
    pub recv_buffer: usize,
    /// Datagrams one send may carry (1 without GSO).
    pub max_gso_segments: usize,
    /// Datagrams one receive may coalesce (1 without GRO).
    pub gro_segments: usize,
    /// Whether an IPv6 socket also carries IPv4 (`IPV6_V6ONLY` off); `false` for IPv4.
    pub dual_stack: bool,
    /// Whether the operating system may fragment the datagrams sent (it cannot be told to set
    /// the don't-fragment bit): path MTU discovery is then off on this endpoint.
    pub may_fragment: bool,
}

/// What the socket did, including the errors it survived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Datagrams handed to the kernel.
    pub datagrams_sent: u64,
    /// Send system calls that carried more than one datagram (GSO).
    pub gso_sends: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Receives that delivered more than one datagram (GRO).
    pub gro_receives: u64,
    /// Sends that found the kernel's buffer full (the datagrams waited for a writable event).
    pub send_would_block: u64,
    /// `ECONNREFUSED` (an ICMP port unreachable for an earlier datagram).
    pub connection_refused: u64,
    /// `EMSGSIZE`: a datagram larger than the path or interface allows was dropped.
    pub message_too_large: u64,
    /// `ENOBUFS`: the kernel had no buffer for a datagram, which was dropped.
    pub no_buffer_space: u64,
    /// Other send errors (the datagrams were dropped; recovery resends their data).
    pub other_send_errors: u64,
    /// Other receive errors.
    pub other_recv_errors: u64,
}

impl SocketStats {
    /// Counts a socket error and logs it: loudly the first time of each kind, quietly after.
    fn record(&mut self, error: &io::Error, sending: bool) {
        let (counter, what) = if error.kind() == io::ErrorKind::ConnectionRefused {
            (
                &mut self.connection_refused,
                "connection refused (ICMP port unreachable)",
            )
        } else if error.raw_os_error() == Some(EMSGSIZE) {
            (&mut self.message_too_large, "datagram too large (EMSGSIZE)")
        } else if error.raw_os_error() == Some(ENOBUFS) {
            (&mut self.no_buffer_space, "no buffer space (ENOBUFS)")
        } else if sending {
            (&mut self.other_send_errors, "send error")
        } else {
            (&mut self.other_recv_errors, "receive error")
        };
        *counter += 1;
        if *counter == 1 {
            tracing::warn!(%error, "UDP socket: {what}; counted and ignored from now on");
        } else {
            tracing::debug!(%error, "UDP socket: {what}");
        }
    }
}

#[cfg(unix)]
const EMSGSIZE: i32 = libc::EMSGSIZE;
#[cfg(unix)]
const ENOBUFS: i32 = libc::ENOBUFS;
#[cfg(not(unix))]
const EMSGSIZE: i32 = 10040; // WSAEMSGSIZE
#[cfg(not(unix))]
const ENOBUFS: i32 = 10055; // WSAENOBUFS

/// A UDP socket bound to `addr` and tuned per `config`, in non-blocking mode.
pub(crate) fn bind_std(
    addr: SocketAddr,
    config: &SocketConfig,
) -> Result<std::net::UdpSocket, BindError> {
    config.validate()?;
    let io = |op| move |source| BindError::Io { op, addr, source };
    if addr.is_ipv4() && config.only_v6 == Some(true) {
        return Err(SocketConfigError::OnlyV6OnIpv4(addr).into());
    }
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(io("create"))?;
    if addr.is_ipv6() {
        let only_v6 = config
            .only_v6
            .or_else(|| addr.ip().is_unspecified().then_some(false));
        if let Some(only_v6) = only_v6 {
            socket
                .set_only_v6(only_v6)
                .map_err(io("set IPV6_V6ONLY on"))?;
        }
    }
    let (send, recv) = (config.send_buffer_size(), config.recv_buffer_size());
    socket
        .set_send_buffer_size(send)
        .map_err(io("set SO_SNDBUF on"))?;
    socket
        .set_recv_buffer_size(recv)
        .map_err(io("set SO_RCVBUF on"))?;
    socket.bind(&addr.into()).map_err(io("bind"))?;
    socket.set_nonblocking(true).map_err(io("configure"))?;
    if let (Ok(s), Ok(r)) = (socket.send_buffer_size(), socket.recv_buffer_size())
        && (s < send || r < recv)
    {
        tracing::warn!(
            asked_send = send,
            asked_recv = recv,
            send = s,
            recv = r,
            "the kernel capped the UDP socket buffers (raise net.core.wmem_max / rmem_max)"
        );
    }
    Ok(socket.into())
}

/// How a receive pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// The socket returned `WouldBlock`: it is drained, and (edge-triggered) the next readable
    /// event will say when it holds more.
    Drained,
    /// The budget of system calls ran out first: the socket may hold more.
    Budget,
}

/// How a send pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Everything queued went to the kernel (or was dropped on an error and counted).
    All,
    /// The kernel's buffer is full: the rest waits for a writable event.
    WouldBlock,
}

/// The socket as the endpoint uses it.
pub(crate) struct UdpIo {
    pub(crate) socket: mio::net::UdpSocket,
    state: UdpSocketState,
    ipv6: bool,
    gso: bool,
    rx_buf: Box<[u8]>,
    rx_meta: [RecvMeta; RX_BATCH],
    pub(crate) stats: SocketStats,
}

impl UdpIo {
    /// Wraps a socket made by [`bind_std`].
    pub(crate) fn new(
        socket: std::net::UdpSocket,
        config: &SocketConfig,
    ) -> io::Result<(Self, SocketInfo)> {
        let state = UdpSocketState::new((&socket).into())?;
        let local_addr = socket.local_addr()?;
        let sock_ref = socket2::SockRef::from(&socket);
        let info = SocketInfo {
            local_addr,
            send_buffer: sock_ref.send_buffer_size()?,
            recv_buffer: sock_ref.recv_buffer_size()?,
            max_gso_segments: if config.gso {
                state.max_gso_segments()
            } else {
                1
            },
            gro_segments: state.gro_segments(),
            dual_stack: local_addr.is_ipv6() && !sock_ref.only_v6()?,
            may_fragment: state.may_fragment(),
        };
        Ok((
            Self {
                socket: mio::net::UdpSocket::from_std(socket),
                state,
                ipv6: local_addr.is_ipv6(),
                gso: config.gso,
                rx_buf: vec![0; RX_CHUNK * RX_BATCH].into_boxed_slice(),
                rx_meta: [RecvMeta::default(); RX_BATCH],
                stats: SocketStats::default(),
            },
            info,
        ))
    }

    /// Datagrams one send may carry now (GSO can be switched off at run time on failure).
    pub(crate) fn max_segments(&self) -> usize {
        if self.gso {
            self.state.max_gso_segments().max(1)
        } else {
            1
        }
    }

    /// Receives what the socket holds, with at most `calls` system calls, handing each datagram
    /// to `deliver` with its ECN codepoint (GRO batches are split into their datagrams).
    pub(crate) fn recv(
        &mut self,
        calls: usize,
        mut deliver: impl FnMut(SocketAddr, Option<EcnCodepoint>, BytesMut),
    ) -> Received {
        for _ in 0..calls {
            let result = {
                let mut chunks = self.rx_buf.chunks_mut(RX_CHUNK);
                let mut iovs: [IoSliceMut<'_>; RX_BATCH] =
                    std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
                self.state
                    .recv((&self.socket).into(), &mut iovs, &mut self.rx_meta)
            };
            match result {
                Ok(n) => {
                    for (i, meta) in self.rx_meta.iter().take(n).enumerate() {
                        let start = i * RX_CHUNK;
                        let Some(data) = self.rx_buf.get(start..start + meta.len) else {
                            continue;
                        };
                        let from = canonical(meta.addr);
                        // quinn-udp reads the TOS / traffic-class byte; every segment of a GRO
                        // batch carried the same.
                        let ecn = meta.ecn.and_then(|e| EcnCodepoint::from_bits(e as u8));
                        // One copy per receive (not per datagram): the core keeps slices of it.
                        let mut whole = BytesMut::from(data);
                        let stride = meta.stride.max(1);
                        if whole.len() > stride {
                            self.stats.gro_receives += 1;
                        }
                        while whole.len() > stride {
                            self.stats.datagrams_received += 1;
                            deliver(from, ecn, whole.split_to(stride));
                        }
                        self.stats.datagrams_received += 1;
                        deliver(from, ecn, whole);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Received::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // An ICMP error queued on the socket, and the like: counted, and the next call
                // reads on (each call counts against the budget, so this cannot spin).
                Err(e) => self.stats.record(&e, false),
            }
        }
        Received::Budget
    }

    /// Sends the queued batches until the queue is empty or the kernel's buffer is full.
    /// Errors other than "would block" drop the batch (the core's loss recovery resends its
    /// data) and are counted.
    pub(crate) fn send(&mut self, queue: &mut TxQueue) -> Sent {
        while let Some(batch) = queue.front() {
            let transmit = quinn_udp::Transmit {
                destination: self.destination(batch.destination),
                ecn: batch
                    .ecn
                    .and_then(|e| quinn_udp::EcnCodepoint::from_bits(e.bits())),
                contents: batch.contents,
                segment_size: (batch.segments > 1).then_some(batch.segment_size),
                src_ip: None,
            };
            let segments = batch.segments;
            match self.state.try_send((&self.socket).into(), &transmit) {
                Ok(()) => {
                    self.stats.datagrams_sent += segments as u64;
                    if segments > 1 {
                        self.stats.gso_sends += 1;
                    }
                    queue.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.send_would_block += 1;
                    return Sent::WouldBlock;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if segments > 1 && self.state.max_gso_segments() <= 1 => {
                    // quinn-udp found that the kernel or the device cannot segment: send the
                    // batch's datagrams one by one (and never batch again).
                    tracing::info!(error = %e, "GSO send failed; falling back to one datagram per send");
                    self.gso = false;
                    queue.split_front();
                }
                Err(e) => {
                    self.stats.record(&e, true);
                    queue.pop_front();
                }
            }
        }
        Sent::All
    }

    /// An IPv4 destination from an IPv6 (dual-stack) socket goes to its IPv4-mapped address.
    fn destination(&self, to: SocketAddr) -> SocketAddr {
        match to {
            SocketAddr::V4(v4) if self.ipv6 => {
                SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0).into()
            }
            other => other,
        }
    }
}

/// IPv4-mapped IPv6 source addresses (from a dual-stack socket) as plain IPv4 ones, so that the
/// core sees one address per peer whichever way it was reached.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_are_canonical() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:9".parse().expect("literal");
        assert_eq!(canonical(mapped), "127.0.0.1:9".parse().expect("literal"));
        let v6: SocketAddr = "[::1]:9".parse().expect("literal");
        assert_eq!(canonical(v6), v6);
    }
}
