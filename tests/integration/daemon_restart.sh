#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A killed daemon (SIGKILL, crash) leaves its TC filters behind. The next
# start removes them before attaching its own, so exactly one xlatflow filter
# per hook runs; a clean stop then leaves none.
XF_TEST=rs
source "$(dirname "$0")/lib.sh"
need_root
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"

n=$(ns_add n)
veth_pair "$n" va "$n" vb
filters() { # DEV DIR: number of xlatflow filters
	ip netns exec "$n" tc filter show dev "$1" "$2" | grep -c "xf_tc_$2" || true
}

start_xlatflowd "$n" --interface va --collector udp://127.0.0.1:9 --nat-hook off
[ "$(filters va ingress)" = 1 ] && [ "$(filters va egress)" = 1 ] || fail "first start: not one filter per hook"
kill -KILL "$XLATFLOWD_PID"
wait "$XLATFLOWD_PID" 2>/dev/null || true
[ "$(filters va ingress)" = 1 ] || fail "SIGKILL removed the filter? ($(filters va ingress))"

start_xlatflowd "$n" --interface va --collector udp://127.0.0.1:9 --nat-hook off
[ "$(filters va ingress)" = 1 ] && [ "$(filters va egress)" = 1 ] ||
	fail "restart: $(filters va ingress) ingress / $(filters va egress) egress filters, expected 1 each"
[ "$(grep -c 'removed a leftover' "$WORK/xlatflowd.log")" = 2 ] || fail "leftovers not reported"
stop_xlatflowd
[ "$(filters va ingress)" = 0 ] && [ "$(filters va egress)" = 0 ] || fail "filters left after a clean stop"
echo "ok: leftover filters of a killed daemon removed on restart, none after a clean stop"
