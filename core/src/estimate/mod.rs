//! Estimates of the path a connection runs over: bandwidth statistics, RTT jitter, the loss
//! rate and a quality score, kept live by every connection and reported in its
//! [`ConnectionStats`](crate::connection::ConnectionStats).
//!
//! Each estimator is public and takes time as an argument, so an application or a policy can
//! also run one over figures of its own. The connection feeds them:
//! - [`BandwidthEstimator`]: the delivery-rate sample of every ACK frame (the same samples BBR
//!   uses, per draft-cheng-iccrg-delivery-rate-estimation);
//! - [`RttJitter`]: every RTT sample;
//! - [`LossWindow`]: every in-flight packet acknowledged or declared lost;
//! - [`QualityMonitor`]: all of the above, scored after every ACK frame;
//! - [`RealtimeDemand`]: every real-time message the application queues (lanes and datagrams).
//!
//! Memory is fixed by [`EstimatorConfig`] whatever the packet rate.

mod bandwidth;
mod config;
mod demand;
mod jitter;
mod loss;
mod min_rtt;
mod path;
#[cfg(test)]
mod proptests;
mod quality;

pub use bandwidth::{BandwidthEstimate, BandwidthEstimator, FULL_CONFIDENCE_SLOTS};
pub use config::{EstimatorConfig, EstimatorConfigError};
pub use demand::{MESSAGE_WIRE_OVERHEAD, RealtimeDemand};
pub use jitter::RttJitter;
pub use loss::LossWindow;
pub use min_rtt::WindowedMinRtt;
pub use path::{PathEstimates, PathEstimator};
pub use quality::{QualityGrade, QualityInputs, QualityMonitor, QualityScore};
