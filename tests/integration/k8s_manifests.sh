#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# deploy/kubernetes/ without a cluster: yamllint (Debian's; no Kubernetes
# schema validator is packaged in Debian 12) and tests/integration/
# k8s_manifests.py, which checks the objects' structure and that the
# DaemonSet agrees with the config it carries (probes at metrics_listen, the
# config path, the memory limit recomputed from the config's sizes), and the
# daemon's --check-config accepts that config.
# What a cluster would add (admission, the kubelet's probes, the image pull)
# is not run: docs/kubernetes.md, "What was not tested".
srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
manifest=$srcdir/deploy/kubernetes/xlatflow.yaml
command -v yamllint >/dev/null 2>&1 || { echo "SKIP: yamllint not installed"; exit 77; }
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml not installed"; exit 77; }
rc=0
# Strict: warnings (line length, truthy values) fail too.
yamllint -s "$manifest" || { echo "not ok - yamllint $manifest"; rc=1; }
version=$(sed -n 's/^AC_INIT(\[xlatflow\], \[\([^]]*\)\].*/\1/p' "$srcdir/configure.ac")
python3 "$srcdir/tests/integration/k8s_manifests.py" "$manifest" "$version" || rc=1

# The ConfigMap's xlatflowd.conf is one the daemon accepts. --check-config
# resolves collector names, and the Service name resolves only inside a
# cluster: it is replaced by 127.0.0.1 here, nothing else is changed.
xlatflowd=${abs_top_builddir:-$srcdir/build}/src/xlatflowd
work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-k8s.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 - "$manifest" > "$work/xlatflowd.conf" <<'PY' || rc=1
import sys, yaml
(cm,) = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "ConfigMap"]
sys.stdout.write(cm["data"]["xlatflowd.conf"].replace(
    "xlatflow-collector.xlatflow.svc.cluster.local", "127.0.0.1"))
PY
chmod 0600 "$work/xlatflowd.conf"
if "$xlatflowd" --check-config --config "$work/xlatflowd.conf" > "$work/out" 2>&1; then
	echo "ok - xlatflowd --check-config accepts the ConfigMap's xlatflowd.conf"
else
	echo "not ok - xlatflowd --check-config refuses the ConfigMap's xlatflowd.conf:"
	sed 's/^/#   /' "$work/out"
	rc=1
fi
# The keys the DaemonSet relies on are in effect, not left at defaults.
for want in 'observation_domain_id = "auto";' 'metrics_listen = "127.0.0.1:9477";' \
	'max_flows = 262144;' 'kernel_max_flows = 16384;' 'max_translations = 262144;'; do
	if grep -qF "$want" "$work/out"; then
		echo "ok - effective: $want"
	else
		echo "not ok - not in the effective configuration: $want"
		rc=1
	fi
done
exit $rc
