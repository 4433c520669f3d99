//! How a quinn peer is configured for a fair comparison with weir, and how it is seeded.
//!
//! The comparison holds the path and the datagram size fixed and lets the congestion controller
//! (and quinn's implementation around it) make the difference, so:
//!
//! - datagrams start at 1200 bytes of UDP payload and path MTU discovery probes up to 1452
//!   bytes after the handshake, like weir's defaults (quinn's initial and minimum MTU 1200,
//!   its discovery with a 1452-byte upper bound);
//! - flow control never limits the sender: 16 MiB stream and connection receive windows and a
//!   16 MiB send window (weir's defaults grow to 8 MiB per stream and 16 MiB per connection),
//!   above every bandwidth-delay product plus buffer of the scenarios measured;
//! - one datagram per transmit (no GSO batches), so the simulator sees each packet on its own;
//! - QUIC datagrams (RFC 9221) on, with quinn's default buffers named explicitly: 1 250 000
//!   bytes received and not yet read, 1 MiB queued to send (the real-time flows of
//!   [`quinn_game`](crate::quinn_game) use them; a bulk flow never does);
//! - TLS 1.3 with rustls and ring, the server authenticated by a self-signed Ed25519
//!   certificate for `localhost` that the client trusts;
//! - quinn's own defaults for everything else (initial RTT 333 ms, 25 ms max ACK delay,
//!   acknowledgement of every second packet, pacing, CUBIC with a 12 000-byte initial window).
//!
//! ## Seeding
//!
//! quinn-proto draws from its endpoint's RNG (seeded here), and from the thread RNG for the
//! defaults of the stateless-reset key, the handshake-token key and connection IDs: all three
//! are replaced by values drawn from the node's seed. rustls draws its own randomness (client
//! random, ephemeral X25519 keys) and rcgen its key pair, so the *bytes* on the wire differ from
//! run to run while their *sizes and times* do not: an Ed25519 signature always has 64 bytes and
//! the certificate's serial number is fixed, so the simulator's trace (which records sizes and
//! times, not contents) is the same for the same seed.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use quinn_proto::congestion::{BbrConfig, ControllerFactory, CubicConfig, NewRenoConfig};
use quinn_proto::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use quinn_proto::{
    ClientConfig, ConnectionId, ConnectionIdGenerator, Endpoint, EndpointConfig, IdleTimeout,
    MtuDiscoveryConfig, ServerConfig, TimeSource, TransportConfig, VarInt,
};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use weir_core::congestion::ControllerKind;
use weir_quinn_cc::WeirControllerFactory;

use crate::PeerError;

const MIB: u64 = 1024 * 1024;

/// Size of the datagrams weir sends, and so of quinn's in the comparison (RFC 9000 §14: the
/// smallest a QUIC path must carry).
pub const DATAGRAM_SIZE: u16 = 1200;

/// quinn 0.11's default datagram receive buffer (its `STREAM_RWND`: 100 ms at 12.5 MB/s).
const DATAGRAM_RECEIVE_BUFFER: usize = 1_250_000;

/// Length of the connection IDs the quinn endpoints issue (quinn's default).
const CID_LEN: usize = 8;

/// The congestion controller of a quinn peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuinnController {
    /// CUBIC (RFC 9438): quinn 0.11's default (`TransportConfig::default()`).
    #[default]
    Cubic,
    /// NewReno (RFC 9002 §7): weir's only controller so far, for a like-for-like comparison.
    NewReno,
    /// quinn's BBR (a BBRv1-style model; quinn marks it experimental).
    Bbr,
    /// One of weir's controllers inside quinn, through [`weir_quinn_cc`]'s factory: quinn's
    /// connection, loss detection and pacer around weir's algorithm.
    Weir(ControllerKind),
}

impl QuinnController {
    /// Short name for tables: quinn's own controllers by their name, weir's as `weir-…`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cubic => "cubic",
            Self::NewReno => "newreno",
            Self::Bbr => "bbr",
            Self::Weir(ControllerKind::NewReno) => "weir-newreno",
            Self::Weir(ControllerKind::Cubic) => "weir-cubic",
            Self::Weir(ControllerKind::Bbr) => "weir-bbr",
            Self::Weir(ControllerKind::Vegas) => "weir-vegas",
        }
    }

    fn factory(self) -> Arc<dyn ControllerFactory + Send + Sync> {
        match self {
            Self::Cubic => Arc::new(CubicConfig::default()),
            Self::NewReno => Arc::new(NewRenoConfig::default()),
            Self::Bbr => Arc::new(BbrConfig::default()),
            Self::Weir(kind) => Arc::new(WeirControllerFactory::new(kind)),
        }
    }
}

impl fmt::Display for QuinnController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no [`QuinnController`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown quinn controller {0:?} (expected cubic, newreno, bbr, weir-cubic, weir-newreno, weir-bbr or weir-vegas)"
)]
pub struct ParseQuinnControllerError(String);

impl FromStr for QuinnController {
    type Err = ParseQuinnControllerError;

    /// Parses [`name`](QuinnController::name)'s names, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let controller = match lower.strip_prefix("weir-") {
            Some(kind) => kind.parse().ok().map(Self::Weir),
            None => match lower.as_str() {
                "cubic" => Some(Self::Cubic),
                "newreno" => Some(Self::NewReno),
                "bbr" => Some(Self::Bbr),
                _ => None,
            },
        };
        controller.ok_or_else(|| ParseQuinnControllerError(s.to_owned()))
    }
}

/// Transport settings of both quinn peers (see the module docs for why these values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuinnConfig {
    /// UDP payload of the first datagrams (quinn's `initial_mtu` and `min_mtu`).
    pub datagram_size: u16,
    /// Path MTU discovery's upper bound, as weir's default discovery (1452 bytes; quinn's
    /// default too); `None` keeps every datagram at `datagram_size`.
    pub mtu_upper_bound: Option<u16>,
    /// Receive window of each stream, in bytes.
    pub stream_receive_window: u64,
    /// Receive window of the whole connection, in bytes.
    pub receive_window: u64,
    /// Bytes the sender may have written and not yet had acknowledged.
    pub send_window: u64,
    /// Close after this long without receiving anything (both ends use it).
    pub idle_timeout: Duration,
    /// The congestion controller.
    pub controller: QuinnController,
    /// Bytes of received QUIC datagrams quinn holds for the application; `None` turns datagrams
    /// off (quinn then refuses to send them and the peer may not send any).
    pub datagram_receive_buffer: Option<usize>,
    /// Bytes of QUIC datagrams quinn queues to send; beyond it the oldest unsent ones are
    /// dropped (when the sender asks for that) or the send is refused.
    pub datagram_send_buffer: usize,
    /// Name the certificate is made for and the client asks for.
    pub server_name: String,
}

impl Default for QuinnConfig {
    fn default() -> Self {
        Self {
            datagram_size: DATAGRAM_SIZE,
            mtu_upper_bound: Some(1452),
            stream_receive_window: 16 * MIB,
            receive_window: 16 * MIB,
            send_window: 16 * MIB,
            idle_timeout: Duration::from_secs(120),
            controller: QuinnController::default(),
            datagram_receive_buffer: Some(DATAGRAM_RECEIVE_BUFFER),
            datagram_send_buffer: MIB as usize,
            server_name: "localhost".to_owned(),
        }
    }
}

impl QuinnConfig {
    /// quinn's transport configuration for these settings.
    pub fn transport(&self) -> Result<Arc<TransportConfig>, PeerError> {
        let var = |x: u64| VarInt::from_u64(x.min(VarInt::MAX.into_inner()));
        let mut t = TransportConfig::default();
        t.initial_mtu(self.datagram_size)
            .min_mtu(self.datagram_size)
            .mtu_discovery_config(self.mtu_upper_bound.map(|bound| {
                let mut mtud = MtuDiscoveryConfig::default();
                mtud.upper_bound(bound);
                mtud
            }))
            .enable_segmentation_offload(false)
            .stream_receive_window(var(self.stream_receive_window)?)
            .receive_window(var(self.receive_window)?)
            .send_window(self.send_window)
            .max_idle_timeout(Some(IdleTimeout::try_from(self.idle_timeout)?))
            .datagram_receive_buffer_size(self.datagram_receive_buffer)
            .datagram_send_buffer_size(self.datagram_send_buffer)
            .congestion_controller_factory(self.controller.factory());
        Ok(Arc::new(t))
    }
}

/// A self-signed certificate and its key, made at run time.
#[derive(Debug)]
pub struct SelfSigned {
    /// The DER certificate.
    pub cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Clone for SelfSigned {
    fn clone(&self) -> Self {
        Self {
            cert: self.cert.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl SelfSigned {
    /// A fresh Ed25519 key pair and a certificate for `server_name`, signed by itself.
    ///
    /// Ed25519 (64-byte signatures) and a fixed serial number keep the certificate's and the
    /// handshake's sizes the same from run to run, although the key is random.
    pub fn generate(server_name: &str) -> Result<Self, PeerError> {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let mut params = rcgen::CertificateParams::new(vec![server_name.to_owned()])?;
        params.serial_number = Some(rcgen::SerialNumber::from(1u64));
        let cert = params.self_signed(&key_pair)?;
        Ok(Self {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key_pair.serialize_der()),
        })
    }

    /// quinn's server-side TLS: TLS 1.3 only, this certificate, no client authentication.
    pub fn server_crypto(&self) -> Result<Arc<QuicServerConfig>, PeerError> {
        let tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )?;
        Ok(Arc::new(QuicServerConfig::try_from(tls)?))
    }

    /// quinn's client-side TLS: TLS 1.3 only, trusting this certificate and nothing else.
    pub fn client_crypto(&self) -> Result<Arc<QuicClientConfig>, PeerError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone())?;
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(QuicClientConfig::try_from(tls)?))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Everything random a quinn endpoint needs, drawn in a fixed order from one seed.
struct Seeds {
    rng: [u8; 32],
    reset_key: [u8; 64],
    token_key: [u8; 64],
    cids: u64,
}

impl Seeds {
    fn new(seed: u64) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let mut seeds = Self {
            rng: [0; 32],
            reset_key: [0; 64],
            token_key: [0; 64],
            cids: 0,
        };
        rng.fill_bytes(&mut seeds.rng);
        rng.fill_bytes(&mut seeds.reset_key);
        rng.fill_bytes(&mut seeds.token_key);
        seeds.cids = rng.next_u64();
        seeds
    }
}

/// Connection IDs from a seeded generator instead of quinn's default thread RNG.
struct SeededCids {
    rng: Pcg64Mcg,
}

impl ConnectionIdGenerator for SeededCids {
    fn generate_cid(&mut self) -> ConnectionId {
        let mut bytes = [0u8; CID_LEN];
        self.rng.fill_bytes(&mut bytes);
        ConnectionId::new(&bytes)
    }

    fn cid_len(&self) -> usize {
        CID_LEN
    }

    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}

/// The wall clock quinn stamps handshake tokens with. The simulator has only virtual time and
/// the runs never present a token, so a constant keeps the real clock out of them.
#[derive(Debug)]
struct FixedWallClock;

impl TimeSource for FixedWallClock {
    fn now(&self) -> SystemTime {
        // 2023-11-14T22:13:20Z: any fixed instant will do.
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
}

/// A quinn endpoint whose randomness comes from `seed` (see the module docs), with `server` to
/// accept connections.
pub(crate) fn endpoint(seed: u64, server: Option<Arc<ServerConfig>>) -> Endpoint {
    let seeds = Seeds::new(seed);
    let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &seeds.reset_key);
    let mut config = EndpointConfig::new(Arc::new(reset_key));
    // quinn-proto 0.11 documents `EndpointConfig::rng_seed` as the lasting place for the seed
    // (the `rng_seed` argument of `Endpoint::new` is to be removed), so it goes there.
    config.rng_seed(Some(seeds.rng));
    let cid_seed = seeds.cids;
    config.cid_generator(move || {
        Box::new(SeededCids {
            rng: Pcg64Mcg::seed_from_u64(cid_seed),
        })
    });
    // The simulated links never fragment: path MTU discovery is the transport config's to
    // switch (`allow_mtud`).
    Endpoint::new(Arc::new(config), server, true, None)
}

/// quinn's server configuration: `crypto`, the transport of `config`, a token key from `seed`.
pub(crate) fn server_config(
    config: &QuinnConfig,
    crypto: Arc<QuicServerConfig>,
    seed: u64,
) -> Result<Arc<ServerConfig>, PeerError> {
    let seeds = Seeds::new(seed);
    let token_key = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]).extract(&seeds.token_key);
    let mut server = ServerConfig::new(crypto, Arc::new(token_key));
    server
        .transport_config(config.transport()?)
        .time_source(Arc::new(FixedWallClock));
    Ok(Arc::new(server))
}

/// quinn's client configuration: `crypto` and the transport of `config`.
pub(crate) fn client_config(
    config: &QuinnConfig,
    crypto: Arc<QuicClientConfig>,
) -> Result<ClientConfig, PeerError> {
    let mut client = ClientConfig::new(crypto);
    client.transport_config(config.transport()?);
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_names_round_trip() {
        let all = [
            QuinnController::Cubic,
            QuinnController::NewReno,
            QuinnController::Bbr,
        ]
        .into_iter()
        .chain(ControllerKind::ALL.map(QuinnController::Weir));
        for controller in all {
            assert_eq!(controller.name().parse(), Ok(controller));
            assert_eq!(controller.to_string(), controller.name());
        }
        assert_eq!(
            "Weir-BBR".parse(),
            Ok(QuinnController::Weir(ControllerKind::Bbr))
        );
        assert!("weir-reno2".parse::<QuinnController>().is_err());
        assert!("vegas".parse::<QuinnController>().is_err());
    }

    #[test]
    fn seeds_are_reproducible_and_distinct() {
        let (a, b, c) = (Seeds::new(7), Seeds::new(7), Seeds::new(8));
        assert_eq!(a.rng, b.rng);
        assert_eq!(a.token_key, b.token_key);
        assert_ne!(a.rng, c.rng);
        assert_ne!(a.reset_key, a.token_key);
    }

    #[test]
    fn certificate_size_does_not_depend_on_the_key() -> Result<(), PeerError> {
        let a = SelfSigned::generate("localhost")?;
        let b = SelfSigned::generate("localhost")?;
        assert_ne!(a.cert, b.cert);
        assert_eq!(a.cert.len(), b.cert.len());
        a.server_crypto()?;
        a.client_crypto()?;
        Ok(())
    }
}
