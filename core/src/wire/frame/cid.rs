//! Connection-ID frames (RFC 9000 §19.15, §19.16): an end hands its peer spare connection IDs
//! (NEW_CONNECTION_ID) and gives back the ones it no longer uses (RETIRE_CONNECTION_ID).

use bytes::BufMut;

use super::FrameType;
use crate::wire::cid::ConnectionId;
use crate::wire::error::{DecodeError, DecodeErrorKind};
use crate::wire::reader::Reader;
use crate::wire::reset::{RESET_TOKEN_LEN, ResetToken};
use crate::wire::varint::VarInt;

/// NEW_CONNECTION_ID (RFC 9000 §19.15): a connection ID the peer may address the sender with,
/// its sequence number, and the token that proves a stateless reset for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewConnectionId {
    /// The ID's sequence number (the handshake's ID is 0).
    pub sequence: VarInt,
    /// The receiver must retire every ID numbered below this. Never above `sequence`.
    pub retire_prior_to: VarInt,
    /// The connection ID, 1 to 20 bytes.
    pub id: ConnectionId,
    /// The stateless reset token of `id`.
    pub reset_token: ResetToken,
}

impl NewConnectionId {
    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        1 + self.sequence.size() + self.retire_prior_to.size() + 1 + self.id.len() + RESET_TOKEN_LEN
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(FrameType::NEW_CONNECTION_ID.value() as u8);
        self.sequence.encode(buf);
        self.retire_prior_to.encode(buf);
        // At most 20: a ConnectionId is never longer.
        buf.put_u8(self.id.len() as u8);
        buf.put_slice(&self.id);
        buf.put_slice(&self.reset_token.0);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sequence = r.varint()?;
        let retire_at = r.offset();
        let retire_prior_to = r.varint()?;
        if retire_prior_to > sequence {
            return Err(DecodeError::new(
                retire_at,
                DecodeErrorKind::RetirePriorToAboveSequence {
                    retire_prior_to: retire_prior_to.into_inner(),
                    sequence: sequence.into_inner(),
                },
            ));
        }
        let len_at = r.offset();
        let len = usize::from(r.u8()?);
        if len == 0 || len > ConnectionId::MAX_LEN {
            return Err(DecodeError::new(
                len_at,
                DecodeErrorKind::InvalidConnectionIdLength(len),
            ));
        }
        let id = ConnectionId::new(r.slice(len)?)
            .map_err(|e| DecodeError::new(len_at, DecodeErrorKind::ConnectionIdTooLong(e.0)))?;
        let mut token = [0; RESET_TOKEN_LEN];
        token.copy_from_slice(r.slice(RESET_TOKEN_LEN)?);
        Ok(Self {
            sequence,
            retire_prior_to,
            id,
            reset_token: ResetToken(token),
        })
    }
}
