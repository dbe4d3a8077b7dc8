"""Configuration without a file (issue 14): `-c env:NAME` takes the whole
text from an environment variable (what an ECS task definition's
`secrets`/`valueFrom` injects), `-c ssm:/name` reads an SSM parameter at
start and at each SIGHUP (through the SSM emulator), TOKEND_CONFIG names
the same when -c is absent; errors point at `env:NAME:LINE` and
`ssm:/name:LINE`; secrets inside stay references. Also --check-config as
strict as start-up, with warnings for what only the host can tell."""
import os
import shutil
import subprocess
import tempfile

import pytest

import harness
from harness import wait_for

PARAM = "/tokend/test/config"
SECRET_ENV = "TOKEND_TEST_CLIENT_SECRET"
# Read instead of the file the harness writes: proves the file is unused.
NOT_READ = "[this file must not be read]\n"


def oauth2_text(issuer, socket, name="api", head=True):
    daemon = f"[daemon]\nsocket = {socket}\nlog_level = debug\n\n" if head else ""
    return (f"{daemon}[token \"{name}\"]\ntype = oauth2\ntoken_url = {issuer.token_url}\n"
            f"client_id = {issuer.client_id}\nclient_secret = env:{SECRET_ENV}\n")


@pytest.fixture
def rundir():
    path = tempfile.mkdtemp(prefix="tkd-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start(tokend_factory, ref, env, socket):
    t = tokend_factory(NOT_READ, env=env, args=("-c", ref), wait_ready=False)
    t.socket = socket
    t.wait_ready()
    return t


def served(t, name="api"):
    status, doc = t.get_json(f"/v1/tokens/{name}")
    return doc if status == 200 else None


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("TOKEND_CONFIG", "NOTIFY_SOCKET")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


def run_tokend(tokend_bin, *args, env=None, timeout=30):
    return subprocess.run([tokend_bin, *args], capture_output=True, text=True,
                          timeout=timeout, env=env if env is not None else clean_env())


# --- env:NAME ---------------------------------------------------------------

def test_env_config_serves_tokens(issuer, tokend_factory, rundir):
    sock = f"{rundir}/tokend.sock"
    env = {"TOKEND_CONFIG_TEXT": oauth2_text(issuer, sock), SECRET_ENV: issuer.client_secret}
    t = start(tokend_factory, "env:TOKEND_CONFIG_TEXT", env, sock)
    doc = wait_for(lambda: served(t))
    assert doc["token"] in issuer.tokens()
    assert "env:TOKEND_CONFIG_TEXT" in t.log_text()
    # The text (it names the secret only by reference) is not logged.
    assert issuer.client_secret not in t.log_text()


def test_tokend_config_variable_names_the_source(tokend_bin, issuer, tmp_path):
    text = oauth2_text(issuer, str(tmp_path / "s.sock"))
    env = clean_env(TOKEND_CONFIG="env:CFG", CFG=text, **{SECRET_ENV: "x"})
    res = run_tokend(tokend_bin, "--check-config", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("env:CFG: OK (1 token"), res.stdout
    # -c wins over TOKEND_CONFIG.
    path = tmp_path / "f.conf"
    path.write_text(text)
    res = run_tokend(tokend_bin, "--check-config", "-c", str(path), env=env)
    assert res.returncode == 0 and res.stdout.startswith(f"{path}: OK"), res


@pytest.mark.parametrize("text,line,word", [
    ("[daemon]\nsocket = /tmp/x.sock\n\n[token \"a\"]\ntype = oauth2\nbogus = 1\n", 6, "bogus"),
    ("[daemon]\nlog_level = loud\n", 2, "log_level"),
    ('[token "a"]\ntype = oauth2\ntoken_url = https://x/t\nclient_id = x\n'
     'client_secret = env:TOKEND_TEST_UNSET_VAR\n', 5, "TOKEND_TEST_UNSET_VAR"),
])
def test_env_config_errors_point_at_the_line(tokend_bin, text, line, word):
    for args in (["--check-config"], []):
        res = run_tokend(tokend_bin, "-c", "env:CFG", *args, env=clean_env(CFG=text))
        assert res.returncode == 2, res
        assert f"env:CFG:{line}:" in res.stderr and word in res.stderr, res.stderr


@pytest.mark.parametrize("value,why", [(None, "not set"), ("", "empty")])
def test_env_config_missing_variable(tokend_bin, value, why):
    env = clean_env() if value is None else clean_env(CFG=value)
    res = run_tokend(tokend_bin, "-c", "env:CFG", env=env)
    assert res.returncode == 2
    assert "env:CFG: environment variable CFG is " + why in res.stderr, res.stderr


def test_env_config_reload_rereads_the_variable_it_started_with(
        issuer, tokend_factory, rundir):
    """The environment of a running process does not change: SIGHUP reads
    the same text again and keeps everything (documented in tokend(8))."""
    sock = f"{rundir}/tokend.sock"
    env = {"CFG": oauth2_text(issuer, sock), SECRET_ENV: issuer.client_secret}
    t = start(tokend_factory, "env:CFG", env, sock)
    doc = wait_for(lambda: served(t))
    t.reload()
    wait_for(lambda: "reloaded env:CFG: 1 kept" in t.log_text(),
             message=t.log_text()[-2000:])
    assert served(t)["version"] == doc["version"]


# --- ssm:/name ----------------------------------------------------------------

def test_ssm_config_serves_and_reloads(issuer, ssm, tokend_factory, rundir):
    sock = f"{rundir}/tokend.sock"
    ssm.put_parameter(PARAM, oauth2_text(issuer, sock), type="SecureString")
    env = harness.aws_env(ssm=ssm, static=ssm)
    env[SECRET_ENV] = issuer.client_secret
    t = start(tokend_factory, f"ssm:{PARAM}", env, sock)
    wait_for(lambda: served(t))
    assert f"ssm:{PARAM}" in t.log_text()
    gets = ssm.counts("GetParameter")

    ssm.put_parameter(PARAM, oauth2_text(issuer, sock) + "\n"
                      + oauth2_text(issuer, sock, name="second", head=False),
                      type="SecureString")
    t.reload()
    wait_for(lambda: served(t, "second"), message=t.log_text()[-3000:])
    assert ssm.counts("GetParameter") != gets
    assert f"reloaded ssm:{PARAM}: 1 kept" in t.log_text()

    # A broken parameter at SIGHUP: the running config stays, the line is named.
    ssm.put_parameter(PARAM, oauth2_text(issuer, sock) + "oops = 1\n", type="SecureString")
    t.reload()
    wait_for(lambda: "reload failed" in t.log_text(), message=t.log_text()[-3000:])
    assert f"ssm:{PARAM}:10: unknown key 'oops'" in t.log_text()
    assert served(t) and served(t, "second")


def test_ssm_config_error_points_at_the_line(tokend_bin, ssm):
    ssm.put_parameter(PARAM, "[daemon]\nsocket = /tmp/x.sock\nsocket_mode = rw\n",
                      type="String")
    env = clean_env(**harness.aws_env(ssm=ssm, static=ssm))
    res = run_tokend(tokend_bin, "--check-config", "-c", f"ssm:{PARAM}", env=env)
    assert res.returncode == 2, res
    assert f"ssm:{PARAM}:3:" in res.stderr and "socket_mode" in res.stderr, res.stderr


def test_ssm_config_missing_parameter_and_no_region(tokend_bin, ssm):
    env = clean_env(**harness.aws_env(ssm=ssm, static=ssm))
    res = run_tokend(tokend_bin, "--check-config", "-c", "ssm:/tokend/absent", env=env)
    assert res.returncode == 1, res
    assert "ssm:/tokend/absent" in res.stderr and "ParameterNotFound" in res.stderr, \
        res.stderr
    del env["AWS_REGION"]
    res = run_tokend(tokend_bin, "--check-config", "-c", "ssm:/tokend/absent", env=env)
    assert res.returncode == 2, res
    assert "AWS_REGION" in res.stderr, res.stderr
    res = run_tokend(tokend_bin, "--check-config", "-c", "ssm:tokend/relative", env=env)
    assert res.returncode == 2 and "must start with '/'" in res.stderr, res.stderr
