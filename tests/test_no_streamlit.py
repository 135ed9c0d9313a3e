"""``healthmap`` never imports streamlit (README, design notes): usable from the CLI, a
notebook or a worker without the UI library. Checked two ways: no import statement naming
streamlit anywhere in the package's source (lazy imports inside functions included), and
importing every module leaves streamlit unloaded."""

import ast
import subprocess
import sys
from pathlib import Path

import healthmap

PACKAGE = Path(healthmap.__file__).resolve().parent


def streamlit_imports(package: Path) -> list[str]:
    """``file:line`` of every import statement under ``package`` that names streamlit."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                    node.func, "id", "")) in ("import_module", "__import__") and node.args
                    and isinstance(node.args[0], ast.Constant)):
                names = [str(node.args[0].value)]
            else:
                continue
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                found.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return found


def test_the_check_sees_a_lazy_import(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("import os\n\ndef f():\n"
                                           "    from streamlit.proto import ForwardMsg_pb2\n")
    (tmp_path / "pkg" / "b.py").write_text("import importlib\n"
                                           "st = importlib.import_module('streamlit')\n")
    (tmp_path / "pkg" / "c.py").write_text("import streamlit_like_name\n")
    assert streamlit_imports(tmp_path / "pkg") == ["pkg/a.py:4", "pkg/b.py:2"]


def test_no_module_under_healthmap_imports_streamlit():
    assert streamlit_imports(PACKAGE) == []


def test_importing_every_module_leaves_streamlit_unloaded():
    code = ("import importlib, pkgutil, sys, healthmap\n"
            "for m in pkgutil.walk_packages(healthmap.__path__, 'healthmap.'):\n"
            "    if not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] == 'streamlit'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=PACKAGE.parent, check=True)
    assert out.stdout.strip() == "[]"
