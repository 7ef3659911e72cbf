"""Parses include/keylife.h and checks every function and every constant
against the ctypes declarations in keylife._ffi."""

import ctypes
import re
from pathlib import Path

import keylife
from keylife import _ffi

HEADER = Path(__file__).resolve().parents[3] / "include" / "keylife.h"


def _header():
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return text


def _norm(c_type: str) -> str:
    t = " ".join(c_type.replace("*", " * ").split())
    return t.replace("* *", "**").replace(" *", " *")


def parse_functions():
    """name -> (return type, [argument types], hazmat?)"""
    text = _header()
    out = {}
    hazmat = False
    chunks = re.split(r"(#if defined\(KEYLIFE_HAZMAT\)|#endif)", text)
    for chunk in chunks:
        if chunk == "#if defined(KEYLIFE_HAZMAT)":
            hazmat = True
            continue
        if chunk == "#endif":
            hazmat = False
            continue
        for m in re.finditer(r"([A-Za-z_][\w \*]*?)\b(kl_\w+)\s*\(([^)]*)\)\s*;", chunk):
            ret, name, args = m.group(1), m.group(2), m.group(3)
            params = []
            if args.strip() != "void":
                for a in args.split(","):
                    a = " ".join(a.split())
                    # Drop the parameter name.
                    t = re.sub(r"\s*\b\w+$", "", a)
                    params.append(_norm(t))
            out[name] = (_norm(ret.strip()), params, hazmat)
    return out


def parse_defines():
    out = {}
    for m in re.finditer(r"^#define[ \t]+((?:KL|KEYLIFE)_\w+)[ \t]+(.+)$", HEADER.read_text(), re.M):
        name, value = m.group(1), m.group(2).strip()
        out[name] = value.strip('"') if value.startswith('"') else int(value, 0)
    return out


def test_every_header_function_is_declared_with_its_types():
    header = parse_functions()
    assert len(header) > 40, "parser found too few functions"
    for name, (ret, args, hazmat) in header.items():
        table = _ffi.HAZMAT_FUNCTIONS if hazmat else _ffi.FUNCTIONS
        assert name in table, f"{name} is in the header but not declared in _ffi"
        assert table[name] == (ret, args), f"{name}: header {ret} {args}, _ffi {table[name]}"
        fn = getattr(_ffi.lib, name)
        assert fn.argtypes == [_ffi.C_TYPES[a] for a in args], name
        assert fn.restype == _ffi.RETURN_TYPES.get(ret, _ffi.C_TYPES[ret]), name
    declared = set(_ffi.FUNCTIONS) | set(_ffi.HAZMAT_FUNCTIONS)
    assert declared == set(header), f"declared but not in the header: {declared - set(header)}"


def test_every_header_constant_matches():
    defines = parse_defines()
    assert "KL_ERR_WRONG_STATE" in defines
    for name, value in defines.items():
        if name == "KEYLIFE_H":
            continue
        assert getattr(_ffi, name, None) == value, f"{name}: header {value!r}, _ffi {getattr(_ffi, name, None)!r}"
    py = {n for n in dir(_ffi) if n.startswith(("KL_", "KEYLIFE_VERSION"))}
    assert py <= set(defines), f"in _ffi but not in the header: {py - set(defines)}"


def test_enums_and_exceptions_cover_the_constants():
    defines = parse_defines()
    for enum, prefix in (
        (keylife.Purpose, "KL_PURPOSE_"),
        (keylife.State, "KL_STATE_"),
        (keylife.Role, "KL_ROLE_"),
        (keylife.Operation, "KL_OP_"),
        (keylife.ApprovalOperation, "KL_APPROVAL_"),
    ):
        want = {n[len(prefix):]: v for n, v in defines.items() if n.startswith(prefix)}
        assert {m.name: m.value for m in enum} == want
    codes = {v for n, v in defines.items() if n.startswith("KL_ERR_")}
    assert codes == set(keylife.errors.BY_CODE), "one exception class per result code"


def test_hot_path_twins_are_the_declared_symbols():
    """The unchecked twins (argtypes None) call the same C functions as the
    declared ones, and are only the fixed-size hot-path calls."""
    assert set(_ffi.HOT) == {"kl_key_encrypt_into", "kl_key_decrypt_into", "kl_store_decrypt_into"}
    for name, fn in _ffi.HOT.items():
        declared = getattr(_ffi.lib, name)
        assert fn is not declared and fn.argtypes is None
        assert fn.restype is _ffi.kl_result
        addr = lambda f: ctypes.cast(f, ctypes.c_void_p).value  # noqa: E731
        assert addr(fn) == addr(declared)


def test_the_progress_callback_type_matches_the_typedef():
    m = re.search(r"typedef void \(\*kl_progress_fn\)\(([^)]*)\);", HEADER.read_text())
    assert m, "kl_progress_fn typedef not found"
    assert m.group(1) == "void *user_data, uint64_t done, uint64_t total"
    assert _ffi.kl_progress_fn._argtypes_ == (ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64)
    assert _ffi.kl_progress_fn._restype_ is None
