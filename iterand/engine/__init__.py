"""The training engine: the run's configuration, data, optimiser, the loop, checkpoints and DDP.

Uses ``iterand.core``; imports nothing from ``iterand.experiments``. ``config`` and ``datasets`` are
torch-free.
"""
