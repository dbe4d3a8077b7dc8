"""tokenctl names the socket and the cause when it cannot talk to tokend
(issue 14 item 5): not running (no socket, or nothing listening on it),
not a socket, permission (join group X, naming the socket's group); takes
-s after the command; an unknown command says which and lists them."""
import grp
import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from harness import wait_for

NOBODY = 65534


@pytest.fixture
def rundir():
    path = tempfile.mkdtemp(prefix="tkc-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def ctl(tokenctl_bin, *args, user=None):
    cmd = [tokenctl_bin, *map(str, args)]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    env = {k: v for k, v in os.environ.items() if k != "TOKEND_SOCKET"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10, env=env)


def test_no_socket_says_is_tokend_running(tokenctl_bin, rundir):
    path = f"{rundir}/tokend.sock"
    for args in (["-s", path, "get", "api"], ["list", "-s", path],
                 ["health", "--socket", path], [f"--socket={path}", "status"]):
        res = ctl(tokenctl_bin, *args)
        assert res.returncode == 1, (args, res)
        assert res.stderr.startswith(f"tokenctl: no socket at {path}: is tokend running?"), \
            res.stderr
        assert "port 80" not in res.stderr


def test_stale_socket_says_nothing_listens(tokenctl_bin, rundir):
    path = f"{rundir}/tokend.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    res = ctl(tokenctl_bin, "-s", path, "get", "api")
    assert res.returncode == 1
    assert f"nothing listens on {path}: is tokend running?" in res.stderr, res.stderr


def test_not_a_socket(tokenctl_bin, rundir):
    path = f"{rundir}/tokend.conf"
    open(path, "w").close()
    res = ctl(tokenctl_bin, "-s", path, "list")
    assert res.returncode == 1 and f"{path} is not a socket" in res.stderr, res.stderr


def _needs_root():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run tokenctl as another user")


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def test_permission_names_the_socket_group(tokenctl_bin, rundir):
    _needs_root()
    os.chmod(rundir, 0o711)
    path = f"{rundir}/tokend.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    try:
        gid = 4242
        os.chown(path, 0, gid)
        os.chmod(path, 0o660)
        res = ctl(tokenctl_bin, "get", "api", "-s", path, user=NOBODY)
        assert res.returncode == 1, res
        name = _group_name(gid)
        assert (f"permission denied on socket {path} (group {name}, mode 0660): "
                f"join group {name}") in res.stderr, res.stderr
    finally:
        listener.close()


def test_permission_on_the_directory(tokenctl_bin, rundir):
    _needs_root()
    os.chmod(rundir, 0o750)
    path = f"{rundir}/tokend.sock"
    res = ctl(tokenctl_bin, "-s", path, "health", user=NOBODY)
    assert res.returncode == 1, res
    assert f"directory {rundir} (group root, mode 0750) may not be entered" in res.stderr, \
        res.stderr


def test_unknown_command_lists_the_commands(tokenctl_bin):
    res = ctl(tokenctl_bin, "frobnicate")
    assert res.returncode == 2
    assert res.stderr.startswith("tokenctl: unknown command 'frobnicate'; commands: get "
                                 "list status health refresh watch exec"), res.stderr
    res = ctl(tokenctl_bin, "get")
    assert res.returncode == 2 and "usage: tokenctl get NAME [--json]" in res.stderr
    res = ctl(tokenctl_bin, "get", "api", "-s")
    assert res.returncode == 2 and "-s needs a path" in res.stderr


def test_socket_option_after_the_command(issuer, tokend_factory, tokenctl_bin):
    t = tokend_factory(f"""
[daemon]
socket = {{socket}}

[token "api"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = {issuer.client_secret}
""")
    res = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
        ctl(tokenctl_bin, "get", "api", "-s", t.socket)))
    assert res.stdout.strip() in issuer.tokens()
    res = ctl(tokenctl_bin, "get", "api", "--json", "--socket", t.socket)
    assert res.returncode == 0 and '"token"' in res.stdout
    # exec: what follows "--" belongs to the command, -s included.
    res = ctl(tokenctl_bin, "exec", "--env", "T=api", "-s", t.socket, "--",
              "sh", "-c", 'test -n "$T" && echo "$0 $1"', "-s", "x")
    assert res.returncode == 0 and res.stdout == "-s x\n", res
