"""`make install` with the default prefix, and the README's systemd steps
followed one by one, as far as a machine without systemd as PID 1 allows.

The install goes into a DESTDIR; the README's commands run against it
with their offline forms (systemd-sysusers/systemd-tmpfiles --root,
systemctl --root enable). What cannot run here (daemon-reload, --now,
usermod) is listed in the README and skipped by name below, so a new step
in the README fails this test until it is handled here.
"""
import glob
import grp
import os
import re
import shutil
import subprocess

import pytest

SRCDIR = os.environ.get("TOKEND_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = "/etc/tokend/tokend.conf"
EXAMPLE = "/etc/tokend/tokend.conf.example"
QUIET_ENV = dict(os.environ, SYSTEMD_PAGER="", SYSTEMD_COLORS="0", LC_ALL="C.UTF-8")


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          env=kw.pop("env", QUIET_ENV), **kw)


def builddir():
    d = os.environ.get("abs_top_builddir")
    if not d and os.environ.get("TOKEND_BIN"):
        d = os.path.dirname(os.path.dirname(os.path.abspath(os.environ["TOKEND_BIN"])))
    if not d or not os.path.exists(os.path.join(d, "Makefile")):
        pytest.skip("no configured build tree (set abs_top_builddir or TOKEND_BIN)")
    return d


def make_var(bdir, name):
    with open(os.path.join(bdir, "Makefile"), encoding="utf-8") as f:
        m = re.search(rf"^{name} = (.*)$", f.read(), re.M)
    return m.group(1).strip() if m else None


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(destdir, make variables) after `make install prefix=/usr/local`."""
    bdir = builddir()
    if make_var(bdir, "tokendconfigdir") != "/etc/tokend":
        pytest.skip("tree configured with another --with-configdir")
    if make_var(bdir, "systemdsystemunitdir") in (None, "", "no"):
        pytest.skip("tree configured without a systemd unit directory")
    tmp = tmp_path_factory.mktemp("install")
    dest = tmp / "root"
    # prefix=/usr/local whatever the tree was configured with; the units
    # are generated afresh in a scratch OPS_GEN so none is stale.
    res = run(["make", "-C", bdir, "install", "prefix=/usr/local",
               f"DESTDIR={dest}", f"OPS_GEN={tmp}/ops-gen"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    dirs = {v: make_var(bdir, v) for v in
            ("systemdsystemunitdir", "sysusersdir", "tmpfilesdir")}
    return dest, dirs


def unit_values(path, key):
    with open(path, encoding="utf-8") as f:
        return [l.split("=", 1)[1] for l in f.read().splitlines()
                if l.startswith(key + "=")]


def readme_systemd_block():
    with open(os.path.join(SRCDIR, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## Under systemd"):]
    section = section[:section.index("\n## ", 3)]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return section, [l.split("  #")[0].strip() for l in block.splitlines()
                     if l.strip()]


def binary_default(tokend_bin):
    out = run([tokend_bin, "--help"]).stdout
    # "(default $TOKEND_CONFIG, else /etc/tokend/tokend.conf)"
    return re.search(r"\(default (?:\$TOKEND_CONFIG, else )?([^\s)]+)\)", out).group(1)


def test_one_config_path_whatever_the_prefix(installed, tokend_bin):
    dest, dirs = installed
    unit = f"{dest}{dirs['systemdsystemunitdir']}/tokend.service"
    (exec_start,) = unit_values(unit, "ExecStart")
    assert exec_start == f"/usr/local/bin/tokend -c {CONFIG}"
    assert os.access(f"{dest}/usr/local/bin/tokend", os.X_OK)
    assert unit_values(unit, "ConfigurationDirectory") == ["tokend"]
    # The binary's default, tokend(8) (installed copy) and the README.
    assert binary_default(tokend_bin) == CONFIG
    with open(f"{dest}/usr/local/share/man/man8/tokend.8", encoding="utf-8") as f:
        files = f.read().split(".Sh FILES", 1)[1].split(".Sh ", 1)[0]
    assert f".It Pa {CONFIG}\nDefault configuration file." in files
    assert f".It Pa {EXAMPLE}\n" in files
    assert os.path.isfile(f"{dest}{EXAMPLE}")
    section, steps = readme_systemd_block()
    assert f"tokend -c {CONFIG} --check-config" in steps
    paths = set(re.findall(r"/etc/tokend/[\w.]+", section))
    assert paths == {CONFIG, EXAMPLE}, paths
    # Nothing installed names a configuration under the prefix.
    for path in glob.glob(f"{dest}/**/tokend.*", recursive=True):
        if os.path.isfile(path) and not path.endswith("tokend"):
            with open(path, encoding="utf-8", errors="replace") as f:
                assert "/usr/local/etc" not in f.read(), path


def test_installed_units_verify(installed, tmp_path):
    """systemd-analyze verify on the installed units; ExecStart= is pointed
    at the DESTDIR copy of the binary it names (verify checks that the
    program exists), nothing else changes."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    dest, dirs = installed
    unitdir = f"{dest}{dirs['systemdsystemunitdir']}"
    with open(f"{unitdir}/tokend.service", encoding="utf-8") as f:
        text = f.read()
    (tmp_path / "tokend.service").write_text(text.replace(
        "ExecStart=/usr/local/bin/tokend", f"ExecStart={dest}/usr/local/bin/tokend"))
    shutil.copy(f"{unitdir}/tokend.socket", tmp_path)
    res = run(["systemd-analyze", "verify", "--man=no",
               str(tmp_path / "tokend.service"), str(tmp_path / "tokend.socket")])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "" and res.stderr.strip() == "", res.stderr


def test_readme_systemd_steps(installed, tokend_bin):
    """Each command of the README's block, in order, on the DESTDIR."""
    dest, dirs = installed
    for tool in ("systemd-sysusers", "systemd-tmpfiles", "systemctl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    _, steps = readme_systemd_block()
    not_here = []
    for step in steps:
        argv = step.split()
        if step == "make install":
            continue  # done by the fixture, into DESTDIR
        if argv[0] in ("systemd-sysusers", "systemd-tmpfiles"):
            res = run([argv[0], f"--root={dest}"] + argv[1:])
            assert res.returncode == 0, step + res.stderr
        elif argv[0] == "install":
            # install -m MODE -g tokend SRC DST, the group from DESTDIR's
            # /etc/group (the one systemd-sysusers just wrote).
            assert argv[1:5] == ["-m", "0640", "-g", "tokend"], step
            src, dst = f"{dest}{argv[5]}", f"{dest}{argv[6]}"
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o640)
            with open(f"{dest}/etc/group", encoding="utf-8") as f:
                gid = [int(l.split(":")[2]) for l in f if l.startswith("tokend:")][0]
            os.chown(dst, -1, gid)
        elif argv[0] == "tokend":
            res = run([tokend_bin, "-c", f"{dest}{argv[2]}"] + argv[3:])
            assert res.returncode == 0, step + res.stdout + res.stderr
        elif argv[:3] == ["systemctl", "enable", "--now"]:
            res = run(["systemctl", f"--root={dest}", "enable"] + argv[3:])
            assert res.returncode == 0, step + res.stderr
            not_here.append("--now")
        elif step in ("systemctl daemon-reload", "usermod -aG tokend USER"):
            not_here.append(step)
        else:
            pytest.fail(f"README step not followed by this test: {step}")
    assert not_here == ["systemctl daemon-reload", "--now", "usermod -aG tokend USER"]

    # What the steps left behind.
    with open(f"{dest}/etc/passwd", encoding="utf-8") as f:
        user = [l.split(":") for l in f if l.startswith("tokend:")][0]
    uid, gid = int(user[2]), int(user[3])
    st = os.stat(f"{dest}/run/tokend")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, 0o750)
    st = os.stat(f"{dest}{CONFIG}")
    assert (st.st_gid, st.st_mode & 0o777) == (gid, 0o640)
    wants = {
        "sockets.target.wants/tokend.socket": "tokend.socket",
        "multi-user.target.wants/tokend.service": "tokend.service",
    }
    for link, unit in wants.items():
        target = os.readlink(f"{dest}/etc/systemd/system/{link}")
        assert target == f"{dirs['systemdsystemunitdir']}/{unit}"
