"""`python -m emulators.gemini`: run the emulator until Ctrl-C (see `cli.py`)."""

from .cli import main

raise SystemExit(main())
