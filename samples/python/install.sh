#!/usr/bin/env bash
# Builds CPython 3.11 for wasm32-wasi from Debian bookworm's source package,
# with zlib, bz2, lzma and sqlite3 linked in, plus the wasigate driver
# (driver.c, with its WSGI adapter wasigate_wsgi.py) and the frameworks the
# samples use (web.py, Bottle, Flask, Django), into
# samples/python/dist (git-ignored). sqlite's file locks go to the host
# (wasi_shim.h, wasi_stubs.c).
#
#   bash samples/python/install.sh                   # the dist, as the samples need it
#   bash samples/python/install.sh python3-yaml ...  # and Debian's pure-Python packages
#
# Package names add Debian packages (and the python3-* packages they
# depend on) to dist/site-packages, byte-compiled; one with compiled
# extensions (.so) is refused, naming the files: WASI CPython cannot load
# them. dist/PACKAGES lists what was added, and a rebuild adds it again.
#
# Runs unattended as root (it installs its Debian build dependencies and
# enables deb-src). The work folder lives outside git, in
# ${XDG_CACHE_HOME:-~/.cache}/wasigate-python-build, so CI on one machine
# reuses it; a second run with the same inputs does nothing. Runs sharing
# it take turns (a lock in it); each downloads into a folder of its own.
# WASIGATE_PYTHON_DIST puts the dist elsewhere (the tests' copies).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dist="${WASIGATE_PYTHON_DIST:-$here/dist}"
work="${WASIGATE_PYTHON_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/wasigate-python-build}"

for a in "$@"; do
  case $a in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "install.sh: unknown option $a (arguments are Debian package names)" >&2; exit 2 ;;
  esac
done

# Pinned inputs. Every one is part of the stamp.
PY_SRC="python3.11=3.11.2-6+deb12u8"
ZLIB_SRC="zlib=1:1.2.13.dfsg-1"
BZIP2_SRC="bzip2=1.0.8-5"
XZ_SRC="xz-utils=5.4.1-1+deb12u1"
SQLITE_SRC="sqlite3=3.40.1-2+deb12u2"
# Pure-Python frameworks and what they import, for the guest's site-packages.
SITE_PKGS="python3-webpy python3-bottle python3-flask python3-werkzeug python3-jinja2 python3-markupsafe python3-itsdangerous python3-click python3-django python3-asgiref python3-sqlparse python3-tz"
# Added as a user's packages are (add_packages, with what they depend on).
ADD_PKGS="python3-cherrypy3"
# Data the frameworks read: Debian's pytz reads the time zone database at
# import (guest path /usr/share/zoneinfo, dist/zoneinfo).
DATA_PKGS="tzdata"
BUILD_DEPS="clang lld llvm wasi-libc libclang-rt-dev-wasm32 autoconf autoconf-archive pkg-config tcl python3.11 dpkg-dev"

start=$SECONDS
step() { printf '[python %4ds] %s\n' $((SECONDS - start)) "$*" >&2; }

stamp_inputs() {
  echo "$PY_SRC $ZLIB_SRC $BZIP2_SRC $XZ_SRC $SQLITE_SRC"
  echo "$SITE_PKGS $DATA_PKGS $ADD_PKGS"
  # Whether (and which) Binaryen optimizes the module.
  wasm-opt --version 2>/dev/null || echo "no wasm-opt"
  cat "$0" "$here/packages.sh" "$here/driver.c" "$here/wasi_shim.h" "$here/wasi_stubs.c" "$here/wasigate_wsgi.py"
}
stamp="$(stamp_inputs | sha256sum | cut -d' ' -f1)"

mkdir -p "$work"
exec 9>"$work/lock"
if ! flock -n 9; then
  step "waiting for another install.sh using $work"
  flock 9
fi
run="$(mktemp -d "$work/run.XXXXXX")"
trap 'rm -rf "$run"' EXIT
# shellcheck source=packages.sh
. "$here/packages.sh"

if [ -f "$dist/STAMP" ] && [ "$(cat "$dist/STAMP")" = "$stamp" ]; then
  step "up to date: $dist (stamp ${stamp:0:12})"
  add_packages "$@"
  exit 0
fi
# What a user added to the dist being replaced is added to the new one.
readarray -t added < <(cut -d' ' -f1 "$dist/PACKAGES" 2>/dev/null || true)

export DEBIAN_FRONTEND=noninteractive
missing=""
for p in $BUILD_DEPS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  step "installing build dependencies:$missing"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Source packages need a deb-src line: a copy of Debian's stanzas.
if ! apt-cache showsrc python3.11 2>/dev/null | grep -c "^Version: ${PY_SRC#*=}$" >/dev/null; then
  step "enabling deb-src"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      > /etc/apt/sources.list.d/wasigate-deb-src.sources
  else # the one-line format
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/wasigate-deb-src.list
  fi
  apt-get update -qq
fi

mkdir -p "$work/src"
# fetch_src unpacks a pinned source package (with Debian's patches) once.
fetch_src() { # pkg=version dir-glob; sets src
  local spec=$1 glob=$2
  if ! ls -d "$work"/src/$glob/ >/dev/null 2>&1; then
    step "fetching source $spec"
    rm -rf "$work/dl" && mkdir -p "$work/dl"
    (cd "$work/dl" && apt-get source -qq --download-only "$spec" >/dev/null 2>&1) \
      || { echo "apt-get source $spec failed" >&2; exit 1; }
    (cd "$work/src" && dpkg-source -x --no-check "$work"/dl/*.dsc >/dev/null) \
      || { echo "dpkg-source -x $spec failed" >&2; exit 1; }
  fi
  src=$(ls -d "$work"/src/$glob/ | head -1)
  src=${src%/}
}
fetch_src "$PY_SRC" 'python3.11-3.11.2'; pysrc=$src
fetch_src "$ZLIB_SRC" 'zlib-1.2.13*'; zsrc=$src
fetch_src "$BZIP2_SRC" 'bzip2-1.0.8'; bzsrc=$src
fetch_src "$XZ_SRC" 'xz-utils-5.4.1'; xzsrc=$src
fetch_src "$SQLITE_SRC" 'sqlite3-3.40.1'; sqsrc=$src

# A private sysroot: with the default one clang also searches /usr/include
# and picks up Linux headers.
sys="$work/sysroot"
mkdir -p "$sys/include" "$sys/lib"
ln -sfn /usr/include/wasm32-wasi "$sys/include/wasm32-wasi"
ln -sfn /usr/lib/wasm32-wasi "$sys/lib/wasm32-wasi"
deps="$work/deps"
mkdir -p "$deps/include" "$deps/lib"
export CC="clang --target=wasm32-wasi --sysroot=$sys" AR=llvm-ar RANLIB=llvm-ranlib
DEPCFLAGS="-O2 -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_GETPID -D_WASI_EMULATED_PROCESS_CLOCKS"

if [ ! -f "$deps/lib/libz.a" ]; then
  rm -f "$work/build-python/Makefile"
  step "building zlib"
  (cd "$zsrc" && make distclean >/dev/null 2>&1 || true
   cd "$zsrc" && CFLAGS="$DEPCFLAGS" ./configure --static --prefix="$deps" >/dev/null \
     && make -j2 libz.a >/dev/null && make install >/dev/null)
fi
if [ ! -f "$deps/lib/libbz2.a" ]; then
  rm -f "$work/build-python/Makefile"
  step "building bzip2"
  (cd "$bzsrc" && rm -f ./*.o \
   && for f in blocksort huffman crctable randtable compress decompress bzlib; do
        $CC $DEPCFLAGS -c "$f.c" -o "$f.o"; done \
   && $AR rcs "$deps/lib/libbz2.a" blocksort.o huffman.o crctable.o randtable.o compress.o decompress.o bzlib.o \
   && cp bzlib.h "$deps/include/")
fi
if [ ! -f "$deps/lib/liblzma.a" ]; then
  rm -f "$work/build-python/Makefile"
  step "building liblzma"
  # mythread.h uses sigset_t outside the threads case; WASI has none.
  sed -i 's/^#if !(defined(_WIN32) && !defined(__CYGWIN__))$/#if !(defined(_WIN32) \&\& !defined(__CYGWIN__)) \&\& !defined(__wasi__)/' \
    "$xzsrc/src/common/mythread.h"
  mkdir -p "$work/build-xz"
  (cd "$work/build-xz" && CFLAGS="$DEPCFLAGS" "$xzsrc/configure" --host=wasm32-unknown-wasi \
     --prefix="$deps" --enable-static --disable-shared --disable-threads --disable-xz \
     --disable-xzdec --disable-lzmadec --disable-lzmainfo --disable-scripts --disable-doc \
     --disable-nls --disable-symbol-versions >configure.log 2>&1 \
   && make -j2 -C src/liblzma >/dev/null && make -C src/liblzma install >/dev/null)
fi
# sqlite3 is rebuilt when its shim (the host's locks) or flags change, and
# then only the archive and the final link: CPython's configure saw the
# library once, and nothing of CPython depends on sqlite's insides.
# HAVE_USLEEP: without it sqlite's busy handler sleeps whole seconds.
SQFLAGS="-DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_WAL -DSQLITE_MAX_MMAP_SIZE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DHAVE_USLEEP=1"
sqstamp="$(cat "$here/wasi_shim.h" "$here/wasi_stubs.c" <(echo "$SQFLAGS") | sha256sum | cut -d' ' -f1)"
if [ ! -f "$deps/lib/libsqlite3.a" ] || [ "$(cat "$deps/lib/libsqlite3.stamp" 2>/dev/null)" != "$sqstamp" ]; then
  # The first time, CPython's configure must run again to find it.
  [ -f "$deps/lib/libsqlite3.a" ] || rm -f "$work/build-python/Makefile"
  step "building sqlite3"
  mkdir -p "$work/build-sqlite"
  (cd "$work/build-sqlite" && [ -f sqlite3.c ] || { CC=cc "$sqsrc/configure" >/dev/null && make sqlite3.c >/dev/null; })
  objstamp="$(cat "$here/wasi_shim.h" <(echo "$SQFLAGS") | sha256sum | cut -d' ' -f1)"
  (cd "$work/build-sqlite" \
   && if [ ! -f sqlite3.o ] || [ "$(cat sqlite3.o.stamp 2>/dev/null)" != "$objstamp" ]; then
        $CC $DEPCFLAGS -include "$here/wasi_shim.h" $SQFLAGS -c sqlite3.c -o sqlite3.o \
        && echo "$objstamp" > sqlite3.o.stamp; fi \
   && $CC $DEPCFLAGS -c "$here/wasi_stubs.c" -o wasi_stubs.o \
   && rm -f "$deps/lib/libsqlite3.a" && $AR rcs "$deps/lib/libsqlite3.a" sqlite3.o wasi_stubs.o \
   && cp sqlite3.h "$deps/include/") || exit 1
  echo "$sqstamp" > "$deps/lib/libsqlite3.stamp"
fi

pyb="$work/build-python"
inst="$work/install"
# What CPython is configured with, beyond the paths and libraries below.
# --with-pymalloc: WASI's configure leaves CPython's small-object allocator
# out, and every object then goes through wasi-libc's malloc.
PY_CONFIGURE="--with-pymalloc"
# make rebuilds nothing when only flags change: a folder configured with
# other arguments (or compiler) is thrown away, so a cached work folder
# (CI's, a user's) never keeps serving the old build.
pyconf="$(printf '%s\n' "$CC" "$PY_CONFIGURE" | sha256sum | cut -d' ' -f1)"
if [ -d "$pyb" ] && [ "$(cat "$pyb/.configure-stamp" 2>/dev/null)" != "$pyconf" ]; then
  step "CPython's configure arguments changed: rebuilding it from a clean folder"
  rm -rf "$pyb"
fi
if [ ! -f "$pyb/Makefile" ] || [ ! -f "$pyb/.installed" ]; then
  rm -f "$pyb/.installed"
  if [ ! -f "$pyb/Makefile" ]; then
    step "configuring CPython (Debian patches configure.ac: autoconf)"
    (cd "$pysrc" && [ -f .wasigate-autoconf ] || { autoconf -f && touch .wasigate-autoconf; })
    mkdir -p "$pyb"
    # clock_nanosleep(TIMER_ABSTIME) is ENOTSUP in wazero's poll_oneoff, so
    # time.sleep would raise; both cache variables, or -lrt brings it back.
    (cd "$pyb" && CONFIG_SITE="$pysrc/Tools/wasm/config.site-wasm32-wasi" \
      "$pysrc/configure" --host=wasm32-unknown-wasi --build="$("$pysrc/config.guess")" \
      --with-build-python=/usr/bin/python3.11 --prefix=/usr/local --disable-test-modules \
      --without-ensurepip $PY_CONFIGURE \
      ac_cv_func_clock_nanosleep=no ac_cv_lib_rt_clock_nanosleep=no \
      PKG_CONFIG_LIBDIR="$deps/lib/pkgconfig" \
      ZLIB_CFLAGS="-I$deps/include" ZLIB_LIBS="-L$deps/lib -lz" \
      BZIP2_CFLAGS="-I$deps/include" BZIP2_LIBS="-L$deps/lib -lbz2" \
      LIBLZMA_CFLAGS="-I$deps/include" LIBLZMA_LIBS="-L$deps/lib -llzma" \
      LIBSQLITE3_CFLAGS="-I$deps/include" LIBSQLITE3_LIBS="-L$deps/lib -lsqlite3" \
      > configure.log 2>&1) || { tail -30 "$pyb/configure.log"; exit 1; }
    echo "$pyconf" > "$pyb/.configure-stamp"
  fi
  step "building CPython (make -j2, about a minute)"
  (cd "$pyb" && make -j2 > make.log 2>&1) || { tail -30 "$pyb/make.log"; exit 1; }
  step "installing CPython into the work folder"
  rm -rf "$inst"
  (cd "$pyb" && make install DESTDIR="$inst" > install.log 2>&1) || { tail -30 "$pyb/install.log"; exit 1; }
  touch "$pyb/.installed"
fi

step "building the driver"
$CC -O2 -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_GETPID -D_WASI_EMULATED_PROCESS_CLOCKS \
  -I"$pysrc/Include" -I"$pyb" -c "$here/driver.c" -o "$run/driver.o"
pylibs=$(cd "$pyb" && make -s -f Makefile -f - print <<<'print: ; @echo $(LDFLAGS_NODIST) $(LDFLAGS) $(LINKFORSHARED) $(MODLIBS) $(LIBS) $(SYSLIBS)')
# From the build folder: the module libraries in $pylibs are relative paths.
# A reactor: wasigate calls _initialize and wasigate_init once and runs
# each request from a snapshot taken after them (wasi/driver.go).
# -L$deps/lib first: a work folder copied from another keeps that one's
# path in CPython's Makefile.
(cd "$pyb" && $CC -mexec-model=reactor -o "$run/driver.wasm" "$run/driver.o" libpython3.11.a -L"$deps/lib" $pylibs -Wl,--strip-all)
# Binaryen's optimizer (Debian's binaryen, optional) makes the guest run
# 2-36% faster on top of clang's -O3 (samples/python/README.md, "Speed of
# the build"); it takes a few minutes of one core.
if command -v wasm-opt >/dev/null; then
  step "optimizing python.wasm (wasm-opt -O3, a few minutes)"
  wasm-opt -O3 "$run/driver.wasm" -o "$run/driver.opt.wasm"
  mv "$run/driver.opt.wasm" "$run/driver.wasm"
else
  step "wasm-opt not found: python.wasm is not optimized and runs slower (apt-get install binaryen, then run this again)"
fi

step "assembling $dist"
rm -rf "$dist.new"
mkdir -p "$dist.new/lib"
cp "$run/driver.wasm" "$dist.new/python.wasm"
cp -a "$inst/usr/local/lib/python3.11" "$dist.new/lib/"
(cd "$dist.new/lib/python3.11" && rm -rf test idlelib tkinter turtledemo ensurepip lib2to3/tests \
   unittest/test ctypes/test distutils/tests sqlite3/test tkinter/test config-3.11-wasm32-wasi \
   lib-dynload site-packages dist-packages && find . -name '*.opt-?.pyc' -delete && mkdir dist-packages)
# The .pyc files stay: the guest's stdlib is read-only, and compiling
# imports from source on every request would cost more than the start-up.
# The driver's WSGI adapter sits beside the stdlib, on every sys.path.
cp "$here/wasigate_wsgi.py" "$dist.new/lib/python3.11/"
/usr/bin/python3.11 -m compileall -q "$dist.new/lib/python3.11/wasigate_wsgi.py" >/dev/null

step "downloading Debian's frameworks: $SITE_PKGS"
mkdir -p "$run/deb/x"
(cd "$run/deb" && apt-get download -qq $SITE_PKGS $DATA_PKGS >/dev/null 2>&1) || { echo "apt-get download failed" >&2; exit 1; }
for d in "$run/deb"/*.deb; do dpkg -x "$d" "$run/deb/x"; done
mkdir -p "$dist.new/site-packages"
(cd "$run/deb/x/usr/lib/python3/dist-packages" && \
  for m in web bottle.py flask werkzeug jinja2 markupsafe itsdangerous click django asgiref sqlparse pytz; do cp -a "$m" "$dist.new/site-packages/"; done)
# Django's translations (12 MB) and its admin's static files are not used
# by the samples; pytz's zoneinfo is Debian's symbolic link to the host's.
rm -rf "$dist.new/site-packages/django/conf/locale"/*/LC_MESSAGES "$dist.new/site-packages/django/contrib"/*/locale \
  "$dist.new/site-packages/django/contrib/admin/static"
cp -a "$run/deb/x/usr/share/zoneinfo" "$dist.new/zoneinfo"
# What added packages read from /usr/share by path (add_packages); the
# sample interpreter mounts it there, so it exists even when empty.
mkdir -p "$dist.new/share"
# Native speed-ups are built for the host; the pure-Python fallbacks run.
find "$dist.new/site-packages" \( -name '*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +
/usr/bin/python3.11 -m compileall -q "$dist.new/site-packages" >/dev/null

# Before the stamp: a dist without them is not done. What a user added
# before comes back too (a package apt no longer has stops the build, the
# old dist left in place: drop its line from dist/PACKAGES).
dist="$dist.new" add_packages $ADD_PKGS "${added[@]}"
echo "$stamp" > "$dist.new/STAMP"
rm -rf "$dist" && mv "$dist.new" "$dist"
add_packages "$@"
step "done: $dist ($(du -sh "$dist" | cut -f1))"
