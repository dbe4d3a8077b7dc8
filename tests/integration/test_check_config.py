"""tokend --check-config (issue 14 item 3): as strict as start-up for
what the configuration and the environment decide (the daemon is built
the same way, minus the socket and the first fetches), warnings for what
only the host can tell, and no silently ignored flag."""
import os
import subprocess

import pytest

RDS = """
[daemon]
socket = {socket}

[token "db"]
type = rds
host = db.example.internal
port = 5432
user = app
"""

SSM_SECRET = """
[daemon]
socket = {socket}

[aws]
region = eu-west-1

[token "api"]
type = oauth2
token_url = https://issuer.example/token
client_id = x
client_secret = ssm:/tokend/api#secret
"""


def env_without_aws(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("TOKEND_CONFIG", "NOTIFY_SOCKET")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["HOME"] = "/nonexistent"
    env.update(extra)
    return env


def check(tokend_bin, tmp_path, text, env, *extra):
    path = tmp_path / "t.conf"
    path.write_text(text.replace("{socket}", str(tmp_path / "tokend.sock")))
    return subprocess.run([tokend_bin, "--check-config", "-c", str(path), *extra],
                          capture_output=True, text=True, timeout=20, env=env)


def test_rds_without_region_is_an_error(tokend_bin, tmp_path):
    res = check(tokend_bin, tmp_path, RDS, env_without_aws())
    assert res.returncode == 2, res
    assert 'token "db": rds: no AWS region' in res.stderr, res.stderr
    assert "OK" not in res.stdout


@pytest.mark.parametrize("var", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_rds_with_region_from_the_environment(tokend_bin, tmp_path, var):
    env = env_without_aws(**{var: "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                             "AWS_SECRET_ACCESS_KEY": "x" * 40})
    res = check(tokend_bin, tmp_path, RDS, env)
    assert res.returncode == 0, res
    assert res.stdout.endswith(": OK (1 token)\n"), res.stdout
    assert "warning" not in res.stderr, res.stderr


def test_ssm_parameter_without_region_is_an_error(tokend_bin, tmp_path):
    text = ("[daemon]\nsocket = {socket}\n[token \"api\"]\ntype = oauth2\n"
            "token_url = https://i.example/t\nclient_id = x\nclient_secret = y\n"
            "ssm_parameter = /tokend/api\n")
    res = check(tokend_bin, tmp_path, text, env_without_aws())
    assert res.returncode == 2, res
    assert "region" in res.stderr.lower(), res.stderr


def test_missing_socket_directory_is_a_warning(tokend_bin, tmp_path):
    text = ("[daemon]\nsocket = /nonexistent-tokend-dir/tokend.sock\n"
            "[token \"api\"]\ntype = oauth2\ntoken_url = https://i.example/t\n"
            "client_id = x\nclient_secret = env:TOKEND_TEST_S\n")
    os.chmod(tmp_path, 0o700)
    path = tmp_path / "t.conf"
    path.write_text(text)
    res = subprocess.run([tokend_bin, "--check-config", "-c", str(path)],
                         capture_output=True, text=True, timeout=20,
                         env=env_without_aws(TOKEND_TEST_S="s"))
    assert res.returncode == 0, res
    assert "warning: socket directory /nonexistent-tokend-dir: No such file" in res.stderr
    assert "see the warnings" in res.stdout


def test_ssm_secret_without_credentials_source_is_a_warning(tokend_bin, tmp_path):
    res = check(tokend_bin, tmp_path, SSM_SECRET, env_without_aws())
    assert res.returncode == 0, res
    assert ('warning: AWS credentials are needed (token "api": its client_secret '
            'is an ssm: reference)') in res.stderr, res.stderr
    assert "no source" in res.stderr
    # IMDS allowed: a warning that names it as the only source left.
    env = env_without_aws()
    del env["AWS_EC2_METADATA_DISABLED"]
    res = check(tokend_bin, tmp_path, SSM_SECRET, env)
    assert res.returncode == 0 and "only EC2 instance metadata" in res.stderr, res.stderr
    # A source in the environment: no warning.
    for extra in ({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40},
                  {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"}):
        res = check(tokend_bin, tmp_path, SSM_SECRET, env_without_aws(**extra))
        assert res.returncode == 0 and "warning" not in res.stderr, (extra, res.stderr)


@pytest.mark.parametrize("order", [("--check-config", "--once"), ("--once", "--check-config")])
def test_check_config_and_once_are_exclusive(tokend_bin, tmp_path, order):
    path = tmp_path / "t.conf"
    path.write_text("[daemon]\n")
    res = subprocess.run([tokend_bin, *order, "-c", str(path)], capture_output=True,
                         text=True, timeout=10)
    assert res.returncode == 2, res
    assert "--check-config and --once cannot be used together" in res.stderr
    assert res.stdout == ""


def test_check_config_binds_nothing_and_starts_nothing(tokend_bin, tmp_path):
    """The daemon is built as at start-up but neither binds its socket
    nor asks anyone for credentials."""
    env = env_without_aws(AWS_REGION="eu-west-1",
                          AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:9/creds")
    res = check(tokend_bin, tmp_path, RDS, env)
    assert res.returncode == 0, res
    assert not (tmp_path / "tokend.sock").exists()
    assert "ecs" not in res.stderr.lower(), res.stderr
