"""The method: subnetwork layers, masks, weight distributions and updates, models, conversion, export.

Imports nothing from ``iterand.engine`` or ``iterand.experiments``; ``names`` is torch-free.
"""
