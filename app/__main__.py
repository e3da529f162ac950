"""`python -m app`: the command line (no command launches the web app)."""

import sys

from app.cli import main

sys.exit(main())
