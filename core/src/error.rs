//! Transport errors: what a connection tells its peer when the peer broke the protocol.

use std::borrow::Cow;
use std::fmt;

use crate::wire::FrameType;

/// A transport error code (RFC 9000 §20.1; weir keeps QUIC's values).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransportErrorCode(u64);

impl TransportErrorCode {
    /// The connection closes without error.
    pub const NO_ERROR: Self = Self(0x0);
    /// The endpoint hit an internal error.
    pub const INTERNAL_ERROR: Self = Self(0x1);
    /// The server refuses the connection.
    pub const CONNECTION_REFUSED: Self = Self(0x2);
    /// The peer sent more data than its flow-control credit allowed.
    pub const FLOW_CONTROL_ERROR: Self = Self(0x3);
    /// The peer opened more streams than allowed.
    pub const STREAM_LIMIT_ERROR: Self = Self(0x4);
    /// A frame arrived for a stream in a state that does not allow it.
    pub const STREAM_STATE_ERROR: Self = Self(0x5);
    /// A stream's final size changed or data went past it.
    pub const FINAL_SIZE_ERROR: Self = Self(0x6);
    /// A frame was malformed.
    pub const FRAME_ENCODING_ERROR: Self = Self(0x7);
    /// A transport parameter was malformed or invalid.
    pub const TRANSPORT_PARAMETER_ERROR: Self = Self(0x8);
    /// The peer gave this end more connection IDs than it announced it would take
    /// (`active_connection_id_limit`), or made it retire more than it can track.
    pub const CONNECTION_ID_LIMIT_ERROR: Self = Self(0x9);
    /// A generic protocol violation.
    pub const PROTOCOL_VIOLATION: Self = Self(0xa);
    /// A retry or address-validation token was invalid.
    pub const INVALID_TOKEN: Self = Self(0xb);
    /// The application or application protocol caused the close.
    pub const APPLICATION_ERROR: Self = Self(0xc);
    /// The peer sent more handshake data than can be buffered.
    pub const HANDSHAKE_BUFFER_EXCEEDED: Self = Self(0xd);

    /// A key was used for more packets than its AEAD allows (RFC 9001 §6.6).
    pub const AEAD_LIMIT_REACHED: Self = Self(0xf);

    /// A TLS alert: `CRYPTO_ERROR` (0x100 plus the alert, RFC 9001 §4.8).
    pub const fn crypto(alert: u8) -> Self {
        Self(0x100 | alert as u64)
    }

    /// The TLS alert of a `CRYPTO_ERROR` code.
    pub fn tls_alert(self) -> Option<u8> {
        (0x100..=0x1ff)
            .contains(&self.0)
            .then(|| u8::try_from(self.0 & 0xff).unwrap_or(0))
    }

    /// A code from its wire value.
    pub const fn from_u64(value: u64) -> Self {
        Self(value)
    }

    /// The wire value.
    pub const fn into_inner(self) -> u64 {
        self.0
    }

    /// The name of a known code.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "INTERNAL_ERROR",
            0x2 => "CONNECTION_REFUSED",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "STREAM_LIMIT_ERROR",
            0x5 => "STREAM_STATE_ERROR",
            0x6 => "FINAL_SIZE_ERROR",
            0x7 => "FRAME_ENCODING_ERROR",
            0x8 => "TRANSPORT_PARAMETER_ERROR",
            0x9 => "CONNECTION_ID_LIMIT_ERROR",
            0xa => "PROTOCOL_VIOLATION",
            0xb => "INVALID_TOKEN",
            0xc => "APPLICATION_ERROR",
            0xd => "HANDSHAKE_BUFFER_EXCEEDED",
            0xf => "AEAD_LIMIT_REACHED",
            0x100..=0x1ff => "CRYPTO_ERROR",
            _ => return None,
        })
    }
}

impl fmt::Debug for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.tls_alert()) {
            (Some(name), Some(alert)) => write!(f, "{name}(TLS alert {alert})"),
            (Some(name), None) => f.write_str(name),
            (None, _) => write!(f, "TransportErrorCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A protocol violation detected locally: the connection closes with this error and sends it to
/// the peer in a CONNECTION_CLOSE frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}{}: {reason}", frame.map(|f| format!(" in {f}")).unwrap_or_default())]
pub struct TransportError {
    /// The error code.
    pub code: TransportErrorCode,
    /// The frame type that triggered the error, if any.
    pub frame: Option<FrameType>,
    /// A human-readable explanation (sent to the peer as the close reason).
    pub reason: Cow<'static, str>,
}

impl TransportError {
    /// An error with `code` and `reason`.
    pub fn new(code: TransportErrorCode, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            frame: None,
            reason: reason.into(),
        }
    }

    /// The same error, attributed to a frame type.
    pub fn in_frame(mut self, frame: FrameType) -> Self {
        self.frame = Some(frame);
        self
    }

    /// FLOW_CONTROL_ERROR.
    pub fn flow_control(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TransportErrorCode::FLOW_CONTROL_ERROR, reason)
    }

    /// STREAM_LIMIT_ERROR.
    pub fn stream_limit(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TransportErrorCode::STREAM_LIMIT_ERROR, reason)
    }

    /// STREAM_STATE_ERROR.
    pub fn stream_state(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TransportErrorCode::STREAM_STATE_ERROR, reason)
    }

    /// FINAL_SIZE_ERROR.
    pub fn final_size(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TransportErrorCode::FINAL_SIZE_ERROR, reason)
    }

    /// FRAME_ENCODING_ERROR.
    pub fn frame_encoding(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TransportErrorCode::FRAME_ENCODING_ERROR, reason)
    }

    /// PROTOCOL_VIOLATION.
    pub fn protocol_violation(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TransportErrorCode::PROTOCOL_VIOLATION, reason)
    }

    /// TRANSPORT_PARAMETER_ERROR.
    pub fn transport_parameter(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TransportErrorCode::TRANSPORT_PARAMETER_ERROR, reason)
    }

    /// CONNECTION_ID_LIMIT_ERROR.
    pub fn connection_id_limit(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TransportErrorCode::CONNECTION_ID_LIMIT_ERROR, reason)
    }

    /// INTERNAL_ERROR.
    pub fn internal(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TransportErrorCode::INTERNAL_ERROR, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_code_frame_and_reason() {
        let e = TransportError::flow_control("stream 4 exceeded its window")
            .in_frame(FrameType::MAX_DATA);
        assert_eq!(
            e.to_string(),
            "FLOW_CONTROL_ERROR in MAX_DATA: stream 4 exceeded its window"
        );
        assert_eq!(
            format!("{:?}", TransportErrorCode::from_u64(0x99)),
            "TransportErrorCode(0x99)"
        );
    }
}
