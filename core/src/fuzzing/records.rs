//! The TCP fallback's record decoder: a peer's byte stream in arbitrary pieces (see
//! [`crate::records`]).

use crate::records::{self, RecordDecoder, RecordError};

/// The record bounds an input picks from: tiny, a packet, weir's largest datagram, the most.
const BOUNDS: [usize; 4] = [16, 1200, 1500, records::MAX_RECORD];

/// What [`records_reached`] got to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecordsReached {
    /// Records decoded.
    pub records: u64,
    /// The stream broke on a typed error.
    pub broken: bool,
}

/// Input: one byte picks the record bound (bits 0–1) and a backlog bound of one or eight
/// records (bit 2); then pieces, each a length byte and that many stream bytes, pushed one
/// after the other (as much as the decoder takes at a time) with the records taken after each
/// push.
///
/// Oracles: no panic; every record is non-empty and within the bound; the decoder never holds
/// more than its backlog bound and always takes more once its records are taken; the records,
/// encoded again, are exactly the stream's bytes up to where it broke or ended.
pub fn records(data: &[u8]) {
    records_reached(data);
}

/// [`records()`], reporting how far the input got.
pub fn records_reached(data: &[u8]) -> RecordsReached {
    let mut reached = RecordsReached::default();
    let Some((&setup, mut rest)) = data.split_first() else {
        return reached;
    };
    let bound = BOUNDS[usize::from(setup & 0x03)];
    let backlog = if setup & 0x04 == 0 { 1 } else { 8 } * (bound + records::LENGTH_SIZE);
    let mut decoder = RecordDecoder::new(bound, backlog);
    let mut taken = Vec::new();
    let mut encoded = Vec::new();
    'pieces: while let Some((&len, tail)) = rest.split_first() {
        let mut piece = &tail[..usize::from(len).min(tail.len())];
        rest = &tail[piece.len()..];
        while !piece.is_empty() {
            let Ok(n) = decoder.push(piece) else {
                break 'pieces;
            };
            taken.extend_from_slice(&piece[..n]);
            piece = &piece[n..];
            assert!(decoder.buffered() <= backlog, "the backlog bound holds");
            while let Some(record) = decoder.next() {
                match record {
                    Ok(datagram) => {
                        assert!(!datagram.is_empty() && datagram.len() <= bound);
                        records::encode(&datagram, &mut encoded).expect("a record re-encodes");
                        reached.records += 1;
                    }
                    Err(RecordError::Empty | RecordError::Oversized { .. }) => {
                        reached.broken = true;
                        break 'pieces;
                    }
                    Err(other) => panic!("next: unexpected {other}"),
                }
            }
            if n == 0 {
                // A whole record's room and nothing taken would be a stuck decoder.
                panic!("the decoder took nothing after its records were taken");
            }
        }
    }
    assert!(
        taken.starts_with(&encoded),
        "the records are the stream's bytes"
    );
    if !reached.broken {
        // What is still held is the rest of the stream, a record's beginning.
        assert_eq!(encoded.len() + decoder.buffered(), taken.len());
    }
    reached
}
