#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The container image (packaging/container/build.sh) run as the DaemonSet in
# deploy/kubernetes/ runs it: in the network namespace of the "node" (here a
# namespace this test creates and passes to podman, --network ns:PATH: the
# node's interfaces and its loopback, as hostNetwork gives a pod), only the
# capabilities the daemon needs (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN; all
# others dropped), the root file system read-only, /sys/kernel/btf and the
# config mounted read-only (in a ConfigMap volume's layout), a machine id
# over /etc/machine-id as the node's (observation_domain_id "auto"). Known traffic
# crosses the node's veth; a local nfcapd on the node's loopback must decode
# exactly those flows, and the DaemonSet's probes (GET /healthz and /readyz
# at 127.0.0.1, metrics_listen) sent from the node's namespace as the
# kubelet sends them must answer 200. The
# timeouts are an hour, so every flow is still in the cache when
# `podman stop` sends SIGTERM: the flows nfcapd holds afterwards are the ones
# the daemon exported on its way out, and they must all be there, exactly.
#
# The image is built from the .deb the other packaging tests share
# (XF_PKG_OUT); build.sh reuses its Debian base image while the .deb's
# Depends do not change, so a run costs the base once (mmdebstrap, 20 s to
# minutes) and then seconds.
#
# Needs root (netns, podman's system store), podman with runc, mmdebstrap,
# buildah. podman's crun refuses this sandbox's hybrid cgroup layout, and
# the sandbox has no CAP_SYS_RESOURCE to raise rlimits, hence --runtime runc
# and --ulimit at the current hard limits.
# Network: two namespaces joined by a veth pair, 198.18.0.1/24 (the node)
# and 198.18.0.2/24 (its peer). Nothing leaves the machine.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd podman buildah mmdebstrap runc ip nfcapd nfdump ping python3 tc

deb=$(built_deb) || { fail "build-deb.sh"; finish; }
image=$("$XF_SRCDIR/packaging/container/build.sh" --deb "$deb" --tag localhost/xlatflow-test:latest \
	2>"$XF_PKG_OUT/image-build.log")
if [ $? -eq 0 ]; then
	pass "build.sh built or reused $image: $(tail -n 1 "$XF_PKG_OUT/image-build.log")"
else
	fail "build.sh failed:"
	sed 's/^/#   /' "$XF_PKG_OUT/image-build.log"
	finish
fi

# What the image holds: the package's own daemon and nothing to install
# more with.
out=$(podman run --rm --runtime runc --network none --ulimit "nofile=$(ulimit -Hn)" \
	--ulimit nproc=4096 --entrypoint /bin/sh "$image" -c \
	'xlatflowd --version; dpkg-query -W -f "\${Version}\n" xlatflow;
	 command -v apt-get || echo no-apt' 2>&1)
check_eq "image: xlatflowd --version, package version, no apt" \
"xlatflowd $(source_version)
$(dpkg-deb -f "$deb" Version)
no-apt" "$out"

work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-ctr.XXXXXX")
on_exit "rm -rf '$work'"
node=xfctr-node-$$
peer=xfctr-peer-$$
ip netns add "$node" && ip netns add "$peer" || { fail "create network namespaces"; finish; }
on_exit "ip netns del '$node' 2>/dev/null; ip netns del '$peer' 2>/dev/null"
ip -n "$node" link set lo up
ip -n "$peer" link set lo up
ip -n "$node" link add xfcn type veth peer name xfcp netns "$peer"
for ns in "$node:xfcn:198.18.0.1" "$peer:xfcp:198.18.0.2"; do
	n=${ns%%:*}; rest=${ns#*:}; dev=${rest%%:*}; addr=${rest#*:}
	# No IPv6 on the link: router solicitations and MLD reports would add
	# flows the test does not count.
	ip netns exec "$n" sysctl -q -w "net.ipv6.conf.$dev.disable_ipv6=1"
	ip -n "$n" addr add "$addr/24" dev "$dev"
	ip -n "$n" link set "$dev" up
done

port=$((20000 + $$ % 10000))
mkdir -p "$work/flows"
ip netns exec "$node" nfcapd -w "$work/flows" -b 127.0.0.1 -p "$port" -t 3600 \
	> "$work/nfcapd.log" 2>&1 &
nfcapd_pid=$!
on_exit "kill $nfcapd_pid 2>/dev/null"

# The DaemonSet's settings, with this test's interface and collector; the
# timeouts keep every flow in the cache until the stop. Laid out as the
# kubelet lays out a ConfigMap volume (the key a symbolic link through
# ..data to a timestamped directory, mode 0400 as the DaemonSet's
# defaultMode): the daemon must follow it and accept the mode.
mkdir -p "$work/config/..2026_01_01_00_00_00.000000000"
ln -s ..2026_01_01_00_00_00.000000000 "$work/config/..data"
ln -s ..data/xlatflowd.conf "$work/config/xlatflowd.conf"
cat > "$work/config/..data/xlatflowd.conf" <<EOF
interfaces = { include = [ "xfcn" ]; };
collectors = ( { url = "udp://127.0.0.1:$port"; } );
active_timeout = 3600;
idle_timeout = 3600;
nat_hook = "auto";
max_flows = 262144;
kernel_max_flows = 16384;
max_translations = 262144;
metrics_listen = "127.0.0.1:$((port + 1))";
observation_domain_id = "auto";
EOF
chmod 0400 "$work/config/..data/xlatflowd.conf"
# The runtime's default seccomp profile allows bpf(2) and perf_event_open(2)
# only with CAP_SYS_ADMIN; this one allows them with CAP_BPF / CAP_PERFMON.
python3 "$XF_SRCDIR/packaging/container/seccomp-profile.py" > "$work/seccomp.json" ||
	{ fail "seccomp-profile.py"; finish; }

# The node's identity: a machine id of the test's, mounted read-only over
# the image's /etc/machine-id as the DaemonSet mounts the host's. The
# domain it must give, computed here as docs/collectors.md says.
mid=5f3d1c2b0a9e48d7b6c5a4f3e2d1c0b9
echo "$mid" > "$work/machine-id"
domain=$(python3 -c 'import hashlib, hmac, sys
d = int(hmac.new(bytes.fromhex(sys.argv[1]), b"xlatflow observation domain", hashlib.sha256).hexdigest()[:8], 16)
print(d or 1)' "$mid")

ctr=xlatflow-test-$$
on_exit "podman rm -f '$ctr' >/dev/null 2>&1"
podman run -d --name "$ctr" --runtime runc \
	--ulimit "nofile=$(ulimit -Hn)" --ulimit nproc=4096 \
	--network "ns:/run/netns/$node" \
	--cap-drop=all --cap-add=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN \
	--security-opt "seccomp=$work/seccomp.json" \
	--read-only \
	-v /sys/kernel/btf:/sys/kernel/btf:ro \
	-v "$work/machine-id:/etc/machine-id:ro" \
	-v "$work/config:/etc/xlatflow:ro" \
	"$image" > "$work/podman-run.log" 2>&1
check_eq "podman run -d exits 0" 0 "$?"

# Ready when its TC programs are on the interface (both directions).
attached=no
for _ in $(seq 1 100); do
	if ip netns exec "$node" tc filter show dev xfcn ingress | grep -q bpf &&
		ip netns exec "$node" tc filter show dev xfcn egress | grep -q bpf; then
		attached=yes
		break
	fi
	[ "$(podman inspect --format '{{.State.Running}}' "$ctr" 2>/dev/null)" = true ] || break
	sleep 0.1
done
check_eq "the daemon in the container attached TC programs to the node's xfcn" yes "$attached"

# After setup the daemon keeps only CAP_NET_ADMIN (bit 12), as on a host.
pid=$(podman inspect --format '{{.State.Pid}}' "$ctr" 2>/dev/null)
check_eq "the daemon's effective capabilities after setup: CAP_NET_ADMIN only" \
	0000000000001000 "$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)"

# The container's memory cgroup (the BPF maps are charged to it) holds no
# more after start than docs/kubernetes.md's "at start" figure for the
# config's sizes (the DaemonSet's) and this machine's possible CPUs: the
# figure the DaemonSet's memory request and limit are computed from.
used=
if [ "${pid:-0}" -gt 0 ]; then
	cg=$(sed -n 's/^[0-9]*:memory:\(.*\)/\1/p' "/proc/$pid/cgroup")
	if [ -n "$cg" ]; then
		used=$(cat "/sys/fs/cgroup/memory$cg/memory.usage_in_bytes")
	else
		used=$(cat "/sys/fs/cgroup$(sed -n 's/^0::\(.*\)/\1/p' "/proc/$pid/cgroup")/memory.current")
	fi
fi
cpus=$(awk -F- '{ print $NF + 1 }' /sys/devices/system/cpu/possible)
bound=$(python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
import k8s_manifests
print(k8s_manifests.fixed_at(open(sys.argv[2]).read(), int(sys.argv[3])))
' "$XF_SRCDIR/tests/integration" "$work/config/..data/xlatflowd.conf" "$cpus")
if [ -n "$used" ] && [ -n "$bound" ] && [ "$used" -le "$bound" ]; then
	pass "memory cgroup after start: $((used / 1024)) KiB <= $((bound / 1024)) KiB ($cpus CPUs)"
else
	fail "memory cgroup after start: '$used' bytes, more than the '$bound' docs/kubernetes.md allows"
fi

# The DaemonSet's probes as the kubelet sends them: from the node's network
# namespace (which a hostNetwork pod shares) to host 127.0.0.1, the
# daemon's metrics_listen. The image has no HTTP client; the node does.
probes=$(ip netns exec "$node" python3 -c '
import sys, urllib.request
for path in ("/healthz", "/readyz"):
    try:
        r = urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], path), timeout=5)
        print(path, r.status, r.read().decode().strip())
    except Exception as e:
        print(path, e)
' "$((port + 1))" 2>&1)
check_eq "livenessProbe and readinessProbe (httpGet host 127.0.0.1) from the node's namespace" \
"/healthz 200 ok
/readyz 200 ready" "$probes"

if [ "$attached" = yes ]; then
	# 7 echo requests in, 7 replies out; 5 UDP datagrams of 100 bytes to a
	# socket on the node (bound first: a closed port would add ICMP errors).
	ip netns exec "$node" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.1", 5001))
print("bound", flush=True)
s.settimeout(10)
for _ in range(5):
    s.recv(2048)
' > "$work/udp-server.log" 2>&1 &
	server=$!
	for _ in $(seq 1 50); do grep -q bound "$work/udp-server.log" && break; sleep 0.1; done
	ip netns exec "$peer" ping -q -c 7 -i 0.2 -W 2 198.18.0.1 > "$work/ping.log" 2>&1
	check_eq "ping 198.18.0.1 from the peer" 0 "$?"
	ip netns exec "$peer" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.2", 40001))
for _ in range(5):
    s.sendto(b"x" * 100, ("198.18.0.1", 5001))
'
	wait "$server"
	check_eq "the node received the 5 datagrams" 0 "$?"
	# The flows wait in the kernel's slots and the cache (an hour's
	# timeouts); one drain interval moves them to the cache.
	sleep 1.5
fi

# SIGTERM (the image's STOPSIGNAL, what the kubelet sends): every cached
# flow is exported, then the daemon exits 0, well within podman's 10 s.
podman stop -t 10 "$ctr" > /dev/null 2>&1
check_eq "podman stop: the daemon exits 0 on SIGTERM (not killed after 10 s)" 0 \
	"$(podman inspect --format '{{.State.ExitCode}}' "$ctr")"
podman logs "$ctr" > "$work/xlatflowd.log" 2>&1
check_eq "the daemon exported its cached flows on the stop" \
	"exporting 3 cached flows" "$(grep -o 'exporting [0-9]* cached flows' "$work/xlatflowd.log")"
sleep 0.5
stop_pid "$nfcapd_pid" TERM 10
check "the daemon took observation domain $domain from the mounted machine id" \
	grep -q "observation domain $domain (from /etc/machine-id)" "$work/xlatflowd.log"
check_eq "nfcapd saw one exporter, observation domain $domain" \
	"Observation domain $domain from: 127.0.0.1" \
	"$(grep -o 'Observation domain [0-9]* from: [0-9.]*' "$work/nfcapd.log" | sort -u)"

# Every flow nfcapd decoded, per direction: protocol (1 ICMP, 17 UDP), addresses, destination
# port (nfdump writes an ICMP type.code there), packets, bytes. An echo
# request or reply of ping's 56-byte payload is 84 bytes at L3, a datagram
# of 100 bytes 128.
flows=$(nfdump -R "$work/flows" -q -N -o 'fmt:%pr %sa %da %dp %pkt %byt' 2>&1 |
	awk '{ key = $1 " " $2 " " $3 " " $4; pkts[key] += $5; bytes[key] += $6 }
	     END { for (k in pkts) print k, pkts[k], bytes[k] }' | sort)
check_eq "nfdump decoded exactly the node's flows" \
"1 198.18.0.1 198.18.0.2 0.0 7 588
1 198.18.0.2 198.18.0.1 8.0 7 588
17 198.18.0.2 198.18.0.1 5001 5 640" "$flows"
if [ "$xf_failures" -gt 0 ]; then
	echo "# podman run:"; sed 's/^/#   /' "$work/podman-run.log"
	echo "# xlatflowd log:"; sed 's/^/#   /' "$work/xlatflowd.log"
	echo "# nfcapd log:"; sed 's/^/#   /' "$work/nfcapd.log"
fi
finish
