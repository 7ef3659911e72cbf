"""``Store``: a key store handle, with its inventory, audit, governance and
KEK calls."""

from __future__ import annotations

import builtins
import ctypes
import json
import os
from ctypes import byref, c_char_p, c_size_t, c_uint32, c_uint64
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from . import _ffi, _util, errors
from ._ffi import lib
from ._managed import Managed
from ._util import _OVERHEAD, _ZERO, _b, _fill, _length, _need_hazmat, _s, _shape, _text
from .errors import ClosedError, InvalidArgumentError, NotFoundError, check
from .key import Key, _path
from .types import (
    ApprovalOperation,
    Argon2Params,
    AuditVerification,
    IntegrityReport,
    Purpose,
    Role,
    State,
)

# The unchecked hot-path twin (see _ffi.HOT).
_store_decrypt_into = _ffi.HOT["kl_store_decrypt_into"]

# Assigned, not imported: see the note in key.py (LOAD_METHOD for `.get`).
_DEC = _util._DEC
_LEN = _util._LEN


class Store(Managed):
    """A key store handle acting for one principal (a name and a role).

    Thread-safe; keys loaded through it keep the store alive after close().
    """

    _free = staticmethod(lib.kl_store_free)

    @classmethod
    def memory(cls, principal: str = "python", role: Role = Role.ADMINISTRATOR) -> Store:
        """A new in-memory store (gone when the last handle closes)."""
        out = _ffi.P_store()
        check(lib.kl_store_open_memory(_s(principal), int(role), byref(out)))
        return cls(out)

    @classmethod
    def open(
        cls,
        path: Union[str, os.PathLike[str]],
        kek: bytes | None = None,
        *,
        passphrase: str | None = None,
        backend: str = "sqlite",
        principal: str = "python",
        role: Role = Role.ADMINISTRATOR,
        argon2: Optional[Argon2Params] = None,
        schema: str | None = None,
    ) -> Store:
        """Opens (creating when missing) a store at ``path`` (``backend`` is
        ``"sqlite"``, ``"file"`` or ``"postgres"``), unlocked with a 32-byte
        raw ``kek`` or a ``passphrase``. ``argon2`` sets the Argon2id costs of
        a passphrase store this call creates (default ``ARGON2_RECOMMENDED``;
        an existing store keeps the costs in its header).

        For ``"postgres"``, ``path`` is a libpq connection string or URL (never
        repeated in errors: it may hold a password) and ``schema`` the schema
        that holds the store's tables (default ``keylife``); an unreachable
        server raises :class:`UnavailableError`."""
        backends = {
            "file": _ffi.KL_BACKEND_FILE,
            "sqlite": _ffi.KL_BACKEND_SQLITE,
            "postgres": _ffi.KL_BACKEND_POSTGRES,
        }
        if backend not in backends:
            raise InvalidArgumentError(f"unknown backend {backend!r}")
        if (kek is None) == (passphrase is None):
            raise InvalidArgumentError("give exactly one of kek and passphrase")
        if schema is not None and backend != "postgres":
            raise InvalidArgumentError("schema applies to the postgres backend only")
        if schema is not None and argon2 is not None:
            raise InvalidArgumentError("argon2 costs with a schema are not supported yet")
        if argon2 is not None:
            if passphrase is None:
                raise InvalidArgumentError("argon2 costs apply to passphrase stores only")
            m, t, p = (int(x) for x in argon2)
            out = _ffi.P_store()
            check(
                lib.kl_store_open_passphrase(
                    backends[backend], _s(str(path)), _s(passphrase), m, t, p, _s(principal),
                    int(role), byref(out),
                )
            )
            return cls(out)
        kind, secret = (
            (_ffi.KL_KEK_RAW, _b(kek))
            if kek is not None
            else (_ffi.KL_KEK_PASSPHRASE, _s(passphrase))  # type: ignore[arg-type]
        )
        out = _ffi.P_store()
        if schema is not None:
            check(
                lib.kl_store_open_postgres(
                    _s(str(path)), _s(schema), kind, secret, len(secret), _s(principal),
                    int(role), byref(out),
                )
            )
            return cls(out)
        check(
            lib.kl_store_open(
                backends[backend], _s(str(path)), kind, secret, len(secret), _s(principal),
                int(role), byref(out),
            )
        )
        return cls(out)

    def as_principal(self, name: str) -> Store:
        """Another handle on the same store, acting for the registered
        principal ``name`` with the roles the store's registry holds for it
        (:meth:`register_principal`).

        Only the handle that opened the store mints principal handles; a
        principal handle cannot mint another (:class:`PermissionDeniedError`).
        An unregistered name raises :class:`NotFoundError`.
        """
        out = _ffi.P_store()
        check(lib.kl_store_as_principal(self._handle, _s(name), byref(out)))
        return Store(out)

    def create(
        self,
        purpose: Purpose,
        name: str,
        *,
        owner: str = "",
        exportable: bool = False,
        suspended_processing: bool = True,
    ) -> Key:
        """Creates a key (PreActive) with fresh material."""
        flags = (_ffi.KL_CREATE_EXPORTABLE if exportable else 0) | (
            0 if suspended_processing else _ffi.KL_CREATE_NO_SUSPENDED_PROCESSING
        )
        out = _ffi.P_key()
        check(lib.kl_key_create_ex(self._handle, int(purpose), _s(name), _s(owner), flags, byref(out)))
        return Key(out)

    def create_many(
        self,
        purpose: Purpose,
        names: Sequence[str],
        *,
        owner: str = "",
        exportable: bool = False,
        suspended_processing: bool = True,
    ) -> builtins.list[Key]:
        """Creates one PreActive key per name, all in one durable commit
        (``kl_key_create_many``): all or nothing. For many thousands of keys,
        call it with a few thousand names at a time."""
        flags = (_ffi.KL_CREATE_EXPORTABLE if exportable else 0) | (
            0 if suspended_processing else _ffi.KL_CREATE_NO_SUSPENDED_PROCESSING
        )
        n = len(names)
        if n == 0:
            return []
        encoded = (c_char_p * n)(*(_s(x) for x in names))
        out = (_ffi.P_key * n)()
        check(
            lib.kl_key_create_many(
                self._handle, int(purpose), encoded, n, _s(owner), flags, out,
            )
        )
        return [Key(out[i]) for i in range(n)]

    def load(self, key_id: str) -> Key:
        """Loads a key by its 32-hex-digit id, in its live state."""
        out = _ffi.P_key()
        check(lib.kl_key_load(self._handle, _s(key_id), byref(out)))
        return Key(out)

    def decrypt_file(self, src: Union[str, "os.PathLike[str]"], dst: Union[str, "os.PathLike[str]"],
                     aad: bytes = b"") -> int:
        """Decrypts the keylife stream in the file `src` (from
        `Key.encrypt_file`) into `dst`, which is replaced only when every
        segment authenticated: a damaged stream leaves no plaintext behind.
        Returns the plaintext length."""
        a = _b(aad)
        n = c_uint64(0)
        check(lib.kl_store_decrypt_file(self._handle, _path(src), _path(dst), a, len(a), byref(n)))
        return n.value

    def decrypt(self, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """Decrypts any keylife ciphertext (the header names the key)."""
        sv = self._fast
        if sv is None:
            raise ClosedError("this Store is closed")
        ct = ciphertext if type(ciphertext) is bytes else _b(ciphertext)
        a: Optional[bytes]  # an annotation only: no code
        if aad:
            a = aad if type(aad) is bytes else _b(aad)
            aad_len = _LEN.get(len(a)) or _length(len(a))
        else:
            a, aad_len = None, _ZERO
        n = len(ct)
        ct_len, out_type = _DEC.get(n) or _shape(_DEC, n, n - _OVERHEAD)
        out = out_type()
        # Straight into the output (kl_store_decrypt_into: no intermediate
        # buffer, no copy), as Key.decrypt does.
        r = _store_decrypt_into(sv, ct, ct_len, a, aad_len, out)
        if r:
            raise errors.error_for(r)
        return out.raw if n > _OVERHEAD else b""

    def list(
        self, purpose: Purpose | None = None, state: State | None = None, owner: str = ""
    ) -> builtins.list[dict[str, Any]]:
        """Inventory: the metadata (dicts) of every key matching the filter."""
        raw = _fill(
            lib.kl_store_list_json, self._handle, int(purpose or 0), int(state or 0), _s(owner),
            size=4096, text=True,
        )
        return json.loads(raw)

    @property
    def crypto_provider(self) -> str:
        """The name of the crypto provider this store runs on."""
        return lib.kl_store_crypto_provider(self._handle).decode()

    @property
    def fips_mode(self) -> bool:
        """Whether this store's crypto provider runs in FIPS mode (see
        ``keylife.fips_mode``)."""
        return bool(lib.kl_store_fips_mode(self._handle))

    def maintenance(self) -> int:
        """Applies due date-driven transitions; returns how many keys changed."""
        n = c_size_t(0)
        check(lib.kl_store_maintenance(self._handle, byref(n)))
        return n.value

    # ----- audit and integrity -----

    def flush_audit(self) -> None:
        """Writes buffered audit entries to the store now."""
        check(lib.kl_store_flush_audit(self._handle))

    def verify_audit(self) -> AuditVerification:
        """Verifies the whole tamper-evident audit log (seals, MACs, links,
        sequence, head); raises IntegrityError naming the first broken entry.
        Auditors and administrators. The verification is itself audited."""
        n, seq, got = c_uint64(), c_uint64(), c_size_t()
        mac = ctypes.create_string_buffer(_ffi.KL_AUDIT_HEAD_MAC_HEX_LEN + 1)
        check(lib.kl_store_verify_audit(self._handle, byref(n), byref(seq), mac, len(mac), byref(got)))
        return AuditVerification(n.value, seq.value, mac.value.decode("ascii"))

    def export_audit_jsonl(self, from_seq: int = 1, to_seq: Optional[int] = None) -> str:
        """The verified audit log as JSON Lines (one entry per line), entries
        ``from_seq`` to ``to_seq`` (default: the head when this call starts;
        reading the log adds an entry, which the next export includes)."""
        if to_seq is None:
            to_seq = self.verify_audit().head_seq
        if from_seq > to_seq:
            return ""
        return _fill(
            lib.kl_store_export_audit_jsonl, self._handle, int(from_seq), int(to_seq),
            size=4096, text=True,
        )

    def audit_entries(self, from_seq: int = 1, to_seq: Optional[int] = None) -> builtins.list[dict[str, Any]]:
        """The verified audit entries as dicts (see ``export_audit_jsonl``)."""
        return [json.loads(line) for line in self.export_audit_jsonl(from_seq, to_seq).splitlines()]

    def audit_checkpoint(self, signer: Key) -> str:
        """Signs the audit log's head with an Active signing key; returns the
        checkpoint JSON to keep outside the store."""
        return _fill(
            lib.kl_store_audit_checkpoint, self._handle, signer._handle,
            size=_ffi.KL_AUDIT_CHECKPOINT_JSON_MAX, text=True,
        )

    def verify_audit_checkpoint(self, checkpoint: str, signer: Key) -> int:
        """Checks a checkpoint's signature with ``signer`` (any of its
        versions), then that the log still holds the entry it vouches for.
        Returns the number of entries now in the log. Raises
        AuthenticationError for a bad signature, IntegrityError for a log cut
        back or rewritten."""
        n = c_uint64()
        check(lib.kl_store_verify_audit_checkpoint(self._handle, _text(checkpoint), signer._handle, byref(n)))
        return n.value

    def verify_integrity(self) -> IntegrityReport:
        """Checks every stored key record against the audit log (a record
        restored from an older copy, or deleted, fails with IntegrityError)."""
        keys, entries = c_uint64(), c_uint64()
        check(lib.kl_store_verify_integrity(self._handle, byref(keys), byref(entries)))
        return IntegrityReport(keys.value, entries.value)

    # ----- governance -----

    def set_policy(self, toml: str) -> None:
        """Puts a TOML policy in force (its version must increase). Raises
        PolicyError with the line and field for an invalid policy."""
        check(lib.kl_store_set_policy_toml(self._handle, _text(toml)))

    def policy(self) -> Optional[str]:
        """The policy in force as canonical TOML, or None when none was set."""
        try:
            return _fill(lib.kl_store_policy_toml, self._handle, size=1024, text=True)
        except NotFoundError:
            return None

    def compliance_report(self) -> dict[str, Any]:
        """Every key checked against the policy in force."""
        return json.loads(_fill(lib.kl_store_compliance_report_json, self._handle, size=4096, text=True))

    def register_principal(self, name: str, role: Role = Role.APPLICATION) -> None:
        """Registers a principal so grants can name it (administrators)."""
        check(lib.kl_store_register_principal(self._handle, _s(name), int(role)))

    def register_approver(self, name: str, public_key: bytes) -> None:
        """Registers an approver's P-256 public key (SPKI DER or SEC 1)."""
        pk = _b(public_key)
        check(lib.kl_store_register_approver(self._handle, _s(name), pk, len(pk)))

    def request_approval(
        self,
        operation: ApprovalOperation,
        key: Union[Key, str, None] = None,
        parameters: Optional[dict[str, Any]] = None,
        ttl_seconds: int = 3600,
    ) -> str:
        """Starts a dual-control request; returns its JSON for the approvers."""
        key_id = key.id if isinstance(key, Key) else (key or "")
        params = json.dumps(parameters) if parameters else ""
        return _fill(
            lib.kl_store_request_approval, self._handle, int(operation), _s(key_id), _s(params),
            int(ttl_seconds), size=1024, text=True,
        )

    def submit_approvals(self, request: str, approvals: Iterable[Union[str, dict[str, Any]]]) -> None:
        """Submits approvals (JSON strings from ``Key.approve`` or dicts) for a
        request this principal made; the approved operation consumes them."""
        items = [a if isinstance(a, str) else json.dumps(a) for a in approvals]
        check(lib.kl_store_submit_approvals(self._handle, _text(request), _text("[" + ",".join(items) + "]")))

    # ----- KEK -----

    def rotate_kek(self, new_kek: bytes, progress: Optional[Callable[[int, int], None]] = None) -> None:
        """Moves the store to a new 32-byte raw KEK, re-sealing every record;
        ``progress(done, total)`` is called as it goes (it must not call
        keylife on this store). An exception raised by ``progress`` does not
        stop the rotation; it is re-raised when the rotation returns."""
        k = _b(new_kek)
        raised: list[BaseException] = []
        cb = _ffi.kl_progress_fn()  # a NULL function pointer: no progress
        if progress is not None:
            def trampoline(_user_data: Any, done: int, total: int) -> None:
                try:
                    progress(done, total)
                except BaseException as e:  # noqa: BLE001 - re-raised below
                    if not raised:
                        raised.append(e)

            cb = _ffi.kl_progress_fn(trampoline)
        check(lib.kl_store_rotate_kek(self._handle, k, len(k), cb, None))
        if raised:
            raise raised[0]

    def kek_rotation_pending(self) -> bool:
        """Whether an interrupted KEK rotation should be finished."""
        v = c_uint32()
        check(lib.kl_store_kek_rotation_pending(self._handle, byref(v)))
        return bool(v.value)

    def hazmat_import_raw(
        self, purpose: Purpose, name: str, material: bytes, *, exportable: bool = False
    ) -> Key:
        """**Security warning**: material that existed outside keylife may have
        been copied. Imports raw key material as a PreActive key (hazmat builds)."""
        _need_hazmat()
        m = _b(material)
        out = _ffi.P_key()
        flags = _ffi.KL_CREATE_EXPORTABLE if exportable else 0
        check(lib.kl_key_hazmat_import_raw(self._handle, int(purpose), _s(name), m, len(m), flags, byref(out)))
        return Key(out)
