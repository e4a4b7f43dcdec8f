"""Weak, type-only, relative, dynamic and lazy imports."""
import os.path as osp, sys
from . import sibling
from ..pkg.sub import (a as b, c)
from .mod import *

try:
    import ujson as json
except ImportError:
    import json

from contextlib import suppress
with suppress(ImportError):
    import yaml

if TYPE_CHECKING:
    from collections.abc import Iterator

mod = __import__("xml.etree.ElementTree")
import importlib
plugin = importlib.import_module(".plugins", __package__)
name = "package.module.attr"
import numpy  # pleat: no-infer-dep

__all__ = ["alpha", "beta"]

def __getattr__(name):
    return importlib.import_module("." + name, __name__)

def f():
    """
    >>> f()
    1
    """
    import inner
    return 1
