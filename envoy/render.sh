#!/usr/bin/env bash
# Re-renders the plugin configuration embedded in envoy/envoy.yaml from
# policies/demo-config.yaml and the bundle in policies/mesh/rbac (tests fail when it is stale).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin meshguard
config=$(target/debug/meshguard config render policies/demo-config.yaml --bundle policies/mesh/rbac/*.yaml)
python3 - "$config" <<'PY'
import sys, re
config = sys.argv[1]
assert "'" not in config, "the configuration must not contain single quotes"
path = "envoy/envoy.yaml"
text = open(path).read()
text = re.sub(r"(\n\s*value: ').*('\n)", lambda m: m.group(1) + config + m.group(2), text, count=1)
open(path, "w").write(text)
PY
echo "envoy/envoy.yaml: plugin configuration re-rendered"
