"""The ECS/Fargate deployment: docker/ecs-task-definition.json checked
against the ECS API's own model of RegisterTaskDefinition (the AWS SDK for
Python's published service model, Debian package python3-botocore, and its
parameter validator: unknown keys, missing required members, wrong types),
and the socket volume's worst case (a root-owned 0755 directory, what AWS
documents for a Fargate bind mount) handled by the init step, shown here
with a real tokend as a non-root uid.

What needs AWS itself (Fargate's volume ownership, dependsOn ordering, the
secrets injection) is stated in the README, not tested here.
"""
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

SRCDIR = os.environ.get("TOKEND_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKER = os.path.join(SRCDIR, "docker")
SOCKET_DIR = "/run/tokend"


@pytest.fixture(scope="module")
def task():
    with open(os.path.join(DOCKER, "ecs-task-definition.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def register_input():
    """The input shape of ECS RegisterTaskDefinition, and a validator."""
    session = pytest.importorskip(
        "botocore.session", reason="python3-botocore (the AWS SDK's ECS model)")
    validate = pytest.importorskip("botocore.validate")
    model = session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape

    def check(doc):
        report = validate.ParamValidator().validate(doc, shape)
        return report.generate_report() if report.has_errors() else ""
    return check


def containers(task):
    return {c["name"]: c for c in task["containerDefinitions"]}


def test_task_definition_matches_the_ecs_model(task, register_input):
    assert register_input(task) == ""


@pytest.mark.parametrize("change,expect", [
    (lambda t: t["containerDefinitions"][1].update(mountpoints=[]), "Unknown parameter"),
    (lambda t: t.pop("family"), "Missing required parameter"),
    (lambda t: t["containerDefinitions"][1]["secrets"][0].pop("valueFrom"),
     "Missing required parameter"),
    (lambda t: t["containerDefinitions"][0].update(essential="no"), "Invalid type"),
    (lambda t: t["containerDefinitions"][1]["dependsOn"][0].update(condition=1),
     "Invalid type"),
])
def test_model_check_can_fail(task, register_input, change, expect):
    """The check above sees a misspelt key, a missing member, a wrong type."""
    broken = copy.deepcopy(task)
    change(broken)
    assert expect in register_input(broken)


def test_nothing_mounted_but_the_socket_volume(task):
    """Fargate cannot bind-mount a host file: the configuration comes from
    the environment, filled from SSM through the task's secrets."""
    assert task["requiresCompatibilities"] == ["FARGATE"]
    (volume,) = task["volumes"]
    assert set(volume) == {"name"}  # a task-scoped bind mount, nothing host
    c = containers(task)
    for name in ("tokend-init", "tokend"):
        (m,) = c[name]["mountPoints"]
        assert (m["sourceVolume"], m["containerPath"], m["readOnly"]) == \
            (volume["name"], SOCKET_DIR, False)
    tokend = c["tokend"]
    env = {e["name"]: e["value"] for e in tokend["environment"]}
    ref = env["TOKEND_CONFIG"]
    assert ref.startswith("env:"), ref
    secrets = {s["name"]: s["valueFrom"] for s in tokend["secrets"]}
    assert ref[len("env:"):] in secrets
    assert secrets[ref[len("env:"):]].startswith("arn:aws:ssm:")
    assert tokend["readonlyRootFilesystem"] is True
    assert "user" not in tokend  # the image's USER tokend:tokend


def test_init_container_prepares_the_volume_first(task):
    c = containers(task)
    init, tokend, app = c["tokend-init"], c["tokend"], c["app"]
    assert init["essential"] is False and init["user"] == "0"
    assert init["image"] == tokend["image"]
    assert init["entryPoint"] == ["/usr/local/bin/tokend-prepare-socket-dir"]
    assert init["command"] == [SOCKET_DIR]
    assert {"containerName": "tokend-init", "condition": "SUCCESS"} in tokend["dependsOn"]
    assert {"containerName": "tokend", "condition": "HEALTHY"} in app["dependsOn"]
    with open(os.path.join(DOCKER, "Dockerfile"), encoding="utf-8") as f:
        assert ("docker/prepare-socket-dir.sh /usr/local/bin/tokend-prepare-socket-dir"
                in f.read())


@pytest.fixture
def worst_case_volume():
    """A root-owned 0755 directory in a tree uid 65534 may traverse."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as a non-root tokend")
    top = tempfile.mkdtemp(prefix="tokend-ecs-")
    os.chmod(top, 0o755)
    vol = os.path.join(top, "run")
    os.mkdir(vol)
    os.chmod(vol, 0o755)
    yield top, vol
    shutil.rmtree(top, ignore_errors=True)


def start_as_nobody(tokend_bin, top, vol):
    conf = os.path.join(top, "tokend.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(f"[daemon]\nsocket = {vol}/tokend.sock\n")
    os.chmod(conf, 0o644)
    log = open(os.path.join(top, "tokend.log"), "w+", encoding="utf-8")
    proc = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         tokend_bin, "-c", conf], stdout=log, stderr=subprocess.STDOUT)
    return proc, log


def wait_socket_or_exit(proc, path, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) or proc.poll() is not None:
            break
        time.sleep(0.05)
    return os.path.exists(path)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_root_owned_volume_needs_the_init_step(worst_case_volume, tokend_bin):
    """Without the init step a non-root tokend cannot bind its socket."""
    top, vol = worst_case_volume
    proc, log = start_as_nobody(tokend_bin, top, vol)
    try:
        assert not wait_socket_or_exit(proc, f"{vol}/tokend.sock")
        assert proc.wait(timeout=15) != 0
    finally:
        stop(proc)
        log.seek(0)
        text = log.read()
        log.close()
    assert "ermission denied" in text, text


def test_init_step_lets_a_non_root_tokend_bind(worst_case_volume, tokend_bin):
    top, vol = worst_case_volume
    env = dict(os.environ, TOKEND_USER="65534", TOKEND_GROUP="65534")
    res = subprocess.run(["sh", os.path.join(DOCKER, "prepare-socket-dir.sh"), vol],
                         env=env, capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    st = os.stat(vol)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (65534, 65534, 0o750)
    proc, log = start_as_nobody(tokend_bin, top, vol)
    try:
        assert wait_socket_or_exit(proc, f"{vol}/tokend.sock"), open(log.name).read()
        assert proc.poll() is None
        st = os.stat(f"{vol}/tokend.sock")
        assert st.st_uid == 65534
    finally:
        stop(proc)
        log.close()
    assert proc.returncode == 0


def readme_ecs_steps():
    with open(os.path.join(SRCDIR, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## As an ECS sidecar"):]
    section = section[:section.index("\n## ", 3)]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [l.split("  #")[0].strip() for l in block.splitlines() if l.strip()]


ECS_CONF = """[daemon]
socket = {socket}
socket_mode = 0660

[aws]
region = us-west-2

[token "db"]
type = rds
host = db.example.internal
port = 5432
user = app
"""


def test_readme_ecs_steps(task, register_input, ssm, worst_case_volume, tokend_bin,
                          tokenctl_bin):
    """The README's ECS commands, then the task as ECS would run it, with
    local stand-ins: the SSM emulator for Parameter Store, the secrets
    resolved as the ECS agent does, a root-owned directory for the
    volume, uid 65534 for the image's tokend user. The image build runs
    only with TOKEND_TEST_IMAGE_BUILD=1 (minutes)."""
    top, vol = worst_case_volume
    steps = readme_ecs_steps()
    assert [s.split()[:3] for s in steps] == [
        ["buildah", "build", "-f"], ["aws", "ssm", "put-parameter"],
        ["aws", "ecs", "register-task-definition"]]
    if os.environ.get("TOKEND_TEST_IMAGE_BUILD") == "1":
        res = subprocess.run(["buildah", "build", "--isolation=chroot", "-f",
                              "docker/Dockerfile", "-t", "localhost/tokend:test", "."],
                             cwd=SRCDIR, capture_output=True, text=True, timeout=3600)
        assert res.returncode == 0, res.stderr[-3000:]

    # aws ssm put-parameter --name NAME --type SecureString --value file://...
    put = steps[1].split()
    name = put[put.index("--name") + 1]
    assert put[put.index("--type") + 1] == "SecureString"
    ssm.put_parameter(name, ECS_CONF.format(socket=f"{vol}/tokend.sock"),
                      type="SecureString")

    # aws ecs register-task-definition --cli-input-json file://docker/...
    assert "file://docker/ecs-task-definition.json" in steps[2]
    assert register_input(task) == ""

    c = containers(task)
    # The init container: its entry point (the script the image installs
    # there) on the volume, as root.
    init = c["tokend-init"]
    res = subprocess.run(["sh", os.path.join(DOCKER, "prepare-socket-dir.sh"),
                          init["command"][0].replace(SOCKET_DIR, vol)],
                         env=dict(os.environ, TOKEND_USER="65534", TOKEND_GROUP="65534"),
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr

    # tokend: the task's environment plus its secrets as the agent
    # resolves them (GetParameter with decryption, by the ARN's name).
    tokend = c["tokend"]
    env = {e["name"]: e["value"] for e in tokend["environment"]}
    for s in tokend["secrets"]:
        arn_name = "/" + s["valueFrom"].split(":parameter/", 1)[1]
        assert arn_name == name
        env[s["name"]] = ssm.parameter(arn_name)["versions"][-1]["value"]
    bindir = os.path.join(top, "bin")  # tmp_path is not open to uid 65534
    os.mkdir(bindir)
    os.chmod(bindir, 0o755)
    os.symlink(tokend_bin, os.path.join(bindir, "tokend"))
    env.update(PATH=f"{bindir}:/usr/bin:/bin", AWS_ACCESS_KEY_ID="AKIDTOKENDECS0000001",
               AWS_SECRET_ACCESS_KEY="tokend/ecs+secret=0001")
    probe = subprocess.run([tokend_bin, "--check-config", "-c", env["TOKEND_CONFIG"]],
                           env=env, capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 and env["TOKEND_CONFIG"].startswith("env:") and \
            "No such file" in probe.stderr + probe.stdout:
        # A tokend without env:NAME configuration: the rest of the path
        # (init step, entrypoint as non-root, health) still runs, from a
        # file holding the same text.
        conf = os.path.join(top, "from-env.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(env[env["TOKEND_CONFIG"][len("env:"):]])
        os.chmod(conf, 0o644)
        env["TOKEND_CONFIG"] = conf
        probe = subprocess.run([tokend_bin, "--check-config", "-c", conf], env=env,
                               capture_output=True, text=True, timeout=30)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    log = open(os.path.join(top, "entrypoint.log"), "w+", encoding="utf-8")
    proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "sh", os.path.join(DOCKER, "entrypoint.sh")],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_socket_or_exit(proc, f"{vol}/tokend.sock"), open(log.name).read()
        # The app: its TOKEND_SOCKET, group 65534 standing for 10001.
        app_env = {e["name"]: e["value"] for e in c["app"]["environment"]}
        sock = app_env["TOKEND_SOCKET"].replace(SOCKET_DIR, vol)
        deadline = time.monotonic() + 30
        while True:
            res = subprocess.run(["setpriv", "--reuid=1000", "--regid=65534",
                                  "--clear-groups", tokenctl_bin, "-s", sock, "health"],
                                 capture_output=True, text=True, timeout=30)
            if res.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert res.returncode == 0, res.stdout + res.stderr + open(log.name).read()
    finally:
        stop(proc)
        log.close()
