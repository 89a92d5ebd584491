# SPDX-License-Identifier: GPL-2.0-only
# Shared helpers for the packaging tests (sourced, not run).
# These tests build real packages and install them on this machine, so they
# are slow and run from .ci/run on their own, not from `make check`.
#
# XF_PKG_OUT   where built packages go (default: a fresh temp dir); a test
#              reuses a tarball/.deb/.rpm already there instead of rebuilding.

XF_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
XF_PKG_OUT=${XF_PKG_OUT:-}
if [ -z "$XF_PKG_OUT" ]; then
	XF_PKG_OUT=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-pkg.XXXXXX")
	xf_own_out=1
fi
mkdir -p "$XF_PKG_OUT"
XF_PKG_OUT=$(cd "$XF_PKG_OUT" && pwd)
xf_failures=0
xf_checks=0
xf_cleanups=

# skip "reason": exit 77, the Automake code for a skipped test
skip() {
	echo "SKIP: $*"
	exit 77
}

# Register a command to run at exit (last registered runs first).
on_exit() {
	xf_cleanups="$*; $xf_cleanups"
}

xf_exit() {
	rc=$?
	eval "$xf_cleanups" || :
	if [ "${xf_own_out:-0}" = 1 ] && [ "${XF_KEEP:-0}" != 1 ]; then
		rm -rf "$XF_PKG_OUT"
	fi
	exit $rc
}
trap xf_exit EXIT
trap 'exit 130' INT TERM HUP PIPE

pass() {
	xf_checks=$((xf_checks + 1))
	echo "ok $xf_checks - $*"
}

fail() {
	xf_checks=$((xf_checks + 1))
	xf_failures=$((xf_failures + 1))
	echo "not ok $xf_checks - $*"
}

# check "description" command...: pass if the command succeeds
check() {
	desc=$1
	shift
	if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# check_eq "description" expected actual
check_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1: expected '$2', got '$3'"
	fi
}

# Print "N passed, N failed" and exit 0 only if nothing failed.
finish() {
	echo "$((xf_checks - xf_failures)) passed, $xf_failures failed"
	[ "$xf_failures" -eq 0 ]
	exit $?
}

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

need_cmd() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "needs $c (not installed)"
	done
}

# The release tarball, made once per XF_PKG_OUT.
dist_tarball() {
	t=$(ls "$XF_PKG_OUT"/xlatflow-*.tar.gz 2>/dev/null | head -n 1)
	if [ -z "$t" ]; then
		t=$("$XF_SRCDIR/packaging/dist-tarball.sh" "$XF_PKG_OUT") || return 1
	fi
	echo "$t"
}

built_deb() {
	d=$(ls "$XF_PKG_OUT"/xlatflow_*.deb 2>/dev/null | head -n 1)
	if [ -z "$d" ]; then
		t=$(dist_tarball) || return 1
		"$XF_SRCDIR/packaging/build-deb.sh" "$XF_PKG_OUT" "$t" >/dev/null || return 1
		d=$(ls "$XF_PKG_OUT"/xlatflow_*.deb | head -n 1)
	fi
	echo "$d"
}

built_rpm() {
	r=$(ls "$XF_PKG_OUT"/xlatflow-[0-9]*.rpm 2>/dev/null | head -n 1)
	if [ -z "$r" ]; then
		t=$(dist_tarball) || return 1
		"$XF_SRCDIR/packaging/build-rpm.sh" "$XF_PKG_OUT" "$t" >/dev/null || return 1
		r=$(ls "$XF_PKG_OUT"/xlatflow-[0-9]*.rpm | head -n 1)
	fi
	echo "$r"
}

# The version configure.ac declares: what every package must carry.
source_version() {
	sed -n 's/^AC_INIT(\[xlatflow\], \[\([^]]*\)\].*/\1/p' "$XF_SRCDIR/configure.ac"
}

# stop_pid PID SIGNAL SECONDS: send SIGNAL, wait up to SECONDS for the
# process (a child of this shell) to exit, SIGKILL it after that. Sets
# stop_status to its exit status, or to "timeout". (Not for use inside $(...):
# only the shell that started the process can wait for it.)
stop_pid() {
	kill -"$2" "$1" 2>/dev/null
	n=$(($3 * 10))
	while [ "$n" -gt 0 ]; do
		# a zombie still answers kill -0; ps tells it apart
		case $(ps -o stat= -p "$1" 2>/dev/null) in ''|Z*) break ;; esac
		sleep 0.1
		n=$((n - 1))
	done
	if [ "$n" -eq 0 ]; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		stop_status=timeout
		return
	fi
	wait "$1"
	stop_status=$?
}
