"""The ``graphmodel`` command line: the top layer (cli → editor → inference → graphmodel).

``main(argv)`` runs one command and returns its exit code; ``build_parser()`` is the
argparse parser the reference pages and the tests read. Run it as ``graphmodel …``,
``python -m graphmodel …`` or ``python -m cli …`` (the form ``torchrun -m`` needs).
"""

from .commands import build_parser, main

__all__ = ["build_parser", "main"]
