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
}

impl fmt::Display for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}.{}", self.index, self.generation)
    }
}
