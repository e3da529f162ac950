"""`python -m models.engine RUN_DIR`: train (or continue) one run in this process; the launcher's child."""

from __future__ import annotations

import argparse
import sys

from models.engine.runtime import prefer_onednn

prefer_onednn()  # before anything imports TensorFlow, which reads it once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.engine", description=__doc__)
    parser.add_argument("run", help="the run directory (config.json inside)")
    parser.add_argument("--resume", action="store_true", help="continue from its last checkpoint")
    parser.add_argument("--progress", action="store_true", help="draw a progress bar")
    args = parser.parse_args(argv)

    from data.errors import DataError
    from models.engine.train import run_training
    from models.run_dir import ENDED_WELL_STATES, RunDir

    run = RunDir(args.run)
    try:
        run_training(run, resume=args.resume, verbose=args.progress)
    except DataError as err:  # recorded in status.json as failed; the log gets the same words
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0 if run.status().get("state") in ENDED_WELL_STATES else 1


if __name__ == "__main__":
    sys.exit(main())
