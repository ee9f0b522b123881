"""``python -m graphmodel …``: the ``graphmodel`` command.

The command line (package ``cli``) sits above every package (it opens the editor for
``edit``), so it is looked up by name when this runs; importing ``graphmodel`` never loads it.
"""

import importlib
import sys

if __name__ == "__main__":
    sys.exit(importlib.import_module("cli").main())
