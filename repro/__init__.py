"""Run bookkeeping shared by the theory module, the training package and the notebooks.

``paths`` owns every output file name, ``provenance`` records how a result was produced (parameters, seed,
package versions, git commit), ``tables`` writes the data behind each figure, and ``notebooks`` executes the
jupytext notebooks through papermill with a named parameter set.
"""
