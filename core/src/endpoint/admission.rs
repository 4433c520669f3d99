//! Admission of new clients: how many handshakes are in progress, in all and per source, so
//! that one stranger cannot fill the connection table and a flood makes the server ask for
//! proof of address (`ServerConfig::retry`, `max_handshakes_per_address`).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use super::secrets::{KeyedMap, KeyedState};
use crate::wire::ConnectionId;

/// How many abandoned handshakes the server remembers (about 40 bytes each).
const ABANDONED_MEMORY: usize = 1024;

/// Where handshakes come from, for the per-source limit: an IPv4 address, or the /64 prefix of
/// an IPv6 address (a host or subscriber is handed a whole /64, so counting single IPv6
/// addresses would give it 2^64 allowances).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl Source {
    pub(crate) fn of(addr: SocketAddr) -> Self {
        match addr.ip() {
            IpAddr::V4(ip) => Self::V4(ip.octets()),
            // A dual-stack socket sees IPv4 peers as mapped IPv6 addresses: the same host.
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.octets()),
                None => {
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&ip.octets()[..8]);
                    Self::V6(prefix)
                }
            },
        }
    }
}

/// Handshakes in progress (server connections that have not completed their handshake).
#[derive(Debug)]
pub(crate) struct Admission {
    in_progress: usize,
    per_source: KeyedMap<Source, u32>,
}

impl Admission {
    pub(crate) fn new(hash: KeyedState) -> Self {
        Self {
            in_progress: 0,
            per_source: KeyedMap::with_hasher(hash),
        }
    }

    /// Handshakes in progress from every source.
    pub(crate) fn in_progress(&self) -> usize {
        self.in_progress
    }

    /// Handshakes in progress from `source`.
    pub(crate) fn in_progress_from(&self, source: Source) -> usize {
        self.per_source.get(&source).map_or(0, |&n| n as usize)
    }

    /// A handshake from `source` started.
    pub(crate) fn begin(&mut self, source: Source) {
        self.in_progress += 1;
        *self.per_source.entry(source).or_default() += 1;
    }

    /// A handshake from `source` completed or was abandoned. The map forgets sources with none
    /// left, so it holds at most as many entries as handshakes in progress.
    pub(crate) fn end(&mut self, source: Source) {
        self.in_progress = self.in_progress.saturating_sub(1);
        if let Some(n) = self.per_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
    }
}

/// The connection IDs of the last [`ABANDONED_MEMORY`] handshakes this server abandoned (closed
/// before they completed: the `handshake_timeout` expired, or an error). A client that had our
/// first flight keeps addressing that ID,
/// possibly with its first Initial again (when our acknowledgement of it was lost), which would
/// otherwise open a new connection the client must ignore (its server ID is fixed, RFC 9000
/// §7.2); an Initial to a remembered ID gets a stateless reset instead, and the client learns at
/// once. Oldest first out, so a flood's abandoned handshakes only push out older entries.
#[derive(Debug)]
pub(crate) struct Abandoned {
    ids: KeyedMap<ConnectionId, ()>,
    order: VecDeque<ConnectionId>,
}

impl Abandoned {
    pub(crate) fn new(hash: KeyedState) -> Self {
        Self {
            ids: KeyedMap::with_hasher(hash),
            order: VecDeque::new(),
        }
    }

    pub(crate) fn insert(&mut self, id: ConnectionId) {
        if self.ids.insert(id, ()).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > ABANDONED_MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }

    pub(crate) fn contains(&self, id: &ConnectionId) -> bool {
        self.ids.contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Seed;
    use crate::endpoint::secrets::Secrets;

    fn admission() -> Admission {
        Admission::new(Secrets::new(&Seed::Fixed(1)).expect("seed").hash)
    }

    #[test]
    fn sources_group_ipv6_by_prefix_and_unmap_ipv4() {
        let a: SocketAddr = "[2001:db8:1:2:aaaa::1]:1000".parse().expect("addr");
        let b: SocketAddr = "[2001:db8:1:2:bbbb::9]:2000".parse().expect("addr");
        let c: SocketAddr = "[2001:db8:1:3::1]:1000".parse().expect("addr");
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(c));
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:5".parse().expect("addr");
        let plain: SocketAddr = "192.0.2.7:6".parse().expect("addr");
        assert_eq!(Source::of(mapped), Source::of(plain));
    }

    #[test]
    fn abandoned_ids_are_remembered_up_to_the_bound() {
        let mut a = Abandoned::new(Secrets::new(&Seed::Fixed(1)).expect("seed").hash);
        let id = |n: u32| ConnectionId::new(&n.to_be_bytes()).expect("4 bytes");
        for n in 0..(ABANDONED_MEMORY as u32 + 10) {
            a.insert(id(n));
        }
        assert_eq!(a.ids.len(), ABANDONED_MEMORY);
        assert!(!a.contains(&id(9)), "the oldest went first");
        assert!(a.contains(&id(10)));
        assert!(a.contains(&id(ABANDONED_MEMORY as u32 + 9)));
    }

    #[test]
    fn counts_go_up_and_down_and_empty_sources_are_forgotten() {
        let mut adm = admission();
        let s = Source::of("10.0.0.1:1".parse().expect("addr"));
        let t = Source::of("10.0.0.2:1".parse().expect("addr"));
        adm.begin(s);
        adm.begin(s);
        adm.begin(t);
        assert_eq!((adm.in_progress(), adm.in_progress_from(s)), (3, 2));
        adm.end(s);
        adm.end(s);
        assert_eq!((adm.in_progress(), adm.in_progress_from(s)), (1, 0));
        assert_eq!(adm.per_source.len(), 1);
        adm.end(t);
        assert!(adm.per_source.is_empty());
        assert_eq!(adm.in_progress(), 0);
    }
}
