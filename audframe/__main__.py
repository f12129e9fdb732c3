"""``python -m audframe``: the same command as the ``audframe`` console script."""

import sys

from audframe.cli import main

sys.exit(main())
