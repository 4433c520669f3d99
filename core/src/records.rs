//! Records: weir's datagrams carried over a byte stream, for the TCP fallback (DESIGN.md §7)
//! on networks that drop UDP.
//!
//! A stream carries a sequence of records, each a datagram exactly as the core would send it
//! over UDP, after its length as two big-endian bytes:
//!
//! ```text
//! +--------+--------+-----------------------------+
//! | length (u16 BE) | datagram (length bytes)     |  ...the next record
//! +--------+--------+-----------------------------+
//! ```
//!
//! The codec is sans-IO like the rest of the core: [`encode`] appends a record to a buffer the
//! driver writes to its stream, and a [`RecordDecoder`] takes whatever the stream delivered —
//! any split, a byte at a time or many records at once — and hands back whole datagrams for
//! [`Endpoint::handle_datagram`](crate::Endpoint::handle_datagram). A length of zero, or above
//! the decoder's bound, is a typed error after which the stream must be closed (the record
//! boundaries are lost); a stream that ends mid-record is reported by
//! [`RecordDecoder::finish`]. The decoder never holds more than `max_buffered` bytes: it takes
//! what fits and says how much.

use bytes::{Buf, BytesMut};

/// The length prefix's size.
pub const LENGTH_SIZE: usize = 2;
/// The largest datagram a record carries (the prefix's range; UDP's own limit is 65 507).
pub const MAX_RECORD: usize = u16::MAX as usize;

/// Why a record could not be written or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A datagram longer than a record can carry.
    #[error("a datagram of {0} bytes does not fit a record (at most {MAX_RECORD})")]
    TooLarge(usize),
    /// The peer announced an empty record: weir never sends one, so the stream is not weir's
    /// or is corrupt.
    #[error("an empty record")]
    Empty,
    /// The peer announced a record longer than this decoder accepts.
    #[error("a record of {len} bytes, above the bound of {max}")]
    Oversized {
        /// The announced length.
        len: usize,
        /// The decoder's bound.
        max: usize,
    },
    /// The stream ended inside a record.
    #[error("the stream ended {missing} bytes short of a whole record")]
    Truncated {
        /// Bytes the last record still lacked.
        missing: usize,
    },
    /// An earlier error broke the stream's record boundaries; nothing more is read from it.
    #[error("the stream's records are broken by an earlier error")]
    Broken,
}

/// Appends `datagram` to `out` as one record.
pub fn encode(datagram: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
    let len = u16::try_from(datagram.len()).map_err(|_| RecordError::TooLarge(datagram.len()))?;
    if len == 0 {
        return Err(RecordError::Empty);
    }
    out.reserve(LENGTH_SIZE + datagram.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(datagram);
    Ok(())
}

/// Turns a byte stream back into datagrams (see the [module docs](self)).
#[derive(Debug)]
pub struct RecordDecoder {
    buf: BytesMut,
    max_record: usize,
    max_buffered: usize,
    broken: bool,
    records: u64,
}

impl RecordDecoder {
    /// A decoder that accepts records of at most `max_record` bytes (clamped to
    /// [`MAX_RECORD`], at least 1) and holds at most `max_buffered` undecoded bytes (at least
    /// one whole record and its prefix).
    pub fn new(max_record: usize, max_buffered: usize) -> Self {
        let max_record = max_record.clamp(1, MAX_RECORD);
        Self {
            buf: BytesMut::new(),
            max_record,
            max_buffered: max_buffered.max(LENGTH_SIZE + max_record),
            broken: false,
            records: 0,
        }
    }

    /// Takes as many of the bytes the stream delivered as fit under `max_buffered`, and says
    /// how many it took: take the records with [`next`](Self::next), then push the rest. Once
    /// the records are taken there is always room for the rest of a record, so a loop of push
    /// and next goes through any amount of input within the bound.
    pub fn push(&mut self, bytes: &[u8]) -> Result<usize, RecordError> {
        if self.broken {
            return Err(RecordError::Broken);
        }
        let room = self.max_buffered - self.buf.len();
        let taken = room.min(bytes.len());
        self.buf.extend_from_slice(&bytes[..taken]);
        Ok(taken)
    }

    /// The next whole datagram, `None` when the held bytes end inside a record (push more),
    /// or the error that broke the stream (then every later call returns
    /// [`RecordError::Broken`]).
    #[allow(clippy::should_implement_trait)] // fallible, and an iterator would hide the error
    pub fn next(&mut self) -> Option<Result<BytesMut, RecordError>> {
        if self.broken {
            return Some(Err(RecordError::Broken));
        }
        let prefix: [u8; LENGTH_SIZE] = self.buf.get(..LENGTH_SIZE)?.try_into().ok()?;
        let len = usize::from(u16::from_be_bytes(prefix));
        if len == 0 || len > self.max_record {
            self.broken = true;
            self.buf.clear();
            return Some(Err(if len == 0 {
                RecordError::Empty
            } else {
                RecordError::Oversized {
                    len,
                    max: self.max_record,
                }
            }));
        }
        if self.buf.len() < LENGTH_SIZE + len {
            return None;
        }
        self.buf.advance(LENGTH_SIZE);
        self.records += 1;
        Some(Ok(self.buf.split_to(len)))
    }

    /// The stream ended: an error if it ended inside a record.
    pub fn finish(&self) -> Result<(), RecordError> {
        if self.broken {
            return Err(RecordError::Broken);
        }
        match self.buf.get(..LENGTH_SIZE) {
            None if self.buf.is_empty() => Ok(()),
            None => Err(RecordError::Truncated {
                missing: LENGTH_SIZE - self.buf.len(),
            }),
            Some(prefix) => {
                let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
                Err(RecordError::Truncated {
                    missing: LENGTH_SIZE + len - self.buf.len(),
                })
            }
        }
    }

    /// Bytes held, not yet handed out as records.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Records handed out so far.
    pub fn records(&self) -> u64 {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn drain(decoder: &mut RecordDecoder) -> Result<Vec<Vec<u8>>, RecordError> {
        let mut out = Vec::new();
        while let Some(record) = decoder.next() {
            out.push(record?.to_vec());
        }
        Ok(out)
    }

    #[test]
    fn a_record_is_its_length_then_its_bytes() {
        let mut out = Vec::new();
        encode(b"abc", &mut out).expect("encode");
        assert_eq!(out, [0, 3, b'a', b'b', b'c']);
        assert_eq!(encode(b"", &mut out), Err(RecordError::Empty));
        assert_eq!(
            encode(&vec![0; MAX_RECORD + 1], &mut out),
            Err(RecordError::TooLarge(MAX_RECORD + 1))
        );
        assert_eq!(out.len(), 5, "a refused datagram writes nothing");
    }

    #[test]
    fn records_come_out_whole_whatever_the_split() {
        let mut stream = Vec::new();
        for len in [1usize, 1200, 1452, 3] {
            encode(&vec![len as u8; len], &mut stream).expect("encode");
        }
        let mut decoder = RecordDecoder::new(1500, 4096);
        let mut got = Vec::new();
        for byte in &stream {
            assert_eq!(decoder.push(std::slice::from_ref(byte)), Ok(1));
            got.extend(drain(&mut decoder).expect("records"));
        }
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            [1, 1200, 1452, 3]
        );
        assert_eq!(decoder.finish(), Ok(()));
        assert_eq!(decoder.records(), 4);
    }

    #[test]
    fn absurd_lengths_break_the_stream_with_a_typed_error() {
        let mut decoder = RecordDecoder::new(1500, 4096);
        decoder.push(&[0xff, 0xff, 1, 2, 3]).expect("push");
        assert_eq!(
            decoder.next(),
            Some(Err(RecordError::Oversized {
                len: 65_535,
                max: 1500
            }))
        );
        assert_eq!(decoder.buffered(), 0, "nothing of a broken stream is kept");
        assert_eq!(decoder.next(), Some(Err(RecordError::Broken)));
        assert_eq!(decoder.push(&[0, 1, 0]), Err(RecordError::Broken));
        let mut empty = RecordDecoder::new(1500, 4096);
        empty.push(&[0, 0]).expect("push");
        assert_eq!(empty.next(), Some(Err(RecordError::Empty)));
    }

    #[test]
    fn a_stream_cut_mid_record_is_reported_at_its_end() {
        let mut decoder = RecordDecoder::new(1500, 4096);
        decoder.push(&[0, 10, 1, 2, 3]).expect("push");
        assert_eq!(decoder.next(), None);
        assert_eq!(decoder.finish(), Err(RecordError::Truncated { missing: 7 }));
        let mut half = RecordDecoder::new(1500, 4096);
        half.push(&[0]).expect("push");
        assert_eq!(half.finish(), Err(RecordError::Truncated { missing: 1 }));
    }

    #[test]
    fn the_decoder_takes_what_fits_and_no_more() {
        let mut decoder = RecordDecoder::new(100, 300);
        let mut stream = Vec::new();
        for _ in 0..3 {
            encode(&[7; 100], &mut stream).expect("encode");
        }
        assert_eq!(decoder.push(&stream), Ok(300), "the bound");
        assert_eq!(decoder.buffered(), 300);
        assert_eq!(drain(&mut decoder).expect("records").len(), 2);
        assert_eq!(decoder.push(&stream[300..]), Ok(6), "room again");
        assert_eq!(drain(&mut decoder).expect("records").len(), 1);
        assert_eq!(decoder.finish(), Ok(()));
    }

    proptest! {
        /// Any datagrams, encoded and cut at any points, decode to the same datagrams.
        #[test]
        fn encoding_round_trips_through_any_split(
            datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..1600), 0..20),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
        ) {
            let mut stream = Vec::new();
            for d in &datagrams {
                encode(d, &mut stream).expect("encode");
            }
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.push(0);
            points.push(stream.len());
            points.sort_unstable();
            // The smallest backlog: one record and its prefix.
            let mut decoder = RecordDecoder::new(1600, 0);
            let mut got = Vec::new();
            for pair in points.windows(2) {
                let mut piece = &stream[pair[0]..pair[1]];
                while !piece.is_empty() {
                    let taken = decoder.push(piece).expect("push");
                    piece = &piece[taken..];
                    got.extend(drain(&mut decoder).expect("records"));
                }
            }
            prop_assert_eq!(got, datagrams);
            prop_assert_eq!(decoder.finish(), Ok(()));
        }
    }
}
