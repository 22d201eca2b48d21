"""``python -m iterand``: see ``iterand.experiments.cli`` for the commands (one GPU, torchrun, multi-node)."""

import sys

from bookkeeping.errors import EXIT_INTERRUPTED

try:
    from iterand.experiments.cli import main
except KeyboardInterrupt:
    # Importing torch takes seconds; a Ctrl-C (or a stopping sweep's SIGINT) then ends in one line too.
    print("interrupted", file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)

sys.exit(main())
