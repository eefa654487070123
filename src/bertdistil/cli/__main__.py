"""``python -m bertdistil.cli`` = the ``bertdistil`` command."""
import sys

from .parser import main

sys.exit(main())
