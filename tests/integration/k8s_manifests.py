#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Usage: k8s_manifests.py MANIFEST VERSION

Check deploy/kubernetes/ without a cluster (none is reachable here, and no
Kubernetes schema validator is packaged in Debian 12): the structure a
kubelet and the API server would hold us to, for the fields used, and what
the DaemonSet must agree on with the daemon's config it carries. Prints one
"ok"/"not ok" line a check (TAP-like) and exits 1 if any failed.

The memory limit is recomputed here from the ConfigMap's sizes with the
figures of docs/kubernetes.md ("Memory"), so raising max_flows without the
limit fails this test.
"""
import re
import sys

import yaml

MIB = 1 << 20
checks = []


def check(desc, cond, detail=""):
    checks.append(cond)
    print(("ok" if cond else "not ok") + f" {len(checks)} - {desc}"
          + ("" if cond else f": {detail}"))


# The API groups and fields this manifest may use; a typo in a key is
# silently ignored by kubectl apply without validation, so catch it here.
KINDS = {"Namespace": "v1", "ServiceAccount": "v1", "ConfigMap": "v1", "DaemonSet": "apps/v1"}
POD_SPEC = {"serviceAccountName", "automountServiceAccountToken", "hostNetwork", "dnsPolicy",
            "tolerations", "terminationGracePeriodSeconds", "containers", "volumes",
            "priorityClassName", "nodeSelector"}
CONTAINER = {"name", "image", "imagePullPolicy", "args", "securityContext", "resources",
             "livenessProbe", "readinessProbe", "volumeMounts", "env"}
SECURITY = {"privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsUser",
            "capabilities", "seccompProfile"}
PROBE = {"httpGet", "exec", "initialDelaySeconds", "periodSeconds", "timeoutSeconds",
         "failureThreshold", "successThreshold"}
QUANTITY = re.compile(r"^([0-9]+)(Ki|Mi|Gi)?$")


def quantity(q):
    m = QUANTITY.match(str(q))
    if not m:
        raise ValueError(f"memory quantity {q!r}: only integer, Ki, Mi, Gi here")
    return int(m.group(1)) << {None: 0, "Ki": 10, "Mi": 20, "Gi": 30}[m.group(2)]


def conf_value(conf, key):
    """A scalar from the libconfig text: key = value; (numbers, strings)."""
    m = re.search(r"^\s*" + re.escape(key) + r"\s*=\s*(\"[^\"]*\"|[0-9]+)\s*;", conf, re.M)
    if not m:
        return None
    v = m.group(1)
    return v[1:-1] if v.startswith('"') else int(v)


def pow2_at_least(n):
    p = 1
    while p < n:
        p <<= 1
    return p


def fixed_at(conf, cpus):
    """Bytes allocated at start on a node with `cpus` possible CPUs and
    kube-proxy's nf_conntrack_max (docs/kubernetes.md, "Memory")."""
    kmax = conf_value(conf, "kernel_max_flows") or 65536
    ring = conf_value(conf, "ringbuf_size") or 4194304
    # docs/datapath.md: 2 x 104 (flow_table) + 2 x 4 (flow_list) = 216 bytes a slot
    # allocated, whatever the CPUs; 233 as Linux 6.1's memlock estimate counts it
    kernel_maps = kmax * 233
    ct_max = max(131072, 32768 * cpus)  # kube-proxy conntrack.maxPerCore, .min
    xlat_conns = 48 * min(pow2_at_least(ct_max), 1 << 20)  # bpf/nat.bpf.c, 48 MiB at most
    rings = ring + 256 * 1024  # flow_events + the NAT hook's xlat_events
    base = 16 * MIB  # bench/rss.sh: start-up, less the maps, rounded up
    return kernel_maps + xlat_conns + rings + base


def memory_at(conf, cpus):
    """fixed_at() plus the flow cache and the translation table full."""
    flows = conf_value(conf, "max_flows") or 1000000
    xlat = conf_value(conf, "max_translations") or 786432
    cache = 125 * flows  # bench/rss.sh, RssAnon growth per flow
    xlat_table = 96 * xlat + 8 * pow2_at_least(-(-4 * xlat * 4 // 3))  # docs/nat.md
    return fixed_at(conf, cpus) + cache + xlat_table


def main():
    path, version = sys.argv[1], sys.argv[2]
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    kinds = [d.get("kind") for d in docs]
    check("objects: Namespace, ServiceAccount, ConfigMap, DaemonSet",
          kinds == ["Namespace", "ServiceAccount", "ConfigMap", "DaemonSet"], kinds)
    by_kind = {d["kind"]: d for d in docs if d.get("kind") in KINDS}
    for d in docs:
        check(f"{d.get('kind')}: apiVersion {KINDS.get(d.get('kind'))}",
              d.get("apiVersion") == KINDS.get(d.get("kind")), d.get("apiVersion"))
        name = d.get("metadata", {}).get("name", "")
        check(f"{d.get('kind')}: metadata.name {name!r} is a DNS label",
              re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name) is not None, name)
    ns = by_kind["Namespace"]["metadata"]["name"]
    for k in ("ServiceAccount", "ConfigMap", "DaemonSet"):
        check(f"{k} in namespace {ns}", by_kind[k]["metadata"].get("namespace") == ns,
              by_kind[k]["metadata"].get("namespace"))
    check("namespace admits privileged pods (hostNetwork)",
          by_kind["Namespace"]["metadata"].get("labels", {})
          .get("pod-security.kubernetes.io/enforce") == "privileged")

    ds = by_kind["DaemonSet"]
    cm = by_kind["ConfigMap"]
    spec = ds["spec"]
    tmpl = spec["template"]
    pod = tmpl["spec"]
    labels = tmpl["metadata"].get("labels", {})
    sel = spec["selector"].get("matchLabels", {})
    check("selector matches the pod template's labels",
          sel and all(labels.get(k) == v for k, v in sel.items()), (sel, labels))
    check("pod spec: only known fields", set(pod) <= POD_SPEC, set(pod) - POD_SPEC)
    check("hostNetwork", pod.get("hostNetwork") is True)
    check("dnsPolicy ClusterFirstWithHostNet (Service names from the host network)",
          pod.get("dnsPolicy") == "ClusterFirstWithHostNet", pod.get("dnsPolicy"))
    check("tolerates every taint", {"operator": "Exists"} in pod.get("tolerations", []),
          pod.get("tolerations"))
    check("serviceAccountName is the manifest's",
          pod.get("serviceAccountName") == by_kind["ServiceAccount"]["metadata"]["name"])
    # The daemon's SIGTERM drain: at most 20 s paced, then the queues.
    check("terminationGracePeriodSeconds >= 30 (the 20 s drain and the send queues)",
          pod.get("terminationGracePeriodSeconds", 30) >= 30)

    (ctr,) = pod["containers"]
    check("container: only known fields", set(ctr) <= CONTAINER, set(ctr) - CONTAINER)
    check(f"image is this version ({version})", ctr["image"].endswith(f":{version}"), ctr["image"])
    sc = ctr["securityContext"]
    check("securityContext: only known fields", set(sc) <= SECURITY, set(sc) - SECURITY)
    check("not privileged, no privilege escalation, read-only root",
          sc.get("privileged") is False and sc.get("allowPrivilegeEscalation") is False
          and sc.get("readOnlyRootFilesystem") is True, sc)
    caps = sc.get("capabilities", {})
    check("capabilities: drop ALL, add exactly BPF, PERFMON, NET_ADMIN",
          caps.get("drop") == ["ALL"] and sorted(caps.get("add", [])) == ["BPF", "NET_ADMIN", "PERFMON"],
          caps)
    check("seccompProfile type is one the kubelet knows",
          sc.get("seccompProfile", {}).get("type") in ("RuntimeDefault", "Unconfined", "Localhost"))

    # Volumes: every mount has its volume, every volume is mounted.
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in ctr["volumeMounts"]}
    check("every volumeMount has a volume and every volume a mount", set(vols) == set(mounts),
          (set(vols), set(mounts)))
    check("every mount is read-only", all(m.get("readOnly") is True for m in mounts.values()))
    host = {v["hostPath"]["path"]: mounts[n]["mountPath"] for n, v in vols.items() if "hostPath" in v}
    check("host paths: /etc/machine-id and /sys/kernel/btf, at the same paths",
          host == {"/etc/machine-id": "/etc/machine-id", "/sys/kernel/btf": "/sys/kernel/btf"}, host)
    cmvols = [n for n, v in vols.items() if "configMap" in v]
    check("one ConfigMap volume, the manifest's ConfigMap",
          len(cmvols) == 1 and vols[cmvols[0]]["configMap"]["name"] == cm["metadata"]["name"], cmvols)
    mode = vols[cmvols[0]]["configMap"].get("defaultMode", 0o644) if cmvols else 0o644
    check("config mode writable by nobody but root (the daemon refuses it otherwise)",
          mode & 0o022 == 0, oct(mode))
    args = ctr.get("args", [])
    conf_path = args[args.index("--config") + 1] if "--config" in args else "/etc/xlatflow/xlatflowd.conf"
    keys = list(cm["data"])
    check("--config is the ConfigMap's key where it is mounted",
          cmvols and conf_path == mounts[cmvols[0]]["mountPath"].rstrip("/") + "/" + keys[0]
          and len(keys) == 1, (conf_path, keys))
    conf = cm["data"][keys[0]]

    # The config's view of the node.
    check('observation_domain_id = "auto" (per node, from /etc/machine-id)',
          conf_value(conf, "observation_domain_id") == "auto")
    listen = conf_value(conf, "metrics_listen") or ""
    m = re.fullmatch(r"([0-9.]+):([0-9]+)", listen)
    check("metrics_listen is an IPv4 address and port", m is not None, listen)
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        p = ctr.get(probe, {})
        g = p.get("httpGet", {})
        check(f"{probe}: only known fields", set(p) <= PROBE, set(p) - PROBE)
        check(f"{probe}: GET {path} at metrics_listen ({listen})",
              m is not None and g.get("path") == path and g.get("host") == m.group(1)
              and str(g.get("port")) == m.group(2), g)
    url = re.search(r'url\s*=\s*"(udp|tcp)://([^":]+):([0-9]+)"', conf)
    check("the collector is a Service name the cluster DNS resolves",
          url is not None and url.group(2).endswith(".svc.cluster.local"), url and url.group(0))

    res = ctr["resources"]
    need = max(memory_at(conf, c) for c in (8, 64, 512))
    limit = quantity(res["limits"]["memory"])
    request = quantity(res["requests"]["memory"])
    for cpus in (8, 16, 32, 64, 128, 256):
        print(f"# {cpus} CPUs: {fixed_at(conf, cpus) / MIB:.1f} MiB at start, "
              f"{memory_at(conf, cpus) / MIB:.1f} MiB with every table full")
    check("memory limit holds the config's tables full on any node up to 512 possible CPUs",
          limit >= need, f"{limit / MIB:.0f} MiB < {need / MIB:.1f} MiB")
    check("memory request <= limit, and holds what an 8-CPU node allocates at start",
          fixed_at(conf, 8) <= request <= limit,
          f"{fixed_at(conf, 8) / MIB:.1f} MiB, request {request / MIB:.0f}, limit {limit / MIB:.0f}")
    check("no CPU limit (throttling would delay the drain; the programs run in softirq)",
          "cpu" not in res.get("limits", {}))
    sys.exit(0 if all(checks) else 1)


if __name__ == "__main__":
    main()
