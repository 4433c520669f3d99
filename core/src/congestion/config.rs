//! Choosing and building a controller.

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use super::{Controller, ControllerState, MINIMUM_WINDOW_PACKETS, NewReno, initial_window};

/// A congestion control algorithm (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ControllerKind {
    /// NewReno (RFC 9002 §7).
    NewReno,
    /// CUBIC (RFC 9438) with HyStart++ (RFC 9406).
    Cubic,
    /// BBR (IETF BBR draft), with weir's departures for lossy paths: the default.
    #[default]
    Bbr,
    /// Vegas (delay-based, as Linux `tcp_vegas`).
    Vegas,
}

impl ControllerKind {
    /// Every kind.
    pub const ALL: [ControllerKind; 4] = [Self::NewReno, Self::Cubic, Self::Bbr, Self::Vegas];

    /// The kind's name, as [`Display`](fmt::Display) writes it and [`FromStr`] reads it:
    /// `newreno`, `cubic`, `bbr`, `vegas`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NewReno => "newreno",
            Self::Cubic => "cubic",
            Self::Bbr => "bbr",
            Self::Vegas => "vegas",
        }
    }

    /// Whether [`ControllerConfig::build`] can build this kind yet.
    pub const fn is_implemented(self) -> bool {
        matches!(self, Self::NewReno | Self::Cubic | Self::Vegas | Self::Bbr)
    }
}

impl fmt::Display for ControllerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no [`ControllerKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown congestion controller {name:?} (expected newreno, cubic, bbr or vegas)")]
pub struct ParseControllerKindError {
    name: String,
}

impl ParseControllerKindError {
    /// The string that was not recognised.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for ControllerKind {
    type Err = ParseControllerKindError;

    /// Parses a name, ignoring ASCII case; `new-reno` and `new_reno` are accepted for NewReno.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let is = |name: &str| s.eq_ignore_ascii_case(name);
        if is("newreno") || is("new-reno") || is("new_reno") {
            Ok(Self::NewReno)
        } else if is("cubic") {
            Ok(Self::Cubic)
        } else if is("bbr") {
            Ok(Self::Bbr)
        } else if is("vegas") {
            Ok(Self::Vegas)
        } else {
            Err(ParseControllerKindError { name: s.to_owned() })
        }
    }
}

/// A controller kind that is not implemented yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("congestion controller {kind} is not implemented yet")]
pub struct UnsupportedController {
    /// The kind asked for.
    pub kind: ControllerKind,
}

/// Which controller a connection uses, and its parameters; a factory for controllers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// The algorithm.
    pub kind: ControllerKind,
    /// The initial congestion window in bytes; `None` for RFC 9002 §7.2's
    /// `min(10 × max_datagram_size, max(14720, 2 × max_datagram_size))`. Never below the
    /// minimum window.
    pub initial_window: Option<u64>,
    /// The minimum congestion window, in datagrams (RFC 9002 §7.2 recommends 2); at least 1.
    pub minimum_window_packets: u64,
    /// BBR's parameters (used when `kind` is [`ControllerKind::Bbr`]). Its `seed` is mixed
    /// with each connection's own randomness, so that flows do not probe in lockstep.
    pub bbr: super::BbrConfig,
}

impl Default for ControllerConfig {
    /// BBR (the default kind) with RFC 9002's windows.
    fn default() -> Self {
        Self::new(ControllerKind::default())
    }
}

impl ControllerConfig {
    /// `kind` with RFC 9002's initial and minimum windows.
    pub fn new(kind: ControllerKind) -> Self {
        Self {
            kind,
            initial_window: None,
            minimum_window_packets: MINIMUM_WINDOW_PACKETS,
            bbr: super::BbrConfig::default(),
        }
    }

    /// The minimum window for datagrams of `max_datagram_size` bytes.
    pub fn minimum_window(&self, max_datagram_size: u64) -> u64 {
        max_datagram_size.saturating_mul(self.minimum_window_packets.max(1))
    }

    /// The initial window for datagrams of `max_datagram_size` bytes.
    pub fn initial_window(&self, max_datagram_size: u64) -> u64 {
        self.initial_window
            .unwrap_or_else(|| initial_window(max_datagram_size))
            .max(self.minimum_window(max_datagram_size))
    }

    /// A new controller for a connection starting at `now` with datagrams of
    /// `max_datagram_size` bytes (clamped to at least 1). Kinds not implemented yet are an
    /// error, never silently replaced by another algorithm.
    pub fn build(
        &self,
        now: Instant,
        max_datagram_size: u64,
    ) -> Result<Box<dyn Controller>, UnsupportedController> {
        let _ = now; // for the algorithms that start an epoch (CUBIC, BBR)
        match self.kind {
            ControllerKind::NewReno => Ok(Box::new(NewReno::with_config(self, max_datagram_size))),
            ControllerKind::Cubic => {
                Ok(Box::new(super::Cubic::with_config(self, max_datagram_size)))
            }
            ControllerKind::Vegas => {
                Ok(Box::new(super::Vegas::with_config(self, max_datagram_size)))
            }
            ControllerKind::Bbr => Ok(Box::new(super::Bbr::with_config(
                self,
                self.bbr,
                now,
                max_datagram_size,
            ))),
        }
    }

    /// A controller that takes over a live connection at `now` from one whose
    /// [`state`](Controller::state) was `state`.
    pub fn build_from_state(
        &self,
        now: Instant,
        state: &ControllerState,
    ) -> Result<Box<dyn Controller>, UnsupportedController> {
        let _ = now;
        match self.kind {
            ControllerKind::NewReno => Ok(Box::new(NewReno::from_state(self, state))),
            ControllerKind::Cubic => Ok(Box::new(super::Cubic::from_state(self, state))),
            ControllerKind::Vegas => Ok(Box::new(super::Vegas::from_state(self, state))),
            ControllerKind::Bbr => Ok(Box::new(super::Bbr::from_state(self, self.bbr, now, state))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::test_epoch;

    #[test]
    fn names_round_trip() {
        for kind in ControllerKind::ALL {
            assert_eq!(kind.to_string().parse::<ControllerKind>(), Ok(kind));
        }
        assert_eq!("NewReno".parse(), Ok(ControllerKind::NewReno));
        assert_eq!("new-reno".parse(), Ok(ControllerKind::NewReno));
        assert_eq!("BBR".parse(), Ok(ControllerKind::Bbr));
        let err = "reno2".parse::<ControllerKind>().unwrap_err();
        assert_eq!(err.name(), "reno2");
        assert_eq!(
            err.to_string(),
            "unknown congestion controller \"reno2\" (expected newreno, cubic, bbr or vegas)"
        );
    }

    #[test]
    fn builds_bbr_by_default_and_refuses_what_is_not_implemented() {
        let t0 = test_epoch();
        // The latency-first default (issue 12): BBR, with weir's loss tolerance.
        let cc = ControllerConfig::default().build(t0, 1200).unwrap();
        assert_eq!(cc.kind(), ControllerKind::Bbr);
        assert_eq!(cc.window(), 12_000);
        for kind in ControllerKind::ALL
            .into_iter()
            .filter(|k| !k.is_implemented())
        {
            let err = ControllerConfig::new(kind).build(t0, 1200).unwrap_err();
            assert_eq!(err, UnsupportedController { kind });
            assert_eq!(
                err.to_string(),
                format!("congestion controller {kind} is not implemented yet")
            );
            let state = cc.state();
            assert!(
                ControllerConfig::new(kind)
                    .build_from_state(t0, &state)
                    .is_err()
            );
        }
    }

    #[test]
    fn initial_window_override_is_clamped_to_minimum() {
        let mut config = ControllerConfig {
            initial_window: Some(100),
            ..ControllerConfig::default()
        };
        assert_eq!(config.initial_window(1200), 2400);
        config.initial_window = Some(64_000);
        assert_eq!(config.initial_window(1200), 64_000);
        config.minimum_window_packets = 0;
        assert_eq!(config.minimum_window(1200), 1200);
    }
}
