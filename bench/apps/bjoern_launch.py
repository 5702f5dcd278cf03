"""bjoern has no command line: ``python bjoern_launch.py HOST PORT module:callable``."""

import importlib
import sys


def main() -> None:
    host, port, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    mod, _, attr = target.partition(":")
    app = getattr(importlib.import_module(mod), attr or "application")
    import bjoern

    bjoern.run(app, host, port)


if __name__ == "__main__":
    main()
