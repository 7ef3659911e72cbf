"""keylife against real peers: the `cryptography` package and the openssl
command line."""

import os
import shutil
import subprocess

import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import keylife
from keylife import Purpose


@pytest.fixture
def store():
    with keylife.Store.memory("interop") as s:
        yield s


def active(store, purpose, **kw):
    k = store.create(purpose, "interop", **kw)
    k.activate()
    return k


def test_keylife_signatures_verify_in_cryptography(store):
    signer = active(store, Purpose.SIGNING)
    pub = serialization.load_der_public_key(signer.public_key_der())
    sig = signer.sign(b"release-1.0.tar.gz")
    pub.verify(sig, b"release-1.0.tar.gz", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        pub.verify(sig, b"release-1.1.tar.gz", ec.ECDSA(hashes.SHA256()))
    # Fixed-width r || s.
    fixed = signer.sign(b"jws", fixed=True)
    der = encode_dss_signature(int.from_bytes(fixed[:32], "big"), int.from_bytes(fixed[32:], "big"))
    pub.verify(der, b"jws", ec.ECDSA(hashes.SHA256()))
    # PEM too.
    pem_pub = serialization.load_pem_public_key(signer.public_key_pem().encode())
    assert pem_pub.public_numbers() == pub.public_numbers()


def test_cryptography_signatures_verify_in_keylife():
    priv = ec.generate_private_key(ec.SECP256R1())
    spki = priv.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sec1 = priv.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    sig = priv.sign(b"from cryptography", ec.ECDSA(hashes.SHA256()))
    keylife.verify_signature(spki, b"from cryptography", sig)
    keylife.verify_signature(sec1, b"from cryptography", sig)
    with pytest.raises(keylife.AuthenticationError):
        keylife.verify_signature(spki, b"from cryptographY", sig)


def test_ecdh_with_cryptography(store):
    mine = active(store, Purpose.AGREEMENT)
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_spki = peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ours = mine.agree(peer_spki, 32, context=b"ctx", salt=b"salt")
    shared = peer.exchange(ec.ECDH(), serialization.load_der_public_key(mine.public_key_der()))
    theirs = HKDF(hashes.SHA256(), 32, salt=b"salt", info=b"ctx").derive(shared)
    assert bytes(ours) == theirs


needs_hazmat = pytest.mark.skipif(not keylife.HAZMAT, reason="library built without hazmat")


def test_hazmat_is_built_for_these_tests():
    # scripts/test-python.sh builds with --features hazmat; without it the
    # AEAD interop tests below would silently not run.
    assert keylife.HAZMAT, "build libkeylife with --features hazmat"


@needs_hazmat
def test_aead_raw_both_ways_with_cryptography(store):
    key = active(store, Purpose.AEAD, exportable=True)
    raw = key.hazmat_export_raw()
    assert isinstance(raw, bytearray) and len(raw) == 32
    gcm = AESGCM(bytes(raw))
    nonce = os.urandom(12)
    ct = key.hazmat_encrypt_assume_unique_nonce(nonce, b"raw message", b"aad")
    assert gcm.decrypt(nonce, ct, b"aad") == b"raw message"
    with pytest.raises(InvalidTag):
        gcm.decrypt(nonce, ct, b"aaD")
    nonce2 = os.urandom(12)
    theirs = gcm.encrypt(nonce2, b"from cryptography", b"ctx")
    assert key.hazmat_decrypt_raw(nonce2, theirs, b"ctx") == b"from cryptography"
    with pytest.raises(keylife.AuthenticationError):
        key.hazmat_decrypt_raw(nonce2, theirs, b"CTX")
    raw[:] = bytes(len(raw))  # callers can wipe it


@needs_hazmat
def test_keylife_ciphertext_format_opens_with_cryptography(store):
    # The documented format: header (34 bytes, authenticated with the caller's
    # AAD), nonce at 22..34, then ciphertext || tag.
    key = active(store, Purpose.AEAD, exportable=True)
    raw = bytes(key.hazmat_export_raw())
    ct = key.encrypt(b"self-describing", aad=b"tenant=7")
    header, nonce = ct[:34], ct[22:34]
    assert AESGCM(raw).decrypt(nonce, ct[34:], header + b"tenant=7") == b"self-describing"
    # And the reverse: a ciphertext built by cryptography in keylife's format.
    nonce = os.urandom(12)
    header = ct[:22] + nonce
    body = AESGCM(raw).encrypt(nonce, b"built elsewhere", header + b"tenant=7")
    assert key.decrypt(header + body, b"tenant=7") == b"built elsewhere"


@needs_hazmat
def test_imported_key_matches_cryptography(store):
    material = AESGCM.generate_key(bit_length=256)
    key = store.hazmat_import_raw(Purpose.AEAD, "imported", material)
    key.activate()
    nonce = os.urandom(12)
    ct = AESGCM(material).encrypt(nonce, b"hello", None)
    assert key.hazmat_decrypt_raw(nonce, ct) == b"hello"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_openssl_verifies_with_exported_pem(store, tmp_path):
    signer = active(store, Purpose.SIGNING)
    msg = b"artifact contents\n" * 10
    (tmp_path / "msg").write_bytes(msg)
    (tmp_path / "pub.pem").write_text(signer.public_key_pem())
    (tmp_path / "sig").write_bytes(signer.sign(msg))
    cmd = ["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"),
           "-signature", str(tmp_path / "sig"), str(tmp_path / "msg")]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout, ok.stdout + ok.stderr
    (tmp_path / "msg").write_bytes(msg + b"tampered")
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode != 0


def test_openssl_is_available():
    # The interop suite must not pass by skipping its openssl test.
    assert shutil.which("openssl"), "install the openssl command line"
