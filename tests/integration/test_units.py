"""Checks of the operations files: systemd units, man pages, container image
and ECS task definition.

None of them needs a running systemd or a Docker engine: systemd-analyze
verifies and scores units offline, and the image is checked through its
inputs (the package lists of scripts/packages.sh, the entrypoint script).
Standard library and pytest only.
"""

import glob
import json
import os
import re
import shutil
import subprocess

import pytest

SRCDIR = os.environ.get("TOKEND_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
SYSTEMD = os.path.join(SRCDIR, "systemd")
DOCKER = os.path.join(SRCDIR, "docker")
MAN_PAGES = ["tokend.8", "tokend.conf.5", "tokenctl.1"]
MAX_EXPOSURE = 2.0
SOCKET_PATH = "/run/tokend/tokend.sock"
# systemd tools must not page, colour or ask a running manager.
QUIET_ENV = dict(os.environ, SYSTEMD_PAGER="", SYSTEMD_COLORS="0",
                 SYSTEMD_LOG_COLOR="0", LC_ALL="C.UTF-8")


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env=kw.pop("env", QUIET_ENV), **kw)


def read(*parts):
    with open(os.path.join(*parts), encoding="utf-8") as f:
        return f.read()


def parse_unit(text):
    """{section: {key: [values]}}; repeated keys (SystemCallFilter=) keep
    every value in order."""
    unit, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit, section, key):
    values = unit[section].get(key)
    assert values, f"[{section}] {key}= is missing"
    return values[-1]


def need(tool):
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def executable_stand_in():
    """A binary that exists for systemd-analyze verify: the built tokend
    if there is one, else true(1) (verify checks the path, not the
    program)."""
    built = os.environ.get("TOKEND_BIN")
    if built and os.access(built, os.X_OK):
        return built
    return shutil.which("true")


@pytest.fixture
def units(tmp_path):
    """The units copied to tmp_path, ExecStart= on an existing binary."""
    need("systemd-analyze")
    service = read(SYSTEMD, "tokend.service").replace(
        "ExecStart=/usr/bin/tokend", "ExecStart=" + executable_stand_in())
    (tmp_path / "tokend.service").write_text(service)
    shutil.copy(os.path.join(SYSTEMD, "tokend.socket"), tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def service():
    return parse_unit(read(SYSTEMD, "tokend.service"))


@pytest.fixture(scope="module")
def socket_unit():
    return parse_unit(read(SYSTEMD, "tokend.socket"))


# --- systemd -------------------------------------------------------------

def test_units_verify_clean(units):
    # --man=no: the man pages are not installed where man(1) looks; their
    # presence in the tree is test_documented_man_pages_exist.
    res = run(["systemd-analyze", "verify", "--man=no",
               str(units / "tokend.service"), str(units / "tokend.socket")])
    assert res.returncode == 0, res.stderr
    # Unknown keys and bad values are warnings with exit status 0.
    assert res.stderr.strip() == "" and res.stdout.strip() == "", res.stderr


def test_verify_rejects_a_broken_unit(units):
    """The check above can fail: a misspelt key is reported."""
    path = units / "tokend.service"
    path.write_text(path.read_text().replace("ProtectHome=", "ProtectHom="))
    res = run(["systemd-analyze", "verify", "--man=no", str(path)])
    assert "ProtectHom" in res.stderr


def exposure(unit_path):
    res = run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
               str(unit_path)])
    if "--offline" in res.stderr and "unrecognized" in res.stderr:
        pytest.skip("systemd-analyze security has no --offline (systemd < 250)")
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)",
                  res.stdout)
    assert m, res.stdout + res.stderr
    return float(m.group(1))


def test_service_exposure_at_most_2(units):
    score = exposure(units / "tokend.service")
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}"


def test_exposure_parser_sees_a_weaker_unit(units):
    """Without its sandbox the same unit scores far worse, so the score
    above really is this unit's."""
    path = units / "tokend.service"
    keep = ("[", "Description", "Type", "ExecStart", "User", "Group")
    lines = [l for l in path.read_text().splitlines() if l.startswith(keep)]
    path.write_text("\n".join(lines) + "\n")
    assert exposure(path) > MAX_EXPOSURE + 3


def test_built_unit_names_configured_paths():
    """`make` writes the unit to install into ops-gen/ with the configured
    bindir and sysconfdir; nothing else may differ from systemd/."""
    builddir = os.environ.get("abs_top_builddir")
    built = builddir and os.path.join(builddir, "ops-gen", "tokend.service")
    if not built or not os.path.exists(built):
        pytest.skip("no ops-gen/tokend.service (not run from make check)")
    src = read(SYSTEMD, "tokend.service").splitlines()
    out = read(built).splitlines()
    assert len(src) == len(out)
    changed = [(a, b) for a, b in zip(src, out) if a != b]
    for a, b in changed:
        assert a.startswith("ExecStart=") and b.startswith("ExecStart=")
        m = re.fullmatch(r"ExecStart=(/\S+)/tokend -c (/\S+)/tokend/tokend\.conf", b)
        assert m, b


def test_service_lifecycle(service):
    s = "Service"
    assert one(service, s, "Type") == "notify"
    assert one(service, s, "NotifyAccess") == "main"
    assert one(service, s, "ExecStart") == \
        "/usr/bin/tokend -c /etc/tokend/tokend.conf"
    # No /bin/kill: procps is absent from minimal Debian systems and
    # images; the shell's builtin kill is always there.
    assert one(service, s, "ExecReload") == """/bin/sh -c 'kill -HUP "$$MAINPID"'"""
    assert one(service, s, "Restart") == "on-failure"
    assert "2" in one(service, s, "RestartPreventExitStatus").split()
    assert one(service, s, "WatchdogSec")
    assert one(service, s, "TimeoutStartSec")
    # GnuTLS (a libcurl dependency tokend never calls) skips its
    # load-time initialisation; tests/bench/idle measures with it.
    assert one(service, s, "Environment") == "GNUTLS_NO_IMPLICIT_INIT=1"
    assert (one(service, s, "User"), one(service, s, "Group")) == \
        ("tokend", "tokend")


def seconds(text):
    m = re.fullmatch(r"(\d+)(s|min)?", text)
    assert m, text
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1)


def test_service_restart_pace_never_gives_up(service):
    """systemd 252 (Debian 12) has no RestartSteps=: a fixed RestartSec=,
    and a start limit that automatic restarts alone can never reach."""
    delay = seconds(one(service, "Service", "RestartSec"))
    interval = seconds(one(service, "Unit", "StartLimitIntervalSec"))
    burst = int(one(service, "Unit", "StartLimitBurst"))
    assert delay >= 5
    assert (burst - 1) * delay >= interval
    assert "RestartSteps" not in service["Service"]


def test_service_clock_and_file_limits(service):
    def all_of(key):
        return " ".join(service["Unit"][key]).split()
    assert "time-sync.target" in all_of("After")
    assert "time-sync.target" not in all_of("Wants")  # systemd.special(7): order, do not pull in
    # max_connections defaults to 1024 and is clamped to this limit minus
    # a reserve for outbound calls.
    assert int(one(service, "Service", "LimitNOFILE")) >= 1024 + 1024


def test_service_sandbox_keeps_what_tokend_needs(service):
    s = service["Service"]
    families = set(one(service, "Service", "RestrictAddressFamilies").split())
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6"}
    # Issuers, AWS endpoints and the metadata services are reached over IP.
    assert "IPAddressDeny" not in s and "PrivateNetwork" not in s
    # A private user namespace maps socket peers to the overflow uid.
    assert "PrivateUsers" not in s
    assert one(service, "Service", "RuntimeDirectory") == "tokend"
    assert one(service, "Service", "RuntimeDirectoryMode") == "0750"
    # With socket activation the socket lives in the runtime directory.
    assert one(service, "Service", "RuntimeDirectoryPreserve") == "yes"
    assert one(service, "Service", "CapabilityBoundingSet") == ""


def test_socket_unit(socket_unit):
    s = "Socket"
    assert one(socket_unit, s, "ListenStream") == SOCKET_PATH
    assert one(socket_unit, s, "SocketMode") == "0660"
    assert one(socket_unit, s, "DirectoryMode") == "0750"
    assert one(socket_unit, s, "Service") == "tokend.service"
    # tokend adopts exactly one listening socket.
    assert one(socket_unit, s, "Accept") == "no"
    assert len(socket_unit[s]["ListenStream"]) == 1


def test_user_group_and_directory_agree(service, socket_unit):
    """The user the service runs as is the one sysusers creates; the
    socket's directory is the one tmpfiles creates, owned by that user."""
    user = one(service, "Service", "User")
    sysusers = [l.split() for l in read(SYSTEMD, "tokend.sysusers").splitlines()
                if l.strip() and not l.startswith("#")]
    assert [(f[0], f[1]) for f in sysusers] == [("u", user)]
    assert one(socket_unit, "Socket", "SocketUser") == user
    assert one(socket_unit, "Socket", "SocketGroup") == \
        one(service, "Service", "Group")
    tmpfiles = [l.split() for l in read(SYSTEMD, "tokend.tmpfiles").splitlines()
                if l.strip() and not l.startswith("#")]
    assert [f[:5] for f in tmpfiles] == [
        ["d", os.path.dirname(SOCKET_PATH), "0750", user, user]]


# --- man pages -------------------------------------------------------------

@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_lint(page):
    need("mandoc")
    path = os.path.join(SRCDIR, "man", page)
    if not os.path.exists(path):
        pytest.skip(f"man/{page} is not written yet")
    # -W warning: style notes depend on which pages this machine has.
    res = run(["mandoc", "-Tlint", "-W", "warning", path])
    assert res.returncode == 0 and res.stdout == "", res.stdout + res.stderr


def test_documented_man_pages_exist(service):
    for doc in one(service, "Unit", "Documentation").split():
        m = re.fullmatch(r"man:([\w.-]+)\((\d)\)", doc)
        assert m, doc
        name = f"{m.group(1)}.{m.group(2)}"
        assert name in MAN_PAGES, f"{doc} is not one of tokend's pages"
        if name == "tokend.8":
            assert os.path.exists(os.path.join(SRCDIR, "man", name))


def rendered(page):
    res = run(["mandoc", "-Tascii", os.path.join(SRCDIR, "man", page)])
    assert res.returncode == 0, res.stderr
    return re.sub(r".\x08", "", res.stdout)


def test_tokend_8_names_every_option():
    need("mandoc")
    built = os.environ.get("TOKEND_BIN")
    if not built or not os.access(built, os.X_OK):
        pytest.skip("tokend is not built (TOKEND_BIN)")
    res = run([built, "--help"])
    assert res.returncode == 0, res.stderr
    options = set(re.findall(r"(--[a-z][a-z-]+)", res.stdout))
    assert {"--config", "--check-config", "--version", "--help"} <= options
    page = rendered("tokend.8")
    assert [o for o in sorted(options) if o not in page] == []


# --- container image -------------------------------------------------------

def package_lists():
    script = os.path.join(SRCDIR, "scripts", "packages.sh")
    lists = ("BUILD", "RUNTIME", "TEST")
    printf = " && ".join(f'printf "%s\\n---\\n" "$TOKEND_{n}_PACKAGES"'
                         for n in lists)
    res = run(["sh", "-c", '. "$1" && ' + printf, "sh", script])
    assert res.returncode == 0, res.stderr
    found = [chunk.split() for chunk in res.stdout.split("---\n")[:-1]]
    assert len(found) == len(lists) and all(found), res.stdout
    return found


def dockerfile_instructions():
    text = read(DOCKER, "Dockerfile").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def test_dockerfile_installs_from_packages_sh():
    ins = dockerfile_instructions()
    stages = [rest for word, rest in ins if word == "FROM"]
    assert len(stages) == 2
    assert all(s.startswith("debian:bookworm-slim") for s in stages)
    runs = [rest for word, rest in ins if word == "RUN"]
    assert any("packages_install $TOKEND_BUILD_PACKAGES" in r for r in runs)
    assert any("packages_install $TOKEND_RUNTIME_PACKAGES" in r for r in runs)
    # No package list of its own that could drift from packages.sh.
    assert not [r for r in runs if "apt-get install" in r or "apt install" in r]
    copies = [rest for word, rest in ins if word == "COPY"]
    assert sum("scripts/packages.sh" in c for c in copies) == 2


def test_dockerfile_runtime_stage():
    ins = dockerfile_instructions()
    runtime = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM"):]
    words = dict(runtime)
    assert words["USER"].split(":")[0] not in ("root", "0")
    assert words["VOLUME"] == os.path.dirname(SOCKET_PATH)
    assert words["HEALTHCHECK"].endswith('CMD ["tokenctl", "health"]')
    entry = json.loads(words["ENTRYPOINT"])
    sources = [c for w, c in runtime if w == "COPY" and entry[0] in c]
    assert sources and "docker/entrypoint.sh" in sources[0]
    assert "TOKEND_SOCKET=" + SOCKET_PATH in words["ENV"]
    assert "GNUTLS_NO_IMPLICIT_INIT=1" in words["ENV"]
    # Nothing of the build stage but the two programs.
    from_build = [c for w, c in runtime if w == "COPY" and "--from=" in c]
    assert from_build == [
        "--from=build /out/usr/bin/tokend /out/usr/bin/tokenctl /usr/bin/"]


def test_debian_has_every_package():
    need("apt-cache")
    if not glob.glob("/var/lib/apt/lists/*_Packages*"):
        pytest.skip("apt package lists are empty (run apt-get update)")
    names = sum(package_lists(), [])
    res = run(["apt-cache", "policy"] + names)
    candidates = dict(re.findall(r"^(\S+):\n(?:\s+Installed: .*\n)?"
                                 r"\s+Candidate: (.*)$", res.stdout, re.M))
    missing = [n for n in names if candidates.get(n, "(none)") == "(none)"]
    assert missing == [], f"not in Debian's lists: {missing}"


def test_runtime_packages_cover_tokend_libraries():
    """Every shared library tokend links comes from a runtime package (or
    from libc, which the base image has)."""
    built = os.environ.get("TOKEND_BIN")
    if not built or not os.access(built, os.X_OK):
        pytest.skip("tokend is not built (TOKEND_BIN)")
    for tool in ("dpkg", "ldd", "objdump"):
        need(tool)
    runtime = package_lists()[1]
    res = run(["ldd", built])
    assert res.returncode == 0, res.stderr
    libs = re.findall(r"=> (/\S+)", res.stdout)
    # dpkg records each file under the path its package used (/lib or
    # /usr/lib on a merged /usr): look the names up, not the paths.
    res = run(["dpkg", "-S"] + ["*/" + os.path.basename(l) for l in libs])
    owners = {}
    for line in res.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        owners.setdefault(os.path.basename(path), set()).update(
            p.split(":")[0] for p in pkgs.split(", "))
    base = re.compile(r"^(libc6|libgcc-s1|libasan\d+|libubsan\d+|libstdc\+\+6)$")
    # Only what tokend itself needs: the rest follows from package
    # dependencies.
    direct = set(re.findall(r"NEEDED\s+(\S+)",
                            run(["objdump", "-p", built]).stdout))
    uncovered = []
    for lib in libs:
        if os.path.basename(lib) not in direct:
            continue
        pkgs = owners.get(os.path.basename(lib), set())
        if not pkgs & set(runtime) and not any(base.match(p) for p in pkgs):
            uncovered.append((lib, sorted(pkgs)))
    assert uncovered == []


def test_entrypoint_is_valid_shell():
    res = run(["sh", "-n", os.path.join(DOCKER, "entrypoint.sh")])
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("config,args,expect", [
    (None, [], ["-c", "/etc/tokend/tokend.conf"]),
    ("/srv/t.conf", [], ["-c", "/srv/t.conf"]),
    ("/srv/t.conf", ["--check-config"], ["-c", "/srv/t.conf", "--check-config"]),
])
def test_entrypoint_runs_tokend(tmp_path, config, args, expect):
    """The entrypoint execs tokend (here a stand-in that prints its
    arguments) with the configured file and the container's arguments."""
    fake = tmp_path / "tokend"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ.get('PATH', '')}")
    env.pop("TOKEND_CONFIG", None)
    if config:
        env["TOKEND_CONFIG"] = config
    res = run(["sh", os.path.join(DOCKER, "entrypoint.sh")] + args, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == expect


# --- ECS -------------------------------------------------------------------

@pytest.fixture(scope="module")
def task():
    with open(os.path.join(DOCKER, "ecs-task-definition.json")) as f:
        return json.load(f)


def container(task, name):
    found = [c for c in task["containerDefinitions"] if c["name"] == name]
    assert len(found) == 1, name
    return found[0]


def test_ecs_task_is_fargate(task):
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["networkMode"] == "awsvpc"
    assert task["taskRoleArn"].startswith("arn:aws:iam::")
    # Fargate wants task-level cpu and memory as strings.
    assert isinstance(task["cpu"], str) and isinstance(task["memory"], str)
    for c in task["containerDefinitions"]:
        # The init step that prepares the socket volume may end.
        assert c["image"] and c["essential"] is (c["name"] != "tokend-init")
        log = c["logConfiguration"]
        assert log["logDriver"] == "awslogs"
        assert {"awslogs-group", "awslogs-region",
                "awslogs-stream-prefix"} <= set(log["options"])


def test_ecs_sidecar_and_app_share_the_socket(task):
    tokend, app = container(task, "tokend"), container(task, "app")
    assert tokend["healthCheck"]["command"] == ["CMD", "tokenctl", "health"]
    assert {"containerName": "tokend", "condition": "HEALTHY"} in app["dependsOn"]
    volumes = {v["name"] for v in task["volumes"]}

    def mount(c):
        (m,) = [m for m in c["mountPoints"]
                if m["containerPath"] == os.path.dirname(SOCKET_PATH)]
        assert m["sourceVolume"] in volumes
        return m

    assert mount(tokend)["sourceVolume"] == mount(app)["sourceVolume"]
    assert mount(tokend)["readOnly"] is False
    env = {e["name"]: e["value"] for e in app["environment"]}
    assert env["TOKEND_SOCKET"] == SOCKET_PATH


def test_ecs_app_group_matches_image(task):
    """The socket is 0660 in a 0750 directory of the image's tokend group:
    the app reaches it only with that gid."""
    gid = re.search(r"^ARG TOKEND_GID=(\d+)$", read(DOCKER, "Dockerfile"), re.M)
    assert gid
    assert container(task, "app")["user"].split(":")[1] == gid.group(1)
