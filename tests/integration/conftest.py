"""pytest fixtures for the integration tests (see harness.py for the API).

Peers (they skip the test when node or tests/node_modules is missing),
each function-scoped, started before and stopped after the test:
    issuer, ssm, ecs, imds, sts
    creds_file: the shared credentials registry (a path); ssm, ecs, imds and
                sts all use it, so SSM accepts credentials the others issue.
tokend_factory(config, **kw) -> harness.Tokend. Every instance is stopped at
teardown; the test fails if one exited with a code outside its
expected_exit (default {0}), died on a signal, or its log shows a sanitizer
report. Tests needing TOKEND_BIN/TOKENCTL_BIN/SIGN_TOOL_BIN are skipped when
the binary is missing (fixtures tokend_bin, tokenctl_bin, sign_tool_bin).
"""

import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402


def _require(env_name):
    path = harness.binary_path(env_name)
    if not path:
        pytest.skip(f"{env_name} is not set to an executable")
    return path


@pytest.fixture(scope="session")
def node_peers():
    """Skips a test that needs a peer when node or tests/node_modules is
    missing; tests that need neither are not affected."""
    if shutil.which("node") is None or not (harness.TESTS_DIR / "node_modules").is_dir():
        pytest.skip("node or tests/node_modules is missing (run npm ci in tests/)")


@pytest.fixture
def tokend_bin():
    return _require("TOKEND_BIN")


@pytest.fixture
def tokenctl_bin():
    return _require("TOKENCTL_BIN")


@pytest.fixture
def sign_tool_bin():
    return _require("SIGN_TOOL_BIN")


@pytest.fixture
def creds_file(tmp_path):
    path = tmp_path / "aws-credentials.jsonl"
    path.touch()
    return str(path)


def _peer(cls, tmp_path, **kw):
    return cls(log_dir=tmp_path, **kw)


@pytest.fixture
def issuer(tmp_path, node_peers):
    server = _peer(harness.Issuer, tmp_path)
    yield server
    server.stop()


@pytest.fixture
def ssm(tmp_path, creds_file, node_peers):
    server = _peer(harness.SSM, tmp_path, credentials_file=creds_file)
    yield server
    server.stop()


@pytest.fixture
def ecs(tmp_path, creds_file, node_peers):
    server = _peer(harness.ECS, tmp_path, credentials_file=creds_file,
                   auth_token="tokend-test-ecs-auth")
    yield server
    server.stop()


@pytest.fixture
def imds(tmp_path, creds_file, node_peers):
    server = _peer(harness.IMDS, tmp_path, credentials_file=creds_file)
    yield server
    server.stop()


@pytest.fixture
def sts(tmp_path, creds_file, node_peers):
    server = _peer(harness.STS, tmp_path, credentials_file=creds_file,
                   expected_token="tokend-test-web-identity-token")
    yield server
    server.stop()


def _tokend_factory(tmp_path, tokend_bin):
    """Starts tokend instances for a fixture; at its end stops them and
    fails on a sanitizer report or an unexpected exit."""
    started = []

    def factory(config, workdir=None, **kw):
        workdir = workdir or tmp_path / f"tokend{len(started)}"
        try:
            instance = harness.Tokend(config, workdir, binary=tokend_bin, **kw)
        except harness.HarnessError:
            log = Path(workdir) / "tokend.log"
            if log.exists():
                sys.stderr.write(log.read_text(errors="replace"))
            raise
        started.append(instance)
        return instance

    yield factory

    problems = []
    for t in started:
        code = t.stop()
        report = t.sanitizer_report()
        if report:
            problems.append(f"tokend pid {t.pid}: sanitizer report:\n{report}")
        elif code not in t.expected_exit:
            problems.append(f"tokend pid {t.pid} exited {code} (expected {sorted(t.expected_exit)})"
                            f":\n{t.log_text()[-4000:]}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def tokend_factory(tmp_path, tokend_bin):
    yield from _tokend_factory(tmp_path, tokend_bin)


@pytest.fixture(scope="module")
def tokend_factory_module(tmp_path_factory):
    """tokend_factory for a scenario run once per module."""
    yield from _tokend_factory(tmp_path_factory.mktemp("tokend"), _require("TOKEND_BIN"))


# --- No secret in any tokend log (test_secrets.py) -------------------------
#
# Every token an issuer minted during the run is collected just before that
# issuer stops (restart() stops it too: its history dies with the process),
# and every client secret and AWS secret key a test handed out is collected
# from the configs, the issuers and the credentials registries. At session
# end each tokend.log under the run's base temp directory is searched for
# them; a hit fails the session, naming the file and the secret's sha256[:8]
# fingerprint, never the secret.

LEAK_MIN_LEN = 8  # shorter "tokens" (fault rows mint "abc def") match by chance
_leak_state = {"root": None, "minted": set(), "secrets": {harness.DEFAULT_SECRET}}
_issuer_stop = harness.Issuer.stop


def _issuer_stop_collecting(self, timeout=5.0):
    if self.proc is not None and self.proc.poll() is None:
        try:
            _leak_state["minted"].update(t for t in self.tokens() if isinstance(t, str))
        except (OSError, ValueError, harness.HarnessError):
            pass
    _leak_state["secrets"].add(self.client_secret)
    return _issuer_stop(self, timeout)


harness.Issuer.stop = _issuer_stop_collecting


@pytest.fixture(scope="session", autouse=True)
def _leak_root(tmp_path_factory):
    _leak_state["root"] = tmp_path_factory.getbasetemp()


def leak_fingerprint(value):
    import hashlib
    return hashlib.sha256(value.encode()).hexdigest()[:8]


def secrets_in_files(root):
    """Client secrets written literally in tokend configs and AWS secret keys
    of the credentials registries under root."""
    import json
    import re
    found = set()
    for conf in Path(root).rglob("tokend.conf"):
        text = conf.read_text(errors="replace")
        for m in re.finditer(r"^\s*client_secret\s*=\s*(\S.*?)\s*$", text, re.M):
            if not re.match(r"(env|file|ssm):", m.group(1)):
                found.add(m.group(1))
    for reg in Path(root).rglob("aws-credentials.jsonl"):
        for line in reg.read_text(errors="replace").splitlines():
            try:
                cred = json.loads(line)
            except ValueError:
                continue
            found.update(v for k, v in cred.items() if k in ("secret", "token") and
                         isinstance(v, str))
    return found


def find_leaks(root, secrets):
    """[(log path, fingerprint)] for every secret found in a tokend.log."""
    wanted = {s for s in secrets if isinstance(s, str) and len(s) >= LEAK_MIN_LEN}
    leaks = []
    for log in sorted(Path(root).rglob("tokend.log")):
        text = log.read_text(errors="replace")
        leaks.extend((str(log), leak_fingerprint(s)) for s in sorted(wanted) if s in text)
        # A PEM private key (client_key) never belongs in a log, whoever made it.
        if re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text):
            leaks.append((str(log), "PEM private key"))
    return leaks


@pytest.fixture
def leak_secrets():
    """Registers more secrets for the scan, such as the client assertions a
    peer saw (they authenticate for as long as they live)."""
    return _leak_state["secrets"]


def pytest_sessionfinish(session, exitstatus):
    root = _leak_state["root"]
    if root is None or not Path(root).is_dir():
        return
    secrets = _leak_state["minted"] | _leak_state["secrets"] | secrets_in_files(root)
    leaks = find_leaks(root, secrets)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write("\n")  # the progress line is still open here
    if not leaks:
        if reporter is not None:
            logs = sum(1 for _ in Path(root).rglob("tokend.log"))
            searched = sum(1 for s in secrets if len(s) >= LEAK_MIN_LEN)
            reporter.write_sep("-", f"secret scan: {logs} tokend logs, {searched} "
                                    "tokens and secrets, none found")
        return
    lines = [f"{path}: secret sha256:{fp}" for path, fp in leaks]
    if reporter is not None:
        reporter.write_sep("=", "secrets found in tokend logs", red=True)
        for line in lines:
            reporter.write_line(line)
    else:
        sys.stderr.write("secrets found in tokend logs:\n" + "\n".join(lines) + "\n")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
