//! Assembling protected packets and opening received ones.
//!
//! Sending, with [`PacketBuilder`], into a caller-owned `Vec<u8>` and without allocating
//! (beyond the vector's own growth):
//!
//! 1. [`PacketBuilder::new`] writes the header (the `length` field as a placeholder);
//! 2. the caller appends frames to [`PacketBuilder::buf`], within
//!    [`PacketBuilder::frame_space`];
//! 3. [`PacketBuilder::pad_to`] optionally pads with PADDING frames (Initial packets must fill
//!    1200-byte datagrams, RFC 9000 §14.1);
//! 4. [`PacketBuilder::finish`] back-patches the length, reserves and fills the tag
//!    ([`PacketKey::seal`]), then applies header protection ([`HeaderKey::protect`]).
//!
//! Receiving, with [`open_packet`]: [`PartialDecode::new`] (per coalesced packet) →
//! [`PartialDecode::finish`] (header protection) → [`PacketKey::open`] (tag) → the frames
//! ([`OpenedPacket::frames`]). A packet that fails any step is dropped with a typed error;
//! nothing of it is delivered.

use bytes::Bytes;

use super::error::{DecodeError, DecodeErrorKind};
use super::frame::{self, Frame};
use super::header::{Header, Packet, PartialDecode, PartialEncode};
use super::packet_number::expected_packet_number;
use crate::protect::{HeaderKey, PacketKey, ProtectError, SAMPLE_OFFSET};

/// A packet could not be assembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A long-header packet is too long for weir's 2-byte `length` field.
    #[error("long-header packet of {0} bytes (from the packet number on) exceeds 16383")]
    LengthTooLarge(usize),
    /// The packet would exceed the size the builder was given.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    PacketTooLarge {
        /// The packet's size, tag included.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// The full packet number does not truncate to the header's packet number.
    #[error("packet number {0} does not match the header's truncated packet number")]
    PacketNumberMismatch(u64),
    /// Version Negotiation packets are not protected; write them with
    /// [`Header::encode`] alone.
    #[error("version negotiation packets are not protected")]
    VersionNegotiation,
    /// The buffer no longer holds the header the builder wrote.
    #[error("packet buffer truncated below its header")]
    Truncated,
    /// Sealing or header protection failed.
    #[error("packet protection failed: {0}")]
    Protect(#[from] ProtectError),
}

/// Writes one protected packet at the end of a caller-owned buffer (see the module doc).
#[derive(Debug)]
pub struct PacketBuilder<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    partial: PartialEncode,
    packet_number: u64,
    max_size: usize,
    tag_len: usize,
}

impl<'a> PacketBuilder<'a> {
    /// Starts a packet at the end of `buf` (after any packets already coalesced there) by
    /// writing `header`. `packet_number` is the full number the header's truncated one stands
    /// for (0 for Retry, whose token is sealed with packet number 0); `max_size` bounds the
    /// whole packet, tag included; `tag_len` is the packet key's [`PacketKey::tag_len`].
    pub fn new(
        buf: &'a mut Vec<u8>,
        header: &Header,
        packet_number: u64,
        max_size: usize,
        tag_len: usize,
    ) -> Result<Self, EncodeError> {
        if matches!(header, Header::VersionNegotiation { .. }) {
            return Err(EncodeError::VersionNegotiation);
        }
        if header.number().is_some_and(|pn| !pn.matches(packet_number)) {
            return Err(EncodeError::PacketNumberMismatch(packet_number));
        }
        let size = header.encoded_len().saturating_add(tag_len);
        if size > max_size {
            return Err(EncodeError::PacketTooLarge {
                size,
                max: max_size,
            });
        }
        let start = buf.len();
        let partial = header.encode(buf);
        Ok(Self {
            buf,
            start,
            partial,
            packet_number,
            max_size,
            tag_len,
        })
    }

    /// Bytes of the header.
    pub fn header_len(&self) -> usize {
        self.partial.header_len()
    }

    /// Bytes of frames written so far.
    pub fn payload_len(&self) -> usize {
        self.buf
            .len()
            .saturating_sub(self.start + self.partial.header_len())
    }

    /// Bytes still available for frames (the tag's room is already set aside).
    pub fn frame_space(&self) -> usize {
        (self.start + self.max_size)
            .saturating_sub(self.tag_len)
            .saturating_sub(self.buf.len())
    }

    /// The buffer, to append frames to. Write no more than [`frame_space`](Self::frame_space)
    /// bytes and do not touch what is already there; [`finish`](Self::finish) checks the size.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        self.buf
    }

    /// Appends `frame` if it fits in the space left; returns whether it did.
    pub fn write_frame(&mut self, frame: &Frame) -> bool {
        let fits = frame.encoded_len() <= self.frame_space();
        if fits {
            frame.encode(self.buf);
        }
        fits
    }

    /// Appends PADDING so that the finished packet, tag included, is at least `packet_size`
    /// bytes (capped at the builder's maximum).
    pub fn pad_to(&mut self, packet_size: usize) {
        let target = packet_size.min(self.max_size).saturating_sub(self.tag_len);
        let end = self.start + target;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
    }

    /// Finishes the packet: pads it if the header-protection sample would run past its end
    /// (RFC 9001 §5.4.2) or it has no frame, back-patches the length, seals the payload and
    /// protects the header. Returns the packet's size. On error the buffer is cut back to where
    /// the packet started.
    pub fn finish(
        mut self,
        packet_key: &dyn PacketKey,
        header_key: &dyn HeaderKey,
    ) -> Result<usize, EncodeError> {
        let start = self.start;
        let result = self.seal(packet_key, header_key);
        if result.is_err() {
            self.buf.truncate(start);
        }
        result
    }

    fn seal(
        &mut self,
        packet_key: &dyn PacketKey,
        header_key: &dyn HeaderKey,
    ) -> Result<usize, EncodeError> {
        let header_len = self.partial.header_len();
        let header_end = self.start + header_len;
        if self.buf.len() < header_end {
            return Err(EncodeError::Truncated);
        }
        if let Some(pn_offset) = self.partial.pn_offset() {
            // Every packet with a packet number carries at least one frame (RFC 9000 §12.4)
            // and enough bytes after the packet number for the sample.
            let min_len = (pn_offset + SAMPLE_OFFSET + header_key.sample_size())
                .max(header_len + 1 + self.tag_len);
            let len_with_tag = self.buf.len() - self.start + self.tag_len;
            if len_with_tag < min_len {
                let end = self.buf.len() + (min_len - len_with_tag);
                self.buf.resize(end, 0);
            }
        }
        let size = self.buf.len() - self.start + self.tag_len;
        if size > self.max_size {
            return Err(EncodeError::PacketTooLarge {
                size,
                max: self.max_size,
            });
        }
        self.buf.resize(self.buf.len() + self.tag_len, 0);
        let packet = self
            .buf
            .get_mut(self.start..)
            .ok_or(EncodeError::Truncated)?;
        self.partial.set_length(packet)?;
        let (header, payload_and_tag) = packet.split_at_mut(header_len);
        packet_key.seal(self.packet_number, header, payload_and_tag)?;
        if let Some(pn_offset) = self.partial.pn_offset() {
            header_key.protect(pn_offset, packet)?;
        }
        Ok(size)
    }
}

/// A received packet that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedPacket {
    /// The header (its packet number truncated, as on the wire).
    pub header: Header,
    /// The full packet number (0 for Retry and Version Negotiation).
    pub number: u64,
    /// The plaintext header bytes.
    pub header_bytes: Bytes,
    /// The plaintext payload: frames (for Retry: the retry token; for Version Negotiation:
    /// empty).
    pub payload: Bytes,
}

impl OpenedPacket {
    /// The payload's frames, with error offsets counted from the start of the packet.
    pub fn frames(&self) -> frame::Iter {
        frame::Iter::with_offset(self.payload.clone(), self.header_bytes.len())
    }
}

/// A received packet was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The header was malformed (or the packet carried no frame).
    #[error("malformed packet: {0}")]
    Decode(#[from] DecodeError),
    /// The payload failed to open.
    #[error("packet protection: {0}")]
    Protect(#[from] ProtectError),
}

/// Opens one packet split off by [`PartialDecode::new`]: removes header protection with
/// `header_key` (`None` when headers are not protected), restores the full packet number
/// from `largest_received` (the largest number received so far in the packet's number space),
/// and opens the payload with `packet_key`.
///
/// Version Negotiation packets are not protected and come back as they are, with an empty
/// payload. A protected packet that opens to an empty payload is rejected
/// ([`DecodeErrorKind::NoFrames`]), except Retry, whose payload is a token.
pub fn open_packet(
    partial: PartialDecode,
    header_key: Option<&dyn HeaderKey>,
    packet_key: &dyn PacketKey,
    largest_received: Option<u64>,
) -> Result<OpenedPacket, PacketError> {
    let Packet {
        header,
        header_bytes,
        mut payload,
    } = partial.finish(header_key)?;
    let number = header
        .number()
        .map_or(0, |pn| pn.expand(expected_packet_number(largest_received)));
    if !matches!(header, Header::VersionNegotiation { .. }) {
        packet_key.open(number, &header_bytes, &mut payload)?;
        if payload.is_empty() && header.number().is_some() {
            let at = header_bytes.len();
            return Err(DecodeError::new(at, DecodeErrorKind::NoFrames).into());
        }
    }
    Ok(OpenedPacket {
        header,
        number,
        header_bytes,
        payload: payload.freeze(),
    })
}

#[cfg(test)]
mod tests;
