"""``python -m iterand``: see ``iterand.experiments.cli`` for the commands (one GPU, torchrun, multi-node)."""

import sys

from iterand.experiments.cli import main

sys.exit(main())
