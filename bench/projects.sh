# Owns: the pinned benchmark projects (Django 5.2.19 sdist, azure-mgmt-network 19.3.0 wheel from
# PyPI): download once into $BENCH/dl with hash checks, unpack into $BENCH/src, write the source
# roots. Sourced by bench/graph.sh and bench/lsp.sh, which define BENCH, log and die.

# Pinned inputs. The hashes are those PyPI serves for these files; a mismatch stops the run.
DJANGO_VERSION=5.2.19
DJANGO_FILE="django-$DJANGO_VERSION.tar.gz"
DJANGO_SHA256=ad03d8abc51dbff95ebf34b27123cf0c26a3b62db7ba0cd520783686362533d1
AZURE_VERSION=19.3.0 # the last release with every API version (v2015_06_15 … v2021_05_01) as its own files
AZURE_FILE="azure_mgmt_network-$AZURE_VERSION-py2.py3-none-any.whl"
AZURE_SHA256=00e391243ed772ebfe551dec3a3f50c4001ac622a4c5504ef4453001f8c63433

# fetch FILE SHA256 PIP-ARGS...: downloads FILE into dl/ unless it is there, and checks its hash.
fetch() {
  local file="$1" sha="$2"
  shift 2
  if [[ ! -f "$BENCH/dl/$file" ]]; then
    log "downloading $file"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$BENCH/dl" "$@"
  fi
  echo "$sha  $BENCH/dl/$file" | sha256sum --check --quiet - || die "$file: hash mismatch"
}

# unpack NAME CMD...: runs CMD in a fresh folder and moves it to src/NAME, once.
unpack() {
  local name="$1"
  shift
  [[ -f "$BENCH/src/$name/.unpacked" ]] && return 0
  log "unpacking $name"
  rm -rf "$BENCH/src/$name" "$BENCH/src/$name.tmp"
  mkdir -p "$BENCH/src/$name.tmp"
  (cd "$BENCH/src/$name.tmp" && "$@")
  mv "$BENCH/src/$name.tmp" "$BENCH/src/$name"
  touch "$BENCH/src/$name/.unpacked"
}

# Each project: its folder, the source roots both tools are given, and files to edit in memory.
declare -A DIR ROOTS EDIT LABEL
# prepare NAME: downloads and unpacks a project once, fills DIR/ROOTS/EDIT/LABEL, writes its roots.
prepare() {
  local p="$1" d
  case "$p" in
  django)
    fetch "$DJANGO_FILE" "$DJANGO_SHA256" --no-binary :all: "django==$DJANGO_VERSION"
    unpack "django-$DJANGO_VERSION" tar -xzf "$BENCH/dl/$DJANGO_FILE" --strip-components=1
    DIR[$p]="$BENCH/src/django-$DJANGO_VERSION"
    # Django's runtests.py runs from tests/ (so sys.path[0] is tests/, and test apps import each
    # other as top-level packages: `from admin_scripts.tests import ...`), with django itself
    # installed from the checkout (`pip install -e ..`): the roots are the checkout and tests/.
    # docs/conf.py appends docs/_ext to sys.path (and tests/sphinx does the same), so it is one too.
    ROOTS[$p]='".", "tests", "docs/_ext"'
    EDIT[$p]="django/db/models/fields/__init__.py"
    LABEL[$p]="Django $DJANGO_VERSION (sdist; hand-written)"
    ;;
  azure)
    fetch "$AZURE_FILE" "$AZURE_SHA256" --only-binary :all: "azure-mgmt-network==$AZURE_VERSION"
    unpack "azure-mgmt-network-$AZURE_VERSION" python3 -m zipfile -e "$BENCH/dl/$AZURE_FILE" .
    DIR[$p]="$BENCH/src/azure-mgmt-network-$AZURE_VERSION"
    # A wheel: the top-level (namespace) package azure/ sits at the root.
    ROOTS[$p]='"."'
    # A wheel has no pyproject.toml or requirements file: its dependencies (setup.py's
    # install_requires) are in the METADATA's Requires-Dist lines. Written out as the
    # requirements.txt a source checkout would have, for check-imports.
    sed -n 's/^Requires-Dist: //p' "${DIR[$p]}"/*.dist-info/METADATA >"${DIR[$p]}/requirements.txt"
    # The package most files import (231 direct importers), then the largest file (1.1 MB).
    EDIT[$p]="azure/mgmt/network/v2021_05_01/models/__init__.py azure/mgmt/network/v2021_05_01/models/_models_py3.py"
    LABEL[$p]="azure-mgmt-network $AZURE_VERSION (wheel; generated)"
    ;;
  *) die "unknown project $p (known: django azure)" ;;
  esac
  # The source roots, for Pleat. Where the project has a pyproject.toml they go in its
  # [tool.pleat] (a pleat.toml would win over it, and Pleat would then not read the project's
  # declared requirements, which check-imports needs); else in a pleat.toml.
  d="${DIR[$p]}"
  if [[ -f "$d/pyproject.toml" ]]; then
    rm -f "$d/pleat.toml"
    [[ -f "$d/pyproject.toml.orig" ]] || cp "$d/pyproject.toml" "$d/pyproject.toml.orig"
    printf '%s\n\n# Added by bench/projects.sh.\n[tool.pleat]\nsource_roots = [%s]\n' \
      "$(cat "$d/pyproject.toml.orig")" "${ROOTS[$p]}" >"$d/pyproject.toml"
  else
    printf '# Written by bench/projects.sh.\nsource_roots = [%s]\n' "${ROOTS[$p]}" >"$d/pleat.toml"
  fi
}
