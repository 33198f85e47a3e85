#!/usr/bin/env bash
# Renders the files that the monitoring mixin (mixin/) generates, with
# Debian's jsonnet: the Grafana dashboard and alert rules, the Prometheus
# recording and alerting rules, the PrometheusRule (mixin/render.jsonnet
# lists them).
#   scripts/mixin.sh          write them (make mixin)
#   scripts/mixin.sh --check  exit 1, naming each committed file that differs
#                             from a fresh render and each mixin source that
#                             jsonnetfmt would change; writes nothing
set -euo pipefail

check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

for tool in jsonnet jsonnetfmt; do
    if ! command -v "$tool" >/dev/null; then
        echo "mixin: $tool is not installed (Debian package jsonnet; scripts/deps.sh check)" >&2
        exit 1
    fi
done

cd "$(dirname "$0")/.."
mapfile -t files < <(jsonnet -S -e "std.join('\n', std.objectFields(import 'mixin/render.jsonnet'))")
mapfile -t sources < <(find mixin -name '*.libsonnet' -o -name '*.jsonnet' | LC_ALL=C sort)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "${files[@]}"; do
    mkdir -p "$tmp/$(dirname "$f")"
done
jsonnet -S -m "$tmp" mixin/render.jsonnet >/dev/null

status=0
for f in "${files[@]}"; do
    cmp -s "$tmp/$f" "$f" && continue
    if [ "$check" -eq 1 ]; then
        echo "mixin: $f differs from a fresh render of mixin/: run make mixin" >&2
        status=1
    else
        cp "$tmp/$f" "$f"
        echo "wrote $f"
    fi
done
for f in "${sources[@]}"; do
    if ! jsonnetfmt --test "$f"; then
        if [ "$check" -eq 1 ]; then
            echo "mixin: $f is not formatted: run jsonnetfmt -i $f" >&2
            status=1
        else
            jsonnetfmt -i "$f"
            echo "formatted $f"
        fi
    fi
done
exit "$status"
