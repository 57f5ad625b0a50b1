"""``python -m vidlong ...``: the same as the ``vidlong`` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
