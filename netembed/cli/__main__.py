"""``python -m netembed.cli``: the command line, its exit code the process's."""

import sys

from netembed.cli import main

sys.exit(main())
