#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Usage: seccomp-profile.py [DEFAULT_PROFILE] > xlatflowd-seccomp.json

Write the container runtime's default seccomp profile (containers-common's
/usr/share/containers/seccomp.json, the one podman and CRI-O use) with one
change: bpf(2) is allowed to a container holding CAP_BPF and
perf_event_open(2) to one holding CAP_PERFMON, as the kernel itself allows
since 5.8. The default profile allows both only with CAP_SYS_ADMIN, which
xlatflowd does not need; without this the daemon gets EPERM loading its
programs. Everything else stays as the runtime ships it.

    podman run --cap-drop=all --cap-add=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN \\
        --security-opt seccomp=xlatflowd-seccomp.json ...
"""
import json
import sys

OPENED = {"bpf": "CAP_BPF", "perf_event_open": "CAP_PERFMON"}


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/containers/seccomp.json"
    with open(src) as f:
        profile = json.load(f)
    found = set()
    for rule in profile["syscalls"]:
        names = [n for n in rule["names"] if n not in OPENED]
        found.update(n for n in rule["names"] if n in OPENED)
        rule["names"] = names
    missing = set(OPENED) - found
    if missing:
        # A profile that never names them: nothing to open up, and a rule
        # added here could conflict with whatever the profile does instead.
        sys.exit(f"{src}: no rule names {', '.join(sorted(missing))}; not a runtime default profile?")
    profile["syscalls"] = [r for r in profile["syscalls"] if r["names"]]
    for name, cap in OPENED.items():
        # With the capability: allowed. Without it the profile's default
        # action applies (an error), as for any syscall it does not list.
        profile["syscalls"].append(
            {"names": [name], "action": "SCMP_ACT_ALLOW", "includes": {"caps": [cap]}})
    json.dump(profile, sys.stdout, indent="\t")
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
