"""``python -m iterand``: see ``iterand.cli`` for the commands (single-GPU, torchrun and multi-node)."""

import sys

from iterand import cpu_runtime

cpu_runtime.sleep_waiting_threads()  # before torch is imported: libgomp reads it once

from iterand.cli import main  # noqa: E402

sys.exit(main())
