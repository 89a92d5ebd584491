#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Kernel memory of the flow maps per flow at 2, 64, 128 and 256 possible
# CPUs (issue 14.1). The kernel sizes per-CPU allocations by the possible
# CPUs, which a 2-CPU machine cannot show, so each count boots the
# distribution kernel in QEMU with `-smp 2,maxcpus=N` (tests/vm/run-vm.sh,
# XF_VM_SMP): 2 running CPUs, N possible, as on an N-CPU node.
#
#   bench/kmap_vm.sh [N...]            (default 2 64 128 256; from the build tree)
#
# In each guest (this script with "guest"): xlatflowd in its default
# configuration (kernel_max_flows 65536, ring buffer 256 KiB) on lo,
# exporting to a loopback collector; then `bpftool -j map show` of the
# daemon's maps (bytes_memlock: the kernel's own count). Prints a Markdown
# table: the flow maps (flow_table + flow_list) per flow, and every map of
# the daemon's flow program (counters and ring buffer included) per flow.
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
	# the daemon's table: 2 x 65536 slots
	until bpftool -j map show 2>/dev/null | grep -q '"name":"flow_table"[^}]*"max_entries":131072'; do
		if ! kill -0 $pid 2>/dev/null || [ $i -ge 600 ]; then
			cat /tmp/xlatflowd.log >"$OUT/xlatflowd.log"
			echo "kmap_vm: xlatflowd did not load its maps" >&2
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
[ $# -gt 0 ] || set -- 2 64 128 256
work=$builddir/bench/work-kmap-vm
mkdir -p "$work"
echo "| possible CPUs | flow_table | flow_list | flow maps, bytes per flow | all of the flow program's maps, bytes per flow | total MiB |"
echo "|---:|---:|---:|---:|---:|---:|"
for n in "$@"; do
	rc=0
	XF_VM_SMP="2,maxcpus=$n" XF_VM_MEM=4G XF_SRCDIR=$srcdir XF_BUILDDIR=$builddir \
		sh "$srcdir/tests/vm/run-vm.sh" -k "${XF_VM_KERNEL:-newest}" -t 300 -w "$work/$n" \
		"$here/kmap_vm.sh" guest >"$work/$n.log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		echo "| $n | run-vm failed ($rc), see $work/$n.log | | | | |"
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
by = {m['name']: m for m in mine}
flows = 65536
ft, fl = by['flow_table']['bytes_memlock'], by['flow_list']['bytes_memlock']
total = sum(m['bytes_memlock'] for m in mine)
possible = open(out + '/possible').read().strip()
print(f"| {n} ({possible}) | {ft / 2**20:.2f} MiB | {fl / 2**10:.0f} KiB | {(ft + fl) / flows:.1f} | "
      f"{total / flows:.1f} | {total / 2**20:.2f} |")
PY
done
