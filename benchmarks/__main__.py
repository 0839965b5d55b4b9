"""``python -m benchmarks``: time zoo or timm models side by side (see :mod:`benchmarks.cli`)."""

import sys

from benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
