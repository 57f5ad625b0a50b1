"""``python -m vidlong.eval [options]``: the same as ``vidlong eval [options]``."""
from __future__ import annotations

import argparse
import shlex
import sys

from ..errors import VidlongError
from .cli import add_eval_parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="vidlong")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["eval", *argv])
    args.command_line = " ".join(["python -m vidlong.eval", *map(shlex.quote, argv)])
    try:
        return args.run(args)
    except VidlongError as err:
        print(f"vidlong: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidlong: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
