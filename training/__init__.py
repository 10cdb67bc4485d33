"""Headless PyTorch training for ROP models (no Qt, nothing of ``rop_desktop``).

Reads dataset snapshots, writes model bundles. See ``training/README.md``.
"""

__version__ = "0.1.0"
