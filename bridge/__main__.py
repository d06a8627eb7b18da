"""``python -m bridge``: the ``gitlab-bridge`` command."""

import sys

from bridge.cli.main import main

sys.exit(main())
