"""The training engine: the run's configuration, data, optimiser, the loop, checkpoints, DDP, compact files.

Uses ``iterand.core``; imports nothing from ``iterand.experiments``. ``config`` and ``datasets`` are
torch-free.
"""
