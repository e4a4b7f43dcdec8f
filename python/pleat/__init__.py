"""Pleat: the `pleat` binary, shipped in this wheel. `find_pleat_bin()` gives its path."""

from __future__ import annotations

import os
import sys
import sysconfig


def find_pleat_bin() -> str:
    """The path of the `pleat` binary this package installed (in the scripts folder of its
    environment, or of the user scheme with `pip install --user`)."""
    name = "pleat" + (sysconfig.get_config_var("EXE") or "")
    candidates = [os.path.join(sysconfig.get_path("scripts"), name)]
    if sys.version_info >= (3, 10):
        user_scheme = sysconfig.get_preferred_scheme("user")
    elif os.name == "nt":
        user_scheme = "nt_user"
    else:
        user_scheme = "posix_user"
    candidates.append(os.path.join(sysconfig.get_path("scripts", scheme=user_scheme), name))
    # pip install --target: the binary sits in <target>/bin beside the package.
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates.append(os.path.join(here, "bin", name))
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError("the pleat binary is not where this package installs it: " + ", ".join(candidates))
