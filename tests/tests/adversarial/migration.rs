//! Migration as an attacker sees it. A connection follows its peer to another address only
//! on packets it can authenticate (TLS; see `tests/tests/migration.rs`): under the
//! integrity-only protection anyone who saw one packet can forge more from any address, so a
//! forged 1-RTT packet from a new address — the move an on-path attacker would make to aim the
//! server's traffic at a victim — is dropped, and so are replays from elsewhere.

use super::*;

#[test]
fn forged_moves_replays_and_probes_from_another_address_do_not_move_the_connection() {
    let mut p = Pair::new(TransportConfig::default(), false);
    let conn_before = p.server_conn_stats();
    let real = p.last_client_short.clone().expect("a client packet");
    p.attack_raw(addr(78), real);
    let victim = addr(77);
    for frames in [
        vec![Frame::Ping, Frame::Padding(40)],
        vec![Frame::PathChallenge(*b"knock?!!"), Frame::Padding(100)],
    ] {
        let pn = p.next_attack_pn;
        p.next_attack_pn += 1;
        let forged = short_packet(
            p.server_cid(),
            pn,
            PacketNumber::new(pn, None),
            &encode(&frames),
        );
        p.server
            .handle_datagram(p.now, victim, None, BytesMut::from(&forged[..]));
        let mut buf = Vec::new();
        while let Some(t) = p.server.poll_transmit(p.now, 1, &mut buf) {
            assert_ne!(t.destination, victim, "nothing goes to the forged address");
            buf.clear();
        }
    }
    p.handle_events();
    let stats = p.server_conn_stats();
    assert_eq!(stats.migrations, 0);
    assert_eq!(stats.packets_dropped - conn_before.packets_dropped, 3);
    assert!(
        !p.server_events
            .iter()
            .any(|e| matches!(e, Event::PathChanged { .. }))
    );
    p.assert_open("forged moves");
}
