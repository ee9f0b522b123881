"""``python -m editor [FILE]`` — the same as ``graphmodel edit [FILE]``."""

import sys

from .app import main

# guarded: the training process (multiprocessing's spawn) imports this module again
if __name__ == "__main__":
    sys.exit(main())
