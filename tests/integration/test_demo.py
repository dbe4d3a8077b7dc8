"""`make demo` is one of the README's two first-run lines: keep it working.
Runs scripts/demo.sh for a moment (DEMO_SECONDS) and checks what it shows."""
import os
import subprocess

from harness import SRCDIR


def test_demo_runs_and_shows_tokens(tokend_bin, tokenctl_bin):
    env = dict(os.environ, DEMO_SECONDS="1", TOKEND_BIN=tokend_bin, TOKENCTL_BIN=tokenctl_bin)
    for k in [k for k in env if k.startswith("AWS_")]:
        del env[k]
    res = subprocess.run(["sh", str(SRCDIR / "scripts" / "demo.sh")], env=env,
                         capture_output=True, text=True, timeout=120)
    out = res.stdout
    assert res.returncode == 0, res.stdout + res.stderr
    for name in ("demo-api", "demo-auth0-style", "orders-db", "sessions"):
        assert name in out
    assert "X-Amz-Signature=" in out and "ResourceType=ServerlessCache" in out
    # The second instance started warm: both OAuth2 tokens from SSM.
    second = out.split("second.sock list", 1)[1]
    assert second.count(" ssm") >= 2, second
    minted = [line for line in out.splitlines() if "minted" in line]
    assert minted[0].split("minted ")[1].split()[0] == minted[1].split("minted ")[1].split()[0]
    assert "demo: stopped" in out
