//! TLS 1.3 for weir: the handshake through rustls's QUIC interface, AEAD keys behind the
//! [`protect`](crate::protect) traits, identities and pins (DESIGN.md §3, §3a).
//!
//! - **Handshake.** rustls's handshake bytes travel in weir's HANDSHAKE frames, per packet-number
//!   space as QUIC's CRYPTO frames do (RFC 9001 §4): the ClientHello and ServerHello in Initial
//!   packets, the rest of the server's flight and the client's Finished in Handshake packets,
//!   session tickets in 1-RTT packets. weir's transport parameters ride in the TLS
//!   `quic_transport_parameters` extension, so they are authenticated with the handshake.
//! - **Keys.** Initial packets are protected with keys derived from the client's first
//!   destination connection ID (AES-128-GCM, RFC 9001 §5.2); Handshake and 1-RTT packets with
//!   the keys the handshake produces (AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305), and their
//!   headers with header protection (RFC 9001 §5.4). weir borrows QUIC v1's key schedule (its
//!   labels and Initial salt); its wire version stays its own.
//! - **Key update** (RFC 9001 §6): the key-phase bit of short headers; an end updates before a
//!   key reaches its confidentiality limit, and follows the peer's update.
//! - **Resumption.** Clients keep session tickets in their rustls configuration's cache: a
//!   reconnect with the same [`ClientTls`] resumes without certificates. **0-RTT is not
//!   offered**: servers announce no early data, so nothing a client sends can be replayed.
//! - **Authentication** ([`TlsConfig`], [`ClientTls`]): certificates verified against roots, or
//!   [`Fingerprint`] pins for players without an authority ([`Identity::self_signed`] makes a
//!   development or player identity); client certificates on request (pins or roots).
//! - **Retry** packets keep the integrity-only tag: their authenticity comes from the
//!   `retry_source_connection_id` transport parameter, which the handshake authenticates.
//!
//! [`Security::InsecureIntegrityOnly`] keeps the CRC-32C tag of
//! [`protect::integrity`](crate::protect::integrity) for the simulator and tests: no
//! confidentiality, no authentication.

mod error;
mod identity;
pub(crate) mod keys;
mod pin;
mod security;
pub(crate) mod session;

pub use error::TlsError;
pub use identity::{Fingerprint, FingerprintParseError, Identity, IdentityError};
pub use pin::{PinMismatch, PinnedClientVerifier, PinnedServerVerifier};
/// rustls, as weir uses it (its configurations, certificate stores and types).
pub use rustls;

/// A server TLS configuration with a self-signed identity made once per process (a key
/// generation per simulated run or fuzz input would dominate it), and a client configuration
/// that pins it: the simulator's and the fuzz bodies' TLS. `None` only if a fresh Ed25519 key
/// could not sign its own certificate.
#[cfg(any(feature = "sim", feature = "fuzzing"))]
pub(crate) fn shared_test_tls() -> Option<(TlsConfig, TlsConfig)> {
    static CONFIGS: std::sync::OnceLock<Option<(TlsConfig, TlsConfig)>> =
        std::sync::OnceLock::new();
    CONFIGS
        .get_or_init(|| {
            let identity = Identity::self_signed(["localhost"]).ok()?;
            let server = TlsConfig::server(&identity).ok()?;
            let client = TlsConfig::client(ClientTls::pinned(vec![identity.fingerprint()]).ok()?);
            Some((server, client))
        })
        .clone()
}
pub use security::{ALPN, ClientTls, Security, TlsConfig, TlsConfigError};
