//! What a NAT does: its mapping and filtering behaviours (RFC 4787) and its limits.

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

/// How long a mapping lives without outgoing traffic unless configured otherwise. RFC 4787
/// REQ-5 asks for at least two minutes, but many home routers time UDP out after 30 s, and the
/// short value is the one applications have to survive.
pub const DEFAULT_BINDING_TIMEOUT: Duration = Duration::from_secs(30);

/// Mappings a NAT holds at once unless configured otherwise.
pub const DEFAULT_MAX_MAPPINGS: usize = 4096;

/// Remote endpoints one mapping remembers for filtering unless configured otherwise.
pub const DEFAULT_MAX_PERMISSIONS: usize = 64;

/// How a NAT chooses the public address of an outgoing datagram (RFC 4787 §4.1): which
/// datagrams of one internal address share a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MappingBehavior {
    /// "Endpoint-independent mapping": every destination sees the same public address.
    EndpointIndependent,
    /// "Address-dependent mapping": one public address per destination IP address.
    AddressDependent,
    /// "Address and port-dependent mapping": one public address per destination address and
    /// port (what makes a NAT "symmetric").
    AddressAndPortDependent,
}

/// Which inbound datagrams a NAT lets through an existing mapping (RFC 4787 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilteringBehavior {
    /// "Endpoint-independent filtering": anyone may send to the mapping.
    EndpointIndependent,
    /// "Address-dependent filtering": only IP addresses the mapping sent to.
    AddressDependent,
    /// "Address and port-dependent filtering": only addresses and ports the mapping sent to.
    AddressAndPortDependent,
}

/// The four classic NAT types (RFC 3489's names), as RFC 4787 behaviours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NatKind {
    /// Endpoint-independent mapping and filtering.
    FullCone,
    /// Endpoint-independent mapping, address-dependent filtering.
    AddressRestricted,
    /// Endpoint-independent mapping, address and port-dependent filtering.
    PortRestricted,
    /// Address and port-dependent mapping and filtering.
    Symmetric,
}

impl NatKind {
    /// Every kind, from the most to the least permissive.
    pub const ALL: [NatKind; 4] = [
        Self::FullCone,
        Self::AddressRestricted,
        Self::PortRestricted,
        Self::Symmetric,
    ];

    /// The kind's mapping behaviour.
    pub fn mapping(self) -> MappingBehavior {
        match self {
            Self::Symmetric => MappingBehavior::AddressAndPortDependent,
            _ => MappingBehavior::EndpointIndependent,
        }
    }

    /// The kind's filtering behaviour.
    pub fn filtering(self) -> FilteringBehavior {
        match self {
            Self::FullCone => FilteringBehavior::EndpointIndependent,
            Self::AddressRestricted => FilteringBehavior::AddressDependent,
            Self::PortRestricted | Self::Symmetric => FilteringBehavior::AddressAndPortDependent,
        }
    }

    /// A short human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::FullCone => "full-cone",
            Self::AddressRestricted => "address-restricted",
            Self::PortRestricted => "port-restricted",
            Self::Symmetric => "symmetric",
        }
    }
}

impl fmt::Display for NatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A NAT's behaviour and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatConfig {
    /// The one public IP address of the NAT; every mapping is a port of it.
    pub public_ip: IpAddr,
    /// Which outgoing datagrams share a mapping.
    pub mapping: MappingBehavior,
    /// Which inbound datagrams a mapping lets through.
    pub filtering: FilteringBehavior,
    /// A mapping expires this long after the last outgoing datagram through it (or inbound one,
    /// with `refresh_on_inbound`).
    pub binding_timeout: Duration,
    /// Inbound datagrams that pass the filter refresh the mapping too (RFC 4787 REQ-6 only
    /// requires outbound refresh; some NATs do both).
    pub refresh_on_inbound: bool,
    /// A new mapping keeps the internal port when it is free (RFC 4787 §4.2.1), instead of a
    /// port drawn from the NAT's seeded generator.
    pub port_preservation: bool,
    /// Datagrams from inside to the NAT's own public address are looped back in (RFC 4787
    /// §6); without it they are dropped.
    pub hairpinning: bool,
    /// Most mappings at once; an outgoing datagram that needs one more is dropped.
    pub max_mappings: usize,
    /// Most remote endpoints one mapping remembers for filtering; the least recently used is
    /// forgotten first.
    pub max_permissions: usize,
    /// Public ports the NAT hands out.
    pub ports: RangeInclusive<u16>,
}

impl NatConfig {
    /// A NAT of the classic `kind` at `public_ip`, with the default limits: 30 s binding
    /// timeout refreshed by outgoing traffic only, random ports from 1024 up, no hairpinning.
    pub fn new(kind: NatKind, public_ip: IpAddr) -> Self {
        Self {
            public_ip,
            mapping: kind.mapping(),
            filtering: kind.filtering(),
            binding_timeout: DEFAULT_BINDING_TIMEOUT,
            refresh_on_inbound: false,
            port_preservation: false,
            hairpinning: false,
            max_mappings: DEFAULT_MAX_MAPPINGS,
            max_permissions: DEFAULT_MAX_PERMISSIONS,
            ports: 1024..=u16::MAX,
        }
    }

    /// Checks that the limits leave the NAT able to work.
    pub fn validate(&self) -> Result<(), NatConfigError> {
        if self.binding_timeout.is_zero() {
            return Err(NatConfigError::Zero("binding_timeout"));
        }
        if self.max_mappings == 0 {
            return Err(NatConfigError::Zero("max_mappings"));
        }
        if self.max_permissions == 0 {
            return Err(NatConfigError::Zero("max_permissions"));
        }
        let ports = self.port_count();
        if ports == 0 {
            return Err(NatConfigError::EmptyPortRange);
        }
        if self.max_mappings > ports {
            return Err(NatConfigError::MorePortsNeeded {
                mappings: self.max_mappings,
                ports,
            });
        }
        Ok(())
    }

    pub(crate) fn port_count(&self) -> usize {
        let (start, end) = (*self.ports.start(), *self.ports.end());
        if end < start {
            0
        } else {
            usize::from(end - start) + 1
        }
    }
}

/// NAT parameters that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NatConfigError {
    /// A limit or duration that must be positive is zero.
    #[error("{0} must be positive")]
    Zero(&'static str),
    /// The port range holds no port.
    #[error("the public port range is empty")]
    EmptyPortRange,
    /// More mappings allowed than there are ports to give them.
    #[error("{mappings} mappings need more than the {ports} ports of the range")]
    MorePortsNeeded {
        /// `max_mappings`.
        mappings: usize,
        /// Ports in the range.
        ports: usize,
    },
}
