#!/usr/bin/env python3
"""Counts individual test cases in automake test logs (check suites and
pytest), falling back to one case per test program. Prints "PASSED FAILED"."""
import os
import re
import sys

CHECK = re.compile(r"^\d+%: Checks: (\d+), Failures: (\d+), Errors: (\d+)", re.M)
PYTEST = re.compile(r"^=*\s*(.*\d+ (?:passed|failed|error|errors|skipped).*?)\s*=*$", re.M)


def count(log, trs):
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    result = ""
    if os.path.exists(trs):
        m = re.search(r":test-result: (\w+)", open(trs).read())
        result = m.group(1) if m else ""
    if result == "SKIP":
        return 0, 0
    checks = CHECK.findall(text)
    if checks:
        p = f = 0
        for n, fails, errs in checks:
            f += int(fails) + int(errs)
            p += int(n) - int(fails) - int(errs)
        if result in ("FAIL", "ERROR") and f == 0:
            f = 1
        return p, f
    summary = PYTEST.findall(text)
    if summary:
        line = summary[-1]
        p = sum(int(n) for n in re.findall(r"(\d+) passed", line))
        f = sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)\b", line))
        if result in ("FAIL", "ERROR") and f == 0:
            f = 1
        return p, f
    return (1, 0) if result in ("PASS", "XFAIL") else (0, 1)


def main(root):
    passed = failed = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".trs"):
                base = os.path.join(dirpath, name[:-4])
                p, f = count(base + ".log", base + ".trs")
                passed += p
                failed += f
    print(passed, failed)


main(sys.argv[1])
