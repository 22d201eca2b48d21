"""``python -m iterand``: see ``iterand.cli`` for the commands (single-GPU, torchrun and multi-node)."""

import sys

from iterand.cli import main

sys.exit(main())
