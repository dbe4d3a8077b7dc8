"""Who may read and refresh a token: peer credentials over the Unix socket.

tokend reads the peer's uid and primary gid with SO_PEERCRED. A token with
allow_uids/allow_gids is readable by the listed uids, by peers whose
primary gid is listed and by tokend's own uid; a token without lists by
anyone who can open the socket. A token the peer may not read does not
exist for it: the same 404 as an unknown name, and no trace of it in
/v1/tokens, /metrics or /readyz (admins see every name). Forcing a
refresh needs uid 0, tokend's uid or [daemon] admin_uids, and read access
to the token. The suite runs as root; the second peer runs as uid 65534
through setpriv(1).
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

import harness
from harness import wait_for

NOBODY = 65534
OTHER_GID = 4321  # a gid nobody has; only listed in allow_gids

# A client that prints one JSON line: {"status": N, "body": ...} or
# {"errno": N} when it cannot connect. Run as another uid.
CLIENT = r"""
import http.client, json, socket, sys
path, method, target = sys.argv[1:4]
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
c = C("localhost", timeout=10)
try:
    c.request(method, target)
except OSError as e:
    print(json.dumps({"errno": e.errno}))
    sys.exit(0)
r = c.getresponse()
print(json.dumps({"status": r.status, "body": r.read().decode()}))
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="needs root and setpriv to act as a second uid")


def as_user(uid, gid, argv, groups=None, timeout=15):
    """Runs argv as uid/gid with no supplementary groups (or groups)."""
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
    cmd += [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    return subprocess.run(cmd + list(argv), capture_output=True, text=True, timeout=timeout,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


def peer_request(tokend, method, target, uid=NOBODY, gid=NOBODY, groups=None):
    """(status, parsed body) or ("errno", N) for a request made as uid/gid."""
    res = as_user(uid, gid, [sys.executable, "-c", CLIENT, tokend.socket, method, target],
                  groups=groups)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    if "errno" in out:
        return "errno", out["errno"]
    try:
        return out["status"], json.loads(out["body"])
    except ValueError:
        return out["status"], out["body"]


def open_rundir(tokend):
    """The harness's socket directory is 0700 (mkdtemp): let others
    traverse it, so the socket mode alone decides."""
    os.chmod(tokend.rundir, 0o711)


def config(issuer, daemon_extra="", socket_mode="0666"):
    token = f"""type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = env:TOKEND_TEST_SECRET
"""
    return f"""
[daemon]
socket = {{socket}}
socket_mode = {socket_mode}
log_level = debug
{daemon_extra}

[token "root-only"]
{token}allow_uids = 0

[token "by-gid"]
{token}allow_gids = {OTHER_GID}

[token "nobody"]
{token}allow_uids = {NOBODY}

[token "open"]
{token}"""


@pytest.fixture(scope="module")
def shared(tmp_path_factory, node_peers):
    """One issuer and one tokend for the tests that only read: starting
    them per test would cost a second each."""
    tokend_bin = harness.binary_path("TOKEND_BIN")
    if not tokend_bin:
        pytest.skip("TOKEND_BIN is not set to an executable")
    workdir = tmp_path_factory.mktemp("access")
    issuer = harness.Issuer(log_dir=workdir)
    try:
        t = harness.Tokend(config(issuer), workdir / "tokend", binary=tokend_bin,
                           env={"TOKEND_TEST_SECRET": issuer.client_secret})
    except BaseException:
        issuer.stop()
        raise
    open_rundir(t)
    yield issuer, t
    code = t.stop()
    issuer.stop()
    report = t.sanitizer_report()
    assert report is None, report
    assert code == 0, t.log_text()[-4000:]


@pytest.fixture
def issuer(shared):
    return shared[0]


@pytest.fixture
def tokend(shared):
    return shared[1]


@pytest.fixture
def fresh_issuer(tmp_path, node_peers):
    server = harness.Issuer(log_dir=tmp_path)
    yield server
    server.stop()


def names(doc):
    return sorted(t["name"] for t in doc["tokens"])


NO_SUCH_TOKEN = {"error": "not_found", "message": "no such token"}


def test_allow_uids_root_only(issuer, tokend):
    status, doc = peer_request(tokend, "GET", "/v1/tokens/root-only")
    assert (status, doc) == (404, NO_SUCH_TOKEN)
    status, doc = tokend.get_json("/v1/tokens/root-only")
    assert status == 200, doc
    assert doc["token"] in issuer.tokens()


def test_refusal_body_never_carries_the_value(issuer, tokend):
    status, doc = peer_request(tokend, "GET", "/v1/tokens/root-only")
    assert status == 404
    body = json.dumps(doc)
    for tok in issuer.tokens():
        assert tok not in body
    status, doc = peer_request(tokend, "GET", "/v1/tokens/root-only?format=raw")
    assert status == 404
    assert not any(tok in json.dumps(doc) for tok in issuer.tokens())


def test_not_yours_and_does_not_exist_answer_alike(tokend):
    # Whatever a peer tries, a token it may not read and a name that does
    # not exist cannot be told apart: names are not enumerable.
    for target in ("/v1/tokens/{}", "/v1/tokens/{}?format=raw",
                   "/v1/tokens/{}?newer_than=1&timeout=1"):
        hidden = peer_request(tokend, "GET", target.format("root-only"))
        missing = peer_request(tokend, "GET", target.format("no-such-name"))
        assert hidden == missing == (404, NO_SUCH_TOKEN), (target, hidden, missing)
    hidden = peer_request(tokend, "POST", "/v1/tokens/root-only/refresh")
    missing = peer_request(tokend, "POST", "/v1/tokens/no-such-name/refresh")
    assert hidden == missing == (404, NO_SUCH_TOKEN), (hidden, missing)
    # The refusal is logged for the operator, without a token.
    wait_for(lambda: "/v1/tokens/root-only refused for uid 65534" in tokend.log_text(),
             timeout=5, message="the refused read was not logged")


def test_token_without_lists_is_readable_by_both(issuer, tokend):
    status, doc = peer_request(tokend, "GET", "/v1/tokens/open")
    assert status == 200, doc
    assert doc["token"] in issuer.tokens()
    status, doc = tokend.get_json("/v1/tokens/open")
    assert status == 200 and doc["token"] in issuer.tokens()


def test_allow_uids_lists_the_peer(issuer, tokend):
    status, doc = peer_request(tokend, "GET", "/v1/tokens/nobody")
    assert status == 200, doc
    assert doc["token"] in issuer.tokens()
    # tokend's own uid (root here) may read every token.
    assert tokend.get_json("/v1/tokens/nobody")[0] == 200


def test_allow_gids_by_number_primary_group_only(issuer, tokend):
    status, doc = peer_request(tokend, "GET", "/v1/tokens/by-gid", gid=OTHER_GID)
    assert status == 200, doc
    assert doc["token"] in issuer.tokens()
    status, _ = peer_request(tokend, "GET", "/v1/tokens/by-gid")
    assert status == 404
    # SO_PEERCRED carries the primary gid only: a supplementary group does
    # not count.
    status, _ = peer_request(tokend, "GET", "/v1/tokens/by-gid", groups=[OTHER_GID])
    assert status == 404
    # A listed primary gid grants nothing else.
    status, _ = peer_request(tokend, "GET", "/v1/tokens/root-only", gid=OTHER_GID)
    assert status == 404


def test_list_shows_only_readable_tokens(tokend):
    status, doc = peer_request(tokend, "GET", "/v1/tokens")
    assert status == 200, doc
    assert names(doc) == ["nobody", "open"]
    status, doc = peer_request(tokend, "GET", "/v1/tokens", gid=OTHER_GID)
    assert status == 200 and names(doc) == ["by-gid", "nobody", "open"]
    status, doc = tokend.get_json("/v1/tokens")
    assert status == 200 and names(doc) == ["by-gid", "nobody", "open", "root-only"]
    # A summary never carries the value, whoever asks.
    assert all("token" not in t for t in doc["tokens"])


def version(tokend, name):
    return tokend.get_json(f"/v1/tokens/{name}")[1]["version"]


def test_refresh_needs_an_admin(issuer, tokend):
    before = issuer.count()
    for name in ("open", "nobody"):
        status, doc = peer_request(tokend, "POST", f"/v1/tokens/{name}/refresh")
        assert status == 403, (name, doc)
    assert issuer.count() == before, "a refused refresh reached the issuer"
    v = version(tokend, "root-only")
    status, _, body = tokend.request("POST", "/v1/tokens/root-only/refresh")
    assert status == 202, body
    wait_for(lambda: version(tokend, "root-only") > v, timeout=10,
             message="the admitted refresh never produced a new token")


def test_admin_uids_lets_a_reader_refresh(fresh_issuer, tokend_factory):
    issuer = fresh_issuer
    t = tokend_factory(config(issuer, f"admin_uids = {NOBODY}"),
                       env={"TOKEND_TEST_SECRET": issuer.client_secret})
    open_rundir(t)
    for name in ("nobody", "open"):
        v = version(t, name)
        status, doc = peer_request(t, "POST", f"/v1/tokens/{name}/refresh")
        assert status == 202, (name, doc)
        wait_for(lambda: version(t, name) > v, timeout=10,
                 message=f"refresh of {name} by an admin uid did nothing")
    # An admin still needs read access to the token (and learns nothing
    # of one it may not read).
    before = issuer.count()
    status, _ = peer_request(t, "POST", "/v1/tokens/root-only/refresh")
    assert status == 404
    assert issuer.count() == before


def test_socket_mode_0600_keeps_others_out(fresh_issuer, tokend_factory):
    issuer = fresh_issuer
    t = tokend_factory(config(issuer, socket_mode="0600"),
                       env={"TOKEND_TEST_SECRET": issuer.client_secret})
    open_rundir(t)
    assert os.stat(t.socket).st_mode & 0o777 == 0o600
    assert peer_request(t, "GET", "/healthz") == ("errno", 13)  # EACCES
    assert t.get_json("/healthz")[0] == 200


def test_tokenctl_as_another_uid_reports_404(tokend, tokenctl_bin):
    res = as_user(NOBODY, NOBODY, [tokenctl_bin, "-s", tokend.socket, "get", "root-only"])
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "404" in lines[0], res.stderr
    # The same tokenctl, same uid, reads an open token.
    res = as_user(NOBODY, NOBODY, [tokenctl_bin, "-s", tokend.socket, "get", "open"])
    assert res.returncode == 0 and res.stdout.strip(), res.stderr


def hidden_config(issuer, down_url):
    """Tokens a peer (uid 65534) may not read, one of them never ready."""
    token = f"""type = oauth2
client_id = {issuer.client_id}
client_secret = env:TOKEND_TEST_SECRET
"""
    return f"""
[daemon]
socket = {{socket}}
socket_mode = 0666
startup_timeout = 1s

[token "secret-api"]
{token}token_url = {issuer.token_url}
allow_uids = 0

[token "secret-db"]
{token}token_url = {issuer.token_url}
allow_gids = {OTHER_GID}

[token "secret-down"]
{token}token_url = {down_url}
allow_uids = 0
"""


def metric_token_labels(text):
    return sorted({line.split('token="', 1)[1].split('"', 1)[0]
                   for line in text.splitlines()
                   if not line.startswith("#") and 'token="' in line})


def test_a_peer_allowed_nothing_learns_nothing(fresh_issuer, tokend_factory, tokenctl_bin):
    issuer = fresh_issuer
    t = tokend_factory(hidden_config(issuer, "http://127.0.0.1:9/token"),
                       env={"TOKEND_TEST_SECRET": issuer.client_secret})
    open_rundir(t)
    wait_for(lambda: t.get_json("/v1/tokens/secret-api")[0] == 200, timeout=10)
    # /metrics: the daemon's own series, no token's.
    status, text = peer_request(t, "GET", "/metrics")
    assert status == 200
    assert "tokend_build_info" in text and "tokend_api_requests_total" in text
    assert metric_token_labels(text) == [], text
    assert "secret-" not in text
    # An admin (root) sees every token; a peer allowed one token sees it.
    status, _, body = t.request("GET", "/metrics")
    assert status == 200
    assert metric_token_labels(body.decode()) == ["secret-api", "secret-db", "secret-down"]
    status, text = peer_request(t, "GET", "/metrics", gid=OTHER_GID)
    assert metric_token_labels(text) == ["secret-db"]
    # /readyz: the verdict for everyone, the names only for who may see them.
    status, doc = peer_request(t, "GET", "/readyz")
    assert status == 503 and "secret-" not in json.dumps(doc), doc
    status, doc = t.get_json("/readyz")
    assert status == 503 and "secret-down" in doc["message"], doc
    # The list and every name: nothing.
    assert peer_request(t, "GET", "/v1/tokens") == (200, {"tokens": []})
    for name in ("secret-api", "secret-db", "secret-down", "nothing-here"):
        assert peer_request(t, "GET", f"/v1/tokens/{name}") == (404, NO_SUCH_TOKEN)
    # Health checks still work from any uid: /healthz and tokenctl health
    # (which reads /readyz: not ready here, so exit 1, not a refusal).
    assert peer_request(t, "GET", "/healthz") == (200, {"status": "ok"})
    res = as_user(NOBODY, NOBODY, [tokenctl_bin, "-s", t.socket, "health"])
    ours = subprocess.run([tokenctl_bin, "-s", t.socket, "health"], capture_output=True,
                          text=True, timeout=15)
    assert res.returncode == ours.returncode != 0, (res.stderr, ours.stderr)
    assert "secret-" not in res.stdout + res.stderr


def test_tokenctl_health_as_any_uid_when_ready(tokend, tokenctl_bin):
    wait_for(lambda: tokend.get_json("/readyz")[0] == 200, timeout=10)
    res = as_user(NOBODY, NOBODY, [tokenctl_bin, "-s", tokend.socket, "health"])
    assert res.returncode == 0, (res.stdout, res.stderr)
