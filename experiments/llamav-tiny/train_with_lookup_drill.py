"""`llamav train` with the research format `vrc-synth-lookup` (lookup_drill.py) registered, for the
stages of docs/curriculum.md that name it. Every option and argument is `llamav train`'s:

    python experiments/llamav-tiny/train_with_lookup_drill.py --config runs/lookup-text.yaml --output-dir runs/tiny --resume
"""

from __future__ import annotations

import sys

# A format of this folder, not of the package: importing it registers it.
import lookup_drill  # noqa: F401

from llamav.cli import main

if __name__ == "__main__":
    sys.argv = ["llamav", "train", *sys.argv[1:]]
    main()
