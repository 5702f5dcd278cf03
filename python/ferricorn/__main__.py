"""``python -m ferricorn`` and the ``ferricorn`` console script.

Hands the command line to the Rust core and exits with its status. Nothing
here may print a traceback for a user error: the core reports those as one
line on stderr and returns a non-zero status.
"""

import sys


def main() -> None:
    from ferricorn._ferricorn import run

    try:
        code = run(["ferricorn"] + sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C before the master installed its handlers
        code = 130
    sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
