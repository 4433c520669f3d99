//! weir's own handshake, for the integrity-only protection (`Security::InsecureIntegrityOnly`:
//! the simulator and tests): three messages over the handshake byte stream.
//!
//! ```text
//! client                                  server
//! ClientHello(transport parameters)  ──▶
//!                                    ◀──  ServerHello(transport parameters)
//! ClientFinished                     ──▶
//!                                    ◀──  HANDSHAKE_DONE frame
//! ```
//!
//! Each message is `type (1 byte) | length (varint) | body`. The client is connected once it
//! has the ServerHello; the server once it has the ClientFinished (which also proves the client
//! received the server's packets). Under TLS ([`crate::crypto`]) rustls's handshake takes its
//! place in the same HANDSHAKE frames, and the packet protection is AEAD.

use bytes::BufMut;

use super::handshake_stream::HandshakeStream;
use super::transport_params::TransportParameters;
use crate::error::TransportError;
use crate::streams::Side;
use crate::wire::{Reader, VarInt, varint_size};

const CLIENT_HELLO: u8 = 0x01;
const SERVER_HELLO: u8 = 0x02;
const CLIENT_FINISHED: u8 = 0x03;
/// Largest handshake message accepted; transport parameters are a few dozen bytes.
const MAX_MESSAGE_LEN: u64 = 4096;

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ClientAwaitingHello,
    ServerAwaitingHello,
    ServerAwaitingFinished,
    Done,
}

/// What reading the handshake stream achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The peer's transport parameters arrived (server: its ServerHello is queued).
    PeerParameters(Box<TransportParameters>),
    /// Client: the ServerHello arrived, it is connected; server: the ClientFinished arrived,
    /// the handshake is complete on both ends.
    Complete,
}

#[derive(Debug)]
pub(crate) struct Handshake {
    side: Side,
    state: State,
    local: TransportParameters,
}

fn write_message(stream: &mut HandshakeStream, kind: u8, body: &[u8]) {
    let mut msg = Vec::with_capacity(1 + varint_size(body.len() as u64) + body.len());
    msg.put_u8(kind);
    VarInt::saturating_from_u64(body.len() as u64).encode(&mut msg);
    msg.extend_from_slice(body);
    stream.write(&msg);
}

fn encode_params(params: &TransportParameters) -> Vec<u8> {
    let mut body = Vec::new();
    params.encode(&mut body);
    body
}

impl Handshake {
    /// A client handshake; queues the ClientHello on `stream`.
    pub(crate) fn client(local: TransportParameters, stream: &mut HandshakeStream) -> Self {
        write_message(stream, CLIENT_HELLO, &encode_params(&local));
        Self {
            side: Side::Client,
            state: State::ClientAwaitingHello,
            local,
        }
    }

    /// A server handshake, waiting for the ClientHello.
    pub(crate) fn server(local: TransportParameters) -> Self {
        Self {
            side: Side::Server,
            state: State::ServerAwaitingHello,
            local,
        }
    }

    /// Whether the handshake is over on this end.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the peer's transport parameters have arrived.
    #[cfg(test)]
    pub(crate) fn has_peer_parameters(&self) -> bool {
        !matches!(
            self.state,
            State::ClientAwaitingHello | State::ServerAwaitingHello
        )
    }

    /// Server: the client sent a short-header packet, which it only does once it has processed
    /// our ServerHello: the handshake is as good as finished even if the ClientFinished was
    /// lost (and the client may have stopped repeating it, having closed). Returns whether
    /// this completed the handshake.
    pub(crate) fn assume_client_finished(&mut self) -> bool {
        let completes = self.state == State::ServerAwaitingFinished;
        if completes {
            self.state = State::Done;
        }
        completes
    }

    /// Reads every complete message from `stream` and answers on it.
    pub(crate) fn read(
        &mut self,
        stream: &mut HandshakeStream,
        progress: &mut Vec<Progress>,
    ) -> Result<(), TransportError> {
        while let Some((kind, body, consumed)) = next_message(stream.readable())? {
            let result = self.on_message(kind, &body, stream, progress);
            stream.consume(consumed);
            result?;
        }
        Ok(())
    }

    fn on_message(
        &mut self,
        kind: u8,
        body: &[u8],
        stream: &mut HandshakeStream,
        progress: &mut Vec<Progress>,
    ) -> Result<(), TransportError> {
        match (self.state, kind) {
            (State::ClientAwaitingHello, SERVER_HELLO) => {
                let params = TransportParameters::decode(body, self.side.peer())?;
                write_message(stream, CLIENT_FINISHED, &[]);
                self.state = State::Done;
                progress.push(Progress::PeerParameters(Box::new(params)));
                progress.push(Progress::Complete);
            }
            (State::ServerAwaitingHello, CLIENT_HELLO) => {
                let params = TransportParameters::decode(body, self.side.peer())?;
                write_message(stream, SERVER_HELLO, &encode_params(&self.local));
                self.state = State::ServerAwaitingFinished;
                progress.push(Progress::PeerParameters(Box::new(params)));
            }
            (State::ServerAwaitingFinished, CLIENT_FINISHED) if body.is_empty() => {
                self.state = State::Done;
                progress.push(Progress::Complete);
            }
            _ => {
                return Err(TransportError::protocol_violation(format!(
                    "unexpected handshake message {kind:#04x} ({} bytes) in state {:?}",
                    body.len(),
                    self.state
                )));
            }
        }
        Ok(())
    }
}

/// The next complete message in `data`: (type, body, bytes consumed).
fn next_message(data: &[u8]) -> Result<Option<(u8, Vec<u8>, usize)>, TransportError> {
    let mut r = Reader::new(data);
    let Ok(kind) = r.u8() else {
        return Ok(None);
    };
    let Ok(len) = r.varint() else {
        return Ok(None);
    };
    let len = len.into_inner();
    if len > MAX_MESSAGE_LEN {
        return Err(TransportError::protocol_violation(format!(
            "handshake message of {len} bytes exceeds {MAX_MESSAGE_LEN}"
        )));
    }
    match r.slice(len as usize) {
        Ok(body) => Ok(Some((kind, body.to_vec(), r.position()))),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::handshake_stream::HandshakeRanges;
    use crate::wire::Frame;
    use bytes::Bytes;

    /// Moves everything pending on `from` into `to`, as HANDSHAKE frames.
    fn deliver(from: &mut HandshakeStream, to: &mut HandshakeStream) {
        let mut buf = Vec::new();
        let mut rec = HandshakeRanges::new();
        from.write_frames(&mut buf, 10_000, &mut rec);
        for frame in crate::wire::frame::Iter::new(Bytes::from(buf)) {
            match frame.expect("valid frame") {
                Frame::Handshake(h) => to.on_frame(h).expect("accepted"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn three_messages_complete_the_handshake() {
        // One stream per end, as in a connection: its send side carries what this end writes,
        // its receive side what the peer wrote.
        let (mut c, mut s) = (HandshakeStream::default(), HandshakeStream::default());
        let client_params = TransportParameters {
            initial_max_data: 1000,
            ..TransportParameters::default()
        };
        let server_params = TransportParameters {
            initial_max_data: 2000,
            ..TransportParameters::default()
        };
        let mut client = Handshake::client(client_params.clone(), &mut c);
        let mut server = Handshake::server(server_params.clone());
        let mut progress = Vec::new();

        deliver(&mut c, &mut s);
        server.read(&mut s, &mut progress).expect("client hello");
        assert_eq!(
            progress,
            vec![Progress::PeerParameters(Box::new(client_params))]
        );
        assert!(!server.is_done() && server.has_peer_parameters());

        progress.clear();
        deliver(&mut s, &mut c);
        client.read(&mut c, &mut progress).expect("server hello");
        assert_eq!(
            progress,
            vec![
                Progress::PeerParameters(Box::new(server_params)),
                Progress::Complete
            ]
        );
        assert!(client.is_done());

        progress.clear();
        deliver(&mut c, &mut s);
        server.read(&mut s, &mut progress).expect("client finished");
        assert_eq!(progress, vec![Progress::Complete]);
        assert!(server.is_done());
    }

    #[test]
    fn out_of_order_messages_are_protocol_violations() {
        let mut out = HandshakeStream::default();
        write_message(&mut out, CLIENT_FINISHED, &[]);
        let mut inbound = HandshakeStream::default();
        deliver(&mut out, &mut inbound);
        let mut server = Handshake::server(TransportParameters::default());
        let err = server
            .read(&mut inbound, &mut Vec::new())
            .expect_err("finished first");
        assert_eq!(err.code, crate::TransportErrorCode::PROTOCOL_VIOLATION);
    }

    #[test]
    fn oversized_messages_are_rejected_before_buffering() {
        let mut data = vec![CLIENT_HELLO];
        VarInt::from_u32(100_000).encode(&mut data);
        assert!(next_message(&data).is_err());
        assert_eq!(next_message(&[CLIENT_HELLO, 5, 1]).expect("partial"), None);
    }
}
