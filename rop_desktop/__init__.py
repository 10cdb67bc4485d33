"""ROP Desktop: annotate, grade and model Retinopathy of Prematurity images."""

__version__ = "0.1.0"
