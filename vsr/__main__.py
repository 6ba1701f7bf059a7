"""`python -m vsr`. Guarded: worker processes (spawned) import this module again."""

from vsr.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
