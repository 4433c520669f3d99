//! Who an end is: a certificate chain and its private key, and the fingerprint that pins it.

use std::fmt;
use std::str::FromStr;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate chain (end-entity first) and the private key of its end-entity certificate.
#[derive(Debug)]
pub struct Identity {
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// Why an identity could not be made or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Generating the self-signed certificate failed.
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The certificate PEM could not be read.
    #[error("reading the certificate chain: {0}")]
    CertificatePem(rustls::pki_types::pem::Error),
    /// The certificate PEM held no certificate.
    #[error("the certificate file holds no certificate")]
    NoCertificate,
    /// The key PEM could not be read (or held no private key).
    #[error("reading the private key: {0}")]
    KeyPem(rustls::pki_types::pem::Error),
}

impl Identity {
    /// An identity from a chain (end-entity first) and its key.
    pub fn new(
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, IdentityError> {
        if cert_chain.is_empty() {
            return Err(IdentityError::NoCertificate);
        }
        Ok(Self { cert_chain, key })
    }

    /// A fresh self-signed Ed25519 certificate for `names` (DNS names or IP addresses), for
    /// development and for peer-to-peer players who pin each other's
    /// [`fingerprint`](Self::fingerprint) instead of trusting an authority.
    ///
    /// The key comes from the operating system's random generator (through ring): an identity
    /// is a long-lived secret, never drawn from an endpoint's reproducible seed.
    pub fn self_signed<S: Into<String>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, IdentityError> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let cert = rcgen::CertificateParams::new(names)?.self_signed(&key_pair)?;
        let key = PrivatePkcs8KeyDer::from(key_pair.serialize_der());
        Ok(Self {
            cert_chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(key),
        })
    }

    /// Like [`self_signed`](Self::self_signed), also as PEM text — the certificate and the
    /// PKCS#8 private key — for saving to files that [`from_pem`](Self::from_pem) reads back.
    pub fn self_signed_pem<S: Into<String>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<(Self, String, String), IdentityError> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let cert = rcgen::CertificateParams::new(names)?.self_signed(&key_pair)?;
        let (cert_pem, key_pem) = (cert.pem(), key_pair.serialize_pem());
        let key = PrivatePkcs8KeyDer::from(key_pair.serialize_der());
        let identity = Self {
            cert_chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(key),
        };
        Ok((identity, cert_pem, key_pem))
    }

    /// An identity from PEM files' contents: a certificate chain (end-entity first) and a
    /// private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, IdentityError> {
        let cert_chain = CertificateDer::pem_slice_iter(cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(IdentityError::CertificatePem)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(IdentityError::KeyPem)?;
        Self::new(cert_chain, key)
    }

    /// The certificate chain, end-entity first.
    pub fn cert_chain(&self) -> &[CertificateDer<'static>] {
        &self.cert_chain
    }

    /// The private key.
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// The SHA-256 fingerprint of the end-entity certificate: what a peer pins.
    pub fn fingerprint(&self) -> Fingerprint {
        // `new` and `self_signed` never make an empty chain.
        self.cert_chain
            .first()
            .map_or(Fingerprint([0; 32]), |cert| Fingerprint::of(cert))
    }
}

/// The SHA-256 digest of a DER certificate: a pin for a peer without a certificate authority.
///
/// Written and parsed as 64 hexadecimal digits, optionally prefixed with `sha256:` and with
/// `:` between bytes (as `openssl x509 -fingerprint -sha256` prints it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(cert: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, cert);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A fingerprint that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a fingerprint is 64 hexadecimal digits (optionally `sha256:` first and `:` between bytes), not {0:?}"
)]
pub struct FingerprintParseError(pub String);

impl FromStr for Fingerprint {
    type Err = FingerprintParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || FingerprintParseError(s.to_owned());
        let hex: Vec<u8> = s
            .trim()
            .strip_prefix("sha256:")
            .unwrap_or(s.trim())
            .bytes()
            .filter(|&b| b != b':')
            .collect();
        if hex.len() != 64 {
            return Err(err());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| char::from(c).to_digit(16).ok_or_else(err);
            let (hi, lo) = (digit(pair[0])?, digit(pair[1])?);
            *byte = u8::try_from(hi * 16 + lo).map_err(|_| err())?;
        }
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_print_and_parse() {
        let id = Identity::self_signed(["localhost"]).unwrap();
        let fp = id.fingerprint();
        let text = fp.to_string();
        assert!(text.starts_with("sha256:") && text.len() == 7 + 64);
        assert_eq!(text.parse::<Fingerprint>().unwrap(), fp);
        let colons: Vec<String> = fp.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(colons.join(":").parse::<Fingerprint>().unwrap(), fp);
        assert!("sha256:abcd".parse::<Fingerprint>().is_err());
        assert!("zz".repeat(32).parse::<Fingerprint>().is_err());
        // Two identities differ.
        let other = Identity::self_signed(["localhost"]).unwrap();
        assert_ne!(other.fingerprint(), fp);
    }

    #[test]
    fn pem_round_trip_and_errors() {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.example".to_owned()])
            .unwrap()
            .self_signed(&key_pair)
            .unwrap();
        let (cert_pem, key_pem) = (cert.pem(), key_pair.serialize_pem());
        let (made, made_cert, made_key) = Identity::self_signed_pem(["b.example"]).unwrap();
        let read = Identity::from_pem(made_cert.as_bytes(), made_key.as_bytes()).unwrap();
        assert_eq!(read.fingerprint(), made.fingerprint());
        let id = Identity::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
        assert_eq!(id.fingerprint(), Fingerprint::of(cert.der()));
        assert!(matches!(
            Identity::from_pem(b"", key_pem.as_bytes()),
            Err(IdentityError::NoCertificate)
        ));
        assert!(matches!(
            Identity::from_pem(cert_pem.as_bytes(), b"nothing"),
            Err(IdentityError::KeyPem(_))
        ));
    }
}
