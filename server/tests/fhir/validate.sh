#!/bin/sh
# Validates a FHIR R4 Bundle exported by wardcrf-server with the PyPI package fhir.resources
# (6.4.0, FHIR 4.0.1), then checks that every QuestionnaireResponse answer fits its
# Questionnaire item (validate.py). Called by server/tests/cases/export.rs; tests/run runs
# `validate.sh --setup` first.
#
#   validate.sh --setup            create the virtual environment (python3 -m venv + pip)
#   validate.sh BUNDLE.json        validate; prints a JSON summary; exit 1 with the problems
#
# The environment lives in $WARDCRF_FHIR_VENV (default: target/fhir-venv in the workspace) and
# is created on first use; creating it needs python3 with venv (Debian: python3-venv) and
# PyPI. An flock keeps parallel tests from building it twice.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${WARDCRF_FHIR_VENV:-$here/../../../target/fhir-venv}
python=$venv/bin/python

ready() {
  [ -x "$python" ] && "$python" -c 'import sys, fhir.resources as f, pydantic; sys.exit(f.__fhir_version__ != "4.0.1")' 2>/dev/null
}

setup() {
  mkdir -p "$(dirname "$venv")"
  (
    if command -v flock >/dev/null 2>&1; then flock 9; fi
    if ready; then exit 0; fi
    if ! command -v python3 >/dev/null 2>&1; then
      echo "error: python3 is needed to validate FHIR exports (Debian: apt-get install python3 python3-venv)" >&2
      exit 3
    fi
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >&2; then
      echo "error: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
      exit 3
    fi
    if ! "$venv/bin/pip" install --disable-pip-version-check -q -r "$here/requirements.txt" >&2; then
      echo "error: pip could not install $here/requirements.txt into $venv (is PyPI reachable?)" >&2
      exit 3
    fi
    if ! ready; then
      echo "error: fhir.resources for FHIR 4.0.1 is not importable from $venv" >&2
      exit 3
    fi
  ) 9>"$venv.lock"
}

if [ "${1:-}" = "--setup" ]; then
  setup
  "$python" -c 'import fhir.resources as f; print("fhir.resources", f.__version__, "(FHIR", f.__fhir_version__ + ")")'
  exit 0
fi
[ $# -eq 1 ] || { echo "usage: $0 --setup | BUNDLE.json" >&2; exit 2; }
ready || setup
exec "$python" "$here/validate.py" "$1"
