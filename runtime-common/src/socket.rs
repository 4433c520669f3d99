//! The endpoint's UDP socket: creation and tuning with socket2, batched receive (GRO) and
//! segmented send (GSO) through quinn-udp, and the error policy (count, log, carry on).

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::BytesMut;
use quinn_udp::{RecvMeta, UdpSocketState};
use socket2::{Domain, Protocol, Socket, Type};
use weir_core::{EcnCodepoint, Transmit};

use crate::config::SocketConfig;
use crate::error::{BindError, SocketConfigError};
use crate::runtime::{Direction, UdpRegistration};

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

#[derive(Debug, Default)]
pub(crate) struct Counters {
    datagrams_sent: AtomicU64,
    gso_sends: AtomicU64,
    datagrams_received: AtomicU64,
    gro_receives: AtomicU64,
    connection_refused: AtomicU64,
    message_too_large: AtomicU64,
    no_buffer_space: AtomicU64,
    other_send_errors: AtomicU64,
    other_recv_errors: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) -> u64 {
    counter.fetch_add(by, Ordering::Relaxed) + by
}

impl Counters {
    pub(crate) fn snapshot(&self) -> SocketStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SocketStats {
            datagrams_sent: get(&self.datagrams_sent),
            gso_sends: get(&self.gso_sends),
            datagrams_received: get(&self.datagrams_received),
            gro_receives: get(&self.gro_receives),
            connection_refused: get(&self.connection_refused),
            message_too_large: get(&self.message_too_large),
            no_buffer_space: get(&self.no_buffer_space),
            other_send_errors: get(&self.other_send_errors),
            other_recv_errors: get(&self.other_recv_errors),
        }
    }

    /// Counts a socket error and logs it: loudly the first time, quietly after.
    fn record(&self, error: &io::Error, sending: bool) {
        let (counter, what) = if error.kind() == io::ErrorKind::ConnectionRefused {
            (
                &self.connection_refused,
                "connection refused (ICMP port unreachable)",
            )
        } else if is_errno(error, EMSGSIZE) {
            (&self.message_too_large, "datagram too large (EMSGSIZE)")
        } else if is_errno(error, ENOBUFS) {
            (&self.no_buffer_space, "no buffer space (ENOBUFS)")
        } else if sending {
            (&self.other_send_errors, "send error")
        } else {
            (&self.other_recv_errors, "receive error")
        };
        if bump(counter, 1) == 1 {
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

fn is_errno(error: &io::Error, errno: i32) -> bool {
    error.raw_os_error() == Some(errno)
}

/// A UDP socket bound to `addr` and tuned per `config`, as a std socket in non-blocking mode.
pub fn bind_std(addr: SocketAddr, config: &SocketConfig) -> Result<std::net::UdpSocket, BindError> {
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
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    if config.reuse_port {
        socket
            .set_reuse_port(true)
            .map_err(io("set SO_REUSEPORT on"))?;
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
    let granted = (socket.send_buffer_size(), socket.recv_buffer_size());
    if let (Ok(s), Ok(r)) = granted
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

/// The socket as the driver uses it: registered with the runtime's reactor (`S`), read and
/// written in batches through quinn-udp.
pub(crate) struct UdpIo<S> {
    socket: S,
    state: UdpSocketState,
    ipv6: bool,
    gso: bool,
    rx_buf: Box<[u8]>,
    rx_meta: [RecvMeta; RX_BATCH],
    pub(crate) counters: std::sync::Arc<Counters>,
}

impl<S: UdpRegistration> UdpIo<S> {
    /// Wraps a socket made by [`bind_std`], registering it with `register` (the runtime's
    /// reactor: this must run where the runtime allows it).
    pub(crate) fn new(
        socket: std::net::UdpSocket,
        config: &SocketConfig,
        register: impl FnOnce(std::net::UdpSocket) -> io::Result<S>,
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
        let socket = register(socket)?;
        Ok((
            Self {
                socket,
                state,
                ipv6: local_addr.is_ipv6(),
                gso: config.gso,
                rx_buf: vec![0; RX_CHUNK * RX_BATCH].into_boxed_slice(),
                rx_meta: [RecvMeta::default(); RX_BATCH],
                counters: Default::default(),
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

    /// Receives what the socket holds, with at most `rounds` system calls, into `out` (one entry
    /// per datagram: GRO batches are split). Returns `true` when the budget ran out first (the
    /// socket may hold more); `false` when the socket is drained, in which case the task is
    /// registered to be woken when it becomes readable.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<(SocketAddr, Option<EcnCodepoint>, BytesMut)>,
        rounds: usize,
    ) -> bool {
        let mut calls = 0;
        while calls < rounds {
            let result = {
                let mut chunks = self.rx_buf.chunks_mut(RX_CHUNK);
                let mut iovs: [IoSliceMut<'_>; RX_BATCH] =
                    std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
                let (state, meta) = (&self.state, &mut self.rx_meta);
                self.socket.try_io(Direction::Read, |socket| {
                    state.recv(socket, &mut iovs, meta)
                })
            };
            match result {
                Ok(n) => {
                    calls += 1;
                    let before = out.len();
                    for (i, meta) in self.rx_meta.iter().take(n).enumerate() {
                        let start = i * RX_CHUNK;
                        let Some(data) = self.rx_buf.get(start..start + meta.len) else {
                            continue;
                        };
                        let from = canonical(meta.addr);
                        // quinn-udp reads the TOS / traffic-class byte (IP_RECVTOS,
                        // IPV6_RECVTCLASS); every segment of a GRO batch carried the same.
                        let ecn = meta.ecn.and_then(|e| EcnCodepoint::from_bits(e as u8));
                        let mut whole = BytesMut::from(data);
                        let stride = meta.stride.max(1);
                        if whole.len() > stride {
                            bump(&self.counters.gro_receives, 1);
                        }
                        while whole.len() > stride {
                            out.push((from, ecn, whole.split_to(stride)));
                        }
                        out.push((from, ecn, whole));
                    }
                    bump(
                        &self.counters.datagrams_received,
                        (out.len() - before) as u64,
                    );
                }
                // Would block: wait for readiness, or try again at once if the reactor says
                // the socket became readable meanwhile.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Either way it counts against the budget, so that a reactor that keeps
                    // saying "ready" cannot make the driver spin here.
                    calls += 1;
                    match self.socket.poll_ready(cx, Direction::Read) {
                        Poll::Pending => return false,
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => self.counters.record(&e, false),
                    }
                }
                Err(e) => {
                    calls += 1;
                    self.counters.record(&e, false);
                }
            }
        }
        true
    }

    /// Sends the queued batches. Returns `true` when the queue is empty; `false` when the
    /// socket's buffer is full, in which case the task is registered to be woken when it has
    /// room. Errors other than "would block" drop the batch (the core's loss recovery resends
    /// its data) and are counted.
    pub(crate) fn poll_send(&mut self, cx: &mut Context<'_>, queue: &mut TxQueue) -> bool {
        while let Some(batch) = queue.batches.front().copied() {
            let Some(contents) = queue.buf.get(batch.start..batch.start + batch.len) else {
                queue.batches.pop_front();
                continue;
            };
            let transmit = quinn_udp::Transmit {
                destination: self.destination(batch.destination),
                ecn: batch
                    .ecn
                    .and_then(|e| quinn_udp::EcnCodepoint::from_bits(e.bits())),
                contents,
                segment_size: (batch.segments > 1).then_some(batch.segment_size),
                src_ip: None,
            };
            let state = &self.state;
            let result = self
                .socket
                .try_io(Direction::Write, |socket| state.try_send(socket, &transmit));
            match result {
                Ok(()) => {
                    bump(&self.counters.datagrams_sent, batch.segments as u64);
                    if batch.segments > 1 {
                        bump(&self.counters.gso_sends, 1);
                    }
                    queue.batches.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.socket.poll_ready(cx, Direction::Write).is_pending() {
                        return false;
                    }
                }
                Err(e) if batch.segments > 1 && self.state.max_gso_segments() <= 1 => {
                    // quinn-udp found that the kernel or the device cannot segment: send the
                    // batch's datagrams one by one (and never batch again).
                    tracing::info!(error = %e, "GSO send failed; falling back to one datagram per send");
                    self.gso = false;
                    queue.split_front();
                }
                Err(e) => {
                    self.counters.record(&e, true);
                    queue.batches.pop_front();
                }
            }
        }
        queue.buf.clear();
        true
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
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

/// What the engine handed out and the socket has not taken yet: each entry is one transmit as
/// the engine described it — a datagram, or a GSO batch the engine built for the socket's
/// segment count — and goes out in one send. The queue batches nothing itself.
#[derive(Debug, Default)]
pub(crate) struct TxQueue {
    buf: Vec<u8>,
    batches: VecDeque<Batch>,
    datagrams: usize,
}

#[derive(Debug, Clone, Copy)]
struct Batch {
    destination: SocketAddr,
    ecn: Option<EcnCodepoint>,
    start: usize,
    len: usize,
    segment_size: usize,
    segments: usize,
}

impl TxQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Datagrams queued since the queue was last empty.
    pub(crate) fn datagrams(&self) -> usize {
        if self.batches.is_empty() {
            0
        } else {
            self.datagrams
        }
    }

    /// Lets `poll` (the engine's `poll_transmit`) append its next datagram or batch straight to
    /// the queue's buffer — no copy — and queues it. Returns whether there was one.
    pub(crate) fn fill(&mut self, poll: impl FnOnce(&mut Vec<u8>) -> Option<Transmit>) -> bool {
        if self.batches.is_empty() {
            self.buf.clear();
            self.datagrams = 0;
        }
        let before = self.buf.len();
        let Some(transmit) = poll(&mut self.buf) else {
            self.buf.truncate(before);
            return false;
        };
        // The transmit is the last `size` bytes written.
        let end = self.buf.len();
        let len = transmit.size.min(end - before);
        let (segment_size, segments) = match transmit.segment_size {
            Some(seg) if seg > 0 && seg < len => (seg, len.div_ceil(seg)),
            _ => (len, 1),
        };
        self.datagrams += segments;
        self.batches.push_back(Batch {
            destination: transmit.destination,
            ecn: transmit.ecn,
            start: end - len,
            len,
            segment_size,
            segments,
        });
        true
    }

    /// Offers the transmit queued last to `divert` (destination, segment size, bytes); when
    /// `divert` takes it, it leaves the queue.
    pub(crate) fn divert_last(&mut self, divert: impl FnOnce(SocketAddr, usize, &[u8]) -> bool) {
        let Some(batch) = self.batches.back().copied() else {
            return;
        };
        let Some(contents) = self.buf.get(batch.start..batch.start + batch.len) else {
            return;
        };
        if divert(batch.destination, batch.segment_size, contents) {
            self.batches.pop_back();
            self.buf.truncate(batch.start);
            self.datagrams -= batch.segments;
        }
    }

    /// Replaces the first batch by its datagrams, one batch each (the platform refused to
    /// segment it).
    fn split_front(&mut self) {
        let Some(batch) = self.batches.pop_front() else {
            return;
        };
        let end = batch.start + batch.len;
        let mut singles: Vec<Batch> = (batch.start..end)
            .step_by(batch.segment_size.max(1))
            .map(|start| Batch {
                start,
                len: batch.segment_size.min(end - start),
                segments: 1,
                ..batch
            })
            .collect();
        while let Some(single) = singles.pop() {
            self.batches.push_front(single);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transmit(to: &str, size: usize) -> Transmit {
        Transmit {
            destination: to.parse().expect("literal address"),
            size,
            segment_size: None,
            ecn: None,
        }
    }

    fn fill(q: &mut TxQueue, bytes: &[u8], segment_size: Option<usize>) {
        assert!(q.fill(|buf| {
            buf.extend_from_slice(bytes);
            Some(Transmit {
                segment_size,
                ..transmit("127.0.0.1:1", bytes.len())
            })
        }));
    }

    #[test]
    fn each_transmit_is_one_send() {
        let mut q = TxQueue::default();
        // Single datagrams of one size are not joined: batching is the engine's.
        fill(&mut q, &[1; 1200], None);
        fill(&mut q, &[2; 1200], None);
        // The engine's batch stays whole.
        fill(&mut q, &[3; 2500], Some(1200));
        let shape: Vec<_> = q.batches.iter().map(|b| (b.segments, b.len)).collect();
        assert_eq!(shape, vec![(1, 1200), (1, 1200), (3, 2500)]);
        assert_eq!(q.datagrams(), 5);
        // Nothing to send leaves the queue as it was.
        assert!(!q.fill(|buf| {
            buf.push(9);
            None
        }));
        assert_eq!(q.buf.len(), 4900);
    }

    #[test]
    fn split_front_keeps_every_byte_in_order() {
        let mut q = TxQueue::default();
        fill(&mut q, &[1, 2, 3, 4, 5, 6, 7], Some(3));
        fill(&mut q, &[8], None);
        q.split_front();
        let parts: Vec<_> = q
            .batches
            .iter()
            .map(|b| q.buf[b.start..b.start + b.len].to_vec())
            .collect();
        assert_eq!(parts, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7], vec![8]]);
    }

    #[test]
    fn mapped_addresses_are_canonical() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:9".parse().expect("literal");
        assert_eq!(canonical(mapped), "127.0.0.1:9".parse().expect("literal"));
        let v6: SocketAddr = "[::1]:9".parse().expect("literal");
        assert_eq!(canonical(v6), v6);
    }
}
