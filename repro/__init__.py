"""The papermill runner: ``notebooks`` executes the jupytext notebooks with a named parameter set.

It sits on top of ``bookkeeping`` (paths, provenance) and imports neither ``theory`` nor ``iterand``: the
notebooks it executes import those in their own kernel.
"""
