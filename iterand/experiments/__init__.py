"""The paper's experiments: presets, sweeps (definitions, planning, launcher), the figures' runs, rows and
plots, results, the command line.

Uses ``iterand.engine`` and ``iterand.core``.
"""
