//! HTTPS helpers: a test certificate authority and server certificates it signs, made at test
//! time (rcgen); HTTP clients that trust only that authority; a raw TLS handshake that shows
//! which certificate the server presents.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use rustls::pki_types::{CertificateDer, ServerName};
use sha2::{Digest as _, Sha256};

use crate::{EVENT_WAIT, Reply};

/// A calendar day, `(year, month, day)`.
pub type Day = (i32, u8, u8);

/// A test certificate authority (the "internal CA" of a LAN set-up).
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, DER: the root a client trusts.
    pub der: Vec<u8>,
    pub pem: String,
}

/// A server certificate and its key, PEM, as `--tls-cert`/`--tls-key` read them.
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// The server certificate then the CA's: the chain the server sends.
    pub chain_pem: String,
    pub key_pem: String,
    /// The server certificate alone, DER: what a client sees first.
    pub der: Vec<u8>,
    /// base64(SHA-256(SubjectPublicKeyInfo)): Chromium's `--ignore-certificate-errors-spki-list`.
    pub spki_sha256: String,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, "pont test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for 127.0.0.1 and localhost with this common name and serial, valid from
    /// 1975 to 4096 (rcgen's defaults) unless `validity` says otherwise.
    pub fn server_cert(
        &self,
        common_name: &str,
        serial: u64,
        validity: Option<(Day, Day)>,
    ) -> ServerCert {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.serial_number = Some(SerialNumber::from(serial));
        if let Some(((y0, m0, d0), (y1, m1, d1))) = validity {
            params.not_before = rcgen::date_time_ymd(y0, m0, d0);
            params.not_after = rcgen::date_time_ymd(y1, m1, d1);
        }
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        ServerCert {
            chain_pem: format!("{}{}", cert.pem(), self.pem),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
            spki_sha256: base64(&Sha256::digest(&spki)),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCert {
    /// Writes `<name>.crt` and `<name>.key` in `dir`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, &self.chain_pem).expect("write certificate");
        std::fs::write(&key, &self.key_pem).expect("write key");
        (cert, key)
    }
}

/// The aws-lc-rs provider, as the server uses.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A blocking HTTPS client that trusts only `root` (DER), returns 4xx/5xx as responses and
/// does not follow redirects.
pub fn https_client(root: &[u8]) -> ureq::Agent {
    let roots =
        ureq::tls::RootCerts::new_with_certs(&[ureq::tls::Certificate::from_der(root).to_owned()]);
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(EVENT_WAIT))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::Rustls)
                .root_certs(roots)
                .unversioned_rustls_crypto_provider(provider())
                .build(),
        )
        .build()
        .into()
}

/// `GET url` over HTTPS trusting `root`.
pub fn https_get(root: &[u8], url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = https_client(root).get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    crate::reply(request.call())
}

/// `method url` with a JSON body over HTTPS trusting `root`.
pub fn https_send(
    root: &[u8],
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let agent = https_client(root);
    let mut request = match method {
        "POST" => agent.post(url),
        "PATCH" => agent.patch(url),
        other => panic!("https_send: unsupported method {other}"),
    };
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    crate::reply(request.send(body))
}

/// Opens a new TLS connection to `addr` (server name 127.0.0.1) trusting `root`, asks for
/// `/healthz` and returns the certificate the server presented first (DER) and the status
/// line. A handshake or verification failure is the error.
pub fn presented_certificate(addr: SocketAddr, root: &[u8]) -> Result<(Vec<u8>, String), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(root.to_vec()))
        .map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(EVENT_WAIT)).ok();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // Some servers close without close_notify; what was read is enough.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e.to_string()),
    }
    let leaf = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .ok_or("no certificate presented")?;
    let text = String::from_utf8_lossy(&response);
    Ok((leaf, text.lines().next().unwrap_or_default().to_owned()))
}

/// RFC 4648 base64, standard alphabet, padded.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_through_the_decoder() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi"), "aGk=");
        assert_eq!(base64(b"abc"), "YWJj");
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(crate::webdriver::base64_decode(&base64(&bytes)), bytes);
    }
}
