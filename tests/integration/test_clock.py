"""Clock faults: tokend's wall clock is stepped under it while the issuer
is down, and no step stretches a value's life (issue 13).

tokend runs under tests/tools/clockshift.c, an LD_PRELOAD shim (built
here with cc) that moves CLOCK_REALTIME, gettimeofday() and time() by the
number of seconds written in a file. Monotonic clocks (CLOCK_MONOTONIC,
CLOCK_BOOTTIME) are not moved, as a real step leaves them. What the shim
cannot fake: a suspend (CLOCK_BOOTTIME and CLOCK_REALTIME jumping
together) and the kernel's TFD_TIMER_CANCEL_ON_SET notice that the clock
was set; so these tests show the clock-independent deadline and the
catch-up a read triggers, not the timerfd path.
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness import wait_for

TOOLS = Path(__file__).resolve().parent.parent / "tools"

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs cc for the shim")

CONF = """
[daemon]
socket = {{socket}}
log_level = debug
startup_timeout = 20s

[token "api"]
type = oauth2
token_url = {url}
client_id = {cid}
client_secret = {secret}
refresh_before = {rb}
jitter = 0s
min_remaining = 2s
"""


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    out = tmp_path_factory.mktemp("clockshift") / "clockshift.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(out),
                    str(TOOLS / "clockshift.c"), "-ldl"], check=True)
    return out


def start(tokend_factory, issuer, shim, tmp_path, rb):
    offset = tmp_path / "clock-offset"
    offset.write_text("0\n")
    env = {"LD_PRELOAD": str(shim), "CLOCKSHIFT_FILE": str(offset),
           # an ASan build wants its runtime first; the shim only wraps clocks
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    conf = CONF.format(url=issuer.token_url, cid=issuer.client_id,
                       secret=issuer.client_secret, rb=rb)
    return tokend_factory(conf, env=env), offset


def step(offset, seconds):
    offset.write_text(f"{seconds}\n")
    time.sleep(0.05)  # the shim re-reads the file every 20 ms


def get(tokend):
    status, doc = tokend.get_json("/v1/tokens/api")
    return status, doc, time.time()


def summary(tokend):
    return tokend.get_json("/v1/tokens")[1]["tokens"][0]


def test_step_back_never_stretches_a_value(issuer, tokend_factory, shim, tmp_path):
    """Wall clock 600 s back with the issuer down: the value is dropped when
    its real life (less min_remaining) is over, not 600 s later, and
    expires_in never claims more than the real time left."""
    issuer.set_expires_in(12)
    tokend, offset = start(tokend_factory, issuer, shim, tmp_path, rb="4s")
    status, doc, t0 = get(tokend)
    assert status == 200
    real_exp = doc["expires_at"] + 1  # expires_at is whole seconds, rounded down
    issuer.stop()
    step(offset, -600)
    served = []
    deadline = real_exp + 5
    while time.time() < deadline:
        status, doc, now = get(tokend)
        if status != 200:
            break
        served.append(now)
        assert now < real_exp - 1, f"served {now - real_exp + 2:.2f} s past min_remaining"
        assert doc["expires_in"] <= real_exp - now + 1, (doc["expires_in"], real_exp - now)
        # Whatever expires_at says, it is no later than the real expiry.
        assert doc["expires_at"] - 600 <= real_exp
        time.sleep(0.1)  # a polling client's pace
    else:
        pytest.fail("still served 5 s after the real expiry")
    assert status == 503, (status, doc)
    assert served, "never served after the step"
    assert summary(tokend)["state"] != "valid"
    assert "value expired" in tokend.log_text()


def test_step_forward_drops_and_refreshes_promptly(issuer, tokend_factory, shim, tmp_path):
    """Wall clock 3,700 s forward (a suspend as the wall clock sees it) with
    the issuer down: the value is not served and not called valid; when the
    issuer is back a new value comes within seconds, not at the monotonic
    timer's time."""
    # The JWT's own exp must survive the shifted clock (the issuer's clock
    # did not move): only expires_in bounds the value.
    issuer.set_expires_in(60, jwt_exp=7200)
    tokend, offset = start(tokend_factory, issuer, shim, tmp_path, rb="10s")
    status, first, _ = get(tokend)
    assert status == 200
    issuer.stop()
    step(offset, 3700)
    status, doc, _ = get(tokend)
    assert status == 503, f"served after the wall clock passed its expiry: {doc}"
    wait_for(lambda: summary(tokend)["state"] in ("expired", "retrying"), timeout=5)
    assert "held past its expiry" in tokend.log_text()
    issuer.restart()
    issuer.set_expires_in(60, jwt_exp=7200)
    t_back = time.monotonic()

    def fresh():
        status, doc, now = get(tokend)
        return doc if status == 200 else None
    doc = wait_for(fresh, timeout=20, message="no new value after the issuer came back:\n"
                   + tokend.log_text()[-2000:])
    assert doc["version"] > first["version"]
    assert time.monotonic() - t_back < 20
    # Judged on the shifted clock, the new value has its full life.
    assert 50 <= doc["expires_in"] <= 60, doc


def test_step_forward_with_issuer_up_refreshes_at_first_read(issuer, tokend_factory, shim,
                                                             tmp_path):
    """With the issuer up, the first read after a forward step starts the
    fetch the monotonic timers would have started ~40 s later."""
    issuer.set_expires_in(60, jwt_exp=7200)
    tokend, offset = start(tokend_factory, issuer, shim, tmp_path, rb="10s")
    status, first, _ = get(tokend)
    assert status == 200
    step(offset, 3700)
    t0 = time.monotonic()

    def fresh():
        status, doc, _ = get(tokend)
        if status == 200:
            assert doc["version"] > first["version"], "the old value was served after the step"
            return doc
        return None
    doc = wait_for(fresh, timeout=5)
    assert time.monotonic() - t0 < 5
    assert 50 <= doc["expires_in"] <= 60, doc
