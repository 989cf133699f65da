#!/usr/bin/env bash
# Hides every global symbol of the Rust static library except the uniffi C API that the
# generated Swift calls, so that the app links one copy of SQLite per name space:
#
#   libwardcrf_ffi.a bundles SQLite (rusqlite's `bundled` feature) with its
#   symbols global: `_sqlite3_open_v2`, `_sqlite3_exec`, ... iOS apps (and frameworks they link,
#   e.g. Core Data, or a pod that links -lsqlite3) also reach the system libsqlite3.dylib under
#   the same names. A static archive's globals win over the dylib's at link time, so every
#   sqlite3_* call in the app — the system's own frameworks excepted, they were linked against
#   the dylib with two-level names — would silently go to our copy, of another version and
#   compile options; or the link fails with duplicate symbols when a second static SQLite is
#   present. Hiding our copy keeps the core's SQLite private to the core.
#
# How: prelink all members into one relocatable object (`ld -r`, as Xcode's "Perform
# Single-Object Prelink" does), keeping global only the names the generated header declares
# (`uniffi_*` / `ffi_*`); everything else becomes a local symbol of that object, resolved
# inside it, invisible to the app's link. Then archive that one object again.
#   macOS (Mach-O, C names with a leading `_`):  ld -r -exported_symbols_list + libtool -static
#   Linux (ELF, for the check below):            ld -r --whole-archive + objcopy --keep-global-symbols
# Afterwards it checks the result with `nm`: every header name still a defined global, no
# global `sqlite3_*` left. Exit 1 otherwise.
#
# Usage: ios/hide-symbols.sh HEADER.h IN.a OUT.a
#        ios/hide-symbols.sh --check   (Linux: on the host build of libwardcrf_ffi.a, after
#                                       bindings/generate; shows the symbols before and after,
#                                       and links a C program with a sqlite3_libversion of its
#                                       own against the library as built (fails: multiple
#                                       definition) and filtered (links, calls the uniffi API))
set -euo pipefail
ios="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$ios/.." && pwd)"

# The C functions the generated header declares (the only ones Swift calls).
exported_names() {
  grep -oE '\b(uniffi|ffi)_[A-Za-z0-9_]+[[:space:]]*\(' "$1" | sed -E 's/[[:space:]]*\($//' | sort -u
}

# Defined global symbols of an archive or object, without a Mach-O leading underscore.
defined_globals() {
  nm -g --defined-only "$1" 2>/dev/null | awk 'NF == 3 { print $3 }' | sed -E "s/^${2:-}//" | sort -u
}

hide() {
  local header=$1 input=$2 output=$3
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  exported_names "$header" >"$work/names"
  if [ ! -s "$work/names" ]; then
    echo "error: no uniffi function in $header" >&2
    return 1
  fi
  local prefix=""
  case "$(uname -s)" in
    Darwin)
      prefix="_"
      sed 's/^/_/' "$work/names" >"$work/exports"
      local arch
      arch=$(xcrun lipo -archs "$input")
      # One architecture per library here (lipo runs after this step).
      xcrun ld -r -arch "$arch" -exported_symbols_list "$work/exports" -force_load "$input" -o "$work/prelinked.o"
      rm -f "$output"
      xcrun libtool -static -o "$output" "$work/prelinked.o"
      ;;
    *)
      ld -r --whole-archive "$input" --no-whole-archive -o "$work/prelinked.o"
      # Embedded LLVM bitcode (Rust's std objects carry .llvmbc) is not needed to link and trips
      # binutils' LTO plugin when ar indexes the object.
      objcopy --keep-global-symbols="$work/names" --remove-section=.llvmbc --remove-section=.llvmcmd "$work/prelinked.o"
      rm -f "$output"
      ar crs "$output" "$work/prelinked.o"
      ;;
  esac

  defined_globals "$output" "$prefix" >"$work/after"
  local missing leaked
  missing=$(comm -23 "$work/names" "$work/after" | wc -l)
  leaked=$(grep -c '^sqlite3' "$work/after" || true)
  echo "hide-symbols: $(wc -l <"$work/after") global symbols left ($(wc -l <"$work/names") uniffi functions in the header); $missing of them missing, $leaked sqlite3_* still global"
  if [ "$missing" -ne 0 ] || [ "$leaked" -ne 0 ]; then
    comm -23 "$work/names" "$work/after" | head -5 >&2
    return 1
  fi
}

if [ "${1:-}" = --check ]; then
  target_dir=$(cd "$repo" && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  target_dir=${target_dir:-$repo/target}
  lib="$target_dir/debug/libwardcrf_ffi.a"
  header="$target_dir/bindings/swift/WardCRFFFI.h"
  for f in "$lib" "$header"; do
    [ -f "$f" ] || { echo "error: $f is missing: run bindings/generate first" >&2; exit 1; }
  done
  echo "before: $(defined_globals "$lib" | wc -l) global symbols, of them sqlite3_*: $(defined_globals "$lib" | grep -c '^sqlite3')  (e.g. $(defined_globals "$lib" | grep '^sqlite3_open' | head -2 | tr '\n' ' '))"
  out=$(mktemp -d)
  hide "$header" "$lib" "$out/libwardcrf_ffi.a"
  echo "after:  e.g. $(nm "$out/libwardcrf_ffi.a" | grep -E ' [tT] sqlite3_open_v2$' | head -1) (t: local), $(nm "$out/libwardcrf_ffi.a" | grep -E ' T uniffi_wardcrf_ffi_fn_constructor' | head -1) (T: global)"
  # The collision itself: a program with a SQLite function of its own (as the app's would be)
  # cannot link the library as built, and links and calls the uniffi API with it filtered.
  cat >"$out/app.c" <<'C'
#include <stdint.h>
#include <stdio.h>
const char *sqlite3_libversion(void) { return "the app's own SQLite"; }
uint32_t ffi_wardcrf_ffi_uniffi_contract_version(void);
int main(void) {
    printf("%s, next to the core's (uniffi contract %u)\n", sqlite3_libversion(), ffi_wardcrf_ffi_uniffi_contract_version());
    return 0;
}
C
  if cc "$out/app.c" "$lib" -lpthread -ldl -lm -o "$out/plain" 2>"$out/plain.log"; then
    echo "error: the unfiltered library linked beside another sqlite3_libversion: no collision to show" >&2
    exit 1
  fi
  echo "as built: $(grep -m1 -o 'multiple definition of .sqlite3_libversion.' "$out/plain.log")"
  cc "$out/app.c" "$out/libwardcrf_ffi.a" -lpthread -ldl -lm -o "$out/filtered"
  echo "filtered: links; runs: $("$out/filtered")"
  rm -rf "$out"
  exit 0
fi

if [ $# -ne 3 ]; then
  echo "usage: ios/hide-symbols.sh HEADER.h IN.a OUT.a | ios/hide-symbols.sh --check" >&2
  exit 2
fi
hide "$1" "$2" "$3"
