"""The paper's experiments: presets, sweeps (definitions, planning, launcher), results, the command line.

Uses ``iterand.engine`` and ``iterand.core``.
"""
