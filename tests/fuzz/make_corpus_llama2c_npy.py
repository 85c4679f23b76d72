#!/usr/bin/env python3
"""Write the tiny seed corpora for fuzz_llama2c and fuzz_npy (stdlib only, deterministic).
Run from the repository root: python3 tests/fuzz/make_corpus_llama2c_npy.py"""
import struct, zipfile, io

L2C = "tests/fuzz/corpus/llama2c/"
NPY = "tests/fuzz/corpus/npy/"

def f32(n, tag):
    return struct.pack("<%df" % n, *[tag + i / 64.0 for i in range(n)])

def mats(dim, hid, heads, kv, voc):
    kvd = dim // heads * kv
    return [voc * dim, dim * dim, kvd * dim, kvd * dim, dim * dim, hid * dim, dim * hid, hid * dim]

def v0(dim=8, hid=8, L=1, heads=2, kv=1, voc=4, seq=2, shared=True):
    m = mats(dim, hid, heads, kv, voc)
    b = struct.pack("<7i", dim, hid, L, heads, kv, voc if shared else -voc, seq)
    b += f32(m[0], 1) + f32(dim * L, 2)
    for k in range(1, 5): b += f32(m[k] * L, 3 + k)
    b += f32(dim * L, 8)
    for k in range(5, 8): b += f32(m[k] * L, 4 + k)
    b += f32(dim, 12) + f32(seq * (dim // heads), 13)
    if not shared: b += f32(m[0], 14)
    return b

def header(version, dim, hid, L, heads, kv, voc, seq, shared, gs=None):
    b = struct.pack("<Ii7iB", 0x616B3432, version, dim, hid, L, heads, kv, voc, seq, shared)
    if gs is not None: b += struct.pack("<i", gs)
    return b + b"\0" * (256 - len(b))

def v1(dim=8, hid=8, L=1, heads=2, kv=1, voc=4, seq=2, shared=True):
    b = header(1, dim, hid, L, heads, kv, voc, seq, int(shared)) + f32(dim * (2 * L + 1), 1)
    m = mats(dim, hid, heads, kv, voc)
    b += f32(m[0], 2)
    for k in range(1, 8): b += f32(m[k] * L, 2 + k)
    if not shared: b += f32(m[0], 10)
    return b

def v2(dim=32, hid=32, L=1, heads=2, kv=1, voc=4, seq=2, shared=True, gs=32, exact=True):
    b = header(2, dim, hid, L, heads, kv, voc, seq, int(shared), gs) + f32(dim * (2 * L + 1), 1)
    m = mats(dim, hid, heads, kv, voc)
    ws = [m[0]] + [m[k] for k in range(1, 8) for _ in range(L)] + ([] if shared else [m[0]])
    for t, n in enumerate(ws):
        b += bytes(((i * 7 + t) % 255) for i in range(n))
        b += struct.pack("<%df" % (n // gs), *[((g + 1) / 1024.0 if exact else 0.1 + g / 1000) for g in range(n // gs)])
    return b

def tok():
    b = struct.pack("<i", 6)
    for i, s in enumerate([b"<unk>", b"\n<s>\n", b"ab", b"\xe2\x96\x81a"]):
        b += struct.pack("<fi", -float(i), len(s)) + s
    return b

def npy(descr, shape, data, fortran=False, major=1):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    pre = 10 if major == 1 else 12
    total = (pre + len(d) + 1 + 63) // 64 * 64
    h = total - pre
    b = b"\x93NUMPY" + bytes([major, 0]) + (struct.pack("<H", h) if major == 1 else struct.pack("<I", h))
    return b + (d + " " * (h - len(d) - 1) + "\n").encode() + data

def npz(members, method):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            zi.compress_type = method
            z.writestr(zi, data)
    return out.getvalue()

def npz_zip64(members):
    """As numpy's savez writes members: zipfile.open(..., 'w', force_zip64=True)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            with z.open(zi, "w", force_zip64=True) as fh:
                fh.write(data)
    return out.getvalue()

def main():
    files = {
        L2C + "v0_shared.bin": v0(),
        L2C + "v0_separate.bin": v0(shared=False),
        L2C + "v1_shared.bin": v1(),
        L2C + "v1_separate_2layers.bin": v1(L=2, shared=False),
        L2C + "v2_q8_0.bin": v2(),
        L2C + "v2_f32_separate.bin": v2(shared=False, exact=False),
        L2C + "tokenizer.bin": tok(),
    }
    f = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    a = npy("<f4", "(2, 3)", f)
    files.update({
        NPY + "f4.npy": a,
        NPY + "f4_big.npy": npy(">f4", "(3,)", struct.pack(">3f", 1.5, -2, 3)),
        NPY + "i4_fortran.npy": npy("<i4", "(3, 2)", struct.pack("<6i", 1, 2, 3, 4, 5, 6), fortran=True),
        NPY + "f2_v2.npy": npy("<f2", "(2,)", struct.pack("<2e", 0.5, -1), major=2),
        NPY + "b1_0d.npy": npy("|b1", "()", b"\x01"),
        NPY + "u8_big_v3.npy": npy(">u8", "(1,)", struct.pack(">Q", 258), major=3),
        NPY + "stored.npz": npz([("x.npy", a), ("y.npy", npy("<i8", "(2,)", struct.pack("<2q", 1, 2)))], zipfile.ZIP_STORED),
        NPY + "zip64.npz": npz_zip64([("a.npy", a)]),
        NPY + "deflated.npz": npz([("x.npy", a), ("sub/z.npy", npy(">f4", "(1,)", struct.pack(">f", 7)))], zipfile.ZIP_DEFLATED),
    })
    for p, b in files.items():
        with open(p, "wb") as fh: fh.write(b)

main()
