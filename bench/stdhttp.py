"""The standard library's `http.client`, for the scripts in bench/.

A script's folder comes first on sys.path, and bench/http.py is named after the
standard `http` package: a plain `import http.client` from a script here finds the
benchmark instead. This module imports the standard one with bench/ off the path;
it stays in sys.modules, so later imports (uvicorn's, httpx's...) get it too.
"""

import importlib
import os
import sys
from types import ModuleType


def _standard_client() -> ModuleType:
    here = os.path.dirname(os.path.realpath(__file__))
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if os.path.realpath(p or os.curdir) != here]
    if getattr(sys.modules.get("http"), "__path__", None) is None:
        sys.modules.pop("http", None)  # bench/http.py got in first: not a package
    try:
        return importlib.import_module("http.client")
    finally:
        sys.path[:] = saved


client = _standard_client()
