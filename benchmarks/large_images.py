"""What a very large image costs a run: peak memory and time of `llamav generate --image` on one
large PNG, with the image loader as it is (downscaled once at load to the side limit) and with the
side limit lifted (the picture handed to the model at full size, as before the loader existed).

    python benchmarks/large_images.py [--sides 4000,8000,12000] [--model tiny-random]

Each run is a fresh process (`python -m llamav.cli generate ...` would share nothing with the
others), so its peak resident memory is its own. The images are one colour, so they are tiny on
disk and huge decoded, as a hostile benchmark row would be.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from typer.testing import CliRunner
from llamav.cli import app
started = time.perf_counter()
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"exit": result.exit_code, "seconds": time.perf_counter() - started,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(image: Path, model: str, side_limit: str | None) -> dict:
    env = dict(os.environ, LLAMAV_STORE=str(image.with_suffix(".db")))
    if side_limit is not None:
        env["LLAMAV_MAX_IMAGE_SIDE"] = side_limit
    args = ["generate", "--model", model, "--image", str(image), "--question", "What colour is it?",
            "--strategy", "greedy", "--max-new-tokens", "8"]
    done = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", default="4000,8000,12000")
    parser.add_argument("--model", default="tiny-random")
    args = parser.parse_args()
    from PIL import Image

    print(f"| image | loader | exit | peak RSS MB | wall s |  (model {args.model}, {time.strftime('%Y-%m-%d')})")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for side in (int(s) for s in args.sides.split(",")):
            image = Path(folder) / f"{side}.png"
            Image.new("1", (side, side), 1).save(image)
            for label, limit in (("downscaled once at load (default, 4096)", None), ("full size (side limit lifted)", "0")):
                out = run(image, args.model, limit)
                print(f"| {side}x{side} PNG, {image.stat().st_size // 1024} KB | {label} | {out['exit']} | "
                      f"{out['peak_mb']:.0f} | {out['seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
