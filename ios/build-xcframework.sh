#!/usr/bin/env bash
# Builds the Rust core for iOS on macOS and lays out the Swift package:
#   ios/build/WardCRFFFI.xcframework          libwardcrf_ffi.a for aarch64-apple-ios (device) and
#                                             aarch64-apple-ios-sim + x86_64-apple-ios (simulator,
#                                             one lipo'd library), with WardCRFFFI.h + module.modulemap
#   ios/Sources/WardCRF/Generated/WardCRF.swift  the uniffi Swift for it
# Each library's symbols except the uniffi C API are hidden first (hide-symbols.sh: the bundled
# SQLite would otherwise take over the app's sqlite3_* names from the system libsqlite3).
# Both are build outputs, ignored by git. Needs Xcode (xcodebuild, lipo) and rustup.
# Usage: ios/build-xcframework.sh [--debug]   (release by default)
set -euo pipefail
ios="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$ios/.." && pwd)"

profile=release
cargo_profile=(--release)
generate_flags=(--release)
case "${1:-}" in
  --debug) profile=debug; cargo_profile=(); generate_flags=() ;;
  "") ;;
  *) echo "usage: ios/build-xcframework.sh [--debug]" >&2; exit 2 ;;
esac

if [ "$(uname -s)" != Darwin ] || ! command -v xcodebuild >/dev/null 2>&1; then
  echo "error: building the XCFramework needs macOS with Xcode (xcodebuild, lipo)" >&2
  exit 1
fi

export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-16.0}"
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}" >/dev/null

cd "$repo"
for target in "${targets[@]}"; do
  echo "== cargo build ($target, $profile)"
  cargo build "${cargo_profile[@]}" --target "$target" -p wardcrf-ffi
done
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target_dir=${target_dir:-$repo/target}

# The Swift, header and module map, from the host (macOS) build of the same sources: uniffi's
# library mode reads the API from it, so the checksums match the iOS libraries.
echo "== uniffi bindings (Swift, header, modulemap)"
bindings/generate "${generate_flags[@]}"
swift_out="$target_dir/bindings/swift"

build="$ios/build"
rm -rf "$build"
mkdir -p "$build/headers" "$build/simulator"
cp "$swift_out/WardCRFFFI.h" "$build/headers/"
# -create-xcframework wants the module map as module.modulemap beside the header.
cp "$swift_out/WardCRFFFI.modulemap" "$build/headers/module.modulemap"

echo "== hide every symbol but the uniffi API (the bundled SQLite stays private)"
for target in "${targets[@]}"; do
  mkdir -p "$build/hidden/$target"
  "$ios/hide-symbols.sh" "$build/headers/WardCRFFFI.h" \
    "$target_dir/$target/$profile/libwardcrf_ffi.a" "$build/hidden/$target/libwardcrf_ffi.a"
done

# Apple's required-reason APIs the core's code calls (PrivacyInfo.xcprivacy must declare
# them): printed for whoever reviews the manifest; the list is Apple's, the check is nm's.
echo "== required-reason APIs referenced by the device library"
xcrun nm -u "$build/hidden/aarch64-apple-ios/libwardcrf_ffi.a" \
  | grep -E '^_(stat|fstat|fstatat|lstat|getattrlist|getattrlistbulk|fgetattrlist|getattrlistat|statfs|fstatfs|statvfs|fstatvfs|mach_absolute_time)$' \
  | sort -u || echo "(none)"

echo "== lipo the simulator libraries"
lipo -create \
  "$build/hidden/aarch64-apple-ios-sim/libwardcrf_ffi.a" \
  "$build/hidden/x86_64-apple-ios/libwardcrf_ffi.a" \
  -output "$build/simulator/libwardcrf_ffi.a"

echo "== xcodebuild -create-xcframework"
xcodebuild -create-xcframework \
  -library "$build/hidden/aarch64-apple-ios/libwardcrf_ffi.a" -headers "$build/headers" \
  -library "$build/simulator/libwardcrf_ffi.a" -headers "$build/headers" \
  -output "$build/WardCRFFFI.xcframework"

mkdir -p "$ios/Sources/WardCRF/Generated"
cp "$swift_out/WardCRF.swift" "$ios/Sources/WardCRF/Generated/WardCRF.swift"
echo "ios: $build/WardCRFFFI.xcframework and Sources/WardCRF/Generated/WardCRF.swift are ready"
