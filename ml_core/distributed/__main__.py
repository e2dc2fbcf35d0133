"""``python -m ml_core.distributed --job DIR``: one torchrun process (see ``ml_core.distributed.worker``)."""

import sys

from ml_core.distributed.worker import main

sys.exit(main(sys.argv[1:]))
