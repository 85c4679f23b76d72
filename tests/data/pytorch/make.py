#!/usr/bin/env python3
"""Generate the PyTorch checkpoint test files in this folder (see README.md).

Needs Debian's python3-torch (1.13) for the real torch.save files; the malformed
hand-built pickles use only the standard library (fake 'torch' globals, run in a
child process so the real torch is not imported there). Deterministic: fixed values.
"""
import io, json, os, struct, subprocess, sys, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def st_write(path, tensors):
    """A minimal safetensors writer: tensors = [(name, dtype, shape, bytes)]."""
    hdr, off, blobs = {}, 0, []
    for name, dt, shape, b in tensors:
        hdr[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def rezip(src, dst, method=zipfile.ZIP_STORED, drop=(), replace=None):
    replace = replace or {}
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", method) as zo:
        names = [i.filename for i in zi.infolist()]
        for n in names:
            if any(n.endswith(d) for d in drop):
                continue
            data = zi.read(n)
            for suf, new in replace.items():
                if n.endswith(suf):
                    data = new
            zo.writestr(zipfile.ZipInfo(n, (2000, 1, 1, 0, 0, 0)), data, compress_type=method)
        prefix = names[0].split("/")[0] + "/"
        for suf, new in replace.items():
            if not any(n.endswith(suf) for n in names):
                zo.writestr(zipfile.ZipInfo(prefix + suf, (2000, 1, 1, 0, 0, 0)), new, compress_type=method)


def real():
    import torch
    torch.manual_seed(0)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8
    emb = torch.linspace(-1, 1, 40).reshape(8, 5)
    sd = {
        "base": base,
        "transposed": base.t(),            # non-contiguous view of base's storage
        "row1": base[1],                   # storage_offset 6, contiguous
        "col2": base[:, 2],                # strided (stride 6), offset 2
        "emb.weight": emb,
        "lm_head.weight": emb,             # tied: the same tensor, one storage
        "half": torch.tensor([0.5, -2.0, 3.25], dtype=torch.float16),
        "bf16": torch.tensor([[1.5, -0.25]], dtype=torch.bfloat16),
        "steps": torch.tensor([1, -2, 3], dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
    }

    def raw(t):
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().tobytes()
        return t.numpy().tobytes()

    dts = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.bool: "BOOL"}
    st_write(os.path.join(HERE, "views.expect.safetensors"),
             [(k, dts[v.dtype], v.shape, raw(v)) for k, v in sd.items()])
    torch.save(sd, os.path.join(HERE, "views.pt"))
    torch.save({"state_dict": sd, "epoch": 3, "note": "nested"}, os.path.join(HERE, "nested.pt"))
    torch.save(sd, os.path.join(HERE, "legacy.pt"), _use_new_zipfile_serialization=False)
    rezip(os.path.join(HERE, "views.pt"), os.path.join(HERE, "deflated.pt"), zipfile.ZIP_DEFLATED)
    # a folder holding only pytorch_model.bin + config.json
    d = os.path.join(HERE, "folder")
    os.makedirs(d, exist_ok=True)
    torch.save({"w": emb, "b": base[0]}, os.path.join(d, "pytorch_model.bin"))
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write('{"model_type": "test"}\n')
    # a 2-shard set with an index (second shard in the legacy layout)
    d = os.path.join(HERE, "sharded")
    os.makedirs(d, exist_ok=True)
    s1 = {"a.weight": emb, "a.bias": base[0]}
    s2 = {"b.weight": base.t(), "b.bias": torch.tensor([7.0, 8.0])}
    torch.save(s1, os.path.join(d, "pytorch_model-00001-of-00002.bin"))
    torch.save(s2, os.path.join(d, "pytorch_model-00002-of-00002.bin"), _use_new_zipfile_serialization=False)
    wm = {k: "pytorch_model-00001-of-00002.bin" for k in s1}
    wm.update({k: "pytorch_model-00002-of-00002.bin" for k in s2})
    with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=1)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write('{"model_type": "test"}\n')
    st_write(os.path.join(HERE, "sharded.expect.safetensors"),
             [(k, "F32", v.shape, raw(v)) for k, v in list(s1.items()) + list(s2.items())])
    # named malformed cases derived from real files
    m = os.path.join(HERE, "bad")
    os.makedirs(m, exist_ok=True)
    with zipfile.ZipFile(os.path.join(HERE, "views.pt")) as z:
        first = [i.filename for i in z.infolist() if "/data/" in i.filename][0]
        short = z.read(first)[:-4]
    rezip(os.path.join(HERE, "views.pt"), os.path.join(m, "short_storage.pt"), replace={first: short})
    rezip(os.path.join(HERE, "views.pt"), os.path.join(m, "no_datapkl.pt"), drop=("data.pkl",))
    rezip(os.path.join(HERE, "views.pt"), os.path.join(m, "byteorder_big.pt"), replace={"byteorder": b"big"})
    with open(os.path.join(HERE, "legacy.pt"), "rb") as f:
        leg = f.read()
    with open(os.path.join(m, "truncated_legacy.pt"), "wb") as f:
        f.write(leg[:len(leg) - 20])


FAKE = r'''
import collections, io, pickle, sys, types, zipfile
torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
class FloatStorage: pass
FloatStorage.__module__ = "torch"; torch.FloatStorage = FloatStorage
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
class Ref:
    def __init__(s, key, numel): s.key, s.numel = key, numel
class T:
    def __init__(s, ref, off, size, stride): s.a = (ref, off, size, stride)
    def __reduce__(s):
        return (_rebuild_tensor_v2, s.a + (False, collections.OrderedDict()))
class P(pickle.Pickler):
    def persistent_id(s, o):
        return ("storage", FloatStorage, o.key, "cpu", o.numel) if isinstance(o, Ref) else None
def save(path, sd, numel):
    b = io.BytesIO(); P(b, protocol=2).dump(collections.OrderedDict(sd))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b.getvalue())
        z.writestr("archive/data/0", bytes(4 * numel))
        z.writestr("archive/version", b"3\n")
r = Ref("0", 12)
save(sys.argv[1] + "/neg_stride.pt", {"w": T(r, 0, (3, 4), (4, -1))}, 12)
save(sys.argv[1] + "/negative_offset.pt", {"w": T(r, -1, (3, 4), (4, 1))}, 12)
save(sys.argv[1] + "/overflow_offset.pt", {"w": T(r, 2**63 - 1, (3, 4), (4, 1))}, 12)
save(sys.argv[1] + "/overflow_stride.pt", {"w": T(r, 0, (8, 4), (2**62, 1))}, 12)
save(sys.argv[1] + "/past_storage.pt", {"w": T(r, 4, (3, 4), (4, 1))}, 12)
'''

if __name__ == "__main__":
    real()
    subprocess.run([sys.executable, "-c", FAKE, os.path.join(HERE, "bad")], check=True)
