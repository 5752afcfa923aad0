"""`python -m aiuteur`: the command line."""

import sys

from aiuteur.cli import main

sys.exit(main())
