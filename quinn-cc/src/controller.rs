//! [`WeirController`]: one weir controller behind quinn's `congestion::Controller`.

use std::any::Any;
use std::time::{Duration, Instant};

use quinn_proto::RttEstimator;
use quinn_proto::congestion::{Controller as QuinnController, ControllerMetrics};
use weir_core::congestion::{
    AckEvent, AckedPacket, Bbr, CongestionCause, CongestionEvent, Controller, ControllerConfig,
    ControllerKind, Cubic, NewReno, Vegas,
};

use crate::rtt::RttTracker;
use crate::send_log::SendLog;

/// The algorithm, held as its own type: quinn's controllers must be `Sync` and cloneable,
/// which weir's `Box<dyn Controller>` is not. BBR's state is boxed (1 KB against CUBIC's
/// 0.4 KB).
#[derive(Debug, Clone)]
enum Algorithm {
    NewReno(NewReno),
    Cubic(Cubic),
    Vegas(Vegas),
    Bbr(Box<Bbr>),
}

impl Algorithm {
    fn new(config: &ControllerConfig, now: Instant, max_datagram_size: u64) -> Self {
        match config.kind {
            ControllerKind::NewReno => {
                Self::NewReno(NewReno::with_config(config, max_datagram_size))
            }
            ControllerKind::Cubic => Self::Cubic(Cubic::with_config(config, max_datagram_size)),
            ControllerKind::Vegas => Self::Vegas(Vegas::with_config(config, max_datagram_size)),
            ControllerKind::Bbr => Self::Bbr(Box::new(Bbr::with_config(
                config,
                config.bbr,
                now,
                max_datagram_size,
            ))),
        }
    }

    fn get(&self) -> &dyn Controller {
        match self {
            Self::NewReno(c) => c,
            Self::Cubic(c) => c,
            Self::Vegas(c) => c,
            Self::Bbr(c) => c.as_ref(),
        }
    }

    fn get_mut(&mut self) -> &mut dyn Controller {
        match self {
            Self::NewReno(c) => c,
            Self::Cubic(c) => c,
            Self::Vegas(c) => c,
            Self::Bbr(c) => c.as_mut(),
        }
    }
}

/// One packet of the ACK frame being processed.
#[derive(Debug, Clone, Copy)]
struct Acked {
    sent: Instant,
    bytes: u64,
    app_limited: bool,
}

/// A weir congestion controller driven by quinn: built by
/// [`WeirControllerFactory`](crate::WeirControllerFactory), it implements quinn-proto's
/// [`congestion::Controller`](quinn_proto::congestion::Controller) by translating quinn's
/// calls into weir's [`Controller`] events (the [crate documentation](crate) says how).
///
/// Inputs are quinn's calls; the outputs quinn reads are [`window`](QuinnController::window)
/// and [`metrics`](QuinnController::metrics). An application that wants more (BBR's bandwidth
/// estimate, the controller's state) can take the controller back from quinn with
/// `into_any` and a downcast, or build one itself with
/// [`WeirControllerFactory::build_controller`](crate::WeirControllerFactory::build_controller),
/// and read it through [`controller`](Self::controller).
///
/// It never panics, whatever the order and values of the calls: instants earlier than one
/// already seen are taken as that one, and all arithmetic saturates.
#[derive(Debug, Clone)]
pub struct WeirController {
    algorithm: Algorithm,
    config: ControllerConfig,
    max_datagram_size: u64,
    /// The latest instant seen: time never goes backwards for the controller.
    clock: Instant,
    pub(crate) log: SendLog,
    pub(crate) rtt: RttTracker,
    /// Bytes in flight as the adapter counts them: quinn's figure at each `on_end_acks`, plus
    /// what was sent and minus what was acknowledged or lost since.
    in_flight: u64,
    /// The packets of the ACK frame being processed, delivered at its `on_end_acks`.
    batch: Vec<Acked>,
    /// When the frame being processed arrived.
    batch_at: Option<Instant>,
}

impl WeirController {
    /// A controller of `config` for a connection starting at `now` whose datagrams carry
    /// `max_datagram_size` bytes of UDP payload (clamped to at least 1).
    pub(crate) fn new(config: ControllerConfig, now: Instant, max_datagram_size: u64) -> Self {
        let max_datagram_size = max_datagram_size.max(1);
        Self {
            algorithm: Algorithm::new(&config, now, max_datagram_size),
            config,
            max_datagram_size,
            clock: now,
            log: SendLog::default(),
            rtt: RttTracker::default(),
            in_flight: 0,
            batch: Vec::new(),
            batch_at: None,
        }
    }

    /// Which algorithm this is.
    pub fn kind(&self) -> ControllerKind {
        self.config.kind
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// The weir controller itself, to read what quinn's trait does not carry: BBR's
    /// [`bandwidth_estimate`](Controller::bandwidth_estimate) and
    /// [`pacing_rate`](Controller::pacing_rate), [`state`](Controller::state).
    pub fn controller(&self) -> &dyn Controller {
        self.algorithm.get()
    }

    /// The minimum window for the current datagram size: [`window`](QuinnController::window)
    /// never reports less.
    pub fn minimum_window(&self) -> u64 {
        self.config.minimum_window(self.max_datagram_size)
    }

    /// The datagram size the controller works with, in bytes (quinn's current MTU).
    pub fn max_datagram_size(&self) -> u64 {
        self.max_datagram_size
    }

    /// Bytes in flight as the adapter counts them (see the crate documentation).
    pub fn bytes_in_flight(&self) -> u64 {
        self.in_flight
    }

    fn tick(&mut self, now: Instant) -> Instant {
        self.clock = self.clock.max(now);
        self.clock
    }

    // The handlers below are quinn's calls with quinn's `RttEstimator` reduced to its smoothed
    // RTT (`RttEstimator::get`), which nothing outside quinn-proto can construct: the tests
    // drive them directly.

    pub(crate) fn sent(&mut self, now: Instant, bytes: u64) {
        let now = self.tick(now);
        self.flush();
        let before = self.in_flight;
        self.in_flight = self.in_flight.saturating_add(bytes);
        self.log.on_sent(now, bytes, before);
        self.algorithm
            .get_mut()
            .on_packet_sent(now, bytes, self.in_flight);
    }

    pub(crate) fn acked(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        quinn_smoothed_rtt: Duration,
    ) {
        let now = self.tick(now);
        if self.batch_at.is_some_and(|at| at != now) {
            self.flush();
        }
        if self.batch.is_empty() && app_limited {
            // The draft checks at the start of ACK processing whether the sender ran out of
            // data (delivery-rate estimation §3.4); quinn's flag says it had, at its last
            // transmit.
            self.log.on_app_limited(self.in_flight);
        }
        self.rtt.on_quinn_estimate(quinn_smoothed_rtt);
        self.batch_at = Some(now);
        self.batch.push(Acked {
            sent: sent.min(now),
            bytes,
            app_limited,
        });
        self.in_flight = self.in_flight.saturating_sub(bytes);
    }

    pub(crate) fn end_acks(&mut self, now: Instant, in_flight: u64, app_limited: bool) {
        let now = self.tick(now);
        if self.batch_at.is_some_and(|at| at != now) {
            self.flush();
        }
        self.in_flight = in_flight;
        self.deliver(now, app_limited);
    }

    pub(crate) fn congestion(
        &mut self,
        now: Instant,
        sent: Instant,
        persistent: bool,
        lost_bytes: u64,
    ) {
        let now = self.tick(now);
        self.flush();
        self.in_flight = self.in_flight.saturating_sub(lost_bytes);
        // quinn reports lost packets only when ack-eliciting ones were among them, so a
        // congestion event without lost bytes is an ECN-CE mark.
        let cause = if lost_bytes == 0 {
            CongestionCause::EcnCe
        } else {
            self.log.on_lost(sent, lost_bytes);
            CongestionCause::Loss
        };
        let event = CongestionEvent {
            sent_time: sent.min(now),
            lost_bytes,
            persistent,
            bytes_in_flight: self.in_flight,
            cause,
        };
        self.algorithm.get_mut().on_congestion_event(now, &event);
    }

    pub(crate) fn mtu(&mut self, new_mtu: u16) {
        self.max_datagram_size = u64::from(new_mtu).max(1);
        self.algorithm
            .get_mut()
            .set_max_datagram_size(self.max_datagram_size);
    }

    /// Delivers a frame whose `on_end_acks` never came (quinn acknowledges the server's first
    /// Initial implicitly, outside any ACK frame).
    pub(crate) fn flush(&mut self) {
        if let Some(at) = self.batch_at {
            let app_limited = self.batch.last().is_some_and(|p| p.app_limited);
            self.deliver(at, app_limited);
        }
    }

    /// Delivers the frame's packets in weir's order: per packet, then the frame's summary
    /// with its rate sample.
    fn deliver(&mut self, now: Instant, app_limited: bool) {
        self.batch_at = None;
        let Some(newest) = self.batch.iter().map(|p| p.sent).max() else {
            return;
        };
        let rtt_sampled = self.rtt.on_ack_frame(now, newest);
        let rtt = self.rtt.snapshot();
        let mut bytes_acked = 0u64;
        for packet in self.batch.drain(..) {
            bytes_acked = bytes_acked.saturating_add(packet.bytes);
            self.log.on_acked(now, packet.sent, packet.bytes);
            self.algorithm.get_mut().on_packet_acked(
                now,
                &AckedPacket {
                    sent_time: packet.sent,
                    bytes: packet.bytes,
                    rtt,
                    app_limited: packet.app_limited,
                },
            );
        }
        // As weir's connection: before the first RTT sample no rate is rejected for an
        // interval shorter than the minimum RTT.
        let min_rtt = self.rtt.min().unwrap_or(Duration::ZERO);
        let delivery_rate = self
            .log
            .end_of_ack(now, min_rtt, rtt.smoothed.max(rtt.latest));
        let event = AckEvent {
            bytes_acked,
            bytes_in_flight: self.in_flight,
            rtt,
            rtt_sampled,
            largest_acked_sent_time: newest,
            app_limited,
            delivery_rate,
        };
        self.algorithm.get_mut().on_ack_event(now, &event);
    }
}

impl QuinnController for WeirController {
    fn on_sent(&mut self, now: Instant, bytes: u64, _last_packet_number: u64) {
        self.sent(now, bytes);
    }

    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        self.acked(now, sent, bytes, app_limited, rtt.get());
    }

    fn on_end_acks(
        &mut self,
        now: Instant,
        in_flight: u64,
        app_limited: bool,
        _largest_packet_num_acked: Option<u64>,
    ) {
        self.end_acks(now, in_flight, app_limited);
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    ) {
        self.congestion(now, sent, is_persistent_congestion, lost_bytes);
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.mtu(new_mtu);
    }

    fn window(&self) -> u64 {
        self.algorithm.get().window().max(self.minimum_window())
    }

    fn metrics(&self) -> ControllerMetrics {
        let controller = self.algorithm.get();
        let mut metrics = ControllerMetrics::default();
        metrics.congestion_window = self.window();
        metrics.ssthresh = controller.ssthresh();
        // quinn's metrics carry bits per second.
        metrics.pacing_rate = controller.pacing_rate().map(|rate| rate.saturating_mul(8));
        metrics
    }

    fn clone_box(&self) -> Box<dyn QuinnController> {
        Box::new(self.clone())
    }

    fn initial_window(&self) -> u64 {
        self.config.initial_window(self.max_datagram_size)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}
