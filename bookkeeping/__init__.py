"""The bottom layer shared by ``theory``, ``iterand`` and ``repro``: run bookkeeping and input checks.

``paths`` owns every file name and output location, ``files`` writes them (atomic JSON, JSON-lines
metrics, YAML read with one-line errors, output locations checked before work starts), ``locks`` keeps
one process per run directory, ``provenance`` records how a result was produced (parameters, seed,
package versions, git commit), ``tables`` writes the data behind each figure (CSV/JSON), ``validation``
holds the argument checks whose messages name the field and what is allowed, ``errors`` the base class
of every error a user can act on and how the command lines report what ends them, and ``signals`` how a
SIGTERM or SIGHUP stops work as Ctrl-C does. Standard library, numpy and PyYAML only: it imports nothing
of the packages above it (``tests/test_architecture.py`` checks).
"""
