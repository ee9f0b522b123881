"""inference — learning for graphmodel graphs.

The loss algebra and the objectives derived from a graph, the trainer and its events,
datasets, evaluation, and the ``graphmodel`` command line. Imports ``graphmodel`` and
torch, never Qt.
"""
