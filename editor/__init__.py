"""editor — the graphmodel desktop program (PyQt6, pyqtgraph).

A view over the graph document and the trainer's events; it holds no model state that
the graph file does not hold. Qt is imported only here.
"""
