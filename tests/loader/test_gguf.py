"""berth's GGUF reader against the `gguf` package (llama.cpp's own Python reader/writer): every
dequantiser bit for bit against gguf.quants.dequantize on random blocks, metadata of every value type
read back, and corrupt files refused with a message (never a crash), through berth-gguf."""
import os
import pathlib
import struct
import subprocess

import numpy as np
import pytest
import gguf
from gguf import GGMLQuantizationType as Q

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BERTH_BUILD_DIR", ROOT / "build"))
BIN = BUILD / "tools" / "gguf" / "berth-gguf"

TYPES = [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q4_K, Q.Q6_K]


def run(*args):
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing (build berth-gguf)")
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, timeout=120)


def f16_bytes(rng, n):
    return rng.normal(0, 0.05, n).astype(np.float16).view(np.uint8).reshape(n, 2)


def random_blocks(qtype, rows, cols, rng):
    """Raw bytes of a [rows][cols] tensor: random quants, and scale fields that are finite f16s."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * cols // block
    if qtype == Q.F32:
        return rng.normal(0, 1, (rows, cols)).astype(np.float32)
    if qtype == Q.F16:
        return rng.normal(0, 1, (rows, cols)).astype(np.float16)
    raw = rng.integers(0, 256, (nb, size), dtype=np.uint8)
    if qtype == Q.BF16:
        vals = rng.normal(0, 1, rows * cols).astype(np.float32).view(np.uint32) >> 16
        raw = vals.astype(np.uint16).view(np.uint8).reshape(nb, size)
    elif qtype in (Q.Q8_0, Q.Q4_0):
        raw[:, 0:2] = f16_bytes(rng, nb)
    elif qtype in (Q.Q4_1, Q.Q4_K):
        raw[:, 0:2] = f16_bytes(rng, nb)
        raw[:, 2:4] = f16_bytes(rng, nb)
    elif qtype == Q.Q6_K:
        raw[:, 208:210] = f16_bytes(rng, nb)
    return raw.reshape(rows, -1)


@pytest.fixture(scope="module")
def quant_file(tmp_path_factory):
    rng = np.random.default_rng(1234)
    path = tmp_path_factory.mktemp("gguf") / "quants.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    tensors = {}
    for qt in TYPES:
        raw = random_blocks(qt, 8, 512, rng)
        name = f"t.{qt.name}"
        if qt in (Q.F32, Q.F16):
            w.add_tensor(name, raw)
        else:
            w.add_tensor(name, raw, raw_dtype=qt)
        tensors[name] = (qt, raw)
    w.add_uint8("m.u8", 200)
    w.add_int8("m.i8", -100)
    w.add_uint16("m.u16", 60000)
    w.add_int16("m.i16", -30000)
    w.add_uint32("m.u32", 4000000000)
    w.add_int32("m.i32", -2000000000)
    w.add_float32("m.f32", 1.5)
    w.add_uint64("m.u64", 2**63 + 5)
    w.add_int64("m.i64", -(2**62))
    w.add_float64("m.f64", -2.25)
    w.add_bool("m.bool", True)
    w.add_string("m.str", "héllo\n\"x\"")
    w.add_array("m.arr_i", [1, -2, 3])
    w.add_array("m.arr_s", ["a", "", "ü"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path, tensors


@pytest.mark.parametrize("qtype", TYPES, ids=[t.name for t in TYPES])
def test_dequantise_matches_gguf_package(quant_file, qtype):
    path, tensors = quant_file
    name = f"t.{qtype.name}"
    _, raw = tensors[name]
    want = gguf.quants.dequantize(raw, qtype).astype(np.float32).reshape(-1)
    proc = run("dump", path, name)
    assert proc.returncode == 0, proc.stderr.decode()
    got = np.frombuffer(proc.stdout, dtype=np.float32)
    assert got.shape == want.shape
    # Bit for bit: both compute the same float32 products in the same order.
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), (
        f"{qtype.name}: {np.count_nonzero(got != want)} of {got.size} values differ, "
        f"max |diff| {np.max(np.abs(got - want))}")


def test_metadata_every_value_type(quant_file):
    path, _ = quant_file
    proc = run("info", path)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    for line in ["m.u8 = 200", "m.i8 = -100", "m.u16 = 60000", "m.i16 = -30000", "m.u32 = 4000000000",
                 "m.i32 = -2000000000", "m.f32 = 1.5", f"m.u64 = {2**63 + 5}", f"m.i64 = {-(2**62)}",
                 "m.f64 = -2.25", "m.bool = true", "m.str = \"héllo\n\"x\"\"", "m.arr_i = array of 3",
                 "m.arr_s = array of 3", "general.architecture = \"llama\"",
                 "t.Q4_K Q4_K [512, 8] offset", "t.Q6_K Q6_K [512, 8] offset"]:
        assert line in out, line


def header(ntensors, nkv, version=3):
    return b"GGUF" + struct.pack("<IQQ", version, ntensors, nkv)


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def corrupt_cases(good):
    n = len(good)
    yield "empty", b""
    yield "bad magic", b"GGML" + good[4:]
    yield "version 1", good[:4] + struct.pack("<I", 1) + good[8:]
    yield "huge kv count", good[:16] + struct.pack("<Q", 2**62) + good[24:]
    yield "huge tensor count", good[:8] + struct.pack("<Q", 2**62) + good[16:]
    for cut in (3, 10, 23, 30, 100, 1000, n // 2, n - 1):
        yield f"truncated at {cut}", good[:cut]
    yield "string length past the end", header(0, 1) + struct.pack("<Q", 2**40) + b"key"
    yield "unknown value type", header(0, 1) + gstr("k") + struct.pack("<I", 99) + b"\0" * 8
    yield "array count past the end", header(0, 1) + gstr("k") + struct.pack("<IIQ", 9, 4, 2**40)
    yield "nested arrays too deep", header(0, 1) + gstr("k") + struct.pack("<IIQ", 9, 9, 1) + \
        struct.pack("<IQ", 9, 1) * 8 + struct.pack("<IQ", 4, 0)
    yield "duplicate key", header(0, 2) + (gstr("k") + struct.pack("<IB", 0, 1)) * 2
    tensor = lambda name, dims, t, off: gstr(name) + struct.pack("<I", len(dims)) + \
        b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", t, off)
    pad = lambda b: b + b"\0" * ((-len(b)) % 32)
    yield "tensor data past the end", pad(header(1, 0) + tensor("w", [32, 4], 0, 0)) + b"\0" * 16
    yield "misaligned tensor offset", pad(header(1, 0) + tensor("w", [8], 0, 4)) + b"\0" * 64
    yield "unknown tensor type", pad(header(1, 0) + tensor("w", [8], 77, 0)) + b"\0" * 64
    yield "5 dimensions", pad(header(1, 0) + tensor("w", [1, 1, 1, 1, 1], 0, 0)) + b"\0" * 64
    yield "zero dimension", pad(header(1, 0) + tensor("w", [0], 0, 0)) + b"\0" * 64
    yield "element count overflow", pad(header(1, 0) + tensor("w", [2**40, 2**40], 0, 0)) + b"\0" * 64
    yield "row not a whole block", pad(header(1, 0) + tensor("w", [33], 8, 0)) + b"\0" * 64
    yield "duplicate tensor", pad(header(2, 0) + tensor("w", [8], 0, 0) + tensor("w", [8], 0, 32)) + b"\0" * 64
    yield "alignment not a power of two", header(0, 1) + gstr("general.alignment") + struct.pack("<II", 4, 3)


def test_corrupt_files_are_refused_with_a_message(quant_file, tmp_path):
    good = quant_file[0].read_bytes()
    for what, data in corrupt_cases(good):
        path = tmp_path / "bad.gguf"
        path.write_bytes(data)
        proc = run("info", path)
        err = proc.stderr.decode(errors="replace")
        assert proc.returncode == 1, f"{what}: exit {proc.returncode}, stderr {err!r}"
        assert str(path) in err, f"{what}: the message does not name the file: {err!r}"


def bf16_rne(x):
    """float32 -> bfloat16 bits, round to nearest even, as torch's .to(torch.bfloat16)."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def test_conversion_to_bf16_and_f16(tmp_path):
    """The CUDA backend gets GGUF weights as bfloat16 (f16 where it prefers it): float32 -> 16 bits
    rounds to nearest even, as numpy (f16) and torch (bf16) do, over normal, subnormal, overflowing,
    tie and special values."""
    rng = np.random.default_rng(5)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, 65520.0, 65519.99, 1e-8, 6e-8, 3e-8,
                        -2.98e-8, 5.96e-8, 6.1e-5, 1.0 + 2**-11, 1.0 + 3 * 2**-11, 1.0 + 2**-8,
                        1.0 + 3 * 2**-8, 3.4e38], dtype=np.float32)
    x = np.concatenate([special, rng.normal(0, 1, 4096).astype(np.float32),
                        (rng.normal(0, 1, 4096) * 10.0 ** rng.integers(-9, 6, 4096)).astype(np.float32)])
    x = np.concatenate([x, np.zeros((-len(x)) % 32, dtype=np.float32)])
    path = tmp_path / "f32.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor("x", x.reshape(1, -1))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with np.errstate(over="ignore"):  # values beyond f16's range become infinities, as intended
        f16 = x.astype(np.float16).view(np.uint16)
    for kind, want in (("f16", f16), ("bf16", bf16_rne(x))):
        proc = run("dump", path, "x", kind)
        assert proc.returncode == 0, proc.stderr.decode()
        got = np.frombuffer(proc.stdout, dtype=np.uint16)
        nan = np.isnan(x)
        assert np.array_equal(got[~nan], want[~nan]), (kind, x[~nan][got[~nan] != want[~nan]][:5])
        exp_all_ones = 0x7C00 if kind == "f16" else 0x7F80
        assert np.all((got[nan] & exp_all_ones) == exp_all_ones) and np.all(got[nan] & (exp_all_ones ^ 0x7FFF))
