"""``python -m vidlong.eval [options]``: the same as ``vidlong eval [options]``."""
import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
