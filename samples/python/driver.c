/* wasigate's Python driver (issue 14): CPython 3.11 linked from the
 * libpython3.11.a that install.sh builds, with start-up split from running
 * a script so that a snapshot can be taken between the two.
 *
 *   wasigate_init  start the interpreter with the options in argv (those
 *                  before the script: -S -E -I -B -s -u -O, from the
 *                  [[interpreter]] args) and import the modules named in
 *                  WASIGATE_PRELOAD (comma- or space-separated);
 *                  With WASIGATE_WSGI=PATH:NAME it then loads a WSGI
 *                  application (wasigate_wsgi.py): the file at PATH runs
 *                  as a module, NAME is its callable, and the requests
 *                  in WASIGATE_WSGI_WARMUP (space-separated paths) run
 *                  through it, their output discarded;
 *   wasigate_run   re-read argv and the environment from WASI, reseed
 *                  random, run the script as __main__ (or call the loaded
 *                  application once, PEP 3333), flush, and exit with its
 *                  status (the init first, if it has not run).
 *
 * argv is [interpreter, options..., script, arguments...]. The driver
 * never hands argv to CPython's option parser: the words after the script
 * (a CGI query's, RFC 3875 section 4.4) are the script's sys.argv[1:],
 * whatever they look like, so "?-c+..." cannot become "python -c"
 * (the CVE-2012-1823 family). The script is the first word not starting
 * with '-' (the host passes /cgi-bin/NAME), or the word after "--".
 *
 * It is linked as a reactor (-mexec-model=reactor), wasigate's init/run
 * ABI (wasi/driver.go): the host calls _initialize (wasi-libc's
 * constructors, which list the preopened folders), then wasigate_init once
 * in a scratch instance and snapshots it (issue 12); each request's
 * instance starts from the snapshot and calls wasigate_run. Without a
 * snapshot a request calls _initialize and wasigate_run, which runs the
 * init first. (A command build cannot be split so: wasm-ld wraps each
 * export of a command in libc's destructors, and only _start runs the
 * constructors.) */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <wasi/api.h>

static int initialized;
static PyObject *wsgi_serve; /* wasigate_wsgi.serve once an application is loaded */
static PyObject *init_modules; /* the names in sys.modules when the init ended */

/* The host's learned preloads (wasi/learn.go): when the interpreter has no
 * preload list, each run tells the host which modules it imported beyond
 * the init's, as "name<TAB>file" lines; the host keeps those that come from
 * the interpreter's read-only volumes and takes its snapshot again with
 * them, in WASIGATE_PRELOAD_LEARNED. A learned name that no longer imports
 * is told back through failed and dropped, never fatal. */
__attribute__((import_module("wasigate_learn"), import_name("wanted"))) int32_t learn_wanted(void);
__attribute__((import_module("wasigate_learn"), import_name("report"))) int32_t learn_report(const char *p, size_t n);
__attribute__((import_module("wasigate_learn"), import_name("failed"))) int32_t learn_failed(const char *p, size_t n);

/* report_imports sends the modules imported since the init, each with the
 * file it came from (a module's __file__, read from its dict so that no
 * module code runs), at most learn_max bytes. Once the list is learned a
 * run imports nothing new: then it allocates nothing, since a report's
 * buffer that grew the memory would keep the host from resetting and
 * reusing the instance (wasi/reuse.go), which costs more than the run. */
static void report_imports(void) {
  enum { learn_max = 64 << 10 };
  if (!init_modules || !learn_wanted()) return;
  PyObject *modules = PyImport_GetModuleDict();
  char *buf = NULL;
  size_t n = 0, size = 0;
  /* Two passes over sys.modules, which nothing here changes: the first
   * sizes the report, the second writes it. */
  for (int pass = 0; pass < 2; pass++) {
    Py_ssize_t pos = 0;
    PyObject *name, *mod;
    while (PyDict_Next(modules, &pos, &name, &mod)) {
      if (!PyUnicode_Check(name) || !PyModule_Check(mod) || PySet_Contains(init_modules, name) != 0) continue;
      PyObject *file = PyDict_GetItemString(PyModule_GetDict(mod), "__file__");
      if (!file || !PyUnicode_Check(file)) continue;
      Py_ssize_t nl, fl;
      const char *ns = PyUnicode_AsUTF8AndSize(name, &nl);
      const char *fs = PyUnicode_AsUTF8AndSize(file, &fl);
      if (!ns || !fs || n + nl + fl + 2 > learn_max) break;
      if (buf) {
        memcpy(buf + n, ns, nl); buf[n + nl] = '\t';
        memcpy(buf + n + nl + 1, fs, fl); buf[n + nl + 1 + fl] = '\n';
      }
      n += nl + fl + 2;
    }
    if (pass == 0) {
      if (n == 0 || !(buf = malloc(n))) break;
      size = n;
      n = 0;
    }
  }
  if (buf && n == size) learn_report(buf, n);
  free(buf);
  PyErr_Clear();
}

/* load_wsgi imports the adapter and loads the application named by
 * WASIGATE_WSGI ("path:callable"); 0, or -1 with the exception printed. */
static int load_wsgi(const char *spec) {
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec || !colon[1]) {
    fprintf(stderr, "python driver: WASIGATE_WSGI %s is not path:callable\n", spec);
    return -1;
  }
  const char *warmup = getenv("WASIGATE_WSGI_WARMUP");
  PyObject *mod = PyImport_ImportModule("wasigate_wsgi");
  PyObject *path = mod ? PyUnicode_DecodeFSDefaultAndSize(spec, colon - spec) : NULL;
  PyObject *app = path ? PyObject_CallMethod(mod, "load", "Oss", path, colon + 1, warmup ? warmup : "") : NULL;
  wsgi_serve = app ? PyObject_GetAttrString(mod, "serve") : NULL;
  Py_XDECREF(app);
  Py_XDECREF(path);
  Py_XDECREF(mod);
  if (!wsgi_serve) {
    fprintf(stderr, "python driver: WSGI application %s failed to load\n", spec);
    PyErr_Print();
    return -1;
  }
  return 0;
}

/* Edit, refresh, see (wasi/snapedit.go): the host takes the snapshot again
 * when a file the init read in the scripts folder changes, and it knows
 * the files from the init's path lookups, absent ones included. CPython
 * leaves no such trace for a module it did not find: its path finder
 * looks a name up in its listing of each folder, never by path, so a
 * helper's "try: import local_settings" that fails looks at nothing the
 * host could watch, and a local_settings.py written later would never be
 * seen. While the init runs, a finder last on sys.meta_path (reached only
 * when every other found nothing) records the names not found; when it
 * ends, the driver looks each up by path (os.stat of NAME and NAME plus
 * each import suffix, in each folder the import searched), which the host
 * records as absent files. Bounded: at most absent_max names and
 * absent_stats lookups; a module past them that appears later is seen at
 * the next age retake or restart. The finder is removed before any
 * request runs. */
static const char absent_src[] =
  "import sys\n"
  "absent_max, absent_stats = 64, 1024\n"
  "class Finder:\n"
  "    seen = []\n"
  "    @classmethod\n"
  "    def find_spec(cls, name, path=None, target=None):\n"
  "        if len(cls.seen) < absent_max:\n"
  "            cls.seen.append((name, None if path is None else list(path)))\n"
  "        return None\n"
  "sys.meta_path.append(Finder)\n"
  "def probe():\n"
  "    import os\n"
  "    from importlib.machinery import all_suffixes\n"
  "    if Finder in sys.meta_path:\n"
  "        sys.meta_path.remove(Finder)\n"
  "    suffixes, n = [''] + all_suffixes(), 0\n"
  "    for name, path in Finder.seen:\n"
  "        tail = name.rpartition('.')[2]\n"
  "        for d in (sys.path if path is None else path):\n"
  "            if not isinstance(d, str) or not d.startswith('/'):\n"
  "                continue\n"
  "            for s in suffixes:\n"
  "                if n >= absent_stats:\n"
  "                    return\n"
  "                n += 1\n"
  "                try:\n"
  "                    os.stat(os.path.join(d, tail + s))\n"
  "                except (OSError, ValueError):\n"
  "                    pass\n";

/* absent_start installs the finder and returns its namespace (NULL: none,
 * the init goes on without it); absent_end looks its names up and drops
 * it. */
static PyObject *absent_start(void) {
  PyObject *g = PyDict_New();
  if (g && PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins()) == 0) {
    PyObject *r = PyRun_String(absent_src, Py_file_input, g, g);
    if (r) {
      Py_DECREF(r);
      return g;
    }
  }
  PyErr_Clear();
  Py_XDECREF(g);
  return NULL;
}

static void absent_end(PyObject *g) {
  if (!g) return;
  PyObject *probe = PyDict_GetItemString(g, "probe");
  PyObject *r = probe ? PyObject_CallNoArgs(probe) : NULL;
  Py_XDECREF(r);
  PyErr_Clear();
  PyDict_Clear(g);
  Py_DECREF(g);
}

/* wasi_args reads argv afresh from the host (not wasi-libc's copy taken
 * at start-up, which a snapshot would have frozen). */
static char **wasi_args(size_t *n) {
  size_t count, size;
  if (__wasi_args_sizes_get(&count, &size) != 0) return NULL;
  char **v = calloc(count + 1, sizeof(char *));
  char *buf = malloc(size ? size : 1);
  if (!v || !buf || __wasi_args_get((uint8_t **)v, (uint8_t *)buf) != 0) return NULL;
  *n = count;
  return v;
}

static char **wasi_environ(size_t *n) {
  size_t count, size;
  if (__wasi_environ_sizes_get(&count, &size) != 0) return NULL;
  char **v = calloc(count + 1, sizeof(char *));
  char *buf = malloc(size ? size : 1);
  if (!v || !buf || __wasi_environ_get((uint8_t **)v, (uint8_t *)buf) != 0) return NULL;
  *n = count;
  return v;
}

/* options applies the option words of argv to c (when not NULL) and
 * returns the index of the script, or -1 for an unknown option. */
static int options(PyConfig *c, char **argv, int argc) {
  int i;
  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "--") == 0) return i + 1;
    for (const char *o = argv[i] + 1; *o; o++) {
      switch (*o) {
      case 'S': if (c) c->site_import = 0; break;
      case 'E': if (c) c->use_environment = 0; break;
      case 'I': if (c) { c->isolated = 1; c->use_environment = 0; c->user_site_directory = 0; c->safe_path = 1; } break;
      case 'B': if (c) c->write_bytecode = 0; break;
      case 's': if (c) c->user_site_directory = 0; break;
      case 'u': if (c) c->buffered_stdio = 0; break;
      case 'O': if (c) c->optimization_level++; break;
      default:
        fprintf(stderr, "python driver: unknown interpreter option -%c\n", *o);
        return -1;
      }
    }
  }
  return i;
}

/* enter_pwd makes the folder the host names in PWD the working directory,
 * as a CGI server starts a script in its own folder. WASI has no working
 * directory: wasi-libc keeps one for the instance and starts it at "/",
 * without reading PWD, and a snapshot froze the init's. A PWD that cannot
 * be entered is reported and the run goes on from where it is. */
static void enter_pwd(void) {
  const char *pwd = getenv("PWD");
  if (pwd && pwd[0] == '/' && chdir(pwd) != 0)
    fprintf(stderr, "python driver: can't enter PWD %s: %s\n", pwd, strerror(errno));
}

__attribute__((export_name("wasigate_init"))) int wasigate_init(void) {
  if (initialized) return 0;
  size_t argc;
  char **argv = wasi_args(&argc);
  if (!argv) return 2;
  PyConfig c;
  PyConfig_InitPythonConfig(&c);
  c.parse_argv = 0;             /* argv is never CPython's command line */
  c.install_signal_handlers = 0;
  c.pathconfig_warnings = 0;
  if (options(&c, argv, (int)argc) < 0) return 2;
  char *argv0[] = {"python3"};
  PyStatus st = PyConfig_SetBytesArgv(&c, 1, argv0);
  if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&c);
  PyConfig_Clear(&c);
  if (PyStatus_Exception(st)) Py_ExitStatusException(st);
  enter_pwd();
  PyObject *absent = absent_start();
  const char *pre = getenv("WASIGATE_PRELOAD");
  if (pre) {
    char *list = strdup(pre);
    for (char *name = strtok(list, ", "); name; name = strtok(NULL, ", ")) {
      PyObject *m = PyImport_ImportModule(name);
      if (!m) {
        fprintf(stderr, "python driver: preload %s failed\n", name);
        PyErr_Print();
        return 1;
      }
      Py_DECREF(m);
    }
    free(list);
  }
  const char *learned = getenv("WASIGATE_PRELOAD_LEARNED");
  if (learned) {
    char *list = strdup(learned);
    for (char *name = strtok(list, ", "); name; name = strtok(NULL, ", ")) {
      PyObject *m = PyImport_ImportModule(name);
      if (!m) {
        PyErr_Clear();
        learn_failed(name, strlen(name));
      }
      Py_XDECREF(m);
    }
    free(list);
  }
  const char *wsgi = getenv("WASIGATE_WSGI");
  if (wsgi && load_wsgi(wsgi) < 0) return 3;
  absent_end(absent);
  init_modules = PySet_New(PyImport_GetModuleDict());
  if (!init_modules) PyErr_Clear();
  initialized = 1;
  return 0;
}

/* exit_status turns the pending exception into an exit status as python
 * does: SystemExit(n) is n, SystemExit(None) 0, SystemExit("msg") prints
 * msg and is 1; any other exception prints its traceback on stderr, 1. */
static int exit_status(void) {
  if (!PyErr_ExceptionMatches(PyExc_SystemExit)) {
    PyErr_Print();
    return 1;
  }
  PyObject *t, *v, *tb;
  PyErr_Fetch(&t, &v, &tb);
  PyErr_NormalizeException(&t, &v, &tb);
  int status = 0;
  PyObject *code = v ? PyObject_GetAttrString(v, "code") : NULL;
  if (code && code != Py_None) {
    if (PyLong_Check(code)) {
      status = (int)PyLong_AsLong(code);
    } else {
      PyObject *err = PySys_GetObject("stderr");
      if (err) {
        PyFile_WriteObject(code, err, Py_PRINT_RAW);
        PyFile_WriteString("\n", err);
      }
      status = 1;
    }
  }
  PyErr_Clear();
  Py_XDECREF(code);
  Py_XDECREF(t);
  Py_XDECREF(v);
  Py_XDECREF(tb);
  return status;
}

/* finish runs atexit callbacks and flushes sys.stdout and sys.stderr. The
 * interpreter is not finalised: the instance is thrown away after the
 * request, so finalising would only delay the exit. */
static int finish(int status) {
  PyObject *atexit = PyImport_ImportModule("atexit");
  PyObject *r = atexit ? PyObject_CallMethod(atexit, "_run_exitfuncs", NULL) : NULL;
  if (!r) PyErr_Print();
  Py_XDECREF(r);
  Py_XDECREF(atexit);
  report_imports();
  const char *names[] = {"stdout", "stderr"};
  for (int i = 0; i < 2; i++) {
    PyObject *f = PySys_GetObject(names[i]);
    if (!f || f == Py_None) continue;
    r = PyObject_CallMethod(f, "flush", NULL);
    if (!r) {
      PyErr_Clear();
      if (status == 0) status = 120; /* as python: output could not be written */
    }
    Py_XDECREF(r);
  }
  return status;
}

static PyObject *fs_str(const char *s) { return PyUnicode_DecodeFSDefault(s); }

/* fresh_environ gives this run its environment (a snapshot froze the
 * init's) in one pass: posix.environ, the bytes dict CPython took at
 * start-up, is also os.environ's (and os.environb's) store, so refilling
 * it refills them; and libc's environment becomes the array WASI gave this
 * run, as os.environ's clear and setitem (unsetenv and putenv for each
 * variable, and a Python-level call and an encoding round trip each) would
 * have left it. musl's putenv copies an environ it did not allocate, so a
 * later os.environ[k] = v still works. Words without '=' are dropped from
 * both, as os.environ drops them. */
extern char **environ;
static int fresh_environ(void) {
  size_t n;
  char **env = wasi_environ(&n);
  if (!env) return -1;
  PyObject *posix = PyImport_ImportModule("posix");
  PyObject *penv = posix ? PyObject_GetAttrString(posix, "environ") : NULL;
  if (!penv || !PyDict_Check(penv)) return -1;
  PyDict_Clear(penv);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    char *eq = strchr(env[i], '=');
    if (!eq) continue;
    env[kept++] = env[i];
    PyObject *bk = PyBytes_FromStringAndSize(env[i], eq - env[i]);
    PyObject *bv = PyBytes_FromString(eq + 1);
    /* The first of duplicate names wins, as libc's getenv and CPython's
     * own convertenviron take it. */
    if (!bk || !bv || !PyDict_SetDefault(penv, bk, bv)) return -1;
    Py_DECREF(bk);
    Py_DECREF(bv);
  }
  env[kept] = NULL;
  environ = env;
  Py_DECREF(penv);
  Py_DECREF(posix);
  return 0;
}

__attribute__((export_name("wasigate_run"))) int wasigate_run(void) {
  if (!initialized) {
    int rc = wasigate_init();
    if (rc) exit(rc);
  }
  size_t argc;
  char **argv = wasi_args(&argc);
  int si = argv ? options(NULL, argv, (int)argc) : -1;
  if (si < 0 || (size_t)si >= argc) {
    fprintf(stderr, "python driver: no script in argv\n");
    exit(2);
  }
  const char *script = argv[si];
  PyObject *list = PyList_New(0);
  for (size_t i = si; i < argc; i++) {
    PyObject *a = fs_str(argv[i]);
    if (!a || PyList_Append(list, a) < 0) goto fail;
    Py_DECREF(a);
  }
  if (PySys_SetObject("argv", list) < 0) goto fail;
  Py_DECREF(list);
  if (fresh_environ() < 0) goto fail;
  enter_pwd();
  /* A snapshot would have frozen random's state: every run reseeds from
   * the host's randomness. (The str hash secret cannot change once
   * strings exist; a fresh instance gets its own.) */
  PyObject *random = PyDict_GetItemString(PyImport_GetModuleDict(), "random");
  if (random) {
    PyObject *r = PyObject_CallMethod(random, "seed", NULL);
    if (!r) goto fail;
    Py_DECREF(r);
  }
  if (wsgi_serve) {
    /* The application was loaded by the init (its folder is on sys.path):
     * one call serves the request. */
    PyObject *res = PyObject_CallNoArgs(wsgi_serve);
    int status = res ? (int)PyLong_AsLong(res) : exit_status();
    Py_XDECREF(res);
    exit(finish(status));
  }
  /* sys.path[0] is the script's folder, as for "python script.py". */
  if (!Py_IsolatedFlag) {
    const char *slash = strrchr(script, '/');
    PyObject *dir = slash ? PyUnicode_DecodeFSDefaultAndSize(script, slash == script ? 1 : slash - script) : fs_str(".");
    PyObject *path = PySys_GetObject("path");
    if (!dir || !path || PyList_Insert(path, 0, dir) < 0) goto fail;
    Py_DECREF(dir);
  }
  FILE *fp = fopen(script, "rb");
  if (!fp) {
    fprintf(stderr, "python driver: can't open file '%s': %s\n", script, strerror(errno));
    exit(2);
  }
  PyObject *main = PyImport_AddModule("__main__");
  PyObject *d = main ? PyModule_GetDict(main) : NULL;
  PyObject *file = fs_str(script);
  if (!d || !file || PyDict_SetItemString(d, "__file__", file) < 0 ||
      PyDict_SetItemString(d, "__cached__", Py_None) < 0)
    goto fail;
  Py_DECREF(file);
  PyObject *res = PyRun_FileExFlags(fp, script, Py_file_input, d, d, 1, NULL);
  int status = res ? 0 : exit_status();
  Py_XDECREF(res);
  exit(finish(status));
fail:
  PyErr_Print();
  exit(finish(1));
}
