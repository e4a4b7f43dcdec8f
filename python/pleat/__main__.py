"""`python -m pleat …`: runs the `pleat` binary installed with this package, with the same arguments."""

from __future__ import annotations

import os
import sys

from pleat import find_pleat_bin


def main() -> None:
    pleat = find_pleat_bin()
    if sys.platform == "win32":
        import subprocess

        sys.exit(subprocess.call([pleat, *sys.argv[1:]]))
    os.execvp(pleat, [pleat, *sys.argv[1:]])


if __name__ == "__main__":
    main()
