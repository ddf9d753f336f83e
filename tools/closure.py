"""Which firmware modules a board needs: the import closure of its entry point.

    python tools/closure.py --role first --transport uart [--port rp2] [--no-pairing] [--native]
                            [--no-viper]

tools/deploy.py ships only these modules. They are found by reading the
firmware's own imports (Python's ``ast``), so the list follows the code:

* the entry point is ``firmware/main.py``, the board's program: its imports
  and the ``ephkey.<name>`` it uses, each resolved through ``__init__.py``'s
  lazy names (``ephkey.serve`` -> server.serve, ``ephkey.run_board`` ->
  runtime.run_board), plus ``ephkey.runtime.pair`` where the board file
  allows device pairing (its ``pairing.enabled``, true by default);
* in a module reached through a lazy name (runtime's ``run_board`` and
  ``pair``, server's ``serve``) only the functions and classes that name
  reaches (by name, within the module) count, with the module's top-level
  code; every other module counts whole: its top-level imports and those
  inside its functions;
* an ``if`` that compares a role, a transport or the board's port with
  string constants (``role == "first"``, ``board.transport == "ble"``,
  ``port == "rp2"`` where the port is given, ``x in ("a", "b")``,
  ``!=``, ``not in``) follows only the branch(es) the board can take, and
  code after a taken branch that ends in ``return`` or ``raise`` is not
  reached;
* ``try: import X`` with an ``except ImportError`` fallback: the fallback's
  imports count only when X may fail to load: when X is the native X25519
  module (``_ephkey_x25519``, which replaces ``_x25519_viper`` and
  ``_fe25519``) and is not shipped, or when X is a viper module (one with
  ``@micropython.viper`` code) and the board's ``arch`` has no viper emitter
  (``--no-viper``): a board with one gets ``_hs`` without its Python twins
  ``_hs_py``, ``_ccm`` without ``_ccm_py``, ``_crc`` without ``_crc_py``;
* ``if TYPE_CHECKING:`` blocks never run on a board.

Imports of modules outside ``ephkey`` (asyncio, machine, aioble, emu, ...)
are the port's business and are not followed.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
PACKAGE = FIRMWARE / "ephkey"
PKG = "ephkey"
NATIVE = "_ephkey_x25519"  # a top-level module (tools/natmod.py)
ROLES = ("first", "second")
TRANSPORTS = ("uart", "ble", "tcp", "usb")
# names whose comparison with string constants an `if` is decided on
_KEYS = {"role": "role", "roles": "role", "transport": "transport", "port": "port"}
# the stations' flags (first.py, second.py) for code only some suites load:
# X25519 for suites 2 and 3, CPace for suite 3; flag -> the suites that set it
_SUITE_FLAGS = {"suite2": frozenset((2, 3)), "suite3": frozenset((3,)),
                "user3": frozenset((3,))}
# mpy-cross -march values with a native (and so viper) emitter (py/mpconfig.h)
VIPER_ARCHS = frozenset(("x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
                         "armv7emdp", "xtensa", "xtensawin", "rv32imc"))


def module_names() -> set[str]:
    return {p.stem for p in PACKAGE.glob("*.py")}


def has_viper(arch: str | None) -> bool:
    """Whether code compiled for a board file's ``arch`` can run viper."""
    return arch in VIPER_ARCHS


@cache
def viper_modules() -> frozenset[str]:
    """The package's modules with viper functions (``@micropython.viper``)."""
    out = set()
    for name in module_names():
        for node in ast.walk(_parse(name)):
            if isinstance(node, ast.FunctionDef) and any(
                    ast.unparse(d) == "micropython.viper" for d in node.decorator_list):
                out.add(name)
                break
    return frozenset(out)


def _parse(name: str) -> ast.Module:
    path = FIRMWARE / "main.py" if name == "main" else PACKAGE / f"{name}.py"
    return ast.parse(path.read_text(), str(path))


@dataclass
class Env:
    """What the board can be: its roles and transport, what is shipped."""

    roles: frozenset[str]
    transports: frozenset[str]
    shipped_native: frozenset[str] = frozenset()
    suites: frozenset[int] = frozenset((1, 2, 3))  # the suites its stations may run
    viper: frozenset[str] = frozenset()  # viper modules that load (empty: no emitter)
    ports: frozenset[str] = frozenset()  # the board's MicroPython port (empty: any)

    def values(self, key: str) -> frozenset[str]:
        return {"role": self.roles, "transport": self.transports, "port": self.ports}[key]


@dataclass
class Found:
    modules: set[str] = field(default_factory=set)  # ephkey modules
    native: set[str] = field(default_factory=set)  # top-level native modules
    calls: set[str] = field(default_factory=set)  # names used (entry module's reach)
    lazy: set[str] = field(default_factory=set)  # ephkey.<name> used (__init__'s _LAZY)


def _key_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return _KEYS.get(node.id)
    if isinstance(node, ast.Attribute):
        return _KEYS.get(node.attr)
    return None


def _strings(node: ast.expr) -> set[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        out = set()
        for elt in node.elts:
            if not (isinstance(elt, ast.Constant) and isinstance(elt.value, str)):
                return None
            out.add(elt.value)
        return out
    return None


def decide(test: ast.expr, env: Env) -> tuple[bool, bool]:
    """(can be true, can be false) for this board; (True, True) when unknown."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        t, f = decide(test.operand, env)
        return f, t
    flag = test.id if isinstance(test, ast.Name) else \
        test.attr if isinstance(test, ast.Attribute) else None
    if flag in _SUITE_FLAGS:  # a station's flag can be true only if a suite needs it
        return bool(_SUITE_FLAGS[flag] & env.suites), True
    if flag == "TYPE_CHECKING":  # true for mypy only
        return False, True
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return True, True
    key, consts = _key_of(test.left), _strings(test.comparators[0])
    if key is None or consts is None or not env.values(key):
        return True, True
    op = test.ops[0]
    if isinstance(op, (ast.Eq, ast.In)):
        hits = {v in consts for v in env.values(key)}
    elif isinstance(op, (ast.NotEq, ast.NotIn)):
        hits = {v not in consts for v in env.values(key)}
    else:
        return True, True
    return True in hits, False in hits


def _import_targets(node: ast.Import | ast.ImportFrom, pkg_modules: set[str]
                    ) -> tuple[set[str], set[str]]:
    """(ephkey modules, other top-level modules) that an import statement loads."""
    mods: set[str] = set()
    other: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] == PKG and len(parts) > 1:
                mods.add(parts[1])
            else:
                other.add(parts[0])
        return mods, other
    base = node.module or ""
    if node.level == 0 and base.split(".")[0] != PKG:
        other.add(base.split(".")[0])
        return mods, other
    sub = base.split(".")[1] if node.level == 0 and "." in base else (base if node.level else "")
    if sub:
        mods.add(sub.split(".")[0])
    else:  # from . import a, b: modules of the package (or names of __init__)
        for alias in node.names:
            if alias.name in pkg_modules:
                mods.add(alias.name)
    return mods, other


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    t = handler.type
    names = t.elts if isinstance(t, ast.Tuple) else [t] if t is not None else []
    return any(isinstance(n, ast.Name) and n.id == "ImportError" for n in names)


def scan(stmts: Iterable[ast.stmt], env: Env, found: Found, pkg_modules: set[str],
         *, into_defs: bool) -> bool:
    """Collect the imports of a block that this board reaches; True if the block
    certainly ends (return/raise) on the way. Function bodies are scanned only
    with into_defs (the entry module scans the reachable ones itself)."""
    for st in stmts:
        found.lazy |= _lazy_names(st)
        if isinstance(st, (ast.Import, ast.ImportFrom)):
            mods, other = _import_targets(st, pkg_modules)
            found.modules |= mods
            found.native |= {o for o in other if o == NATIVE}
        elif isinstance(st, ast.If):
            can_t, can_f = decide(st.test, env)
            ended_t = can_t and scan(st.body, env, found, pkg_modules, into_defs=into_defs)
            ended_f = can_f and scan(st.orelse, env, found, pkg_modules, into_defs=into_defs)
            if (ended_t or not can_t) and (ended_f or not can_f):
                return True  # every branch this board can take returns or raises
        elif isinstance(st, ast.Try):
            inner = Found()
            scan(st.body, env, inner, pkg_modules, into_defs=into_defs)
            found.modules |= inner.modules
            found.native |= inner.native
            tried = inner.native | inner.modules
            fallback_needed = not (tried and tried <= env.shipped_native | env.viper)
            for h in st.handlers:
                if fallback_needed or not _catches_import_error(h):
                    scan(h.body, env, found, pkg_modules, into_defs=into_defs)
            scan(st.orelse, env, found, pkg_modules, into_defs=into_defs)
            scan(st.finalbody, env, found, pkg_modules, into_defs=into_defs)
        elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if into_defs:
                scan(st.body, env, found, pkg_modules, into_defs=True)
        elif isinstance(st, ast.ClassDef):
            scan(st.body, env, found, pkg_modules, into_defs=into_defs)
        elif isinstance(st, (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
            scan(st.body, env, found, pkg_modules, into_defs=into_defs)
            scan(getattr(st, "orelse", []), env, found, pkg_modules, into_defs=into_defs)
        elif isinstance(st, (ast.Return, ast.Raise)):
            return True
    return False


_BLOCKS = ("body", "orelse", "handlers", "finalbody")


def _lazy_names(st: ast.stmt) -> set[str]:
    """The ``ephkey.<name>`` that a statement uses outside its nested blocks
    (those are scanned as the board's decisions allow)."""
    out = set()
    for name, value in ast.iter_fields(st):
        if name in _BLOCKS:
            continue
        for node in value if isinstance(value, list) else [value]:
            if isinstance(node, ast.AST):
                out |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
                        and isinstance(n.value, ast.Name) and n.value.id == PKG}
    return out


def lazy_table() -> dict[str, tuple[str, str]]:
    """__init__.py's ``_LAZY``: name -> (module, attribute)."""
    for st in _parse("__init__").body:
        if isinstance(st, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_LAZY" for t in st.targets):
            table: dict[str, tuple[str, str]] = ast.literal_eval(st.value)
            return table
    raise ValueError("firmware/ephkey/__init__.py has no _LAZY table")


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def entry_imports(module: str, entries: set[str], env: Env, pkg_modules: set[str]) -> Found:
    """A module entered by name: its top-level code, and the functions and
    classes `entries` reach."""
    tree = _parse(module)
    defs = {st.name: st for st in tree.body
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    found = Found()
    scan(tree.body, env, found, pkg_modules, into_defs=False)
    todo = [e for e in entries if e in defs]
    if len(todo) != len(entries):
        raise ValueError(f"{module} has no {sorted(entries - set(defs))}")
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        fn = defs[name]
        scan(fn.body, env, found, pkg_modules, into_defs=True)
        todo += [n for n in _names_used(fn) if n in defs and n not in seen]
    found.calls = seen
    return found


@dataclass
class Closure:
    modules: list[str]  # ephkey module names, sorted
    native: list[str]  # top-level native modules to ship
    entry: str


def closure(roles: Iterable[str], transport: str, *, pairing: bool = True,
            native: Iterable[str] = (), suites: Iterable[int] = (1, 2, 3),
            viper: bool = False, port: str | None = None) -> Closure:
    """The ephkey modules (and native modules) a board with these roles and this
    transport runs; ``native``: the native modules that can be shipped (built
    for the board's arch); ``suites``: those its stations can run (board_suites);
    ``viper``: the board's arch has a viper emitter (has_viper), so the Python
    twins of viper modules stay out; ``port``: the board file's port (None:
    code for any port)."""
    env = Env(frozenset(roles), frozenset([transport]), frozenset(native), frozenset(suites),
              viper_modules() if viper else frozenset(), frozenset([port] if port else []))
    pkg_modules = module_names()
    lazy = lazy_table()
    program = Found()
    scan(_parse("main").body, env, program, pkg_modules, into_defs=True)
    if not program.lazy:
        raise ValueError("firmware/main.py uses no ephkey.<name>: no entry point")
    # functions reached through a lazy name: their module is followed from them only
    entries: dict[str, set[str]] = {}
    whole = set(program.modules)
    for name in sorted(program.lazy):
        if name not in lazy:
            raise ValueError(f"firmware/main.py uses ephkey.{name}, which ephkey does not have")
        mod, attr = lazy[name]
        entries.setdefault(mod, set()).add(attr)
    if pairing:
        entries.setdefault("runtime", set()).add("pair")
    need = {"__init__"}
    natives = set(program.native)
    todo = sorted(whole)
    for mod, attrs in sorted(entries.items()):
        defs = {st.name for st in _parse(mod).body
                if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        if not attrs <= defs:  # a constant: the module counts whole
            todo.append(mod)
            continue
        part = entry_imports(mod, attrs, env, pkg_modules)
        need.add(mod)
        natives |= part.native
        todo += sorted(part.modules)
    scanned: set[str] = set()
    while todo:
        name = todo.pop()
        if name in scanned:
            continue
        if name not in pkg_modules:
            raise ValueError(f"ephkey.{name} is imported but firmware/ephkey/{name}.py "
                             "does not exist")
        scanned.add(name)
        need.add(name)
        found = Found()
        scan(_parse(name).body, env, found, pkg_modules, into_defs=True)
        natives |= found.native
        todo += sorted(found.modules - scanned)
    entry = ", ".join(f"{PKG}.{m}.{'/'.join(sorted(a))}" for m, a in sorted(entries.items()))
    return Closure(sorted(need), sorted(natives & set(native)), entry)


def board_suites(doc: dict[str, Any]) -> frozenset[int]:
    """The suites a board file's stations can run: the first station's
    ``suites`` and the second's ``offer`` (the firmware's defaults, 2 and 1,
    where a role's section does not say)."""
    out: set[int] = set()
    for role, key in (("first", "suites"), ("second", "offer")):
        if role in doc.get("roles", ()):
            out |= set(doc.get(role, {}).get(key, (2, 1)))
    return frozenset(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", action="append", choices=ROLES, required=True)
    parser.add_argument("--transport", choices=TRANSPORTS, required=True)
    parser.add_argument("--no-pairing", action="store_true", help="device pairing disabled")
    parser.add_argument("--suites", default="1,2,3",
                        help="the suites the board's stations run (default 1,2,3)")
    parser.add_argument("--native", action="store_true",
                        help=f"the native X25519 module ({NATIVE}) is shipped")
    parser.add_argument("--no-viper", action="store_true",
                        help="the board's arch has no viper emitter: ship the Python twins")
    parser.add_argument("--port", help="the board's MicroPython port (rp2, esp32, ...)")
    args = parser.parse_args(argv)
    c = closure(args.role, args.transport, pairing=not args.no_pairing,
                native=[NATIVE] if args.native else [],
                suites=[int(x) for x in args.suites.split(",")], viper=not args.no_viper,
                port=args.port)
    print(f"entry {c.entry}: {len(c.modules)} modules")
    for m in c.modules + c.native:
        print(" ", m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
