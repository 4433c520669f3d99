//! What a NAT did, and why it dropped what it dropped.

use std::fmt;

/// Why a NAT dropped a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NatDrop {
    /// Inbound: the mapping exists but its filter does not admit the sender.
    Filtered,
    /// Inbound: the mapping it was sent to has expired.
    Expired,
    /// Inbound: no mapping holds the destination port (never had, or long gone).
    NoMapping,
    /// Outbound: a new mapping was needed and the table was full.
    TableFull,
    /// Outbound: sent from inside to the NAT's own public address, and the NAT does not
    /// hairpin.
    Hairpin,
}

impl NatDrop {
    /// A short human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Filtered => "filtered",
            Self::Expired => "mapping expired",
            Self::NoMapping => "no mapping",
            Self::TableFull => "mapping table full",
            Self::Hairpin => "no hairpinning",
        }
    }
}

impl fmt::Display for NatDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counters of one NAT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatStats {
    /// Mappings created.
    pub mappings_created: u64,
    /// Mappings that timed out.
    pub mappings_expired: u64,
    /// Mappings alive now.
    pub active_mappings: usize,
    /// Outgoing datagrams translated.
    pub outbound: u64,
    /// Inbound datagrams translated and let in.
    pub inbound: u64,
    /// Inbound datagrams the filter refused.
    pub inbound_filtered: u64,
    /// Inbound datagrams to a mapping that had expired.
    pub inbound_expired: u64,
    /// Inbound datagrams to a port without a mapping.
    pub inbound_no_mapping: u64,
    /// Outgoing datagrams dropped because they needed a mapping and the table was full.
    pub table_full: u64,
    /// Outgoing datagrams to the NAT's own public address, dropped for lack of hairpinning.
    pub hairpin_dropped: u64,
}

impl NatStats {
    pub(crate) fn count(&mut self, drop: NatDrop) {
        let counter = match drop {
            NatDrop::Filtered => &mut self.inbound_filtered,
            NatDrop::Expired => &mut self.inbound_expired,
            NatDrop::NoMapping => &mut self.inbound_no_mapping,
            NatDrop::TableFull => &mut self.table_full,
            NatDrop::Hairpin => &mut self.hairpin_dropped,
        };
        *counter += 1;
    }
}
