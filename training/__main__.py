"""``python -m training`` = ``rop-train`` (also what ``torchrun -m training train ...`` runs)."""

import sys

from training.cli import main

if __name__ == "__main__":
    sys.exit(main())
