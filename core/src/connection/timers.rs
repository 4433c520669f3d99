//! The connection's timers: one table, one deadline per reason, so that every deadline handed
//! to the driver can be explained.

use std::time::Instant;

/// Why a connection wants to be woken up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Loss detection: a loss-time threshold or a probe timeout (RFC 9002 §6.2).
    LossDetection,
    /// A delayed acknowledgement is due (RFC 9000 §13.2.1).
    Ack,
    /// The idle timeout (RFC 9000 §10.1).
    Idle,
    /// Time to send a keep-alive PING.
    KeepAlive,
    /// The end of the closing or draining period (RFC 9000 §10.2).
    Close,
    /// While closing: send CONNECTION_CLOSE again, unprompted (see `Connection::close`).
    CloseResend,
    /// The pacer releases the next packet.
    Pacing,
    /// Server: a handshake that heard nothing from the client for `handshake_timeout` is
    /// abandoned (`ServerConfig::handshake_timeout`).
    Handshake,
    /// Lanes: a message's deadline, the end of a coalescing hold, or a reassembly timeout.
    Lanes,
    /// Migration: send a PATH_CHALLENGE again, or give up the new path (RFC 9000 §8.2.4).
    PathValidation,
}

impl Timer {
    const ALL: [Timer; 10] = [
        Timer::LossDetection,
        Timer::Ack,
        Timer::Idle,
        Timer::KeepAlive,
        Timer::Close,
        Timer::CloseResend,
        Timer::Pacing,
        Timer::Handshake,
        Timer::Lanes,
        Timer::PathValidation,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = Default::default();
    }
}
