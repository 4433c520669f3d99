//! Closed-form checks of the NAT rules: which inbound datagrams pass after which outbound ones.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::*;

const PUBLIC: [u8; 4] = [203, 0, 113, 1];

fn public_ip() -> IpAddr {
    IpAddr::from(PUBLIC)
}

fn private(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([192, 168, 0, host], port))
}

fn remote(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, host], port))
}

fn nat(kind: NatKind) -> Nat {
    Nat::new(NatConfig::new(kind, public_ip()), 1).expect("nat")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// After one datagram from inside to `remote(1, 80)`, which senders get back in through its
/// mapping, and whether a datagram to another host reuses the mapping.
#[test]
fn each_kind_maps_and_filters_by_its_rfc_4787_behaviours() {
    let same = remote(1, 80);
    let same_ip_other_port = remote(1, 81);
    let other_ip = remote(2, 80);
    // (kind, admits same, admits same IP other port, admits other IP, one mapping for both)
    let expected = [
        (NatKind::FullCone, true, true, true, true),
        (NatKind::AddressRestricted, true, true, false, true),
        (NatKind::PortRestricted, true, false, false, true),
        (NatKind::Symmetric, true, false, false, false),
    ];
    for (kind, admits_same, admits_port, admits_ip, shared) in expected {
        let mut n = nat(kind);
        let inside = private(2, 5000);
        let first = n.outbound(secs(0), inside, same).expect("out");
        assert!(first.created);
        assert_eq!(first.public.ip(), public_ip());
        let port = first.public.port();
        let admits = |n: &mut Nat, from| n.inbound(secs(1), port, from).is_ok();
        assert_eq!(admits(&mut n, same), admits_same, "{kind}: same");
        assert_eq!(
            admits(&mut n, same_ip_other_port),
            admits_port,
            "{kind}: same IP, other port"
        );
        assert_eq!(admits(&mut n, other_ip), admits_ip, "{kind}: other IP");
        assert_eq!(n.inbound(secs(1), port, same), Ok(inside));

        let second = n.outbound(secs(2), inside, other_ip).expect("out");
        assert_eq!(second.public == first.public, shared, "{kind}");
        assert_eq!(second.created, !shared, "{kind}");
        // Once the inside has sent to it, the other host gets in through the mapping used.
        assert!(n.inbound(secs(3), second.public.port(), other_ip).is_ok());
        if !shared {
            // A symmetric NAT's first mapping still admits only the first remote.
            assert_eq!(
                n.inbound(secs(3), port, other_ip),
                Err(NatDrop::Filtered),
                "{kind}"
            );
            assert_eq!(
                n.inbound(secs(3), second.public.port(), same),
                Err(NatDrop::Filtered)
            );
        }
        let stats = n.stats(secs(3));
        assert_eq!(stats.mappings_created, if shared { 1 } else { 2 });
        assert_eq!(stats.outbound, 2);
        assert_eq!(stats.active_mappings, stats.mappings_created as usize);
    }
}

#[test]
fn address_dependent_mapping_shares_a_port_per_remote_ip() {
    let config = NatConfig {
        mapping: MappingBehavior::AddressDependent,
        ..NatConfig::new(NatKind::FullCone, public_ip())
    };
    let mut n = Nat::new(config, 3).expect("nat");
    let inside = private(2, 5000);
    let a = n.outbound(secs(0), inside, remote(1, 80)).expect("out");
    let b = n.outbound(secs(0), inside, remote(1, 443)).expect("out");
    let c = n.outbound(secs(0), inside, remote(2, 80)).expect("out");
    assert_eq!(a.public, b.public);
    assert_ne!(a.public, c.public);
}

#[test]
fn a_mapping_expires_after_the_binding_timeout_without_outgoing_traffic() {
    let config = NatConfig {
        binding_timeout: secs(10),
        ..NatConfig::new(NatKind::PortRestricted, public_ip())
    };
    let mut n = Nat::new(config, 5).expect("nat");
    let inside = private(2, 5000);
    let server = remote(1, 443);
    let old = n.outbound(secs(0), inside, server).expect("out").public;
    // Outgoing traffic refreshes: the timer restarts at 6 s.
    n.outbound(secs(6), inside, server).expect("out");
    assert_eq!(
        n.inbound(Duration::from_millis(15_999), old.port(), server),
        Ok(inside)
    );
    assert_eq!(n.mapping(secs(15), inside, server), Some(old));
    assert_eq!(n.lookup(secs(16), old.port()), None);
    let stats = n.stats(secs(16));
    assert_eq!((stats.mappings_expired, stats.active_mappings), (1, 0));
    assert_eq!(
        n.inbound(secs(16), old.port(), server),
        Err(NatDrop::Expired)
    );
    // The next datagram out is a NAT rebinding: another public port.
    let new = n.outbound(secs(17), inside, server).expect("out");
    assert!(new.created);
    assert_ne!(new.public, old);
    assert_eq!(
        n.inbound(secs(17), old.port(), server),
        Err(NatDrop::Expired)
    );
    assert_eq!(n.inbound(secs(17), new.public.port(), server), Ok(inside));
    let stats = n.stats(secs(17));
    assert_eq!(
        (
            stats.mappings_created,
            stats.mappings_expired,
            stats.inbound_expired
        ),
        (2, 1, 2)
    );
}

#[test]
fn inbound_traffic_refreshes_only_when_configured_to() {
    for refresh_on_inbound in [false, true] {
        let config = NatConfig {
            binding_timeout: secs(10),
            refresh_on_inbound,
            ..NatConfig::new(NatKind::FullCone, public_ip())
        };
        let mut n = Nat::new(config, 5).expect("nat");
        let inside = private(2, 5000);
        let port = n
            .outbound(secs(0), inside, remote(1, 1))
            .expect("out")
            .public
            .port();
        assert!(n.inbound(secs(8), port, remote(1, 1)).is_ok());
        assert_eq!(
            n.inbound(secs(12), port, remote(1, 1)).is_ok(),
            refresh_on_inbound
        );
        // A refused datagram never refreshes.
        assert_eq!(
            n.inbound(secs(17), port, remote(1, 1)).is_ok(),
            refresh_on_inbound
        );
        assert!(n.inbound(secs(40), port, remote(1, 1)).is_err());
    }
    let config = NatConfig {
        binding_timeout: secs(10),
        refresh_on_inbound: true,
        ..NatConfig::new(NatKind::PortRestricted, public_ip())
    };
    let mut n = Nat::new(config, 5).expect("nat");
    let port = n
        .outbound(secs(0), private(2, 1), remote(1, 1))
        .expect("out")
        .public
        .port();
    assert_eq!(
        n.inbound(secs(8), port, remote(9, 9)),
        Err(NatDrop::Filtered)
    );
    assert_eq!(
        n.inbound(secs(10), port, remote(1, 1)),
        Err(NatDrop::Expired)
    );
}

#[test]
fn a_full_table_drops_datagrams_that_need_a_new_mapping() {
    let config = NatConfig {
        binding_timeout: secs(10),
        max_mappings: 2,
        ..NatConfig::new(NatKind::Symmetric, public_ip())
    };
    let mut n = Nat::new(config, 9).expect("nat");
    let inside = private(2, 5000);
    n.outbound(secs(0), inside, remote(1, 1)).expect("first");
    n.outbound(secs(5), inside, remote(2, 1)).expect("second");
    assert_eq!(
        n.outbound(secs(6), inside, remote(3, 1)),
        Err(NatDrop::TableFull)
    );
    // Existing mappings still work.
    assert!(n.outbound(secs(6), inside, remote(1, 1)).is_ok());
    assert_eq!(n.stats(secs(6)).table_full, 1);
    // Once one expires there is room again.
    assert!(n.outbound(secs(15), inside, remote(3, 1)).is_ok());
    let stats = n.stats(secs(15));
    assert_eq!((stats.mappings_created, stats.mappings_expired), (3, 1));
    assert_eq!(stats.active_mappings, 2);
}

#[test]
fn a_mapping_remembers_a_bounded_number_of_remotes() {
    let config = NatConfig {
        max_permissions: 2,
        ..NatConfig::new(NatKind::PortRestricted, public_ip())
    };
    let mut n = Nat::new(config, 9).expect("nat");
    let inside = private(2, 5000);
    let port = n
        .outbound(secs(0), inside, remote(1, 1))
        .expect("out")
        .public
        .port();
    n.outbound(secs(1), inside, remote(2, 1)).expect("out");
    n.outbound(secs(2), inside, remote(1, 1)).expect("out");
    n.outbound(secs(3), inside, remote(3, 1)).expect("out");
    // remote 2 was the least recently used.
    assert!(n.inbound(secs(4), port, remote(1, 1)).is_ok());
    assert!(n.inbound(secs(4), port, remote(3, 1)).is_ok());
    assert_eq!(
        n.inbound(secs(4), port, remote(2, 1)),
        Err(NatDrop::Filtered)
    );
}

#[test]
fn ports_are_preserved_when_asked_and_free() {
    let config = NatConfig {
        port_preservation: true,
        ..NatConfig::new(NatKind::Symmetric, public_ip())
    };
    let mut n = Nat::new(config, 9).expect("nat");
    let a = n
        .outbound(secs(0), private(2, 5000), remote(1, 1))
        .expect("out");
    assert_eq!(a.public, SocketAddr::new(public_ip(), 5000));
    // Taken: by another inside host, or by this one's mapping to another remote.
    let b = n
        .outbound(secs(0), private(3, 5000), remote(1, 1))
        .expect("out");
    let c = n
        .outbound(secs(0), private(2, 5000), remote(2, 1))
        .expect("out");
    assert_ne!(b.public.port(), 5000);
    assert_ne!(c.public.port(), 5000);
    assert_ne!(b.public, c.public);
}

#[test]
fn port_choices_follow_the_seed() {
    let ports = |seed| {
        let mut n = Nat::new(NatConfig::new(NatKind::Symmetric, public_ip()), seed).expect("nat");
        (1..=20)
            .map(|h| {
                n.outbound(secs(0), private(2, 5000), remote(h, 1))
                    .expect("out")
                    .public
                    .port()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ports(1), ports(1));
    assert_ne!(ports(1), ports(2));
    let all = ports(1);
    let unique: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len());
    assert!(all.iter().all(|p| *p >= 1024));
}

#[test]
fn a_small_port_range_is_used_up_exactly() {
    let config = NatConfig {
        ports: 40_000..=40_003,
        max_mappings: 4,
        ..NatConfig::new(NatKind::Symmetric, public_ip())
    };
    let mut n = Nat::new(config, 9).expect("nat");
    let mut ports: Vec<u16> = (1..=4)
        .map(|h| {
            n.outbound(secs(0), private(2, 1), remote(h, 1))
                .expect("out")
                .public
                .port()
        })
        .collect();
    ports.sort_unstable();
    assert_eq!(ports, vec![40_000, 40_001, 40_002, 40_003]);
    assert_eq!(
        n.outbound(secs(0), private(2, 1), remote(5, 1)),
        Err(NatDrop::TableFull)
    );
}

#[test]
fn unknown_ports_and_hairpins_are_dropped_and_counted() {
    let mut n = nat(NatKind::FullCone);
    assert_eq!(
        n.inbound(secs(0), 1234, remote(1, 1)),
        Err(NatDrop::NoMapping)
    );
    assert_eq!(
        n.outbound(secs(0), private(2, 1), SocketAddr::new(public_ip(), 1234)),
        Err(NatDrop::Hairpin)
    );
    let stats = n.stats(secs(0));
    assert_eq!((stats.inbound_no_mapping, stats.hairpin_dropped), (1, 1));
    assert_eq!(stats.mappings_created, 0);

    let config = NatConfig {
        hairpinning: true,
        ..NatConfig::new(NatKind::FullCone, public_ip())
    };
    let mut n = Nat::new(config, 1).expect("nat");
    assert!(
        n.outbound(secs(0), private(2, 1), SocketAddr::new(public_ip(), 1234))
            .is_ok()
    );
}

#[test]
fn unworkable_configs_are_refused() {
    let base = NatConfig::new(NatKind::FullCone, public_ip());
    let cases = [
        (
            NatConfig {
                binding_timeout: Duration::ZERO,
                ..base.clone()
            },
            NatConfigError::Zero("binding_timeout"),
        ),
        (
            NatConfig {
                max_mappings: 0,
                ..base.clone()
            },
            NatConfigError::Zero("max_mappings"),
        ),
        (
            NatConfig {
                max_permissions: 0,
                ..base.clone()
            },
            NatConfigError::Zero("max_permissions"),
        ),
        (
            NatConfig {
                #[allow(clippy::reversed_empty_ranges)]
                ports: 10..=9,
                ..base.clone()
            },
            NatConfigError::EmptyPortRange,
        ),
        (
            NatConfig {
                ports: 10..=19,
                max_mappings: 11,
                ..base.clone()
            },
            NatConfigError::MorePortsNeeded {
                mappings: 11,
                ports: 10,
            },
        ),
    ];
    for (config, error) in cases {
        assert_eq!(Nat::new(config, 0).err(), Some(error));
    }
}
