"""The original research code's entry point: `python main.py --train ...`, `--do_unlearning ...`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

from langevin_unlearning.cli.legacy import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
