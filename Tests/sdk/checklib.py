"""Shared harness of the SDK compatibility checks: registration, assertions and the runner."""

import os
import sys
import traceback

BASE_URL = os.environ.get("SWITCHYARD_BASE_URL", "")
API_KEY = os.environ.get("SWITCHYARD_KEY", "")
MODEL = os.environ.get("SWITCHYARD_MODEL", "")
# A route whose target renders the prompt `sdk-prompt@1` (user template "Question from {{customer}}").
PROMPT_MODEL = os.environ.get("SWITCHYARD_PROMPT_MODEL", "sdk-prompt")

CHECKS = []


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def check(name):
    def register(fn):
        CHECKS.append((name, fn))
        return fn

    return register


def main(argv):
    """Runs the registered checks (or those named in argv); prints one line each and a total."""
    missing = [
        name
        for name, value in (("SWITCHYARD_BASE_URL", BASE_URL), ("SWITCHYARD_KEY", API_KEY), ("SWITCHYARD_MODEL", MODEL))
        if not value
    ]
    if missing:
        print(f"missing environment: {', '.join(missing)}", file=sys.stderr)
        return 2

    selected = CHECKS
    if argv:
        known = {name for name, _ in CHECKS}
        unknown = [a for a in argv if a not in known]
        if unknown:
            print(f"unknown checks: {', '.join(unknown)}; known: {', '.join(sorted(known))}", file=sys.stderr)
            return 2
        selected = [(name, fn) for name, fn in CHECKS if name in argv]

    passed = failed = 0
    for name, fn in selected:
        try:
            fn()
        except CheckFailed as e:
            failed += 1
            reason = str(e)
        except Exception as e:  # noqa: BLE001 - every check is independent
            failed += 1
            reason = f"{type(e).__name__}: {e}"
            traceback.print_exc(file=sys.stderr)
        else:
            passed += 1
            print(f"ok {name}", flush=True)
            continue
        reason = " ".join(reason.split())
        print(f"FAIL {name}: {reason}", flush=True)

    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0
