/* scan_danger.c: what a pickle global can do. The classification behind PICKLE_GLOBAL
 * findings (lb_scan_classify in lb_scan.h); docs/pickle.md has the table in prose. */
#include "lb_scan.h"

#include <stdio.h>
#include <string.h>

#include "lb_pickle.h"

/* ---- classification -------------------------------------------------------------- */

/* Dangerous modules: every name in them (and in their submodules) is malicious. */
static const char *const bad_modules[] = {
    /* processes, shells, the OS */
    "os", "posix", "nt", "posixpath", "ntpath", "genericpath", "subprocess", "_posixsubprocess",
    "pty", "commands", "popen2", "platform", "multiprocessing", "concurrent", "_thread", "thread",
    "threading", "signal", "atexit", "_winapi", "msvcrt", "winreg", "_winreg", "ctypes", "_ctypes",
    "cffi", "sys", "gc", "resource", "_osx_support", "_aix_support", "pipes", "sched", "_sitebuiltins",
    /* running or compiling code, resolving names */
    "runpy", "code", "codeop", "pdb", "bdb", "trace", "timeit", "pydoc", "cProfile", "profile",
    "doctest", "idlelib", "importlib", "pkgutil", "imp", "zipimport", "site", "sysconfig",
    "inspect", "test", "unittest", "asyncio", "IPython", "jinja2", "yaml", "jsonpickle", "lib2to3",
    "cgitb", "linecache", "tkinter", "_tkinter", "Tkinter", "turtle", "turtledemo",
    /* deserializers that take code */
    "pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "joblib",
    /* call gadgets */
    "operator", "_operator", "functools", "_functools",
    /* files */
    "io", "_io", "_pyio", "shutil", "tempfile", "glob", "fileinput", "pathlib", "filecmp",
    "zipfile", "tarfile", "logging.handlers", "logging.config", "dbm", "mmap", "sqlite3", "_sqlite3",
    /* network */
    "socket", "_socket", "ssl", "_ssl", "http", "httplib", "urllib", "urllib2", "urllib3",
    "requests", "webbrowser", "ftplib", "smtplib", "telnetlib", "poplib", "imaplib", "nntplib",
    "xmlrpc", "xmlrpclib", "socketserver", "SocketServer", "asynchat", "asyncore", "aiohttp",
    "httpx", "paramiko", "select", "selectors",
    /* installing packages */
    "venv", "ensurepip", "pip", "setuptools", "distutils", "pkg_resources",
    /* torch: loading, compiling, executing */
    "torch.serialization", "torch.jit", "torch.hub", "torch._inductor", "torch._dynamo",
    "torch.utils.collect_env", "torch.utils.cpp_extension", "torch.package", "torch._C",
    "torch.fx", "torch.export", "torch.compiler", "torch._export", "torch.utils.bottleneck",
    "torch.utils._config_module", "torch.utils.data.datapipes", "torch.distributed", "torch.multiprocessing",
    /* numpy: loading pickles, running code */
    "numpy.lib.npyio", "numpy.f2py", "numpy.distutils", "numpy.testing", "numpy.ctypeslib",
    NULL
};

/* Dangerous single names in otherwise ordinary modules. */
static const struct { const char *module, *name; } bad_names[] = {
    { "builtins", "eval" }, { "builtins", "exec" }, { "builtins", "compile" },
    { "builtins", "open" }, { "builtins", "getattr" }, { "builtins", "setattr" },
    { "builtins", "delattr" }, { "builtins", "__import__" }, { "builtins", "breakpoint" },
    { "builtins", "input" }, { "builtins", "globals" }, { "builtins", "locals" },
    { "builtins", "vars" }, { "builtins", "exit" }, { "builtins", "quit" }, { "builtins", "help" },
    { "builtins", "memoryview" }, { "builtins", "execfile" }, { "builtins", "apply" },
    { "builtins", "file" }, { "builtins", "reload" }, { "builtins", "raw_input" },
    { "types", "CodeType" }, { "types", "FunctionType" }, { "types", "LambdaType" },
    { "types", "MethodType" }, { "types", "ModuleType" }, { "types", "BuiltinFunctionType" },
    { "types", "new_class" },
    { "torch", "load" }, { "torch", "save" }, { "torch", "compile" }, { "torch", "from_file" },
    { "torch.storage", "_load_from_bytes" }, { "torch.classes", "load_library" },
    { "torch.ops", "load_library" },
    { "numpy", "load" }, { "numpy", "loads" }, { "numpy", "fromfile" }, { "numpy", "save" },
    { "numpy", "savez" }, { "numpy", "memmap" }, { "numpy.core.multiarray", "fromfile" },
    { "codecs", "open" }, { "logging", "FileHandler" }, { "logging", "StreamHandler" },
    { "logging", "config" }, { "pandas", "read_pickle" }, { "pandas.io.pickle", "read_pickle" },
    { "weakref", "finalize" }, { "tokenize", "open" }, { "imaplib", "IMAP4_stream" },
    { "importlib", "import_module" }, { "tempfile", "mktemp" }, { "platform", "popen" },
    { "numpy.testing._private.utils", "runstring" },
};

/* Names that are modules: importing one as a global hands over the module object, and with
 * it every function inside (GLOBAL 'torch' '_utils', then getattr on it). */
static const char *const module_paths[] = {
    "torch._utils", "torch.nn", "torch.nn.parameter", "torch.nn.modules", "torch.storage", "torch.serialization",
    "torch.utils", "torch.jit", "torch.hub", "torch.ops", "torch.classes", "torch.library", "torch.cuda",
    "torch.backends", "torch.distributed", "torch.multiprocessing", "torch.autograd", "torch.optim", "torch.fx",
    "torch.package", "torch.overrides", "torch.testing", "torch.onnx",
    "numpy.core", "numpy._core", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.lib", "numpy.ctypeslib",
    "numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.random", "numpy.linalg", "numpy.ma",
    "collections.abc", "os.path", "importlib.util", "importlib.machinery", "xml.etree", "email.mime",
    "encodings.base64_codec", "logging.handlers", "logging.config", "concurrent.futures", "multiprocessing.pool",
    "http.client", "http.server", "urllib.request", "xmlrpc.client", "ctypes.util", "distutils.util",
    NULL
};

/* Allow-listed beyond formats/pickle.c's load list: what benign NumPy object arrays use. */
static const struct { const char *module, *name; } extra_allowed[] = {
    { "numpy.core.multiarray", "_reconstruct" }, { "numpy._core.multiarray", "_reconstruct" },
    { "numpy.core.multiarray", "scalar" }, { "numpy._core.multiarray", "scalar" },
    { "numpy", "ndarray" }, { "numpy", "dtype" },
    { "numpy.core.numeric", "_frombuffer" }, { "numpy._core.numeric", "_frombuffer" },
    { "torch._utils", "_rebuild_tensor_v3" }, { "torch._utils", "_rebuild_device_tensor_from_numpy" },
    { "torch", "Tensor" }, { "torch.nn.parameter", "Parameter" },
};

/* "__builtin__" (Python 2) and "__builtins__" are builtins too. */
static const char *norm_module(const char *m)
{
    if (!strcmp(m, "__builtin__") || !strcmp(m, "__builtins__")) return "builtins";
    return m;
}

/* module == p, or module starts with p + "." */
static int in_module(const char *module, const char *p)
{
    size_t n = strlen(p);
    return !strncmp(module, p, n) && (module[n] == 0 || module[n] == '.');
}

/* module.name is a module (or a package holding one), not a function or class in it. */
static int names_module(const char *m, const char *name)
{
    char full[400];
    snprintf(full, sizeof full, "%s.%s", m, name);
    for (const char *const *p = module_paths; *p; p++)
        if (in_module(*p, full)) return 1;
    for (const char *const *b = bad_modules; *b; b++)
        if (in_module(*b, full) || !strcmp(*b, name)) return 1;
    return 0;
}

/* A dunder component in a dotted name (getattr chains: 'Foo.__globals__'), other than the
 * copyreg helpers protocol 2+ calls by name. */
static int dunder_part(const char *name)
{
    const char *s = name;
    while (*s) {
        const char *e = strchr(s, '.');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n > 4 && s[0] == '_' && s[1] == '_' && s[n - 1] == '_' && s[n - 2] == '_' &&
            !(n == 10 && !strncmp(s, "__newobj__", 10)) && !(n == 13 && !strncmp(s, "__newobj_ex__", 13)))
            return 1;
        if (!e) break;
        s = e + 1;
    }
    return 0;
}

/* Severity of module.name, with the reason for the message. */
int lb_scan_classify(const char *module, const char *name, const char **why)
{
    const char *m = norm_module(module);
    if (!strcmp(module, "?") || !strcmp(name, "?")) {
        *why = "a global whose module or name is not a literal string (assembled at load time: can be anything)";
        return LB_SEV_MALICIOUS;
    }
    if (lb_pickle_allowed(module, name)) { *why = "allow-listed (tensor rebuilding)"; return LB_SEV_INFO; }
    for (size_t i = 0; i < sizeof extra_allowed / sizeof *extra_allowed; i++)
        if (!strcmp(extra_allowed[i].module, m) && !strcmp(extra_allowed[i].name, name)) {
            *why = "allow-listed (NumPy / torch value rebuilding)";
            return LB_SEV_INFO;
        }
    if (dunder_part(name) || (strchr(name, '.') && dunder_part(m))) {
        *why = "reaches a dunder attribute (__globals__, __builtins__, __import__...): a path to any function";
        return LB_SEV_MALICIOUS;
    }
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++)
        if (!strcmp(bad_names[i].module, m) && in_module(name, bad_names[i].name)) {
            *why = "can run code, touch files or processes, or resolve other names";
            return LB_SEV_MALICIOUS;
        }
    for (const char *const *b = bad_modules; *b; b++)
        if (in_module(m, *b)) {
            *why = "from a module that runs code, touches files, processes or the network, or loads code";
            return LB_SEV_MALICIOUS;
        }
    if (!strcmp(m, "uuid") && name[0] == '_') {
        *why = "a private uuid helper (_get_command_stdout, _popen...) runs a command";
        return LB_SEV_MALICIOUS;
    }
    if (!strcmp(m, "logging") && strstr(name, "Handler")) {
        *why = "a logging handler opens files or sockets";
        return LB_SEV_MALICIOUS;
    }
    if (names_module(m, name)) {
        *why = "imports a module object: every function in it becomes reachable";
        return LB_SEV_MALICIOUS;
    }
    *why = "not on the allow-list (an honest checkpoint does not need it)";
    return LB_SEV_SUSPICIOUS;
}
