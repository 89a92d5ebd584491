#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# deploy/kubernetes/ without a cluster: yamllint (Debian's; no Kubernetes
# schema validator is packaged in Debian 12) and tests/integration/
# k8s_manifests.py, which checks the objects' structure and that the
# DaemonSet agrees with the config it carries (probes at metrics_listen, the
# config path, the memory limit recomputed from the config's sizes).
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
exit $rc
