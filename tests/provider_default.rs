//! The process-wide default provider (rustls's `install_default`): set at
//! most once, then used by stores opened without an explicit provider and
//! by parsed public keys. One test in its own binary, since the default is
//! process state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keylife::purpose::{Aead, Signing};
use keylife::{CryptoProvider, ErrorKind, KeySpec, KeyStore, Principal, PublicKey, StoreOptions};

#[test]
fn the_default_is_installed_once_and_used_by_new_stores() {
    // Before installation: the fastest provider compiled in (AWS-LC with
    // the `aws-lc` feature, as the C library and Python package are
    // built), and reading does not install it.
    #[cfg(feature = "aws-lc")]
    assert_eq!(CryptoProvider::get_default(), CryptoProvider::AwsLc);
    #[cfg(not(feature = "aws-lc"))]
    assert_eq!(CryptoProvider::get_default(), CryptoProvider::RustCrypto);
    assert_eq!(
        CryptoProvider::get_default(),
        CryptoProvider::BUILT_IN_DEFAULT
    );
    assert_eq!(
        StoreOptions::default().crypto_provider,
        CryptoProvider::BUILT_IN_DEFAULT
    );
    // Install the other one where there are two: the installed one wins.
    let last = *CryptoProvider::ALL
        .iter()
        .find(|p| **p != CryptoProvider::BUILT_IN_DEFAULT)
        .unwrap_or(&CryptoProvider::BUILT_IN_DEFAULT);
    last.install_default().unwrap();
    assert_eq!(CryptoProvider::get_default(), last);
    // Installing the same provider again is a no-op; another one fails.
    last.install_default().unwrap();
    for p in CryptoProvider::ALL.iter().filter(|p| **p != last) {
        assert_eq!(p.install_default().unwrap_err().kind(), ErrorKind::Conflict);
    }
    assert_eq!(StoreOptions::default().crypto_provider, last);

    let store = KeyStore::in_memory(Principal::admin("default")).unwrap();
    assert_eq!(store.crypto_provider(), last);
    let aead = store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    assert_eq!(
        aead.decrypt(&aead.encrypt(b"m", b"").unwrap(), b"")
            .unwrap(),
        b"m"
    );
    let signer = store.create_active(KeySpec::<Signing>::new("s")).unwrap();
    let pk = PublicKey::from_sec1(&signer.public_key(None).unwrap().to_sec1()).unwrap();
    assert_eq!(pk.provider(), last);
    pk.verify(b"m", &signer.sign(b"m").unwrap()).unwrap();
}
