//! The driver's TCP links: the listener, the streams, and which peer address each one carries.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use slab::Slab;
use weir_core::EcnCodepoint;
use weir_core::records::{self, LENGTH_SIZE, MAX_RECORD, RecordDecoder};

use super::transport::TcpTransport;
use crate::runtime::{Direction, Runtime, TcpListenerRegistration, TcpRegistration};
use crate::socket::canonical;

/// Bytes read from a stream per system call.
const READ_CHUNK: usize = 64 * 1024;
/// Reads per link per round: a fast link cannot starve the others or the UDP socket.
const READS_PER_ROUND: usize = 4;
/// Connections accepted per round.
const ACCEPTS_PER_ROUND: usize = 16;

/// What the TCP transport did (see [`Endpoint::tcp_stats`](crate::Endpoint::tcp_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Links this endpoint opened (client fallbacks and switches).
    pub links_opened: u64,
    /// Links accepted by this endpoint's listener.
    pub links_accepted: u64,
    /// Links whose connect failed.
    pub connects_failed: u64,
    /// Links that ended (the peer closed, an error, or the application switched away).
    pub links_closed: u64,
    /// Streams refused because the endpoint held `max_links` already.
    pub links_refused: u64,
    /// Records (datagrams) written to links.
    pub records_sent: u64,
    /// Records read from links.
    pub records_received: u64,
    /// Records dropped because their link's buffer was full.
    pub records_dropped: u64,
    /// Links closed for a malformed record (empty, or longer than a datagram can be).
    pub malformed: u64,
    /// Links closed because no record came for [`TcpTransport::idle_timeout`].
    pub idle_closed: u64,
    /// Links open now.
    pub open_links: u64,
}

#[derive(Debug, Default)]
pub(crate) struct TcpCounters {
    links_opened: AtomicU64,
    links_accepted: AtomicU64,
    connects_failed: AtomicU64,
    links_closed: AtomicU64,
    links_refused: AtomicU64,
    records_sent: AtomicU64,
    records_received: AtomicU64,
    records_dropped: AtomicU64,
    malformed: AtomicU64,
    idle_closed: AtomicU64,
    open_links: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl TcpCounters {
    pub(crate) fn snapshot(&self) -> TcpStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TcpStats {
            links_opened: get(&self.links_opened),
            links_accepted: get(&self.links_accepted),
            connects_failed: get(&self.connects_failed),
            links_closed: get(&self.links_closed),
            links_refused: get(&self.links_refused),
            records_sent: get(&self.records_sent),
            records_received: get(&self.records_received),
            records_dropped: get(&self.records_dropped),
            malformed: get(&self.malformed),
            idle_closed: get(&self.idle_closed),
            open_links: get(&self.open_links),
        }
    }
}

/// One TCP stream and the peer address it carries.
struct Link<S> {
    stream: S,
    /// The address the core knows the peer by: the server's address for a link this endpoint
    /// opened, the stream's peer address for an accepted one.
    remote: SocketAddr,
    /// Opened by us and not known to be connected yet.
    connecting: bool,
    decoder: RecordDecoder,
    /// Records waiting for the stream; `out[written..]` is still to be written.
    out: Vec<u8>,
    written: usize,
    /// When the link last delivered a record (or was made).
    heard: Instant,
}

/// Why a link ends.
enum End {
    Closed,
    ConnectFailed,
    Malformed,
    Idle,
}

/// The endpoint's TCP links (see [`crate::tcp`]). Without a [`TcpTransport`] it holds nothing
/// and every call is a no-op.
pub(crate) struct TcpLinks<R: Runtime> {
    config: Option<TcpTransport>,
    listener: Option<R::TcpListener>,
    links: Slab<Link<R::TcpStream>>,
    /// Which link carries the datagrams to each peer address.
    routes: HashMap<SocketAddr, usize>,
    scratch: Box<[u8]>,
    pub(crate) counters: Arc<TcpCounters>,
}

impl<R: Runtime> TcpLinks<R> {
    pub(crate) fn new(config: Option<TcpTransport>, listener: Option<R::TcpListener>) -> Self {
        Self {
            scratch: if config.is_some() {
                vec![0; READ_CHUNK].into_boxed_slice()
            } else {
                Box::default()
            },
            config,
            listener,
            links: Slab::new(),
            routes: HashMap::new(),
            counters: Arc::default(),
        }
    }

    /// Sends every later datagram to `remote` over a new TCP link to the same address (queued
    /// until the connect completes). Returns whether datagrams to `remote` now go over TCP:
    /// `false` without a TCP transport, at `max_links`, or when the socket could not be made.
    pub(crate) fn open(&mut self, remote: SocketAddr) -> bool {
        let Some(config) = &self.config else {
            return false;
        };
        if self.routes.contains_key(&remote) {
            return true;
        }
        if self.links.len() >= config.max_links {
            bump(&self.counters.links_refused, 1);
            return false;
        }
        let stream = match config.socket.connect_std(remote).map_err(io::Error::other) {
            Ok(stream) => R::register_tcp(stream),
            Err(e) => Err(e),
        };
        match stream {
            Ok(stream) => {
                tracing::debug!(%remote, "TCP link opened");
                self.insert(stream, remote, true);
                bump(&self.counters.links_opened, 1);
                true
            }
            Err(error) => {
                tracing::debug!(%remote, %error, "TCP link could not be opened");
                bump(&self.counters.connects_failed, 1);
                false
            }
        }
    }

    /// Datagrams to `remote` go over UDP again; its link, if any, closes.
    pub(crate) fn close(&mut self, remote: SocketAddr) {
        if let Some(index) = self.routes.get(&remote).copied() {
            self.end(index, End::Closed);
        }
    }

    fn insert(&mut self, stream: R::TcpStream, remote: SocketAddr, connecting: bool) {
        // A second stream from the same peer address replaces the first (a client that
        // reconnected from the same port).
        if let Some(old) = self.routes.get(&remote).copied() {
            self.end(old, End::Closed);
        }
        let index = self.links.insert(Link {
            stream,
            remote,
            connecting,
            // One whole record of the largest datagram: a peer that sends half records holds
            // at most this much of the endpoint's memory per link.
            decoder: RecordDecoder::new(MAX_RECORD, MAX_RECORD + LENGTH_SIZE),
            out: Vec::new(),
            written: 0,
            heard: Instant::now(),
        });
        self.routes.insert(remote, index);
        self.counters
            .open_links
            .store(self.links.len() as u64, Ordering::Relaxed);
    }

    fn end(&mut self, index: usize, why: End) {
        if !self.links.contains(index) {
            return;
        }
        let link = self.links.remove(index);
        if self.routes.get(&link.remote) == Some(&index) {
            self.routes.remove(&link.remote);
        }
        let counter = match why {
            End::Closed => &self.counters.links_closed,
            End::ConnectFailed => &self.counters.connects_failed,
            End::Malformed => &self.counters.malformed,
            End::Idle => &self.counters.idle_closed,
        };
        bump(counter, 1);
        self.counters
            .open_links
            .store(self.links.len() as u64, Ordering::Relaxed);
        tracing::debug!(remote = %link.remote, "TCP link ended");
    }

    /// Accepts new links, completes connects and reads every link's records into `out` as
    /// datagrams from the link's peer address. Returns `true` when a budget ran out (more may
    /// be waiting); otherwise the task is registered to be woken by any link.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<(SocketAddr, Option<EcnCodepoint>, BytesMut)>,
    ) -> bool {
        let Some(idle) = self.config.as_ref().map(|c| c.idle_timeout) else {
            return false;
        };
        let mut more = self.poll_accept(cx);
        let mut ended = Vec::new();
        let now = Instant::now();
        for (index, link) in self.links.iter_mut() {
            // A stream that carries nothing holds a slot another client could use.
            if link.heard + idle <= now {
                ended.push((index, End::Idle));
                continue;
            }
            match poll_connect(link, cx) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(why) => {
                    ended.push((index, why));
                    continue;
                }
            }
            match read_link(link, &mut self.scratch, cx, out, &self.counters) {
                Ok(true) => more = true,
                Ok(false) => {}
                Err(why) => ended.push((index, why)),
            }
        }
        for (index, why) in ended {
            self.end(index, why);
        }
        more
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(config) = &self.config else {
            return false;
        };
        let max_links = config.max_links;
        for _ in 0..ACCEPTS_PER_ROUND {
            let Some(listener) = &self.listener else {
                return false;
            };
            match listener.poll_accept(cx) {
                Poll::Pending => return false,
                Poll::Ready(Ok((stream, peer))) => {
                    if self.links.len() >= max_links {
                        // Dropped: the stream closes at once.
                        bump(&self.counters.links_refused, 1);
                        continue;
                    }
                    if let Some(config) = &self.config {
                        // Linux copies the listener's options to the stream; elsewhere set them.
                        let _ = config.socket.apply(stream.socket());
                    }
                    self.insert(stream, canonical(peer), false);
                    bump(&self.counters.links_accepted, 1);
                }
                // A connection that failed before it was accepted, or no descriptors left: the
                // listener carries on.
                Poll::Ready(Err(error)) => {
                    tracing::debug!(%error, "TCP accept failed");
                    return false;
                }
            }
        }
        true
    }

    /// When the next link falls idle, if any (the driver's timer covers it).
    pub(crate) fn next_idle(&self) -> Option<Instant> {
        let idle = self.config.as_ref()?.idle_timeout;
        self.links.iter().map(|(_, l)| l.heard + idle).min()
    }

    /// Queues a transmit of the core (a datagram, or a batch of `segment_size`-byte datagrams)
    /// on the link to `destination`, if datagrams to it go over TCP. Returns whether it did
    /// (the datagrams are then the link's, or dropped when its buffer is full).
    pub(crate) fn divert(
        &mut self,
        destination: SocketAddr,
        segment_size: usize,
        contents: &[u8],
    ) -> bool {
        let Some(&index) = self.routes.get(&destination) else {
            return false;
        };
        let (Some(config), Some(link)) = (&self.config, self.links.get_mut(index)) else {
            return false;
        };
        for datagram in contents.chunks(segment_size.max(1)) {
            if link.out.len() - link.written + LENGTH_SIZE + datagram.len() > config.max_buffered {
                bump(&self.counters.records_dropped, 1);
                continue;
            }
            if link.written > 0 && link.written == link.out.len() {
                link.out.clear();
                link.written = 0;
            }
            // Never fails: the core's datagrams are 1..=65 527 bytes.
            if records::encode(datagram, &mut link.out).is_ok() {
                bump(&self.counters.records_sent, 1);
            }
        }
        true
    }

    /// Writes what the links hold. Returns `true` when everything was written; otherwise the
    /// task is registered to be woken when a link has room.
    pub(crate) fn poll_send(&mut self, cx: &mut Context<'_>) -> bool {
        let mut all = true;
        let mut ended = Vec::new();
        for (index, link) in self.links.iter_mut() {
            match poll_connect(link, cx) {
                Ok(true) => {}
                // Written once the connect completed: the task is woken then.
                Ok(false) => continue,
                Err(_) => {
                    ended.push((index, End::ConnectFailed));
                    continue;
                }
            }
            while link.written < link.out.len() {
                match link.stream.try_write(&link.out[link.written..]) {
                    Ok(0) => {
                        ended.push((index, End::Closed));
                        break;
                    }
                    Ok(n) => link.written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        match link.stream.poll_ready(cx, Direction::Write) {
                            Poll::Pending => {
                                all = false;
                                break;
                            }
                            Poll::Ready(Ok(())) => {}
                            Poll::Ready(Err(_)) => {
                                ended.push((index, End::Closed));
                                break;
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        ended.push((index, End::Closed));
                        break;
                    }
                }
            }
            if link.written == link.out.len() {
                link.out.clear();
                link.written = 0;
            } else if link.written > link.out.len() / 2 {
                // Keep the buffer from growing with a stream that writes in small pieces.
                link.out.drain(..link.written);
                link.written = 0;
            }
        }
        for (index, why) in ended {
            self.end(index, why);
        }
        all
    }
}

/// Whether `link` is connected: `Ok(false)` while its connect is under way (the task is
/// registered to be woken when it completes or fails), `Err` when it failed.
fn poll_connect<S: TcpRegistration>(link: &mut Link<S>, cx: &mut Context<'_>) -> Result<bool, End> {
    if !link.connecting {
        return Ok(true);
    }
    match link.stream.poll_ready(cx, Direction::Write) {
        Poll::Pending => Ok(false),
        Poll::Ready(Err(_)) => Err(End::ConnectFailed),
        Poll::Ready(Ok(())) => {
            let socket = link.stream.socket();
            if !matches!(socket.take_error(), Ok(None)) || socket.peer_addr().is_err() {
                return Err(End::ConnectFailed);
            }
            link.connecting = false;
            Ok(true)
        }
    }
}

/// Reads what `link` holds into `out`. `Ok(true)`: the budget ran out; `Ok(false)`: drained, the
/// task is registered for readability; `Err`: the link ends.
fn read_link<S: TcpRegistration>(
    link: &mut Link<S>,
    scratch: &mut [u8],
    cx: &mut Context<'_>,
    out: &mut Vec<(SocketAddr, Option<EcnCodepoint>, BytesMut)>,
    counters: &TcpCounters,
) -> Result<bool, End> {
    for _ in 0..READS_PER_ROUND {
        let n = match link.stream.try_read(scratch) {
            Ok(0) => return Err(End::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match link.stream.poll_ready(cx, Direction::Read) {
                    Poll::Pending => return Ok(false),
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(_)) => return Err(End::Closed),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(End::Closed),
        };
        let mut input = &scratch[..n];
        while !input.is_empty() {
            let taken = link.decoder.push(input).map_err(|_| End::Malformed)?;
            input = &input[taken..];
            while let Some(record) = link.decoder.next() {
                let datagram = record.map_err(|_| End::Malformed)?;
                bump(&counters.records_received, 1);
                link.heard = Instant::now();
                out.push((link.remote, None, datagram));
            }
        }
    }
    Ok(true)
}
