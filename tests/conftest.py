import os

# Figures render off-screen in tests and notebooks alike.
os.environ.setdefault("MPLBACKEND", "Agg")
