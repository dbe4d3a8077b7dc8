"""SIGHUP reload: unchanged tokens keep their values, changed ones are
rebuilt, removed ones stop being served, new ones start; a bad config
leaves the running one untouched."""
import time

from harness import wait_for


def token_section(issuer, name, audience):
    return f"""
[token "{name}"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = {issuer.client_secret}
audience = {audience}
"""


HEAD = """
[daemon]
socket = {socket}
log_level = debug
"""


def served(tokend, name):
    status, doc = tokend.get_json(f"/v1/tokens/{name}")
    return doc if status == 200 else None


def test_reload_keeps_rebuilds_removes_and_adds(issuer, tokend_factory):
    tokend = tokend_factory(HEAD
                            + token_section(issuer, "keep", "https://keep/")
                            + token_section(issuer, "change", "https://before/")
                            + token_section(issuer, "gone", "https://gone/"))
    keep = served(tokend, "keep")
    change = served(tokend, "change")
    assert keep and change and served(tokend, "gone")
    calls = issuer.count()

    tokend.config_path.write_text((HEAD
                                   + token_section(issuer, "keep", "https://keep/")
                                   + token_section(issuer, "change", "https://after/")
                                   + token_section(issuer, "new", "https://new/"))
                                  .replace("{socket}", tokend.socket))
    before = len(tokend.notifications())
    tokend.reload()
    wait_for(lambda: "READY=1" in tokend.notifications()[before:], timeout=10,
             message="no READY=1 after the reload")
    msgs = tokend.notifications()[before:]
    assert any(m.startswith("RELOADING=1") for m in msgs), msgs
    assert msgs.index("READY=1") > [i for i, m in enumerate(msgs)
                                    if m.startswith("RELOADING=1")][0]

    after_keep = wait_for(lambda: served(tokend, "keep"))
    assert after_keep["token"] == keep["token"]
    assert after_keep["version"] == keep["version"]

    new_change = wait_for(lambda: (lambda d: d if d and d["version"] > change["version"] else None)(
        served(tokend, "change")), message="changed token was not rebuilt")
    assert new_change["token"] != change["token"]
    assert wait_for(lambda: served(tokend, "new"))
    assert tokend.get_json("/v1/tokens/gone")[0] == 404
    # keep cost nothing; change and new one issuer call each.
    assert issuer.count() == calls + 2
    names = [t["name"] for t in tokend.get_json("/v1/tokens")[1]["tokens"]]
    assert sorted(names) == ["change", "keep", "new"]


def test_bad_config_on_reload_keeps_running_config(issuer, tokend_factory):
    tokend = tokend_factory(HEAD + token_section(issuer, "api", "https://api/"))
    doc = served(tokend, "api")
    tokend.config_path.write_text("[daemon]\nsocket = " + tokend.socket + "\nbogus_key = 1\n")
    before = len(tokend.notifications())
    tokend.reload()
    wait_for(lambda: "reload failed" in tokend.log_text(), timeout=10)
    assert f"{tokend.config_path}:3:" in tokend.log_text()
    wait_for(lambda: "READY=1" in tokend.notifications()[before:], timeout=5)
    # Still serving the same token from the running config.
    again = served(tokend, "api")
    assert again["token"] == doc["token"] and again["version"] == doc["version"]
    assert tokend.running
