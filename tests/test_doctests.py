"""The worked examples in the docstrings are tests too: they must stay true."""

import doctest
import importlib
import pkgutil

import pytest

import healthmap

MODULES = sorted(m.name for m in pkgutil.walk_packages(healthmap.__path__, "healthmap.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
