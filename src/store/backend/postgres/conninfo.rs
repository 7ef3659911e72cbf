//! The TLS settings of a connection string (`sslmode`, `sslrootcert`),
//! which keylife applies itself: rust-postgres knows `disable`, `prefer`
//! and `require` only, and `require` does not check whose certificate it
//! got.
//!
//! | `sslmode` | keylife |
//! |---|---|
//! | absent, `disable`, `allow`, `prefer` | plaintext (for a Unix socket, loopback or a trusted network) |
//! | `verify-full` | TLS, or no connection: the certificate chains to `sslrootcert` (a PEM file; else the system's roots) and names the host |
//! | `require`, `verify-ca` | refused: they accept a certificate that does not name the server, which an active attacker can present |
//!
//! Both connection-string forms are read: `key=value` pairs (values
//! optionally single-quoted, with `\` escapes) and `postgresql://` URLs
//! (query parameters, percent-encoded).

use std::path::PathBuf;
use std::sync::Arc;

use crate::base::{Error, Result};

/// What a connection string asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Tls {
    /// No TLS.
    Plain,
    /// TLS with the chain and the host name verified.
    VerifyFull {
        /// A PEM file of trusted roots; `None`: the system's.
        root: Option<PathBuf>,
    },
}

/// Splits the TLS settings off `url`: the string to give rust-postgres
/// (`sslmode=require` where TLS is wanted, so it never falls back to
/// plaintext), and what to verify.
pub(super) fn split_tls(url: &str) -> Result<(String, Tls)> {
    let (rest, mode, root) = if url.starts_with("postgresql://") || url.starts_with("postgres://") {
        split_url(url)?
    } else {
        split_pairs(url)?
    };
    let tls = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => {
            if root.is_some() {
                return Err(Error::invalid(
                    "sslrootcert is given but sslmode is not verify-full: the root would not be used",
                ));
            }
            Tls::Plain
        }
        Some("verify-full") => Tls::VerifyFull {
            root: root.map(PathBuf::from),
        },
        Some(m @ ("require" | "verify-ca")) => {
            return Err(Error::invalid(format!(
                "sslmode={m} accepts a certificate that does not name the server; use sslmode=verify-full (with sslrootcert=<CA file> for a private CA)"
            )));
        }
        Some(other) => {
            return Err(Error::invalid(format!(
                "unknown sslmode {other:?} (disable, prefer or verify-full)"
            )));
        }
    };
    let rest = match tls {
        Tls::Plain => rest,
        Tls::VerifyFull { .. } if rest.starts_with("postgres") => {
            let sep = if rest.contains('?') { '&' } else { '?' };
            format!("{rest}{sep}sslmode=require")
        }
        Tls::VerifyFull { .. } => format!("{rest} sslmode=require"),
    };
    Ok((rest, tls))
}

type Split = (String, Option<String>, Option<String>);

/// `key=value` pairs: keeps every other pair's text as written.
fn split_pairs(s: &str) -> Result<Split> {
    let bad = || {
        Error::invalid(
            "invalid PostgreSQL connection string (not repeated here: it may hold a password)",
        )
    };
    let b = s.as_bytes();
    let (mut i, mut kept, mut mode, mut root) = (0, String::new(), None, None);
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() || b[i] != b'=' {
            return Err(bad());
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(bad()),
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let c = s[i + 1..].chars().next().ok_or_else(bad)?;
                        value.push(c);
                        i += 1 + c.len_utf8();
                    }
                    Some(_) => {
                        let c = s[i..].chars().next().ok_or_else(bad)?;
                        value.push(c);
                        i += c.len_utf8();
                    }
                }
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                if b[i] == b'\\' {
                    let c = s[i + 1..].chars().next().ok_or_else(bad)?;
                    value.push(c);
                    i += 1 + c.len_utf8();
                } else {
                    let c = s[i..].chars().next().ok_or_else(bad)?;
                    value.push(c);
                    i += c.len_utf8();
                }
            }
        }
        match key {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root = Some(value),
            _ => {
                if !kept.is_empty() {
                    kept.push(' ');
                }
                kept.push_str(&s[start..i]);
            }
        }
    }
    Ok((kept, mode, root))
}

/// A URL: the query parameters `sslmode` and `sslrootcert` come out.
fn split_url(s: &str) -> Result<Split> {
    let Some((base, query)) = s.split_once('?') else {
        return Ok((s.to_owned(), None, None));
    };
    let (mut kept, mut mode, mut root) = (Vec::new(), None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => mode = Some(percent_decode(v)?),
            "sslrootcert" => root = Some(percent_decode(v)?),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, mode, root))
}

fn percent_decode(v: &str) -> Result<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = v
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::invalid("invalid percent-encoding in the connection URL"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| Error::invalid("the connection URL is not UTF-8 once decoded"))
}

/// The rustls client configuration of `sslmode=verify-full`: TLS 1.2 and
/// 1.3 with AWS-LC's algorithms (post-quantum hybrid key exchange first),
/// the roots of `root` (or the system's).
pub(super) fn client_config(root: Option<&PathBuf>) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| Error::invalid(format!("sslrootcert {}: {e}", path.display())))?;
            for c in certs {
                let c =
                    c.map_err(|e| Error::invalid(format!("sslrootcert {}: {e}", path.display())))?;
                roots
                    .add(c)
                    .map_err(|e| Error::invalid(format!("sslrootcert {}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(Error::invalid(format!(
                    "sslrootcert {} holds no certificate",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                // A system root rustls cannot parse is skipped, as by libpq.
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(Error::invalid(
                    "sslmode=verify-full without sslrootcert, and the system has no trusted roots",
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_keep_everything_but_the_tls_settings() {
        let (rest, tls) = split_tls("host=db user=app password='a b\\'c' dbname=k").unwrap();
        assert_eq!(rest, "host=db user=app password='a b\\'c' dbname=k");
        assert_eq!(tls, Tls::Plain);
        let (rest, tls) =
            split_tls("host=db sslmode = verify-full sslrootcert='/etc/ca dir/ca.pem' user=app")
                .unwrap();
        assert_eq!(rest, "host=db user=app sslmode=require");
        assert_eq!(
            tls,
            Tls::VerifyFull {
                root: Some(PathBuf::from("/etc/ca dir/ca.pem"))
            }
        );
        assert_eq!(
            split_tls("host=db sslmode=disable").unwrap(),
            ("host=db".to_owned(), Tls::Plain)
        );
    }

    #[test]
    fn urls_keep_everything_but_the_tls_settings() {
        let (rest, tls) = split_tls(
            "postgresql://app:pw@db:5432/k?application_name=x&sslmode=verify-full&sslrootcert=%2Fca.pem",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgresql://app:pw@db:5432/k?application_name=x&sslmode=require"
        );
        assert_eq!(
            tls,
            Tls::VerifyFull {
                root: Some(PathBuf::from("/ca.pem"))
            }
        );
        let (rest, tls) = split_tls("postgres://db/k?sslmode=verify-full").unwrap();
        assert_eq!(rest, "postgres://db/k?sslmode=require");
        assert_eq!(tls, Tls::VerifyFull { root: None });
        assert_eq!(split_tls("postgres://db/k").unwrap().0, "postgres://db/k");
    }

    use proptest::prelude::*;

    fn quote(v: &str) -> String {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
    }

    proptest! {
        /// Any text: split or refused, never a panic.
        #[test]
        fn any_text_is_split_or_refused(s in "\\PC{0,120}") {
            let _ = split_tls(&s);
        }

        /// Generated `key='value'` strings (quotes, backslashes, spaces and
        /// `=` in values): every pair but the TLS settings comes out as
        /// written, and TLS is asked of rust-postgres exactly when
        /// verify-full was.
        #[test]
        fn every_other_pair_is_kept_as_written(
            pairs in proptest::collection::vec(
                (
                    prop::sample::select(vec![
                        "host", "user", "password", "dbname", "port", "sslmode", "sslrootcert",
                    ]),
                    "[a-z0-9 '\\\\/=._-]{0,12}",
                ),
                0..8,
            )
        ) {
            let s = pairs
                .iter()
                .map(|(k, v)| format!("{k}={}", quote(v)))
                .collect::<Vec<_>>()
                .join(" ");
            if let Ok((rest, tls)) = split_tls(&s) {
                let (kept, mode, root) = split_pairs(&rest).unwrap();
                prop_assert_eq!(
                    mode.as_deref() == Some("require"),
                    matches!(tls, Tls::VerifyFull { .. })
                );
                prop_assert!(root.is_none());
                let expected = pairs
                    .iter()
                    .filter(|(k, _)| *k != "sslmode" && *k != "sslrootcert")
                    .map(|(k, v)| format!("{k}={}", quote(v)))
                    .collect::<Vec<_>>()
                    .join(" ");
                prop_assert_eq!(kept, expected);
            }
        }
    }

    #[test]
    fn unverified_tls_and_bad_strings_are_refused() {
        for s in [
            "host=db sslmode=require",
            "host=db sslmode=verify-ca",
            "postgres://db/k?sslmode=require",
            "host=db sslmode=bogus",
            "host=db sslrootcert=/ca.pem",
            "host=db password='unterminated",
            "host=db novalue",
            "postgres://db/k?sslmode=%zz",
        ] {
            let e = split_tls(s).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{s}");
            assert!(!e.to_string().contains("unterminated"), "{e}");
        }
    }
}
