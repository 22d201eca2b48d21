"""``python -m iterand.experiments.sweep_child STATUS_FILE CONFIG_FILE OUT``: one run of a concurrent sweep in
its own process (``launcher.child_main``), named so in ``ps`` and ``top``.

SIGINT is made to stop it before anything slow is imported, as in ``iterand/__main__.py``: the sweep stops
it with one SIGINT, which may come while torch is imported.
"""

import sys

from bookkeeping import signals

if __name__ == "__main__":
    signals.interrupt_on_sigint()
    from iterand.experiments.launcher import child_main

    sys.exit(child_main(sys.argv[1:]))
