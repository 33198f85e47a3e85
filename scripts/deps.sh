#!/usr/bin/env bash
# Installs the Debian packages that the build (and, with "test", the tests)
# need and that are missing. Run as root, or run the apt-get line it prints.
#   scripts/deps.sh build|test|demo
set -euo pipefail

build=(gcc make pkg-config libc6-dev libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev
       zlib1g-dev libssl-dev libyaml-dev libcrypt-dev libgnutls28-dev)
runtime=(python3 python3-botocore)
test=(libcmocka-dev clang clang-format libclang-rt-14-dev prometheus curl python3-yaml openssl wrk
      shellcheck yamllint nodejs)

case "${1:-build}" in
build) want=("${build[@]}") ;;
demo) want=("${build[@]}" "${runtime[@]}") ;;
test)
    want=("${build[@]}" "${runtime[@]}" "${test[@]}")
    # npm: its own Debian package, or part of a nodejs package from elsewhere
    # (NodeSource's), which conflicts with Debian's npm.
    command -v npm >/dev/null || want+=(npm)
    ;;
*) echo "usage: $0 build|test|demo" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "aws-org-exporter: missing Debian packages: ${missing[*]}" >&2
    echo "run as root:  apt-get update && $cmd" >&2
    exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd -qq >/dev/null
