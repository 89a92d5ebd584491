#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Count test results over every suite, and apply the skip policy.

A skipped test is one that did not run: in CI (CI=true), in the quick
start's test command (XF_STRICT_SKIPS=1) and with --strict, a skip fails the
run unless the test, or the sub-check, is on the allow-list
(tests/allowed-skips), each entry with its reason. A developer's plain
`make check` keeps automake's meaning of exit 77.

Results are lines "RESULT<TAB>SUITE<TAB>NAME<TAB>DETAIL" (RESULT PASS, FAIL
or SKIP), made by the collectors below from what each suite leaves behind:

  test-summary.py automake SUITE BUILDDIR [TRS...]   automake .trs and .log files
                                                     (every *.trs under BUILDDIR
                                                     when none is given)
  test-summary.py tap SUITE LOG [STATUS]             "ok N - ..." / "not ok N - ..."
                                                     lines per "=== SCRIPT" section,
                                                     "SKIP: SCRIPT" (tests/packaging/run.sh)
  test-summary.py lines SUITE LOG [STATUS]           "ok WHAT: ..." / "FAIL WHAT: ..."
                                                     (scripts/sanitize.sh)
  test-summary.py notrun SUITE NAME REASON           a suite that was not run: a skip
  test-summary.py result SUITE NAME STATUS           one check by its exit status
                                                     (77 is a skip)
  test-summary.py summary [--strict] [--allow FILE] [--unused] RESULTS...
  test-summary.py check [--strict] [--allow FILE] BUILDDIR [TRS...]
                                                     automake + summary in one go

In an automake result, a test's first ":test-result:" line is its own
(test-driver's); each further SKIP is a sub-check that the test reported
with a "SKIP-CHECK: CHECK: REASON" line (tests/skip-check-driver), named
"TEST: CHECK". summary prints the skips and failures, then
"tests: N passed, N failed, N skipped" as its last line; it exits 1 when a
test failed or, when strict, a skip is not allowed, and 2 on a malformed
allow-list.
"""
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_ALLOW = os.path.join(TOP, "tests", "allowed-skips")


def emit(out, result, suite, name, detail=""):
    clean = [str(x).replace("\t", " ").replace("\n", " ") for x in (result, suite, name, detail)]
    out.append("\t".join(clean))


def read_lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def collect_automake(suite, builddir, trs_files):
    out = []
    if not trs_files:
        for root, dirs, files in os.walk(builddir):
            # distcheck's and the fuzzer's trees are other runs
            dirs[:] = sorted(d for d in dirs if not d.startswith(("xlatflow-", "work-")))
            trs_files += [os.path.join(root, f) for f in sorted(files) if f.endswith(".trs")]
    for trs in trs_files:
        path = trs if os.path.isabs(trs) else os.path.join(builddir, trs)
        name = os.path.relpath(path, builddir)[: -len(".trs")]
        results = [l.split(":", 2)[2].split()[0] for l in read_lines(path)
                   if re.match(r"\s*:test-result:\s*\S", l)]
        if not results:
            emit(out, "FAIL", suite, name, "no result in %s (interrupted?)" % path)
            continue
        log = read_lines(path[: -len(".trs")] + ".log")
        # test-driver's last line names the test as TESTS does ("x.test"; the
        # .trs dropped the extension)
        for l in reversed(log):
            m = re.match(r"(?:PASS|FAIL|SKIP|XFAIL|XPASS|ERROR) (\S+) \(exit status: \d+\)$", l)
            if m:
                name = m.group(1)
                break
        checks = [l[len("SKIP-CHECK: "):] for l in log if l.startswith("SKIP-CHECK: ")]
        main = results[0]
        if main in ("PASS", "XFAIL"):
            emit(out, "PASS", suite, name)
        elif main == "SKIP":
            why = [l[len("SKIP: "):] for l in log if l.startswith("SKIP: ")]
            emit(out, "SKIP", suite, name, why[0] if why else "exit 77, no reason given")
        else:
            emit(out, "FAIL", suite, name, "%s, see %s.log" % (main, name))
        for i, r in enumerate(results[1:]):
            if r != "SKIP":
                emit(out, "FAIL" if r in ("FAIL", "ERROR", "XPASS") else "PASS", suite,
                     "%s: result %d" % (name, i + 2), r)
                continue
            check, _, why = (checks[i] if i < len(checks) else "check %d: ?" % (i + 1)).partition(": ")
            emit(out, "SKIP", suite, "%s: %s" % (name, check.strip()), why.strip())
    return out


def collect_tap(suite, log, status):
    out = []
    script, bad, seen = "?", 0, set()
    reason = ""
    for l in read_lines(log):
        m = re.match(r"=== (\S+)", l)
        if m:
            script, bad, reason = m.group(1), 0, ""
            continue
        m = re.match(r"(not ok|ok)\s+\d+\s*-?\s*(.*)", l)
        if m:
            desc, _, directive = m.group(2).partition("#")
            name = "%s: %s" % (script, desc.strip())
            if re.match(r"\s*SKIP", directive, re.I):
                emit(out, "SKIP", suite, name, directive.strip()[4:].strip())
            elif m.group(1) == "ok":
                emit(out, "PASS", suite, name)
            else:
                bad += 1
                emit(out, "FAIL", suite, name)
            continue
        m = re.match(r"(PASS|SKIP|FAIL): (\S+)(.*)", l)
        if m and m.group(2) == script:
            seen.add(script)
            if m.group(1) == "SKIP":
                emit(out, "SKIP", suite, script, reason or "exit 77, no reason given")
            elif m.group(1) == "FAIL" and bad == 0:
                emit(out, "FAIL", suite, script, m.group(3).strip() or "failed")
            continue
        if l.startswith("SKIP: "):
            reason = l[len("SKIP: "):]
    if status not in (None, 0) and not any(r.startswith("FAIL\t") for r in out):
        emit(out, "FAIL", suite, suite, "exit status %d" % status)
    return out


def collect_lines(suite, log, status):
    out = []
    for l in read_lines(log):
        m = re.match(r"(ok|FAIL) ([\w-]+): (.*)", l)
        if m:
            emit(out, "PASS" if m.group(1) == "ok" else "FAIL", suite,
                 "%s: %s" % (suite, m.group(2)), m.group(3))
    if status not in (None, 0) and not any(r.startswith("FAIL\t") for r in out):
        emit(out, "FAIL", suite, suite, "exit status %d" % status)
    return out


def read_allow(path):
    """{name: reason}; every entry needs its reason, as a comment on its line."""
    allow = {}
    for n, line in enumerate(read_lines(path), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        name, hash_, reason = s.partition("#")
        if not hash_ or not reason.strip():
            sys.stderr.write("%s:%d: '%s' has no reason: write it as a comment after '#'\n"
                             % (path, n, name.strip()))
            sys.exit(2)
        allow[name.strip()] = reason.strip()
    return allow


def strict_from_env():
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("XF_STRICT_SKIPS") == "1"


def summary(lines, strict, allow_path, unused):
    allow = read_allow(allow_path)
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    failed, allowed, refused, used = [], [], [], set()
    for l in lines:
        parts = l.split("\t")
        if len(parts) != 4 or parts[0] not in counts:
            continue
        result, suite, name, detail = parts
        counts[result] += 1
        where = name if suite in ("", "make check") else "%s [%s]" % (name, suite)
        if result == "FAIL":
            failed.append("%s%s" % (where, ": " + detail if detail else ""))
        elif result == "SKIP":
            if name in allow:
                used.add(name)
                allowed.append("%s: %s (allowed: %s)" % (where, detail, allow[name]))
            else:
                refused.append("%s: %s" % (where, detail))
    for s in allowed:
        print("skipped: " + s)
    for s in refused:
        print("SKIPPED, %s: %s" % ("not allowed" if strict else "not on the allow-list", s))
    for s in failed:
        print("FAILED: " + s)
    if unused:
        for name in sorted(set(allow) - used):
            print("note: %s is allowed to skip (%s) but did not" % (name, allow[name]))
    if refused and strict:
        print("%d skip(s) not on the allow-list %s: a skip fails the run here (CI=true or "
              "XF_STRICT_SKIPS=1); make the test run, or allow-list it with its reason"
              % (len(refused), os.path.relpath(allow_path)))
    skip_note = ""
    if counts["SKIP"]:
        skip_note = " (%d allowed, %d not)" % (len(allowed), len(refused))
    print("tests: %d passed, %d failed, %d skipped%s"
          % (counts["PASS"], counts["FAIL"], counts["SKIP"], skip_note))
    return 1 if failed or (refused and strict) else 0


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    strict, allow_path, unused = strict_from_env(), DEFAULT_ALLOW, False
    rest = []
    while args:
        a = args.pop(0)
        if a == "--strict":
            strict = True
        elif a == "--allow" and args:
            allow_path = args.pop(0)
        elif a == "--unused":
            unused = True
        else:
            rest.append(a)
    status = lambda i: int(rest[i]) if len(rest) > i else None
    if cmd == "automake" and len(rest) >= 2:
        out = collect_automake(rest[0], rest[1], rest[2:])
    elif cmd == "tap" and len(rest) >= 2:
        out = collect_tap(rest[0], rest[1], status(2))
    elif cmd == "lines" and len(rest) >= 2:
        out = collect_lines(rest[0], rest[1], status(2))
    elif cmd == "notrun" and len(rest) == 3:
        out = []
        emit(out, "SKIP", rest[0], rest[1], rest[2])
    elif cmd == "result" and len(rest) == 3:
        out = []
        rc = int(rest[2])
        emit(out, "PASS" if rc == 0 else "SKIP" if rc == 77 else "FAIL", rest[0], rest[1],
             "" if rc in (0, 77) else "exit status %d" % rc)
    elif cmd == "summary":
        lines = []
        for path in rest:
            lines += read_lines(path)
        return summary(lines, strict, allow_path, unused)
    elif cmd == "check" and rest:
        out = collect_automake("make check", rest[0], rest[1:])
        if not out:
            return 0
        return summary(out, strict, allow_path, unused)
    else:
        sys.stderr.write(__doc__)
        return 2
    for l in out:
        print(l)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
