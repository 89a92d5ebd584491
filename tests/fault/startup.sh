#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Start-up safety, each part with exact outcomes:
#  1. SIGTERM at every point of start-up: the daemon (16 interfaces, NAT
#     source auto) is sent SIGTERM from 0 ms to past its readiness, in small
#     steps. Every run must leave no tc filter and no clsact qdisc on any of
#     the interfaces, and exit 0 ("exporting cached flows and exiting"), or,
#     when the signal came before the daemon blocked it (then it has set up
#     nothing and printed nothing), die by SIGTERM.
#  2. A capability drop that fails (capset refused, or faked, by a seccomp
#     filter: tests/tools/xf-deny-syscall) stops the daemon with status 1,
#     its filters detached; with allow_capabilities_kept = true it runs on
#     with its capabilities, says so, and stops cleanly.
#  3. The pid file: a symbolic link at its path is refused before anything
#     is attached; a second daemon with the pid file of a running one exits
#     1 naming the pid file and the running pid, while the first keeps
#     running with its filters; a relative --pidfile is refused.
#  4. The start-up log: with the NAT source auto (fentry and kprobe refused
#     on hosts like the CI machines) and an interface that already has a
#     clsact qdisc, the default level shows one line per skipped hook and
#     no libbpf text; -v shows libbpf's.
XF_TEST=su
source "$(dirname "$0")/../integration/lib.sh"
need_root
need_cmd tc ip
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
DENY=$abs_top_builddir/tests/tools/xf-deny-syscall
[ -x "$DENY" ] || fail "$DENY not built"

NIF=16
B=$(ns_add b)
for i in $(seq 0 $((NIF - 1))); do
	ip -n "$B" link add "vb$i" type veth peer name "va$i"
	ip -n "$B" link set "vb$i" up
	ip -n "$B" link set "va$i" up
done
# nothing listens there: the exporter's datagrams are refused, which is fine
port=$(free_port)
COMMON=(--interface 'vb*' --collector "udp://127.0.0.1:$port")

# leftovers: every tc filter and clsact qdisc on the vb* interfaces (nothing when clean)
leftovers() {
	local i
	for i in $(seq 0 $((NIF - 1))); do
		tc -n "$B" filter show dev "vb$i" ingress | sed "s/^/vb$i ingress: /"
		tc -n "$B" filter show dev "vb$i" egress | sed "s/^/vb$i egress: /"
		tc -n "$B" qdisc show dev "vb$i" | sed -n "/clsact/s/^/vb$i: /p"
	done
}

# attached: how many vb* interfaces have both of our filters
attached() {
	local i n=0
	for i in $(seq 0 $((NIF - 1))); do
		tc -n "$B" filter show dev "vb$i" ingress | grep -q xf_tc_ingress &&
			tc -n "$B" filter show dev "vb$i" egress | grep -q xf_tc_egress && n=$((n + 1))
	done
	echo $n
}

assert_clean() { # WHAT
	local left
	left=$(leftovers)
	[ -z "$left" ] || fail "$1: left behind:"$'\n'"$left"
}

# wait_child PID TIMEOUT_S: wait for our child PID; its exit status in RC
wait_child() {
	local i
	for i in $(seq 1 $(($2 * 20))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$1" 2>/dev/null &&
		fail "pid $1 still running after $2 s (state $(awk '{print $3}' "/proc/$1/stat"))," \
			"in: $(tr '\n' ' ' <"/proc/$1/stack" 2>/dev/null)"
	RC=0
	wait "$1" || RC=$?
}

# wait_gone PID TIMEOUT_S: wait for a process that is not our child to exit
wait_gone() {
	local i
	for i in $(seq 1 $(($2 * 20))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	fail "pid $1 still running after $2 s"
}

# wait_log FILE PATTERN TIMEOUT_S
wait_log() {
	local i
	for i in $(seq 1 $(($3 * 50))); do
		grep -q -- "$2" "$1" && return 0
		sleep 0.02
	done
	fail "timed out waiting for '$2' in $1: $(cat "$1")"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- 1. SIGTERM during start-up ----------------------------------------------
# The last line of the start-up summary says the daemon is in its event loop.
READY="^timeouts: "
t0=$(now_ms)
ip netns exec "$B" "$XLATFLOWD" --foreground "${COMMON[@]}" >"$WORK/ref.log" 2>&1 &
pid=$!
XF_PIDS+=("$pid")
wait_log "$WORK/ref.log" "$READY" 30
ready_ms=$(($(now_ms) - t0))
[ "$(attached)" -eq $NIF ] || fail "reference run: $(attached) of $NIF interfaces attached"
kill -TERM "$pid"
wait_child "$pid" 30
[ "$RC" -eq 0 ] || fail "reference run: exit $RC on SIGTERM"
assert_clean "reference run"
echo "reference start-up: ready after $ready_ms ms"

# -v: libbpf's debug lines start with the first BPF load, so a daemon that a
# signal kills during setup has printed something. Up to twice the reference
# start-up time: the machine is shared and start-up times vary.
step=$((ready_ms / 30))
[ $step -ge 2 ] || step=2
early=0 clean=0 in_setup=0 runs=0
for delay in 0 1 2 $(seq 4 "$step" $((ready_ms * 2))); do
	ip netns exec "$B" "$XLATFLOWD" --foreground -v "${COMMON[@]}" >"$WORK/kill.log" 2>&1 &
	pid=$!
	XF_PIDS+=("$pid")
	sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
	kill -TERM "$pid"
	wait_child "$pid" 30
	runs=$((runs + 1))
	case $RC in
	0)
		grep -q "Terminated: exporting cached flows and exiting" "$WORK/kill.log" ||
			fail "SIGTERM after $delay ms: exit 0 without stopping on the signal"
		clean=$((clean + 1))
		[ "$delay" -lt $((ready_ms * 3 / 4)) ] && in_setup=$((in_setup + 1))
		;;
	143)
		# killed by the signal itself: only before it was blocked, with
		# nothing set up yet (and so nothing printed)
		[ -s "$WORK/kill.log" ] &&
			fail "SIGTERM after $delay ms killed the daemon during setup" \
				"($(wc -l <"$WORK/kill.log") lines printed); left behind: $(leftovers | wc -l) filters and qdiscs"
		early=$((early + 1))
		;;
	*) fail "SIGTERM after $delay ms: exit $RC" ;;
	esac
	assert_clean "SIGTERM after $delay ms (exit $RC)"
done
echo "SIGTERM during start-up: $runs runs, $clean stopped cleanly (exit 0; $in_setup of them" \
	"signalled well before ready), $early killed before setup; nothing left behind"
# the runs must have hit the setup itself, not only its two ends
[ $in_setup -ge 5 ] || fail "only $in_setup signals landed during setup"
echo "ok SIGTERM during start-up"

# --- 2. capability drop ------------------------------------------------------
for how in "1|capset: Operation not permitted" "0|capabilities still held after capset"; do
	errno=${how%%|*}
	want=${how#*|}
	ip netns exec "$B" "$DENY" capset "$errno" "$XLATFLOWD" --foreground "${COMMON[@]}" \
		--nat-hook off >"$WORK/capset.log" 2>&1 &
	pid=$!
	XF_PIDS+=("$pid")
	wait_child "$pid" 30
	[ "$RC" -eq 1 ] || fail "capset errno $errno: exit $RC, not 1: $(cat "$WORK/capset.log")"
	grep -qF "dropping capabilities failed ($want" "$WORK/capset.log" ||
		fail "capset errno $errno: no '$want' message: $(cat "$WORK/capset.log")"
	grep -qF "stopping. Set allow_capabilities_kept = true to run with them" "$WORK/capset.log" ||
		fail "capset errno $errno: the message does not name the key: $(cat "$WORK/capset.log")"
	assert_clean "refused capability drop (errno $errno)"
	echo "ok capability drop refused (capset errno $errno): exit 1, nothing left behind"
done

printf 'allow_capabilities_kept = true;\n' >"$WORK/allow.conf"
chmod 600 "$WORK/allow.conf"
ip netns exec "$B" "$DENY" capset 1 "$XLATFLOWD" --foreground --config "$WORK/allow.conf" \
	"${COMMON[@]}" --nat-hook off >"$WORK/allow.log" 2>&1 &
pid=$!
XF_PIDS+=("$pid")
wait_log "$WORK/allow.log" "$READY" 30
grep -qF "dropping capabilities failed (capset: Operation not permitted); running with them (allow_capabilities_kept = true)" \
	"$WORK/allow.log" || fail "allowed: no warning: $(cat "$WORK/allow.log")"
eff=$(awk '$1 == "CapEff:" {print $2}' "/proc/$pid/status")
# CAP_BPF (39) is still there: the drop really did not happen
[ $((0x$eff >> 39 & 1)) -eq 1 ] || fail "allowed: CapEff $eff lacks CAP_BPF"
[ "$(attached)" -eq $NIF ] || fail "allowed: $(attached) of $NIF interfaces attached"
kill -TERM "$pid"
wait_child "$pid" 30
[ "$RC" -eq 0 ] || fail "allowed: exit $RC on SIGTERM"
assert_clean "allowed capability drop failure"
echo "ok allow_capabilities_kept = true: runs on (CapEff $eff), stops cleanly"

# --- 3. pid file --------------------------------------------------------------
ln -s "$WORK/target" "$WORK/link.pid"
RC=0
ip netns exec "$B" "$XLATFLOWD" "${COMMON[@]}" --pidfile "$WORK/link.pid" \
	>"$WORK/link.out" 2>"$WORK/link.err" || RC=$?
[ $RC -eq 1 ] || fail "symlinked pid file: exit $RC, not 1"
grep -qxF "xlatflowd: pid file $WORK/link.pid is a symbolic link; not following it" \
	"$WORK/link.err" || fail "symlinked pid file: stderr: $(cat "$WORK/link.err")"
[ ! -e "$WORK/target" ] || fail "the symbolic link was followed"
assert_clean "symlinked pid file"
echo "ok pid file: a symbolic link is refused before setup"

pidfile=$WORK/xlatflowd.pid
ip netns exec "$B" "$XLATFLOWD" "${COMMON[@]}" --pidfile "$pidfile" 2>"$WORK/first.err" ||
	fail "first daemon: exit $?: $(cat "$WORK/first.err")"
for _ in $(seq 1 200); do
	[ -s "$pidfile" ] && [ "$(attached)" -eq $NIF ] && break
	sleep 0.05
done
first=$(cat "$pidfile")
XF_PIDS+=("$first")
kill -0 "$first" || fail "pid $first from the pid file is not running"
[ "$(attached)" -eq $NIF ] || fail "first daemon: $(attached) of $NIF interfaces attached"
before=$(leftovers)
RC=0
ip netns exec "$B" "$XLATFLOWD" "${COMMON[@]}" --pidfile "$pidfile" \
	>"$WORK/second.out" 2>"$WORK/second.err" || RC=$?
[ $RC -eq 1 ] || fail "second daemon: exit $RC, not 1"
grep -qxF "xlatflowd: pid file $pidfile is locked by xlatflowd pid $first, which is running; not starting a second instance" \
	"$WORK/second.err" || fail "second daemon: stderr: $(cat "$WORK/second.err")"
sleep 0.5
kill -0 "$first" || fail "the first daemon died"
[ "$(cat "$pidfile")" = "$first" ] || fail "the pid file now says $(cat "$pidfile")"
[ "$(leftovers)" = "$before" ] || fail "the second daemon changed the first one's filters"
kill -TERM "$first"
wait_gone "$first" 30
[ ! -e "$pidfile" ] || fail "pid file left behind"
assert_clean "first daemon stopped"
echo "ok pid file: a second instance exits 1 naming pid $first; the first runs on"

RC=0
"$XLATFLOWD" "${COMMON[@]}" --pidfile x.pid >/dev/null 2>"$WORK/rel.err" || RC=$?
[ $RC -eq 1 ] && grep -qxF "xlatflowd: --pidfile: 'x.pid' must be an absolute path or \"\"" \
	"$WORK/rel.err" || fail "relative --pidfile: exit $RC: $(cat "$WORK/rel.err")"
echo "ok pid file: a relative --pidfile is refused"

# --- 4. start-up log ----------------------------------------------------------
# vc0 has a clsact qdisc already, as Cilium or another tool would leave it:
# creating it again fails, expectedly, and libbpf says so.
ip -n "$B" link add vc0 type veth peer name vd0
ip -n "$B" link set vc0 up
ip -n "$B" link set vd0 up
tc -n "$B" qdisc add dev vc0 clsact
for verbose in "" -v; do
	log=$WORK/log${verbose}.log
	ip netns exec "$B" "$XLATFLOWD" --foreground $verbose --interface vc0 \
		--collector "udp://127.0.0.1:$port" >"$log" 2>&1 &
	pid=$!
	XF_PIDS+=("$pid")
	wait_log "$log" "$READY" 30
	kill -TERM "$pid"
	wait_child "$pid" 30
	[ "$RC" -eq 0 ] || fail "log${verbose}: exit $RC"
	chosen=$(sed -n 's/^NAT translations: \(fentry\|kprobe\|conntrack\)$/\1/p' "$log")
	[ -n "$chosen" ] || fail "log${verbose}: no NAT source chosen: $(cat "$log")"
	for hook in fentry kprobe; do
		[ "$hook" = "$chosen" ] && break
		n=$(grep -c "^NAT translations: $hook unavailable: " "$log" || true)
		[ "$n" -eq 1 ] || fail "log${verbose}: $n lines for the skipped $hook hook"
	done
	nlib=$(grep -c "libbpf" "$log" || true)
	if [ -z "$verbose" ]; then
		[ "$nlib" -eq 0 ] || fail "libbpf text at the default level: $(grep libbpf "$log")"
	else
		[ "$nlib" -gt 0 ] || fail "-v shows no libbpf text"
		if [ "$chosen" != fentry ]; then
			grep -q "^libbpf: .*xf_nat_fentry" "$log" || fail "-v: no libbpf line on the fentry probe"
		fi
	fi
	echo "ok start-up log${verbose:+ with -v}: NAT source $chosen, $nlib libbpf lines," \
		"$(grep -c '^NAT translations: .* unavailable: ' "$log" || true) skipped-hook lines"
done
tc -n "$B" filter show dev vc0 ingress | grep -q . && fail "filters left on vc0"
echo "PASS: startup"
