//! weir-mio through the suite's blocking surface: each endpoint runs the loop weir-mio's docs
//! teach (register under a token, poll until its deadline, `handle_event`, `drive`, drain
//! `poll_event`) on a thread of its own, and takes the suite's requests as commands through a
//! channel and a `mio::Waker`, the way an application's own event loop takes work from its
//! other threads.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::{Events, Poll, Token, Waker};
use weir_core::StreamId;
use weir_core::streams::{ReadError, StreamEvent, WriteError};
use weir_mio::{
    BindError, Config, ConnectError, ConnectionHandle, Endpoint, Event, SocketConfig, VarInt,
};

use crate::harness::{
    self, Adapter, Client, Conn, ConnectFailure, Ended, Outcomes, PatternCheck, Refusal, Server,
    Setup, SocketErrors,
};

const ENDPOINT: Token = Token(0);
const WAKER: Token = Token(1);

/// weir-mio.
pub struct MioAdapter;

fn config(setup: &Setup, server: bool) -> Config {
    harness::adapter_config!(Config, SocketConfig, setup, server)
}

fn refusal(error: BindError) -> Refusal {
    match error {
        BindError::InsecureRefused => Refusal::InsecureRefused,
        BindError::Config(config) => Refusal::Config(config),
        BindError::Socket(_) => Refusal::Socket,
        other => Refusal::Other(other.to_string()),
    }
}

/// What the suite's threads ask of the loop.
enum Command {
    Connect(SocketAddr, Sender<Result<ConnectionHandle, ConnectFailure>>),
    Upload(ConnectionHandle, u64, u64, Sender<Result<u64, Ended>>),
    /// Writes what the stream takes of an upload, then closes with code 0.
    Abandon(ConnectionHandle, u64, u64),
    Datagram(ConnectionHandle, Bytes, Sender<Result<(), Ended>>),
    Close(ConnectionHandle, u64, Vec<u8>),
    Shutdown(u64, Duration, Sender<bool>),
    /// The application dropped the endpoint: the loop ends.
    Stop,
}

/// What the loop tells the suite's threads without being asked: messages received and how
/// connections ended, with a condition variable to wait on.
#[derive(Default)]
struct Board {
    state: Mutex<BoardState>,
    changed: Condvar,
}

#[derive(Default)]
struct BoardState {
    datagrams: HashMap<ConnectionHandle, VecDeque<Bytes>>,
    ended: HashMap<ConnectionHandle, Ended>,
    connections: usize,
    socket_errors: SocketErrors,
}

impl Board {
    fn update(&self, f: impl FnOnce(&mut BoardState)) {
        f(&mut self.state.lock().expect("board"));
        self.changed.notify_all();
    }

    /// Waits at most `within` for `f` to find something.
    fn wait<T>(
        &self,
        within: Duration,
        mut f: impl FnMut(&mut BoardState) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + within;
        let mut state = self.state.lock().expect("board");
        loop {
            if let Some(found) = f(&mut state) {
                return Some(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self.changed.wait_timeout(state, left).expect("board").0;
        }
    }
}

/// A client's upload: what is left to write, then the server's answer.
struct Upload {
    chunks: VecDeque<Bytes>,
    finished: bool,
    answer: Vec<u8>,
    reply: Sender<Result<u64, Ended>>,
}

/// A server's check of one stream, then its answer until written.
struct Download {
    check: PatternCheck,
    answer: Option<Bytes>,
}

/// The loop's own state.
struct Node {
    poll: Poll,
    endpoint: Endpoint,
    commands: Receiver<Command>,
    board: Arc<Board>,
    outcomes: Arc<Outcomes>,
    /// Connections this endpoint opened (the rest are a server's).
    mine: HashSet<ConnectionHandle>,
    connecting: HashMap<ConnectionHandle, Sender<Result<ConnectionHandle, ConnectFailure>>>,
    uploads: HashMap<(ConnectionHandle, StreamId), Upload>,
    downloads: HashMap<(ConnectionHandle, StreamId), Download>,
    shutdown: Option<(Instant, Sender<bool>)>,
    stopped: bool,
}

fn pump(conn: &mut weir_mio::Connection, id: StreamId, upload: &mut Upload) -> Result<(), String> {
    while let Some(chunk) = upload.chunks.front_mut() {
        match conn.write_chunk(id, chunk.clone()) {
            Ok(0) | Err(WriteError::Blocked) => return Ok(()),
            Ok(n) if n == chunk.len() => {
                upload.chunks.pop_front();
            }
            Ok(n) => {
                let _ = chunk.split_to(n);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    if !upload.finished {
        conn.finish(id).map_err(|e| e.to_string())?;
        upload.finished = true;
    }
    Ok(())
}

/// Writes a download's answer if it has one, then finishes the stream.
fn answer(conn: &mut weir_mio::Connection, id: StreamId, download: &mut Download) -> bool {
    let Some(answer) = download.answer.as_mut() else {
        return false;
    };
    while !answer.is_empty() {
        match conn.write_chunk(id, answer.clone()) {
            Ok(0) | Err(WriteError::Blocked) => return false,
            Ok(n) => {
                let _ = answer.split_to(n);
            }
            Err(_) => return true,
        }
    }
    let _ = conn.finish(id);
    true
}

impl Node {
    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = self.endpoint.timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "poll: {e}");
            }
            for event in events.iter() {
                // The waker's token is ours, not the endpoint's: it only means "commands".
                let mine = self.endpoint.handle_event(event);
                assert!(
                    mine || event.token() == WAKER,
                    "foreign token {:?}",
                    event.token()
                );
            }
            loop {
                match self.commands.try_recv() {
                    Ok(command) => self.command(command),
                    Err(mpsc::TryRecvError::Empty) => break,
                    // Every handle is gone: the application stopped.
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            if self.stopped {
                return;
            }
            self.endpoint.drive();
            while let Some((handle, event)) = self.endpoint.poll_event() {
                self.event(handle, event);
            }
            let count = self.endpoint.connection_count();
            let stats = self.endpoint.socket_stats();
            let socket_errors = SocketErrors {
                refused: stats.connection_refused,
                too_large: stats.message_too_large,
            };
            self.board.update(|s| {
                s.connections = count;
                s.socket_errors = socket_errors;
            });
            if let Some((deadline, _)) = &self.shutdown
                && (count == 0 || Instant::now() >= *deadline)
                && let Some((_, reply)) = self.shutdown.take()
            {
                let _ = reply.send(count == 0);
                return;
            }
        }
    }

    fn command(&mut self, command: Command) {
        let now = self.endpoint.now();
        match command {
            Command::Connect(to, reply) => match self.endpoint.connect(to) {
                Ok(handle) => {
                    self.mine.insert(handle);
                    self.connecting.insert(handle, reply);
                }
                Err(error) => {
                    let refusal = match error {
                        ConnectError::AddressFamily { .. } => Refusal::AddressFamily,
                        ConnectError::Refused(_) | ConnectError::ShuttingDown => {
                            Refusal::CannotConnect
                        }
                    };
                    let _ = reply.send(Err(ConnectFailure::Refused(refusal)));
                }
            },
            Command::Upload(handle, seed, len, reply) => {
                let Some(conn) = self.endpoint.connection(handle) else {
                    let _ = reply.send(Err(Ended::EndpointStopped));
                    return;
                };
                let id = match conn.open_bi(0) {
                    Ok(id) => id,
                    Err(e) => {
                        let _ = reply.send(Err(Ended::Other(e.to_string())));
                        return;
                    }
                };
                let mut upload = Upload {
                    chunks: harness::upload_chunks(seed, len, 64 * 1024).collect(),
                    finished: false,
                    answer: Vec::new(),
                    reply,
                };
                if let Err(e) = pump(conn, id, &mut upload) {
                    let _ = upload.reply.send(Err(Ended::Other(e)));
                    return;
                }
                self.uploads.insert((handle, id), upload);
            }
            Command::Abandon(handle, seed, len) => {
                if let Some(conn) = self.endpoint.connection(handle)
                    && let Ok(id) = conn.open_bi(0)
                {
                    let (reply, _) = mpsc::channel();
                    let mut upload = Upload {
                        chunks: harness::upload_chunks(seed, len, 64 * 1024).collect(),
                        finished: true,
                        answer: Vec::new(),
                        reply,
                    };
                    let _ = pump(conn, id, &mut upload);
                }
                self.endpoint.close(handle, VarInt::ZERO, b"");
            }
            Command::Datagram(handle, data, reply) => {
                let sent = match self.endpoint.connection(handle) {
                    Some(conn) => conn
                        .send_datagram(now, 0, data, None)
                        .map_err(|e| Ended::Other(e.to_string())),
                    None => Err(Ended::EndpointStopped),
                };
                let _ = reply.send(sent);
            }
            Command::Close(handle, code, reason) => {
                let code = VarInt::from_u64(code).expect("code");
                self.endpoint.close(handle, code, &reason);
            }
            Command::Shutdown(code, grace, reply) => {
                self.endpoint
                    .close_all(VarInt::from_u64(code).expect("code"), b"shutdown");
                self.shutdown = Some((Instant::now() + grace, reply));
            }
            Command::Stop => self.stopped = true,
        }
    }

    fn event(&mut self, handle: ConnectionHandle, event: Event) {
        let now = self.endpoint.now();
        let mine = self.mine.contains(&handle);
        match event {
            Event::Connected => {
                if let Some(reply) = self.connecting.remove(&handle) {
                    let _ = reply.send(Ok(handle));
                }
            }
            Event::Closed(error) => {
                let how = Ended::from_core(&error);
                if let Some(reply) = self.connecting.remove(&handle) {
                    let _ = reply.send(Err(ConnectFailure::Handshake(how.clone())));
                }
                let failed: Vec<_> = self
                    .uploads
                    .keys()
                    .filter(|k| k.0 == handle)
                    .copied()
                    .collect();
                for key in failed {
                    if let Some(upload) = self.uploads.remove(&key) {
                        let _ = upload.reply.send(Err(how.clone()));
                    }
                }
                self.downloads.retain(|k, _| k.0 != handle);
                if !mine {
                    self.outcomes.push(how.clone());
                }
                self.board.update(|s| {
                    s.ended.insert(handle, how);
                });
            }
            Event::DatagramReceived => {
                let Some(conn) = self.endpoint.connection(handle) else {
                    return;
                };
                while let Some(message) = conn.recv_datagram(now) {
                    if mine {
                        self.board.update(|s| {
                            s.datagrams
                                .entry(handle)
                                .or_default()
                                .push_back(message.data);
                        });
                    } else {
                        // An echo that finds no room is lost, as unreliable messages may be.
                        let _ = conn.send_datagram(now, message.channel, message.data, None);
                    }
                }
            }
            Event::Stream(StreamEvent::Opened { .. }) if !mine => {
                let Some(conn) = self.endpoint.connection(handle) else {
                    return;
                };
                while let Some(id) = conn.accept_bi() {
                    self.downloads.insert(
                        (handle, id),
                        Download {
                            check: PatternCheck::default(),
                            answer: None,
                        },
                    );
                }
            }
            Event::Stream(StreamEvent::Readable { id }) => self.readable(handle, id, now),
            Event::Stream(StreamEvent::Writable { id }) => {
                let Some(conn) = self.endpoint.connection(handle) else {
                    return;
                };
                if let Some(upload) = self.uploads.get_mut(&(handle, id))
                    && let Err(e) = pump(conn, id, upload)
                    && let Some(upload) = self.uploads.remove(&(handle, id))
                {
                    let _ = upload.reply.send(Err(Ended::Other(e)));
                }
                if let Some(download) = self.downloads.get_mut(&(handle, id))
                    && answer(conn, id, download)
                {
                    self.downloads.remove(&(handle, id));
                }
            }
            _ => {}
        }
    }

    fn readable(&mut self, handle: ConnectionHandle, id: StreamId, now: Instant) {
        let Some(conn) = self.endpoint.connection(handle) else {
            return;
        };
        if let Some(download) = self.downloads.get_mut(&(handle, id)) {
            loop {
                match conn.read(now, id, usize::MAX) {
                    Ok(Some(chunk)) => download.check.feed(&chunk),
                    Ok(None) => {
                        download.answer = Some(Bytes::copy_from_slice(&download.check.answer()));
                        if answer(conn, id, download) {
                            self.downloads.remove(&(handle, id));
                        }
                        return;
                    }
                    Err(ReadError::Blocked) => return,
                    Err(_) => {
                        self.downloads.remove(&(handle, id));
                        return;
                    }
                }
            }
        }
        if let Some(upload) = self.uploads.get_mut(&(handle, id)) {
            let result = loop {
                match conn.read(now, id, usize::MAX) {
                    Ok(Some(chunk)) => upload.answer.extend_from_slice(&chunk),
                    Ok(None) => {
                        break match <[u8; 8]>::try_from(&upload.answer[..]) {
                            Ok(answer) => Ok(u64::from_be_bytes(answer)),
                            Err(_) => Err(Ended::Other("short answer".into())),
                        };
                    }
                    Err(ReadError::Blocked) => return,
                    Err(e) => break Err(Ended::Other(e.to_string())),
                }
            };
            if let Some(upload) = self.uploads.remove(&(handle, id)) {
                let _ = upload.reply.send(result);
            }
        }
    }
}

/// An endpoint's loop thread and the way to talk to it.
struct Remote {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    board: Arc<Board>,
    addr: SocketAddr,
}

impl Remote {
    fn start(config: Config, outcomes: Arc<Outcomes>) -> Result<Self, Refusal> {
        let mut endpoint = Endpoint::bind(harness::loopback(), config).map_err(refusal)?;
        let poll = Poll::new().expect("poll");
        endpoint
            .register(poll.registry(), ENDPOINT)
            .expect("register");
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).expect("waker"));
        let (commands, receiver) = mpsc::channel();
        let board = Arc::new(Board::default());
        let addr = endpoint.local_addr();
        let node = Node {
            poll,
            endpoint,
            commands: receiver,
            board: board.clone(),
            outcomes,
            mine: HashSet::new(),
            connecting: HashMap::new(),
            uploads: HashMap::new(),
            downloads: HashMap::new(),
            shutdown: None,
            stopped: false,
        };
        std::thread::Builder::new()
            .name("weir-mio-loop".into())
            .spawn(move || node.run())
            .expect("loop thread");
        Ok(Self {
            commands,
            waker,
            board,
            addr,
        })
    }

    /// Sends `command` and waits, at most the suite's bound, for its reply.
    fn ask<T>(&self, command: impl FnOnce(Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = mpsc::channel();
        self.commands.send(command(reply)).ok()?;
        self.waker.wake().expect("wake");
        answer.recv_timeout(harness::BOUND).ok()
    }

    fn tell(&self, command: Command) {
        if self.commands.send(command).is_ok() {
            self.waker.wake().expect("wake");
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.tell(Command::Stop);
    }
}

/// A weir-mio server.
pub struct MioServer {
    remote: Remote,
    outcomes: Arc<Outcomes>,
}

impl Server for MioServer {
    fn addr(&self) -> SocketAddr {
        self.remote.addr
    }

    fn wait_ended(&self, n: usize, within: Duration) -> Vec<Ended> {
        self.outcomes.wait(n, within)
    }

    fn connection_count(&self) -> usize {
        self.remote.board.state.lock().expect("board").connections
    }

    fn shutdown(self, code: u64, grace: Duration) -> bool {
        self.remote
            .ask(|reply| Command::Shutdown(code, grace, reply))
            .unwrap_or(false)
    }
}

/// A weir-mio client endpoint.
pub struct MioClient {
    remote: Arc<Remote>,
}

impl Client for MioClient {
    type Conn = MioConn;

    fn connect(&self, to: SocketAddr) -> Result<MioConn, ConnectFailure> {
        let handle = self
            .remote
            .ask(|reply| Command::Connect(to, reply))
            .unwrap_or(Err(ConnectFailure::Handshake(Ended::EndpointStopped)))?;
        Ok(MioConn {
            remote: self.remote.clone(),
            handle,
        })
    }

    fn connection_count(&self) -> usize {
        self.remote.board.state.lock().expect("board").connections
    }

    fn socket_errors(&self) -> SocketErrors {
        self.remote.board.state.lock().expect("board").socket_errors
    }

    fn shutdown(self, grace: Duration) -> bool {
        self.remote
            .ask(|reply| Command::Shutdown(0, grace, reply))
            .unwrap_or(false)
    }
}

/// A weir-mio client connection.
pub struct MioConn {
    remote: Arc<Remote>,
    handle: ConnectionHandle,
}

impl Conn for MioConn {
    fn upload(&self, seed: u64, len: u64) -> Result<u64, Ended> {
        self.remote
            .ask(|reply| Command::Upload(self.handle, seed, len, reply))
            .unwrap_or(Err(Ended::EndpointStopped))
    }

    fn send_datagram(&self, data: Bytes) -> Result<(), Ended> {
        self.remote
            .ask(|reply| Command::Datagram(self.handle, data, reply))
            .unwrap_or(Err(Ended::EndpointStopped))
    }

    fn recv_datagram(&self, within: Duration) -> Option<Bytes> {
        self.remote.board.wait(within, |s| {
            s.datagrams
                .get_mut(&self.handle)
                .and_then(VecDeque::pop_front)
        })
    }

    fn close(&self, code: u64, reason: &[u8]) {
        self.remote
            .tell(Command::Close(self.handle, code, reason.to_vec()));
    }

    fn abandon(self, seed: u64, len: u64) {
        self.remote.tell(Command::Abandon(self.handle, seed, len));
    }

    fn closed(&self, within: Duration) -> Option<Ended> {
        self.remote
            .board
            .wait(within, |s| s.ended.get(&self.handle).cloned())
    }
}

impl Adapter for MioAdapter {
    const NAME: &'static str = "weir-mio";
    type Server = MioServer;
    type Client = MioClient;

    fn server(setup: Setup) -> Result<MioServer, Refusal> {
        let outcomes = Arc::new(Outcomes::default());
        let remote = Remote::start(config(&setup, true), outcomes.clone())?;
        Ok(MioServer { remote, outcomes })
    }

    fn client(setup: Setup) -> Result<MioClient, Refusal> {
        let remote = Remote::start(config(&setup, false), Arc::new(Outcomes::default()))?;
        Ok(MioClient {
            remote: Arc::new(remote),
        })
    }
}
