"""``python -m ephkey_host``: see :mod:`ephkey_host.cli`."""

import sys

from .cli import main

sys.exit(main())
