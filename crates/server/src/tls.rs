//! HTTPS on `--http` when `--tls-cert`/`--tls-key` are given: rustls on the aws-lc-rs
//! provider the WebRTC stack (DTLS) and the mailer already build, the certificate read again
//! on SIGHUP.
//!
//! - [`Certificates`] holds the served certificate and key; [`Certificates::reload`] swaps in
//!   the files' new contents for new connections, or keeps the old ones when the new files are
//!   bad (an expired certificate, a key that is not its key, not PEM).
//! - [`TlsListener`] is an [`axum::serve::Listener`]: TCP connections are accepted and their
//!   handshakes run each in its own task, bounded in number and time, so one slow or hostile
//!   client never holds up the others and garbage on the port costs one failed handshake.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

use crate::config::TlsFiles;

/// A handshake not done in this time is dropped: a browser finishes in a few round trips;
/// this only bounds what a client that opens a connection and says nothing can hold.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once; a connection beyond it is closed at once. Each costs a
/// task and a few KiB; a flood of handshakes is held to this much memory and CPU, and the
/// connections already up keep their service.
const MAX_HANDSHAKES: usize = 1024;

/// Established connections handed to the HTTP server but not yet taken by it.
const ACCEPTED_QUEUE: usize = 64;

/// Why a certificate or key cannot be served. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TlsError {
    /// The file cannot be read.
    #[error("{what} {}: cannot read it: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// No `CERTIFICATE` PEM block, or one that is not base64 DER.
    #[error("tls_cert {}: no PEM certificate in it ({detail})", path.display())]
    NoCertificate { path: PathBuf, detail: String },
    /// No `PRIVATE KEY` block (PKCS#8, RSA or EC).
    #[error("tls_key {}: no PEM private key in it ({detail})", path.display())]
    NoKey { path: PathBuf, detail: String },
    /// A key rustls cannot sign with.
    #[error("tls_key {}: not a usable private key: {source}", path.display())]
    BadKey {
        path: PathBuf,
        source: rustls::Error,
    },
    /// The key is not the certificate's.
    #[error("tls_key {} is not the key of the certificate in tls_cert {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    /// The certificate's DER cannot be read for its validity.
    #[error("tls_cert {}: not an X.509 certificate ({detail})", path.display())]
    BadCertificate { path: PathBuf, detail: &'static str },
    /// Its `notAfter` is past.
    #[error("tls_cert {}: the certificate expired on {} (serial {serial})", path.display(), pont_meet::rfc3339::format_utc(*not_after))]
    Expired {
        path: PathBuf,
        not_after: i64,
        serial: String,
    },
    /// Its `notBefore` is still to come.
    #[error("tls_cert {}: the certificate is not valid before {} (serial {serial}); is the clock right?", path.display(), pont_meet::rfc3339::format_utc(*not_before))]
    NotYetValid {
        path: PathBuf,
        not_before: i64,
        serial: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// What the log says about a loaded certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertInfo {
    /// The serial number, hex.
    pub(crate) serial: String,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

/// The certificate and key being served, and where they are read from.
#[derive(Debug)]
pub(crate) struct Certificates {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Reads and checks the files; an error if they cannot be served `now` (Unix seconds).
    pub(crate) fn load(files: &TlsFiles, now: i64) -> Result<(Arc<Self>, CertInfo), TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let (key, info) = read_certified_key(files, &provider, now)?;
        Ok((
            Arc::new(Self {
                files: files.clone(),
                provider,
                current: RwLock::new(key),
            }),
            info,
        ))
    }

    /// Reads the files again: new connections get the new certificate; on an error the one
    /// served so far stays.
    pub(crate) fn reload(&self, now: i64) -> Result<CertInfo, TlsError> {
        let (key, info) = read_certified_key(&self.files, &self.provider, now)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = key;
        Ok(info)
    }

    /// The rustls server configuration that serves these certificates (HTTP/1.1: the
    /// WebSocket upgrade is an HTTP/1.1 mechanism, and the server speaks only that).
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn read_certified_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
    now: i64,
) -> Result<(Arc<CertifiedKey>, CertInfo), TlsError> {
    let cert_pem = read("tls_cert", &files.cert)?;
    let key_pem = read("tls_key", &files.key)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::NoCertificate {
            path: files.cert.clone(),
            detail: e.to_string(),
        })?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
            detail: "no CERTIFICATE block".into(),
        });
    };
    let info = cert_info(leaf).map_err(|detail| TlsError::BadCertificate {
        path: files.cert.clone(),
        detail,
    })?;
    if now > info.not_after {
        return Err(TlsError::Expired {
            path: files.cert.clone(),
            not_after: info.not_after,
            serial: info.serial,
        });
    }
    if now < info.not_before {
        return Err(TlsError::NotYetValid {
            path: files.cert.clone(),
            not_before: info.not_before,
            serial: info.serial,
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::NoKey {
        path: files.key.clone(),
        detail: e.to_string(),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::BadKey {
            path: files.key.clone(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(TlsError::Mismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            });
        }
        Err(e) => {
            return Err(TlsError::BadKey {
                path: files.key.clone(),
                source: e,
            });
        }
    }
    Ok((Arc::new(certified), info))
}

// ---- the little of X.509 we read: serial and validity (RFC 5280 §4.1) ----

/// One DER TLV: its tag, its contents and what follows it.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), &'static str> {
    const SHORT: &str = "truncated DER";
    let (&tag, rest) = input.split_first().ok_or(SHORT)?;
    let (&first, rest) = rest.split_first().ok_or(SHORT)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // X.690 §8.1.3.5: long form, 1 to 4 length octets are plenty for a certificate.
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err("bad DER length");
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(SHORT);
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], want: u8) -> Result<(&[u8], &[u8]), &'static str> {
    match tlv(input)? {
        (tag, body, rest) if tag == want => Ok((body, rest)),
        _ => Err("unexpected DER element"),
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION: u8 = 0xa0;

/// The serial number and validity of a DER certificate.
pub(crate) fn cert_info(der: &[u8]) -> Result<CertInfo, &'static str> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    let (serial, rest) = expect(rest, INTEGER)?;
    let (_signature, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (validity, _) = expect(rest, SEQUENCE)?;
    let (not_before, rest) = time(validity)?;
    let (not_after, _) = time(rest)?;
    Ok(CertInfo {
        serial: serial.iter().map(|b| format!("{b:02x}")).collect(),
        not_before,
        not_after,
    })
}

/// RFC 5280 §4.1.2.5: UTCTime `YYMMDDHHMMSSZ` (YY ≥ 50 is 19YY) or GeneralizedTime
/// `YYYYMMDDHHMMSSZ`, as Unix seconds.
fn time(input: &[u8]) -> Result<(i64, &[u8]), &'static str> {
    const BAD: &str = "bad validity time";
    let (tag, body, rest) = tlv(input)?;
    let text = std::str::from_utf8(body).map_err(|_| BAD)?;
    let digits = text.strip_suffix('Z').ok_or(BAD)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD);
    }
    let num = |s: &str| s.parse::<i64>().map_err(|_| BAD);
    let (year, rest_digits) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = num(&digits[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (num(&digits[..4])?, &digits[4..]),
        _ => return Err(BAD),
    };
    let (month, day) = (num(&rest_digits[..2])?, num(&rest_digits[2..4])?);
    let (h, m, s) = (
        num(&rest_digits[4..6])?,
        num(&rest_digits[6..8])?,
        num(&rest_digits[8..10])?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return Err(BAD);
    }
    Ok((
        days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s,
        rest,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---- the listener ----

/// TLS connections ready for the HTTP server, handshakes done.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` from now on (a task on the current runtime, ended when the listener
    /// is dropped).
    pub(crate) fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(ACCEPTED_QUEUE);
        tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(Self { ready, local })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            accepted = tcp.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin, as
                // axum's own TCP listener does.
                warn!(error = %e, "HTTPS accept failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&handshakes).try_acquire_owned() else {
            debug!(
                peer = %pont_types::Pii(peer),
                "{MAX_HANDSHAKES} TLS handshakes in progress: connection closed"
            );
            crate::metrics::tls_handshake_failed("busy");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
            drop(permit);
            match result {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => {
                    // Plain HTTP, a scanner, a client that distrusts our certificate.
                    debug!(peer = %pont_types::Pii(peer), error = %e, "TLS handshake failed");
                    crate::metrics::tls_handshake_failed("error");
                }
                Err(_) => {
                    debug!(peer = %pont_types::Pii(peer), "TLS handshake timed out");
                    crate::metrics::tls_handshake_failed("timeout");
                }
            }
        });
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task ends only with this listener (it holds the sender until
            // `tx.closed()`), so this is never reached while serving; wait forever rather
            // than hand out a connection that does not exist.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Reloads the certificate on every SIGHUP, logging what is served. The handler is installed
/// now, before the listening line, so a SIGHUP sent right after it is not the default action
/// (which ends the process).
pub(crate) fn spawn_reload_on_sighup(certs: Arc<Certificates>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match certs.reload(crate::http::unix_now()) {
                Ok(info) => {
                    crate::metrics::tls_reloaded(true);
                    info!(
                        serial = %info.serial,
                        not_after = %pont_meet::rfc3339::format_utc(info.not_after),
                        "SIGHUP: TLS certificate reloaded; new connections get it"
                    );
                }
                Err(e) => {
                    crate::metrics::tls_reloaded(false);
                    tracing::error!(
                        error = %e,
                        "SIGHUP: TLS certificate NOT reloaded; still serving the previous one"
                    );
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 12, 3), 20_790);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn validity_times_in_both_encodings() {
        let utc = [&[UTC_TIME, 13][..], b"261203172900Z"].concat();
        assert_eq!(time(&utc).unwrap().0, 20_790 * 86_400 + 17 * 3600 + 29 * 60);
        let old = [&[UTC_TIME, 13][..], b"700101000000Z"].concat();
        assert_eq!(time(&old).unwrap().0, 0);
        let gen_time = [&[GENERALIZED_TIME, 15][..], b"20500101000000Z"].concat();
        assert_eq!(
            time(&gen_time).unwrap().0,
            days_from_civil(2050, 1, 1) * 86_400
        );
        for bad in [
            [&[UTC_TIME, 13][..], b"261303172900Z"].concat(),
            [&[UTC_TIME, 13][..], b"2612031729000"].concat(),
            [&[GENERALIZED_TIME, 13][..], b"261203172900Z"].concat(),
            vec![UTC_TIME, 40, b'2'],
            vec![],
        ] {
            assert!(time(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn truncated_certificates_are_errors_not_panics() {
        let der: &[u8] = &[
            0x30, 0x82, 0x01, 0x00, 0x30, 0x10, 0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x07,
        ];
        for n in 0..der.len() {
            assert!(cert_info(&der[..n]).is_err());
        }
        assert!(cert_info(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(cert_info(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_err());
    }
}
