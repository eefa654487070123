"""``python -m bertdistil`` (and ``torchrun -m bertdistil``) = the ``bertdistil`` command."""
import sys

from .cli import main

sys.exit(main())
