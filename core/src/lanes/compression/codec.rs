//! The codecs behind an envelope (see the [module docs](super)): an [`Encoder`] and a
//! [`Decoder`] that keep their zstd contexts between messages, and the one-shot
//! [`compress`] and [`decompress`] on top of them.

use std::fmt;

use bytes::{Bytes, BytesMut};
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe::{CParameter, DParameter, FrameFormat};

use super::{
    Codec, CodecSet, Compression, DecompressError, Family, MAX_ZSTD_LEVEL, MIN_COMPRESS_LEN,
    ZstdDictionary,
};
use crate::wire::{Reader, VarInt, varint_size};

/// lz4 encodes at most 255 bytes of a match per byte of input (a run of 0xff length bytes),
/// so an lz4 block of `n` bytes never decompresses to more than about `255 n`: a longer
/// announced length is refused before anything is allocated.
const LZ4_MAX_RATIO: u64 = 255;

/// Compresses messages for one connection, keeping its zstd context (and the dictionary loaded
/// in it) from one message to the next: setting up a context costs more than compressing a
/// small message.
#[derive(Default)]
pub(crate) struct Encoder {
    zstd: Option<ZstdEncoder>,
    /// The codec's output before it goes behind the envelope's header.
    scratch: Vec<u8>,
}

struct ZstdEncoder {
    compressor: Compressor<'static>,
    level: i32,
    dictionary: Option<u64>,
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder")
            .field("zstd_level", &self.zstd.as_ref().map(|z| z.level))
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// The envelope of `input` compressed with `compression` (with `dictionary`, for zstd, if
    /// given), or `None` when it would not be smaller than `input` — or `input` is shorter
    /// than [`MIN_COMPRESS_LEN`], or the codec failed: the message then goes as it is.
    pub(crate) fn compress(
        &mut self,
        compression: Compression,
        dictionary: Option<&ZstdDictionary>,
        input: &[u8],
    ) -> Option<Bytes> {
        let family = compression.family()?;
        if input.len() < MIN_COMPRESS_LEN {
            return None;
        }
        let header = 1 + varint_size(input.len() as u64);
        // Only an output that beats the input by more than the header is worth anything: the
        // codec gets no more room than that, and running out of room is the answer "no".
        let room = input.len().checked_sub(header + 1)?;
        self.scratch.clear();
        let codec = match family {
            Family::Lz4 => {
                // lz4_flex's safe encoder wants room for the worst case up front.
                self.scratch
                    .resize(lz4_flex::block::get_maximum_output_size(input.len()), 0);
                let n = lz4_flex::block::compress_into(input, &mut self.scratch).ok()?;
                self.scratch.truncate(n);
                Codec::Lz4
            }
            Family::Zstd => {
                let level = match compression {
                    Compression::Zstd(level) => level.clamp(1, MAX_ZSTD_LEVEL),
                    _ => Compression::ZSTD_DEFAULT_LEVEL,
                };
                let mut out = std::mem::take(&mut self.scratch);
                out.reserve_exact(room);
                let written = self
                    .zstd_encoder(i32::from(level), dictionary)
                    .map(|zstd| zstd.compressor.compress_to_buffer(input, &mut out));
                self.scratch = out;
                let written = written?;
                written.ok()?;
                if dictionary.is_some() {
                    Codec::ZstdDictionary
                } else {
                    Codec::Zstd
                }
            }
        };
        if self.scratch.len() > room {
            return None;
        }
        let mut envelope = BytesMut::with_capacity(header + self.scratch.len());
        envelope.extend_from_slice(&[codec.to_wire()]);
        VarInt::saturating_from_u64(input.len() as u64).encode(&mut envelope);
        envelope.extend_from_slice(&self.scratch);
        Some(envelope.freeze())
    }

    /// The zstd context at `level` with `dictionary`, set up anew only when either changed.
    fn zstd_encoder(
        &mut self,
        level: i32,
        dictionary: Option<&ZstdDictionary>,
    ) -> Option<&mut ZstdEncoder> {
        let id = dictionary.map(ZstdDictionary::id);
        let stale = self
            .zstd
            .as_ref()
            .is_none_or(|z| z.level != level || z.dictionary != id);
        if stale {
            let mut compressor = match self.zstd.take() {
                Some(z) => z.compressor,
                None => new_compressor().ok()?,
            };
            let bytes: &[u8] = dictionary.map_or(&[], |d| d.bytes());
            compressor.set_dictionary(level, bytes).ok()?;
            self.zstd = Some(ZstdEncoder {
                compressor,
                level,
                dictionary: id,
            });
        }
        self.zstd.as_mut()
    }
}

/// A zstd context writing weir's frames: magicless (the envelope names the codec), no
/// checksum (the packet's protection covers the bytes), no dictionary id (the handshake
/// compared them), the content size recorded (so a frame cannot claim more than its buffer).
fn new_compressor() -> std::io::Result<Compressor<'static>> {
    let mut c = Compressor::new(i32::from(Compression::ZSTD_DEFAULT_LEVEL))?;
    for parameter in [
        CParameter::Format(FrameFormat::Magicless),
        CParameter::ChecksumFlag(false),
        CParameter::DictIdFlag(false),
        CParameter::ContentSizeFlag(true),
    ] {
        c.set_parameter(parameter)?;
    }
    Ok(c)
}

fn new_decompressor(dictionary: Option<&ZstdDictionary>) -> std::io::Result<Decompressor<'static>> {
    let mut d = Decompressor::new()?;
    d.set_parameter(DParameter::Format(FrameFormat::Magicless))?;
    if let Some(dictionary) = dictionary {
        d.set_dictionary(dictionary.bytes())?;
    }
    Ok(d)
}

/// Decompresses messages for one connection within a bound, keeping its zstd contexts (one
/// plain, one with the dictionary), each made at its first use: a connection that never
/// receives a compressed message holds none.
#[derive(Default)]
pub(crate) struct Decoder {
    zstd: Option<Decompressor<'static>>,
    zstd_dictionary: Option<(u64, Decompressor<'static>)>,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("zstd", &self.zstd.is_some())
            .field(
                "zstd_dictionary",
                &self.zstd_dictionary.as_ref().map(|(id, _)| *id),
            )
            .finish()
    }
}

impl Decoder {
    /// The message in `envelope`, at most `max_len` bytes long, if it is in a codec of
    /// `accepted` (and, for the dictionary's codec, compressed with `dictionary`).
    pub(crate) fn decompress(
        &mut self,
        envelope: &[u8],
        max_len: u64,
        accepted: CodecSet,
        dictionary: Option<&ZstdDictionary>,
    ) -> Result<Bytes, DecompressError> {
        let mut r = Reader::new(envelope);
        let byte = r.u8().map_err(|_| DecompressError::Truncated)?;
        let codec = Codec::from_wire(byte).ok_or(DecompressError::UnknownCodec(byte))?;
        let len = r
            .varint()
            .map_err(|_| DecompressError::Truncated)?
            .into_inner();
        let payload = r.rest();
        if !accepted.decodes(codec) || (codec == Codec::ZstdDictionary && dictionary.is_none()) {
            return Err(DecompressError::Unannounced(codec));
        }
        if len > max_len {
            return Err(DecompressError::TooLarge { len, max: max_len });
        }
        if codec == Codec::Lz4 && len > (payload.len() as u64).saturating_mul(LZ4_MAX_RATIO) {
            return Err(DecompressError::Corrupt(codec));
        }
        // At most `max_len`, and so within the address space.
        let capacity =
            usize::try_from(len).map_err(|_| DecompressError::TooLarge { len, max: max_len })?;
        let out = match codec {
            Codec::Lz4 => {
                let mut out = vec![0; capacity];
                let n = lz4_flex::block::decompress_into(payload, &mut out)
                    .map_err(|_| DecompressError::Corrupt(codec))?;
                out.truncate(n);
                out
            }
            Codec::Zstd | Codec::ZstdDictionary => {
                let context = self
                    .zstd_context(codec, dictionary)
                    .ok_or(DecompressError::Corrupt(codec))?;
                let mut out = Vec::with_capacity(capacity);
                context
                    .decompress_to_buffer(payload, &mut out)
                    .map_err(|_| DecompressError::Corrupt(codec))?;
                out
            }
        };
        if out.len() as u64 != len {
            return Err(DecompressError::LengthMismatch {
                announced: len,
                actual: out.len() as u64,
            });
        }
        Ok(Bytes::from(out))
    }

    fn zstd_context(
        &mut self,
        codec: Codec,
        dictionary: Option<&ZstdDictionary>,
    ) -> Option<&mut Decompressor<'static>> {
        match (codec, dictionary) {
            (Codec::ZstdDictionary, Some(dictionary)) => {
                let stale = self
                    .zstd_dictionary
                    .as_ref()
                    .is_none_or(|(id, _)| *id != dictionary.id());
                if stale {
                    let context = new_decompressor(Some(dictionary)).ok()?;
                    self.zstd_dictionary = Some((dictionary.id(), context));
                }
                self.zstd_dictionary.as_mut().map(|(_, d)| d)
            }
            (Codec::ZstdDictionary, None) => None,
            _ => {
                if self.zstd.is_none() {
                    self.zstd = Some(new_decompressor(None).ok()?);
                }
                self.zstd.as_mut()
            }
        }
    }
}

/// `input` compressed with `compression` (and `dictionary`, for zstd) into an envelope, or
/// `None` when that would not be smaller than `input` (see the [module docs](super)). A fresh
/// zstd context each call: a connection keeps one instead.
pub fn compress(
    compression: Compression,
    dictionary: Option<&ZstdDictionary>,
    input: &[u8],
) -> Option<Bytes> {
    Encoder::default().compress(compression, dictionary, input)
}

/// The message in `envelope` if it decompresses to at most `max_len` bytes with a codec of
/// `accepted` (and `dictionary` for the dictionary's codec). Never allocates more than
/// `max_len` bytes for the output, whatever `envelope` holds.
pub fn decompress(
    envelope: &[u8],
    max_len: u64,
    accepted: CodecSet,
    dictionary: Option<&ZstdDictionary>,
) -> Result<Bytes, DecompressError> {
    Decoder::default().decompress(envelope, max_len, accepted, dictionary)
}
