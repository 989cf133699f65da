#!/usr/bin/env bash
# Builds the Rust core for Android and puts it where :wardcrf expects it:
#   android/wardcrf/src/main/jniLibs/{arm64-v8a,armeabi-v7a,x86_64}/libwardcrf_ffi.so  (cargo-ndk)
#   android/wardcrf/src/main/uniffi/org/wardcrf/wardcrf_ffi.kt  (uniffi-bindgen, library mode)
# Both are build outputs, ignored by git. Needs: rustup targets aarch64-linux-android,
# armv7-linux-androideabi, x86_64-linux-android; cargo-ndk; an NDK (ANDROID_NDK_HOME, or the
# one Android Studio installed under $ANDROID_HOME/ndk/<version of gradle/libs.versions.toml>).
# Usage: android/scripts/build-native.sh [--debug]   (release libraries by default)
set -euo pipefail
android="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$android/.." && pwd)"

profile=release
cargo_profile=(--release)
case "${1:-}" in
  --debug) profile=debug; cargo_profile=() ;;
  "") ;;
  *) echo "usage: android/scripts/build-native.sh [--debug]" >&2; exit 2 ;;
esac

if ! command -v cargo-ndk >/dev/null 2>&1; then
  echo "error: cargo-ndk is missing: cargo install cargo-ndk" >&2
  exit 1
fi
if [ -z "${ANDROID_NDK_HOME:-}" ]; then
  ndk_version=$(sed -n 's/^ndk *= *"\(.*\)"/\1/p' "$android/gradle/libs.versions.toml")
  sdk="${ANDROID_HOME:-${ANDROID_SDK_ROOT:-$HOME/Android/Sdk}}"
  if [ -d "$sdk/ndk/$ndk_version" ]; then
    export ANDROID_NDK_HOME="$sdk/ndk/$ndk_version"
  else
    echo "error: no NDK: set ANDROID_NDK_HOME, or install NDK $ndk_version with Android Studio's SDK Manager" >&2
    exit 1
  fi
fi
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android >/dev/null

cd "$repo"
min_sdk=$(sed -n 's/^minSdk *= *"\(.*\)"/\1/p' "$android/gradle/libs.versions.toml")
echo "== cargo ndk (API $min_sdk, $profile) with $ANDROID_NDK_HOME"
cargo ndk --platform "$min_sdk" -t arm64-v8a -t armeabi-v7a -t x86_64 \
  -o "$android/wardcrf/src/main/jniLibs" build "${cargo_profile[@]}" -p wardcrf-ffi

# The Kotlin is generated from a host build of the same sources (uniffi's library mode reads
# the API from the built library): same sources, same API checksum as the Android libraries.
echo "== uniffi bindings"
if [ "$profile" = release ]; then bindings/generate --release; else bindings/generate; fi
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target_dir=${target_dir:-$repo/target}
rm -rf "$android/wardcrf/src/main/uniffi"
mkdir -p "$android/wardcrf/src/main/uniffi"
cp -R "$target_dir/bindings/kotlin/." "$android/wardcrf/src/main/uniffi/"
echo "android: native libraries in wardcrf/src/main/jniLibs, Kotlin bindings in wardcrf/src/main/uniffi"
