"""`python -m app`: the command line (no command launches the web app)."""

import sys

from models.engine.runtime import prefer_onednn

prefer_onednn()  # before anything imports TensorFlow, which reads it once

from app.cli import main  # noqa: E402

sys.exit(main())
