#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Kernel memory of the flow maps per flow at 2, 8, 64, 128 and 256 possible
# CPUs (issue 14.1). The kernel sizes per-CPU allocations by the possible
# CPUs, which a 2-CPU machine cannot show, so each count boots the
# distribution kernel in QEMU with `-smp 2,maxcpus=N` (tests/vm/run-vm.sh,
# XF_VM_SMP): 2 running CPUs, N possible, as on an N-CPU node. Above 255
# (what TCG can emulate) `-smp 2` and the kernel's possible_cpus=N.
#
#   bench/kmap_vm.sh [N...]            (default 2 8 64 128 256; from the build tree)
#
# The kernel is Debian 12's 6.1 (XF_VM_KERNEL, default 6.1.0-57-amd64 or the
# oldest installed): 6.12 counts only the CPUs QEMU marks online-capable as
# possible, so maxcpus does not make a big node there. 6.1 reports memlock
# as its estimate (key + value rounded to 8 bytes, per entry), 6.4 and later
# the allocation: for the flow maps 233 and 216 bytes a flow.
#
# In each guest (this script with "guest"): xlatflowd in its default
# configuration (kernel_max_flows 65536, ring buffer 4 MiB) on lo, exporting
# to a loopback collector (nothing listens); then `bpftool -j map show` of
# the daemon's maps (bytes_memlock: the kernel's own count; the guest runs
# nothing else that loads maps). Prints a Markdown table: the flow maps
# (flow_table + flow_list; in a build of the design before, flow_index +
# flow_slots_0/1) per flow, and every map of the daemon's flow program
# (counters and ring buffer included) per flow.
# TCG emulation: the memory figures are exact, times are not measured.
set -eu

if [ "${1:-}" = guest ]; then
	B=$XF_BUILDDIR
	OUT=$XF_OUT
	ip link set lo up
	nproc_possible=$(cat /sys/devices/system/cpu/possible)
	printf 'interfaces = { include = [ "lo" ]; };\ncollectors = ( { url = "udp://127.0.0.1:4739"; } );\n' \
		>/tmp/kmap.conf
	chmod 600 /tmp/kmap.conf
	"$B/src/xlatflowd" --foreground --config /tmp/kmap.conf --nat-hook off >/tmp/xlatflowd.log 2>&1 &
	pid=$!
	i=0
	# its maps are made before it logs its timeouts (capture_open comes first)
	until grep -q '^timeouts:' /tmp/xlatflowd.log 2>/dev/null; do
		if ! kill -0 $pid 2>/dev/null || [ $i -ge 600 ]; then
			cat /tmp/xlatflowd.log >"$OUT/xlatflowd.log"
			echo "kmap_vm: xlatflowd did not start" >&2
			exit 1
		fi
		i=$((i + 1))
		sleep 0.1
	done
	bpftool -j map show >"$OUT/maps.json"
	bpftool -j prog show >"$OUT/progs.json"
	echo "$nproc_possible" >"$OUT/possible"
	kill -TERM $pid
	wait $pid || true
	cp /tmp/xlatflowd.log "$OUT/xlatflowd.log"
	exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/.." && pwd)
builddir=$(pwd)
[ -x "$builddir/src/xlatflowd" ] || { echo "kmap_vm.sh: run it from the build tree (src/xlatflowd)" >&2; exit 2; }
[ $# -gt 0 ] || set -- 2 8 64 128 256
work=$builddir/bench/work-kmap-vm
kernel=${XF_VM_KERNEL:-$(sh "$srcdir/tests/vm/run-vm.sh" -l | grep '^6\.1\.' | head -n 1)}
kernel=${kernel:-$(sh "$srcdir/tests/vm/run-vm.sh" -l | tail -n 1)}
echo "kernel $kernel"
echo
mkdir -p "$work"
echo "| possible CPUs | flow maps | flow maps, bytes per flow | all of the flow program's maps, bytes per flow | total MiB |"
echo "|---:|---|---:|---:|---:|"
for n in "$@"; do
	rc=0
	smp="2,maxcpus=$n" append=
	# TCG emulates at most 255 CPUs: beyond, the kernel's possible_cpus=
	if [ "$n" -gt 255 ]; then
		smp=2 append="possible_cpus=$n"
	fi
	XF_VM_SMP=$smp XF_VM_APPEND=$append XF_VM_MEM=${XF_VM_MEM:-6G} XF_SRCDIR=$srcdir XF_BUILDDIR=$builddir \
		sh "$srcdir/tests/vm/run-vm.sh" -k "$kernel" -t 300 -w "$work/$n" \
		"$here/kmap_vm.sh" guest >"$work/$n.log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		echo "| $n | run-vm failed ($rc), see $work/$n.log | | | |"
		continue
	fi
	python3 - "$work/$n/out" "$n" <<'PY'
import json, sys
out, n = sys.argv[1], sys.argv[2]
maps = json.load(open(out + '/maps.json'))
progs = json.load(open(out + '/progs.json'))
# the maps of the daemon's xf_tc_ingress program (the newest, should there be others)
byid = {m['id']: m for m in maps}
ids = []
for p in sorted(progs, key=lambda p: p['id']):
    if p.get('name') == 'xf_tc_ingress':
        ids = p.get('map_ids', [])
mine = [byid[i] for i in ids if i in byid]
if not mine:
    # bpftool in the guest may list no programs: the daemon's maps are all there is
    mine = maps
flows = 65536
# the flow maps: flow_table + flow_list, or (before) flow_index + flow_slots_0/1
fm = [m for m in mine if m['name'].startswith('flow_') and '.' not in m['name'] and
      m['name'] != 'flow_events']
fb = sum(m['bytes_memlock'] for m in fm)
total = sum(m['bytes_memlock'] for m in mine)
possible = open(out + '/possible').read().strip()
names = ', '.join(f"{m['name']} {m['bytes_memlock'] / 2**20:.1f} MiB" for m in fm)
print(f"| {n} ({possible}) | {names} | {fb / flows:.1f} | {total / flows:.1f} | {total / 2**20:.1f} |")
PY
done
