"""The ``graphmodel`` command line: the top layer (cli → editor → inference → graphmodel).

``main(argv)`` runs one command and returns its exit code; ``build_parser()`` is the
argparse parser the reference pages and the tests read. Run it as ``graphmodel …``,
``python -m graphmodel …`` or ``python -m cli …`` (the form ``torchrun -m`` needs).
"""

import os
import sys

# Transparent huge pages for torch's large CPU buffers (a sequence LSTM's oneDNN workspace is
# tens of MB, allocated afresh each step): far fewer page faults, SketchRNN's CPU step about
# 7 % faster. torch reads the setting once, at its first allocation, so it is set before torch
# is imported (the training and editor processes the command starts inherit it); a value the
# user set is kept, and where torch is already imported nothing changes.
if "torch" not in sys.modules:
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from .commands import build_parser, main  # noqa: E402 - after the setting above

__all__ = ["build_parser", "main"]
