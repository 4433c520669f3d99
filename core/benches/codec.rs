//! Encoding and decoding a full 1200-byte packet of STREAM frames (ns per packet).
#![allow(missing_docs)]

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_core::protect::integrity::TAG_LEN;
use weir_core::protect::{Crc32cKey, IdentityHeaderKey};
use weir_core::wire::frame::StreamHeader;
use weir_core::wire::{
    ConnectionId, Header, PacketBuilder, PacketNumber, PartialDecode, VarInt, open_packet,
};

fn build(buf: &mut Vec<u8>, pn: u64, data: &[u8]) -> usize {
    let header = Header::Short {
        spin: false,
        key_phase: false,
        dcid: ConnectionId::new(&[7; 8]).expect("8 bytes"),
        number: PacketNumber::new(pn, pn.checked_sub(1)),
    };
    let mut builder = PacketBuilder::new(buf, &header, pn, 1200, TAG_LEN).expect("fits");
    // Four streams' worth of data, as a busy connection writes them.
    for id in 0..4u32 {
        let room = builder.frame_space();
        let offset = VarInt::from_u32(1_000_000 + id * 7);
        let max =
            StreamHeader::max_data_len(VarInt::from_u32(id * 4), offset, room, true).unwrap_or(0);
        let len = max.min(280);
        StreamHeader {
            id: VarInt::from_u32(id * 4),
            offset,
            len,
            fin: false,
            explicit_len: true,
        }
        .encode(builder.buf());
        builder.buf().extend_from_slice(&data[..len]);
    }
    builder
        .finish(&Crc32cKey, &IdentityHeaderKey)
        .expect("sealed")
}

fn codec(c: &mut Criterion) {
    let data = vec![0xab; 1500];
    let mut group = c.benchmark_group("packet");
    group.throughput(Throughput::Elements(1));
    let mut buf = Vec::with_capacity(1500);
    let mut pn = 0;
    group.bench_function("encode_1200B_stream_frames", |b| {
        b.iter(|| {
            buf.clear();
            pn += 1;
            build(&mut buf, pn, &data)
        })
    });
    buf.clear();
    let size = build(&mut buf, 1, &data);
    let packet = Bytes::copy_from_slice(&buf[..size]);
    group.bench_function("decode_1200B_stream_frames", |b| {
        b.iter(|| {
            let (partial, _) = PartialDecode::new(BytesMut::from(&packet[..]), 8).expect("header");
            let opened =
                open_packet(partial, Some(&IdentityHeaderKey), &Crc32cKey, Some(0)).expect("opens");
            opened.frames().filter(|f| f.is_ok()).count()
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
