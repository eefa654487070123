"""``python -m bertdistil`` (and ``torchrun -m bertdistil``) = the ``bertdistil`` command."""
import sys

from .cli.parser import main

sys.exit(main())
