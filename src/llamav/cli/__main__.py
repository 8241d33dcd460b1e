"""`python -m llamav.cli ...`: what `accelerate launch -m llamav.cli train ...` runs on every process."""

from llamav.cli import main

main()
