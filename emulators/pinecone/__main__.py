"""`python -m emulators.pinecone ...`: the Pinecone emulator alone (see `cli` for the flags)."""

import sys

from emulators.pinecone.cli import main

sys.exit(main())
