//! Transport parameters: the limits and identities each end announces in its handshake
//! message (the weir counterpart of RFC 9000 §18, same identifiers and encoding).

use std::time::Duration;

use bytes::BufMut;

use crate::error::TransportError;
use crate::lanes::CodecSet;
use crate::streams::Side;
use crate::wire::reset::RESET_TOKEN_LEN;
use crate::wire::{ConnectionId, Reader, ResetToken, VarInt, varint_size};

/// RFC 9000 §18.2 identifiers, plus RFC 9221's `max_datagram_frame_size`.
mod id {
    pub const ORIGINAL_DESTINATION_CONNECTION_ID: u64 = 0x00;
    pub const MAX_IDLE_TIMEOUT: u64 = 0x01;
    pub const STATELESS_RESET_TOKEN: u64 = 0x02;
    pub const MAX_UDP_PAYLOAD_SIZE: u64 = 0x03;
    pub const INITIAL_MAX_DATA: u64 = 0x04;
    pub const INITIAL_MAX_STREAM_DATA_BIDI_LOCAL: u64 = 0x05;
    pub const INITIAL_MAX_STREAM_DATA_BIDI_REMOTE: u64 = 0x06;
    pub const INITIAL_MAX_STREAM_DATA_UNI: u64 = 0x07;
    pub const INITIAL_MAX_STREAMS_BIDI: u64 = 0x08;
    pub const INITIAL_MAX_STREAMS_UNI: u64 = 0x09;
    pub const ACK_DELAY_EXPONENT: u64 = 0x0a;
    pub const MAX_ACK_DELAY: u64 = 0x0b;
    pub const ACTIVE_CONNECTION_ID_LIMIT: u64 = 0x0e;
    pub const INITIAL_SOURCE_CONNECTION_ID: u64 = 0x0f;
    pub const RETRY_SOURCE_CONNECTION_ID: u64 = 0x10;
    pub const MAX_DATAGRAM_FRAME_SIZE: u64 = 0x20;
    // weir's own (lanes, DESIGN.md §3a), in the 4-byte varint range.
    pub const MAX_LANES: u64 = 0x3741_0001;
    pub const MAX_LANE_MESSAGE_SIZE: u64 = 0x3741_0002;
    pub const INITIAL_MAX_LANE_DATA: u64 = 0x3741_0003;
    pub const INITIAL_MAX_LANES_DATA: u64 = 0x3741_0004;
    pub const LANE_DECOMPRESS: u64 = 0x3741_0005;
    pub const LANE_ZSTD_DICTIONARY: u64 = 0x3741_0006;
}

/// RFC 9000 §18.2: the smallest `max_udp_payload_size` a peer may announce.
const MIN_UDP_PAYLOAD_SIZE: u64 = 1200;
/// RFC 9000 §18.2: default and largest `max_udp_payload_size`.
const DEFAULT_UDP_PAYLOAD_SIZE: u64 = 65_527;
/// RFC 9000 §18.2: `ack_delay_exponent` above 20 is invalid.
const MAX_ACK_DELAY_EXPONENT: u64 = 20;
/// RFC 9000 §18.2: `max_ack_delay` of 2^14 ms or more is invalid.
const MAX_ACK_DELAY_LIMIT_MS: u64 = 1 << 14;
/// RFC 9000 §18.2: the default `active_connection_id_limit`, and the smallest allowed.
pub(crate) const MIN_ACTIVE_CONNECTION_ID_LIMIT: u64 = 2;
/// RFC 9000 §4.6: stream counts are limited to 2^60.
const MAX_STREAMS_LIMIT: u64 = 1 << 60;

/// What one end announces about itself (RFC 9000 §18.2 semantics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportParameters {
    /// The destination connection ID of the client's first Initial (server only).
    pub original_destination_connection_id: Option<ConnectionId>,
    /// Idle timeout; zero disables it.
    pub max_idle_timeout: Duration,
    /// Largest UDP payload the sender is willing to receive.
    pub max_udp_payload_size: u64,
    /// Connection-level flow-control credit.
    pub initial_max_data: u64,
    /// Credit for bidirectional streams the sender of these parameters opens.
    pub initial_max_stream_data_bidi_local: u64,
    /// Credit for bidirectional streams its peer opens.
    pub initial_max_stream_data_bidi_remote: u64,
    /// Credit for unidirectional streams its peer opens.
    pub initial_max_stream_data_uni: u64,
    /// Bidirectional streams its peer may open.
    pub initial_max_streams_bidi: u64,
    /// Unidirectional streams its peer may open.
    pub initial_max_streams_uni: u64,
    /// Exponent of the ACK delay unit (microseconds × 2^exponent).
    pub ack_delay_exponent: u8,
    /// Longest the sender delays acknowledgements.
    pub max_ack_delay: Duration,
    /// How many of the receiver's connection IDs the sender stores at once (RFC 9000 §18.2):
    /// the handshake's and the spares handed over in NEW_CONNECTION_ID frames. At least 2.
    pub active_connection_id_limit: u64,
    /// The source connection ID of the sender's first packet.
    pub initial_source_connection_id: Option<ConnectionId>,
    /// The source connection ID of the server's Retry (server only, after a Retry).
    pub retry_source_connection_id: Option<ConnectionId>,
    /// Largest MESSAGE frame the sender accepts; `None` disables messages.
    pub max_datagram_frame_size: Option<u64>,
    /// The token with which the server may reset the connection statelessly (server only,
    /// RFC 9000 §10.3).
    pub stateless_reset_token: Option<ResetToken>,
    /// Lane numbers the sender accepts: `0..max_lanes` (0: no lanes).
    pub max_lanes: u64,
    /// Largest lane message the sender accepts.
    pub max_lane_message_size: u64,
    /// Flow-control credit of each reliable lane towards the sender.
    pub initial_max_lane_data: u64,
    /// Flow-control credit of all reliable lanes together towards the sender.
    pub initial_max_lanes_data: u64,
    /// The codecs in which the sender decompresses lane messages (absent: none, so an older
    /// peer never receives a compressed message). See [`crate::lanes::compression`].
    pub lane_decompress: CodecSet,
    /// The id of the sender's zstd dictionary ([`ZstdDictionary::id`]); 0 (absent): none.
    ///
    /// [`ZstdDictionary::id`]: crate::lanes::ZstdDictionary::id
    pub lane_zstd_dictionary: u64,
}

impl Default for TransportParameters {
    /// The values RFC 9000 §18.2 implies for absent parameters.
    fn default() -> Self {
        Self {
            original_destination_connection_id: None,
            max_idle_timeout: Duration::ZERO,
            max_udp_payload_size: DEFAULT_UDP_PAYLOAD_SIZE,
            initial_max_data: 0,
            initial_max_stream_data_bidi_local: 0,
            initial_max_stream_data_bidi_remote: 0,
            initial_max_stream_data_uni: 0,
            initial_max_streams_bidi: 0,
            initial_max_streams_uni: 0,
            ack_delay_exponent: 3,
            max_ack_delay: Duration::from_millis(25),
            active_connection_id_limit: MIN_ACTIVE_CONNECTION_ID_LIMIT,
            initial_source_connection_id: None,
            retry_source_connection_id: None,
            max_datagram_frame_size: None,
            stateless_reset_token: None,
            max_lanes: 0,
            max_lane_message_size: 0,
            initial_max_lane_data: 0,
            initial_max_lanes_data: 0,
            lane_decompress: CodecSet::NONE,
            lane_zstd_dictionary: 0,
        }
    }
}

fn put_varint_param<B: BufMut>(buf: &mut B, id: u64, value: u64) {
    VarInt::saturating_from_u64(id).encode(buf);
    VarInt::saturating_from_u64(varint_size(value) as u64).encode(buf);
    VarInt::saturating_from_u64(value).encode(buf);
}

fn put_cid_param<B: BufMut>(buf: &mut B, id: u64, cid: &ConnectionId) {
    VarInt::saturating_from_u64(id).encode(buf);
    VarInt::from_u32(cid.len() as u32).encode(buf);
    buf.put_slice(cid);
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TransportParameters {
    /// Appends the encoding (a sequence of id, length, value).
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        let defaults = Self::default();
        if let Some(cid) = &self.original_destination_connection_id {
            put_cid_param(buf, id::ORIGINAL_DESTINATION_CONNECTION_ID, cid);
        }
        if !self.max_idle_timeout.is_zero() {
            put_varint_param(buf, id::MAX_IDLE_TIMEOUT, millis(self.max_idle_timeout));
        }
        if self.max_udp_payload_size != defaults.max_udp_payload_size {
            put_varint_param(buf, id::MAX_UDP_PAYLOAD_SIZE, self.max_udp_payload_size);
        }
        let limits = [
            (id::INITIAL_MAX_DATA, self.initial_max_data),
            (
                id::INITIAL_MAX_STREAM_DATA_BIDI_LOCAL,
                self.initial_max_stream_data_bidi_local,
            ),
            (
                id::INITIAL_MAX_STREAM_DATA_BIDI_REMOTE,
                self.initial_max_stream_data_bidi_remote,
            ),
            (
                id::INITIAL_MAX_STREAM_DATA_UNI,
                self.initial_max_stream_data_uni,
            ),
            (id::INITIAL_MAX_STREAMS_BIDI, self.initial_max_streams_bidi),
            (id::INITIAL_MAX_STREAMS_UNI, self.initial_max_streams_uni),
        ];
        for (param, value) in limits {
            if value != 0 {
                put_varint_param(buf, param, value);
            }
        }
        if self.ack_delay_exponent != defaults.ack_delay_exponent {
            put_varint_param(
                buf,
                id::ACK_DELAY_EXPONENT,
                u64::from(self.ack_delay_exponent),
            );
        }
        if self.max_ack_delay != defaults.max_ack_delay {
            put_varint_param(buf, id::MAX_ACK_DELAY, millis(self.max_ack_delay));
        }
        if self.active_connection_id_limit != defaults.active_connection_id_limit {
            put_varint_param(
                buf,
                id::ACTIVE_CONNECTION_ID_LIMIT,
                self.active_connection_id_limit,
            );
        }
        if let Some(cid) = &self.initial_source_connection_id {
            put_cid_param(buf, id::INITIAL_SOURCE_CONNECTION_ID, cid);
        }
        if let Some(cid) = &self.retry_source_connection_id {
            put_cid_param(buf, id::RETRY_SOURCE_CONNECTION_ID, cid);
        }
        if let Some(size) = self.max_datagram_frame_size {
            put_varint_param(buf, id::MAX_DATAGRAM_FRAME_SIZE, size);
        }
        for (param, value) in [
            (id::MAX_LANES, self.max_lanes),
            (id::MAX_LANE_MESSAGE_SIZE, self.max_lane_message_size),
            (id::INITIAL_MAX_LANE_DATA, self.initial_max_lane_data),
            (id::INITIAL_MAX_LANES_DATA, self.initial_max_lanes_data),
            (id::LANE_DECOMPRESS, self.lane_decompress.to_wire()),
            (id::LANE_ZSTD_DICTIONARY, self.lane_zstd_dictionary),
        ] {
            if value != 0 {
                put_varint_param(buf, param, value);
            }
        }
        if let Some(token) = &self.stateless_reset_token {
            VarInt::from_u32(id::STATELESS_RESET_TOKEN as u32).encode(buf);
            VarInt::from_u32(RESET_TOKEN_LEN as u32).encode(buf);
            buf.put_slice(&token.0);
        }
    }

    /// Decodes parameters sent by `sender`, validating every value (RFC 9000 §7.4, §18.2).
    /// Unknown parameters are skipped; a parameter given twice is an error.
    pub fn decode(data: &[u8], sender: Side) -> Result<Self, TransportError> {
        let mut params = Self::default();
        let mut seen = 0u64; // bit per known identifier (all below 64)
        let mut r = Reader::new(data);
        let malformed = |_| TransportError::transport_parameter("malformed transport parameters");
        while !r.is_empty() {
            let param = r.varint().map_err(malformed)?.into_inner();
            let range = r.length_prefixed().map_err(malformed)?;
            let value = data.get(range).unwrap_or_default();
            if param < 64 {
                let bit = 1u64 << param;
                if seen & bit != 0 {
                    return Err(TransportError::transport_parameter(format!(
                        "transport parameter {param:#x} appears twice"
                    )));
                }
                seen |= bit;
            }
            params.apply(param, value, sender)?;
        }
        Ok(params)
    }

    fn apply(&mut self, param: u64, value: &[u8], sender: Side) -> Result<(), TransportError> {
        let server_only = matches!(
            param,
            id::ORIGINAL_DESTINATION_CONNECTION_ID
                | id::RETRY_SOURCE_CONNECTION_ID
                | id::STATELESS_RESET_TOKEN
        );
        if server_only && sender == Side::Client {
            return Err(TransportError::transport_parameter(format!(
                "a client sent the server-only transport parameter {param:#x}"
            )));
        }
        match param {
            id::ORIGINAL_DESTINATION_CONNECTION_ID => {
                self.original_destination_connection_id = Some(cid(value)?);
            }
            id::INITIAL_SOURCE_CONNECTION_ID => {
                self.initial_source_connection_id = Some(cid(value)?)
            }
            id::RETRY_SOURCE_CONNECTION_ID => self.retry_source_connection_id = Some(cid(value)?),
            id::MAX_IDLE_TIMEOUT => {
                self.max_idle_timeout = Duration::from_millis(varint(value)?);
            }
            id::MAX_UDP_PAYLOAD_SIZE => {
                let size = varint(value)?;
                if size < MIN_UDP_PAYLOAD_SIZE {
                    return Err(TransportError::transport_parameter(format!(
                        "max_udp_payload_size {size} is below 1200"
                    )));
                }
                self.max_udp_payload_size = size.min(DEFAULT_UDP_PAYLOAD_SIZE);
            }
            id::INITIAL_MAX_DATA => self.initial_max_data = varint(value)?,
            id::INITIAL_MAX_STREAM_DATA_BIDI_LOCAL => {
                self.initial_max_stream_data_bidi_local = varint(value)?;
            }
            id::INITIAL_MAX_STREAM_DATA_BIDI_REMOTE => {
                self.initial_max_stream_data_bidi_remote = varint(value)?;
            }
            id::INITIAL_MAX_STREAM_DATA_UNI => self.initial_max_stream_data_uni = varint(value)?,
            id::INITIAL_MAX_STREAMS_BIDI => self.initial_max_streams_bidi = stream_count(value)?,
            id::INITIAL_MAX_STREAMS_UNI => self.initial_max_streams_uni = stream_count(value)?,
            id::ACK_DELAY_EXPONENT => {
                let exponent = varint(value)?;
                if exponent > MAX_ACK_DELAY_EXPONENT {
                    return Err(TransportError::transport_parameter(format!(
                        "ack_delay_exponent {exponent} exceeds 20"
                    )));
                }
                self.ack_delay_exponent = exponent as u8;
            }
            id::MAX_ACK_DELAY => {
                let ms = varint(value)?;
                if ms >= MAX_ACK_DELAY_LIMIT_MS {
                    return Err(TransportError::transport_parameter(format!(
                        "max_ack_delay {ms} ms is not below 2^14 ms"
                    )));
                }
                self.max_ack_delay = Duration::from_millis(ms);
            }
            id::ACTIVE_CONNECTION_ID_LIMIT => {
                let limit = varint(value)?;
                if limit < MIN_ACTIVE_CONNECTION_ID_LIMIT {
                    return Err(TransportError::transport_parameter(format!(
                        "active_connection_id_limit {limit} is below 2"
                    )));
                }
                self.active_connection_id_limit = limit;
            }
            id::MAX_DATAGRAM_FRAME_SIZE => self.max_datagram_frame_size = Some(varint(value)?),
            id::MAX_LANES => self.max_lanes = varint(value)?,
            id::MAX_LANE_MESSAGE_SIZE => self.max_lane_message_size = varint(value)?,
            id::INITIAL_MAX_LANE_DATA => self.initial_max_lane_data = varint(value)?,
            id::INITIAL_MAX_LANES_DATA => self.initial_max_lanes_data = varint(value)?,
            id::LANE_DECOMPRESS => self.lane_decompress = CodecSet::from_wire(varint(value)?),
            id::LANE_ZSTD_DICTIONARY => self.lane_zstd_dictionary = varint(value)?,
            id::STATELESS_RESET_TOKEN => {
                let token = value.try_into().map_err(|_| {
                    TransportError::transport_parameter(format!(
                        "stateless_reset_token of {} bytes, not 16",
                        value.len()
                    ))
                })?;
                self.stateless_reset_token = Some(ResetToken(token));
            }
            _ => {} // RFC 9000 §7.4.2: unknown parameters are ignored
        }
        Ok(())
    }
}

/// A parameter whose value is one varint filling it exactly.
fn varint(value: &[u8]) -> Result<u64, TransportError> {
    let mut r = Reader::new(value);
    let v = r.varint().map_err(|_| {
        TransportError::transport_parameter("truncated integer transport parameter")
    })?;
    if !r.is_empty() {
        return Err(TransportError::transport_parameter(
            "integer transport parameter longer than its value",
        ));
    }
    Ok(v.into_inner())
}

fn cid(value: &[u8]) -> Result<ConnectionId, TransportError> {
    ConnectionId::new(value).map_err(|e| TransportError::transport_parameter(e.to_string()))
}

fn stream_count(value: &[u8]) -> Result<u64, TransportError> {
    let count = varint(value)?;
    if count > MAX_STREAMS_LIMIT {
        return Err(TransportError::transport_parameter(format!(
            "stream limit {count} exceeds 2^60"
        )));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransportErrorCode;
    use proptest::prelude::*;

    fn cid_of(bytes: &[u8]) -> ConnectionId {
        ConnectionId::new(bytes).expect("short connection ID")
    }

    #[test]
    fn defaults_encode_to_nothing() {
        let mut buf = Vec::new();
        TransportParameters::default().encode(&mut buf);
        assert!(buf.is_empty());
        assert_eq!(
            TransportParameters::decode(&buf, Side::Server),
            Ok(TransportParameters::default())
        );
    }

    #[test]
    fn server_only_parameters_from_a_client_are_rejected() {
        let params = TransportParameters {
            original_destination_connection_id: Some(cid_of(&[1, 2, 3, 4])),
            ..TransportParameters::default()
        };
        let mut buf = Vec::new();
        params.encode(&mut buf);
        let err = TransportParameters::decode(&buf, Side::Client).expect_err("client");
        assert_eq!(err.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
        assert!(TransportParameters::decode(&buf, Side::Server).is_ok());
    }

    #[test]
    fn duplicates_and_bad_values_are_rejected() {
        let mut buf = Vec::new();
        put_varint_param(&mut buf, id::INITIAL_MAX_DATA, 10);
        put_varint_param(&mut buf, id::INITIAL_MAX_DATA, 20);
        assert!(TransportParameters::decode(&buf, Side::Client).is_err());
        for (param, value) in [
            (id::MAX_UDP_PAYLOAD_SIZE, 1199),
            (id::ACK_DELAY_EXPONENT, 21),
            (id::MAX_ACK_DELAY, 1 << 14),
            (id::INITIAL_MAX_STREAMS_BIDI, (1 << 60) + 1),
            (id::ACTIVE_CONNECTION_ID_LIMIT, 0),
            (id::ACTIVE_CONNECTION_ID_LIMIT, 1),
        ] {
            let mut buf = Vec::new();
            put_varint_param(&mut buf, param, value);
            assert!(
                TransportParameters::decode(&buf, Side::Client).is_err(),
                "{param:#x}"
            );
        }
        // A reset token of the wrong length, and one from a client.
        let short = [
            id::STATELESS_RESET_TOKEN as u8,
            15,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            13,
            14,
            15,
        ];
        assert!(TransportParameters::decode(&short, Side::Server).is_err());
        let mut token = vec![id::STATELESS_RESET_TOKEN as u8, 16];
        token.extend_from_slice(&[7; 16]);
        assert!(TransportParameters::decode(&token, Side::Client).is_err());
        assert_eq!(
            TransportParameters::decode(&token, Side::Server).map(|p| p.stateless_reset_token),
            Ok(Some(ResetToken([7; 16])))
        );
        // A value with trailing bytes.
        let buf = [id::INITIAL_MAX_DATA as u8, 2, 0x05, 0x00];
        assert!(TransportParameters::decode(&buf, Side::Client).is_err());
        // Truncated.
        assert!(TransportParameters::decode(&[0x04, 0x08, 0x01], Side::Client).is_err());
    }

    #[test]
    fn active_connection_id_limit_below_two_is_a_transport_parameter_error() {
        for limit in [0, 1] {
            let mut buf = Vec::new();
            put_varint_param(&mut buf, id::ACTIVE_CONNECTION_ID_LIMIT, limit);
            let err = TransportParameters::decode(&buf, Side::Server).expect_err("below 2");
            assert_eq!(err.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
        }
        let mut buf = Vec::new();
        put_varint_param(&mut buf, id::ACTIVE_CONNECTION_ID_LIMIT, 8);
        let params = TransportParameters::decode(&buf, Side::Client).expect("valid");
        assert_eq!(params.active_connection_id_limit, 8);
        // Absent: the default of 2.
        let params = TransportParameters::decode(&[], Side::Client).expect("valid");
        assert_eq!(params.active_connection_id_limit, 2);
    }

    #[test]
    fn unknown_parameters_are_skipped() {
        let mut buf = Vec::new();
        put_varint_param(&mut buf, 0x1234, 99);
        put_varint_param(&mut buf, id::INITIAL_MAX_DATA, 7);
        let p = TransportParameters::decode(&buf, Side::Client).expect("valid");
        assert_eq!(p.initial_max_data, 7);
    }

    fn arb_cid() -> impl Strategy<Value = Option<ConnectionId>> {
        proptest::option::of(
            proptest::collection::vec(any::<u8>(), 0..=20).prop_map(|b| cid_of(&b)),
        )
    }

    proptest! {
        #[test]
        fn round_trip(
            odcid in arb_cid(),
            iscid in arb_cid(),
            rscid in arb_cid(),
            idle_ms in 0u64..1_000_000,
            payload in 1200u64..=65_527,
            limits in proptest::array::uniform4(0u64..(1 << 62)),
            streams in proptest::array::uniform2(0u64..=(1 << 60)),
            exponent in 0u8..=20,
            ack_delay_ms in 0u64..(1 << 14),
            datagram in proptest::option::of(0u64..(1 << 62)),
            reset in proptest::option::of(any::<[u8; 16]>()),
            lanes in proptest::array::uniform4(0u64..(1 << 62)),
            codecs in 0u64..4,
            dictionary in 0u64..(1 << 62),
            cid_limit in 2u64..(1 << 62),
        ) {
            let params = TransportParameters {
                original_destination_connection_id: odcid,
                max_idle_timeout: Duration::from_millis(idle_ms),
                max_udp_payload_size: payload,
                initial_max_data: limits[0],
                initial_max_stream_data_bidi_local: limits[1],
                initial_max_stream_data_bidi_remote: limits[2],
                initial_max_stream_data_uni: limits[3],
                initial_max_streams_bidi: streams[0],
                initial_max_streams_uni: streams[1],
                ack_delay_exponent: exponent,
                max_ack_delay: Duration::from_millis(ack_delay_ms),
                active_connection_id_limit: cid_limit,
                initial_source_connection_id: iscid,
                retry_source_connection_id: rscid,
                max_datagram_frame_size: datagram,
                stateless_reset_token: reset.map(ResetToken),
                max_lanes: lanes[0],
                max_lane_message_size: lanes[1],
                initial_max_lane_data: lanes[2],
                initial_max_lanes_data: lanes[3],
                lane_decompress: CodecSet::from_wire(codecs),
                lane_zstd_dictionary: dictionary,
            };
            let mut buf = Vec::new();
            params.encode(&mut buf);
            prop_assert_eq!(TransportParameters::decode(&buf, Side::Server), Ok(params));
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = TransportParameters::decode(&data, Side::Server);
        }
    }
}
