"""The package's public surface: ``keylife.__all__``, the names importable
before the split into modules, and type hints on every public callable."""

import inspect
from pathlib import Path

import keylife

PACKAGE = Path(keylife.__file__).resolve().parent

#: Every public name `keylife` exported when it was a single module.
PUBLIC_BEFORE_SPLIT = """
ARGON2_RECOMMENDED AlreadyConsumedError AlreadyExistsError ApprovalOperation
ApprovalRequiredError Argon2Params AuditVerification AuthenticationError
BufferTooSmallError ClosedError ConflictError HAZMAT IntegrityError
IntegrityReport InternalError InvalidArgumentError Key KeylifeError
MalformedError Managed NotFoundError NullPointerError Operation PanicError
PermissionDeniedError PolicyError Purpose Role State StorageError Store
UnsupportedError UnsupportedVersionError UnavailableError UsageLimitExceededError
VersionUnavailableError WrongKekError WrongPurposeError WrongStateError
approval_request_canonical_bytes check default_crypto_provider errors
fips_mode install_crypto_provider lib library_version policy_digest
verify_audit_checkpoint_signature verify_signature __version__
""".split()


def test_all_names_exist_and_are_unique():
    assert len(keylife.__all__) == len(set(keylife.__all__))
    for name in keylife.__all__:
        assert hasattr(keylife, name), name


def test_every_name_from_before_the_split_is_still_exported():
    for name in PUBLIC_BEFORE_SPLIT:
        assert hasattr(keylife, name), name
        if not name.startswith("_"):
            assert name in keylife.__all__, name


def test_star_import():
    ns = {}
    exec("from keylife import *", ns)
    assert {n for n in ns if n != "__builtins__"} == set(keylife.__all__)


def test_reexports_are_the_defining_modules_objects():
    from keylife import errors, governance, key, library, store, types
    from keylife._managed import Managed

    assert keylife.Store is store.Store and keylife.Key is key.Key
    assert keylife.Managed is Managed and issubclass(keylife.Store, Managed)
    assert keylife.Purpose is types.Purpose and keylife.KeylifeError is errors.KeylifeError
    assert keylife.policy_digest is governance.policy_digest
    assert keylife.library_version is library.library_version
    assert keylife.__version__ == keylife._ffi.KEYLIFE_VERSION
    assert keylife.HAZMAT is keylife._ffi.HAZMAT


def _public_callables():
    for name in keylife.__all__:
        obj = getattr(keylife, name)
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj) and obj.__module__.startswith("keylife"):
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr not in ("__init__", "__enter__", "__exit__", "__repr__"):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                elif isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member) and member.__module__.startswith("keylife"):
                    yield f"{name}.{attr}", member


def test_public_callables_have_type_hints():
    seen = 0
    for qualname, fn in _public_callables():
        seen += 1
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, f"{qualname}: no return type"
        for i, (pname, p) in enumerate(sig.parameters.items()):
            if i == 0 and pname in ("self", "cls"):
                continue
            if p.kind is p.VAR_POSITIONAL and pname == "exc":
                assert p.annotation is not inspect.Parameter.empty, qualname
                continue
            assert p.annotation is not inspect.Parameter.empty, f"{qualname}: {pname} has no type"
    assert seen > 60


def test_py_typed_marker_is_shipped():
    assert (PACKAGE / "py.typed").is_file()
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert '"py.typed"' in pyproject
