#!/usr/bin/env bash
# Runs the app's instrumented tests (app/src/androidTest: Compose UI tests of enrolment,
# sign-in, form entry and sync) on the connected device or emulator against a real
# wardcrf-server started here: a site, a clinician and a one-time enrolment code are created
# through the server's admin API, `adb reverse` makes the server the device's
# http://127.0.0.1:PORT (plain HTTP is allowed only to loopback), and the arguments reach the
# tests as instrumentation arguments (see app/src/androidTest/.../TestRepository.kt).
# Needs: adb with one device (English UI, a screen lock: `adb shell locksettings set-pin 1234`),
# the native libraries (scripts/build-native.sh), curl, and the Gradle wrapper.
# Usage: android/scripts/instrumented-tests.sh [PORT]   (default 18443)
set -euo pipefail
android="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$android/.." && pwd)"
port="${1:-18443}"
site="instr-test-01"
user="instr-nurse"
password="instrumented-tests-$RANDOM$RANDOM"

cd "$repo"
cargo build -p wardcrf-server
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
data="$(mktemp -d)"
"${target_dir:-$repo/target}/debug/wardcrf-server" --data "$data" --listen "127.0.0.1:$port" >"$data/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 60); do [ -s "$data/admin-token" ] && break; sleep 0.5; done
token=$(cat "$data/admin-token")
admin() { curl -fsS -X "$1" "http://127.0.0.1:$port$2" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
admin POST /api/admin/sites "{\"site_id\": \"$site\", \"name\": \"Instrumented tests\"}" >/dev/null
admin POST /api/admin/staff "{\"username\": \"$user\", \"role\": \"clinician\", \"site_id\": \"$site\", \"password\": \"$password\"}" >/dev/null
code=$(admin POST /api/admin/enroll-codes "{\"site_id\": \"$site\"}" | sed -n 's/.*"code" *: *"\([^"]*\)".*/\1/p')

adb reverse "tcp:$port" "tcp:$port"
# A fresh store: the tests enrol the tablet themselves.
adb shell pm clear org.wardcrf.app >/dev/null 2>&1 || true
cd "$android"
./gradlew :app:connectedDebugAndroidTest \
  "-Pandroid.testInstrumentationRunnerArguments.wardcrf.server=http://127.0.0.1:$port" \
  "-Pandroid.testInstrumentationRunnerArguments.wardcrf.code=$code" \
  "-Pandroid.testInstrumentationRunnerArguments.wardcrf.user=$user" \
  "-Pandroid.testInstrumentationRunnerArguments.wardcrf.password=$password"
