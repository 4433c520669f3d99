//! Handles that name a connection inside its endpoint.

use std::fmt;

/// Names one connection of an [`Endpoint`](super::Endpoint). A handle outlives its connection
/// harmlessly: once the connection reported [`Event::Drained`](crate::connection::Event::Drained)
/// the handle no longer resolves, even if its slot is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ConnectionHandle {
    /// The slot index (stable while the connection lives; reused afterwards).
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// The generation that tells this handle's connection from later ones in the same slot.
    pub fn generation(self) -> u32 {
        self.generation
    }

    /// A handle for a driver that runs another engine beside the core's endpoints (weir-tokio's
    /// QUIC path names quinn-proto's connections with these, so that one event loop and one
    /// application API serve both). The core resolves only the handles it made itself: a
    /// handle built here names none of its connections unless its slot and generation match.
    pub fn from_parts(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }
}

impl fmt::Display for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}.{}", self.index, self.generation)
    }
}
