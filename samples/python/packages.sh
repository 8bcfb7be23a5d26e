# packages.sh, sourced by install.sh: add_packages puts Debian's pure-Python
# packages into the dist's site-packages. It uses install.sh's $dist, $run
# (this run's own folder) and step.

# python_itself: Debian packages of CPython itself or of its standard
# library, which the dist has from its own build.
python_itself() {
  case $1 in
    python3 | python3-minimal | python3.* | python3-distutils | python3-lib2to3 | python3-venv | \
      python3-tk | python3-gdbm | python3-dev | python3-all) return 0 ;;
  esac
  return 1
}

# data_package: a dependency that may hold what a Python package's files
# link to (docutils-common holds docutils' /usr/share/docutils): built for
# every architecture, and not a library or a piece of the base system.
data_package() {
  case $1 in
    lib* | debconf | cdebconf | dpkg | tar | sed | perl* | install-info | sgml-base | xml-core | \
      mime-support | media-types | ca-certificates | tzdata) return 1 ;;
  esac
  [ "$(apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Architecture: //p' | head -1)" = all ]
}

# depends_of prints a package's dependencies, one a line; every
# alternative is listed, virtual packages (<name>) are not.
depends_of() {
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances "$1" 2>/dev/null |
    sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: \([^<][^ ]*\)$/\2/p' | sed 's/:any$//'
}

# add_packages NAME...: downloads the packages and the python3-* packages
# they depend on, refuses them all if one has a compiled extension, then
# copies their /usr/lib/python3/dist-packages into the dist's
# site-packages, byte-compiled, and lists them in dist/PACKAGES. Links to
# files outside site-packages (Debian keeps docutils' templates in
# /usr/share) are replaced by copies of what they name. A package already
# listed at the version apt would fetch is left alone.
add_packages() {
  [ $# -gt 0 ] || return 0
  local site="$dist/site-packages" d="$run/add" p v todo=0
  local -a want=() pkgs=() data=() queue=()
  local -A seen=() parent=() version=()
  for p in "$@"; do
    [ -z "${seen[$p]:-}" ] || continue
    seen[$p]=1
    v=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^  Candidate: //p')
    if [ -z "$v" ] || [ "$v" = "(none)" ]; then
      echo "install.sh: no Debian package named $p: \`apt-cache search WORD\` finds names (after \`apt-get update\`)" >&2
      return 1
    fi
    version[$p]=$v
    grep -qxF "$p $v" "$dist/PACKAGES" 2>/dev/null || todo=1
    want+=("$p")
  done
  if [ $todo = 0 ]; then
    step "already in $site: ${want[*]}"
    return 0
  fi

  # The python3-* packages they need, breadth first.
  seen=()
  queue=("${want[@]}")
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    [ -z "${seen[$p]:-}" ] || continue
    seen[$p]=1
    python_itself "$p" && continue
    pkgs+=("$p")
    local dep
    for dep in $(depends_of "$p"); do
      [ -z "${seen[$dep]:-}" ] || continue
      parent[$dep]=${parent[$dep]:-$p}
      case $dep in
        python3*) queue+=("$dep") ;;
        *) seen[$dep]=1 && data_package "$dep" && data+=("$dep") ;;
      esac
    done
  done

  rm -rf "$d" && mkdir -p "$d/py" "$d/data" "$d/x"
  step "downloading ${pkgs[*]} ${data[*]}"
  (cd "$d/py" && apt-get download -q "${pkgs[@]}" >"$d/apt.log" 2>&1) &&
    { [ ${#data[@]} = 0 ] || (cd "$d/data" && apt-get download -q "${data[@]}" >>"$d/apt.log" 2>&1); } ||
    { cat "$d/apt.log" >&2; echo "install.sh: apt-get download failed" >&2; return 1; }

  # Refused before anything is copied: a compiled extension is machine code
  # for this host, and CPython for WASI links no shared objects.
  local deb name files refused="" nopy=""
  for deb in "$d"/py/*.deb; do
    name=$(dpkg-deb -f "$deb" Package)
    files=$(dpkg-deb -c "$deb" | awk '{print $6}')
    local so
    so=$(grep -E '\.so(\.[0-9]+)*$' <<<"$files" | sed 's|^\./usr/lib/python3/dist-packages/||; s|^\./|/|' |
      awk 'NR <= 3 { printf "%s ", $0 } END { if (NR > 3) printf "and %d more ", NR - 3 }' || true)
    if [ -n "$so" ]; then
      refused+="  $name${parent[$name]:+ (needed by ${parent[$name]})}: ${so% }"$'\n'
    fi
    if [ -n "${version[$name]:-}" ] && ! grep -q '^\./usr/lib/python3/dist-packages/.' <<<"$files"; then
      nopy+=" $name"
    fi
  done
  if [ -n "$refused" ]; then
    printf 'install.sh: refused, nothing installed: these packages have compiled extensions (.so files),\n' >&2
    printf 'machine code for this host that CPython for WASI cannot load (WASI has no shared libraries):\n%s' "$refused" >&2
    printf 'Use a pure-Python package instead (Debian: Architecture: all).\n' >&2
    return 1
  fi
  if [ -n "$nopy" ]; then
    echo "install.sh: refused, nothing installed:$nopy: no Python modules (nothing in /usr/lib/python3/dist-packages); the python3-* package is the one to name" >&2
    return 1
  fi

  for deb in "$d"/py/*.deb "$d"/data/*.deb; do
    if [ -f "$deb" ]; then dpkg -x "$deb" "$d/x"; fi
  done
  local pd="$d/x/usr/lib/python3/dist-packages"
  mkdir -p "$pd"
  resolve_links "$d/x" "$pd"

  local -a entries=()
  local e
  for e in "$pd"/*; do
    [ -e "$e" ] || continue
    e=${e##*/}
    rm -rf "${site:?}/$e"
    cp -a "$pd/$e" "$site/"
    entries+=("$site/$e")
  done
  if [ ${#entries[@]} -gt 0 ]; then
    find "${entries[@]}" -name '__pycache__' -prune -exec rm -rf {} +
    /usr/bin/python3.11 -m compileall -q "${entries[@]}" >/dev/null ||
      step "warning: some files did not byte-compile (python3.11 -m compileall ${entries[*]})"
  fi
  # What Debian's packages read from /usr/share by path (docutils'
  # templates): the sample interpreter mounts dist/share there.
  mkdir -p "$dist/share"
  for e in "$d"/x/usr/share/*; do
    [ -d "$e" ] || continue
    case ${e##*/} in
      doc | doc-base | man | info | lintian | bug | menu | applications | icons | pixmaps | mime | sgml | xml | python3) continue ;;
    esac
    rm -rf "${dist:?}/share/${e##*/}"
    cp -a "$e" "$dist/share/"
    resolve_links "$d/x" "$dist/share/${e##*/}"
  done
  for p in "${want[@]}"; do
    { grep -v "^$p " "$dist/PACKAGES" 2>/dev/null || true; echo "$p ${version[$p]}"; } | sort >"$d/PACKAGES"
    mv "$d/PACKAGES" "$dist/PACKAGES"
  done
  step "added to $site: ${pkgs[*]}"
  [ -z "$(ls -A "$dist/share")" ] || step "their data in $dist/share: $(ls "$dist/share" | tr '\n' ' ')"
}

# resolve_links ROOT DIR: replaces each symbolic link under DIR that points
# outside it by a copy of its target under ROOT (a package's absolute link
# to /usr/share/x names ROOT/usr/share/x), and removes, naming them, those
# whose target no downloaded package holds. A few passes: a copied folder
# may hold links of its own.
resolve_links() {
  local root=$1 dir=$2 pass link t target again
  for pass in 1 2 3 4 5; do
    again=0
    while IFS= read -r -d '' link; do
      t=$(readlink "$link")
      case $t in
        /*) target=$(realpath -ms "$root$t") ;;
        *) target=$(realpath -ms "$(dirname "$link")/$t") ;;
      esac
      # A relative link inside DIR stays right where it is copied.
      [[ $t != /* && $target == "$dir"/* ]] && continue
      rm -f "$link"
      if [ $pass -lt 5 ] && { [ -e "$target" ] || [ -L "$target" ]; }; then
        cp -a "$target" "$link"
        again=1
      else
        step "left out ${link#"$dir"/}: it links to $t, which no downloaded package holds"
      fi
    done < <(find "$dir" -type l -print0)
    [ $again = 1 ] || return 0
  done
}
