#!/usr/bin/env bash
# Installs the Debian packages that the build (and, with "test", the tests)
# need and that are missing. Run as root, or run the apt-get line it prints.
#   scripts/deps.sh [--no-install] build|check|test|demo
#     build  compile ./aws-org-exporter
#     check  make check: build, unit and integration tests (no fuzzing,
#            no image, no benchmark, no format check)
#     test   make test: everything
#     demo   make demo
# With --no-install (make check, unit, integration) it never installs: it
# names the missing packages on one line and exits 1, whoever runs it.
set -euo pipefail

install=1
if [ "${1:-}" = --no-install ]; then install=0; shift; fi

build=(gcc make pkg-config libc6-dev libmicrohttpd-dev libcurl4-gnutls-dev libjansson-dev
       zlib1g-dev libyaml-dev libcrypt-dev libgnutls28-dev)
runtime=(python3 python3-botocore)
# What the unit and integration tests run: cmocka; promtool and prometheus;
# PyYAML; openssl (the TLS tests' certificates) and libssl-dev (test_sigv4
# checks the signer against OpenSSL's HMAC); the checkers of what we ship
# (shellcheck, yamllint, Node.js for the Kubernetes and Grafana schemas,
# docker-compose for `docker-compose config`: --no-install-recommends keeps its
# recommended Docker engine out); jsonnet (the mixin's render check).
check=(libcmocka-dev prometheus python3-yaml openssl libssl-dev shellcheck yamllint nodejs docker-compose jsonnet)
# What only make test adds: the fuzzers (clang, its runtime), the format
# check, the image test (curl; podman-compose for the compose demo; the
# image test installs podman, buildah, mmdebstrap, runc itself) and the
# benchmark (wrk).
full=(clang clang-format libclang-rt-14-dev curl podman-compose wrk)

case "${1:-build}" in
build) want=("${build[@]}") ;;
demo) want=("${build[@]}" "${runtime[@]}") ;;
check) want=("${build[@]}" "${runtime[@]}" "${check[@]}") ;;
test)
    want=("${build[@]}" "${runtime[@]}" "${check[@]}" "${full[@]}")
    # npm (make deps-node): its own Debian package, or part of a nodejs
    # package from elsewhere (NodeSource's), which conflicts with Debian's npm.
    command -v npm >/dev/null || want+=(npm)
    ;;
*) echo "usage: $0 [--no-install] build|check|test|demo" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$install" -eq 0 ] || [ "$(id -u)" -ne 0 ]; then
    echo "aws-org-exporter: missing Debian packages: ${missing[*]} (as root: apt-get update && $cmd)" >&2
    exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd -qq >/dev/null
