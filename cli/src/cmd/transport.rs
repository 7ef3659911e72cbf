//! `keylife transport …`: trusted recipients, export, import (HPKE).

use keylife::purpose::{Aead, Agreement, Derivation, Mac, Signing};
use keylife::state::Active;
use keylife::{CheckValue, KeyHandle, KeySpec, KeyStore, PublicKey};
use serde_json::json;

use crate::args::{Global, PurposeArg, TransportCmd};
use crate::cmd::key::resolve;
use crate::fail::{Fail, Result};
use crate::output::{line, read_input, read_text, show, table, write_output};

fn public_key(path: &std::path::Path) -> Result<PublicKey> {
    PublicKey::from_spki_pem(&read_text(path)?)
        .map_err(|e| Fail::from(e).context(&path.display().to_string()))
}

/// Imports as the purpose asked, returning a dynamic handle.
fn import(
    store: &KeyStore,
    purpose: PurposeArg,
    name: &str,
    owner: Option<&str>,
    bytes: &[u8],
    inbox: &keylife::Key<Agreement, Active>,
) -> Result<(KeyHandle, CheckValue)> {
    macro_rules! as_purpose {
        ($p:ty) => {{
            let mut spec = KeySpec::<$p>::new(name);
            if let Some(o) = owner {
                spec = spec.owner(o);
            }
            let (k, kcv) = store.import_from_sender(spec, bytes, inbox)?;
            (KeyHandle::from(k), kcv)
        }};
    }
    Ok(match purpose {
        PurposeArg::Aead => as_purpose!(Aead),
        PurposeArg::Signing => as_purpose!(Signing),
        PurposeArg::Mac => as_purpose!(Mac),
        PurposeArg::Agreement => as_purpose!(Agreement),
        PurposeArg::Derivation => as_purpose!(Derivation),
    })
}

/// `transport …`
pub fn run(g: &Global, store: &KeyStore, cmd: &TransportCmd) -> Result<()> {
    match cmd {
        TransportCmd::Trust {
            name,
            public_key: pem,
        } => {
            let pk = public_key(pem)?;
            store.trust_recipient(name, &pk)?;
            let fp = pk.fingerprint()?;
            line(g, &json!({"destination": name, "fingerprint": fp}), |_| {
                format!("trusted recipient {name} (key {fp})")
            })
        }
        TransportCmd::Untrust { name } => {
            store.untrust_destination(name)?;
            line(g, &json!({"destination": name, "trusted": false}), |_| {
                format!("{name} is no longer a trusted destination")
            })
        }
        TransportCmd::List => {
            let list = store.trusted_destinations()?;
            show(g, &list, |l| {
                let mut t = table(&["name", "kind", "fingerprint", "registered by", "at"]);
                for d in l {
                    t.add_row(vec![
                        d.name.clone(),
                        format!("{:?}", d.kind).to_lowercase(),
                        d.fingerprint.clone(),
                        d.registered_by.clone(),
                        d.at.to_string(),
                    ]);
                }
                t
            })
        }
        TransportCmd::Export {
            key,
            recipient,
            version,
            output,
        } => {
            let id = resolve(store, key)?.id();
            let sent = store.export_to_recipient(&id, *version, &public_key(recipient)?)?;
            write_output(output, &sent.bytes)?;
            let kcv = sent.check_value.to_string();
            let v = json!({"key": sent.key_id, "version": sent.version, "check_value": kcv});
            // The check value goes to stderr when the key itself went to stdout.
            if output.as_os_str() == "-" {
                eprintln!(
                    "exported version {} of {}: check value {kcv}",
                    sent.version, sent.key_id
                );
                return Ok(());
            }
            line(g, &v, |_| {
                format!(
                    "exported version {} of {} to {}: check value {kcv}",
                    sent.version,
                    sent.key_id,
                    output.display()
                )
            })
        }
        TransportCmd::Import {
            input,
            name,
            purpose,
            inbox,
            owner,
        } => {
            let bytes = read_input(input)?;
            let inbox = resolve(store, inbox)?.typed::<Agreement, Active>()?;
            let (k, kcv) = import(store, *purpose, name, owner.as_deref(), &bytes, &inbox)
                .map_err(|f| f.context(&input.display().to_string()))?;
            let kcv = kcv.to_string();
            let v = json!({"id": k.id(), "name": name, "state": k.state()?, "check_value": kcv});
            line(g, &v, |_| {
                format!(
                    "imported key {} ({name}), pre_active: check value {kcv} (compare with the sender's)",
                    k.id()
                )
            })
        }
    }
}
