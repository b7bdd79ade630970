"""``python -m insight``: the same as the ``insight`` command."""
import sys

from insight.cli import main

sys.exit(main())
