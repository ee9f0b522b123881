"""Presentation of graphs: formulas (Unicode, LaTeX) and DOT diagrams."""
