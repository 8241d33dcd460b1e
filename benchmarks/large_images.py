"""What a very large image costs: the peak memory of loading one, by kind of image.

    python benchmarks/large_images.py [--side 12000] [--before REV] [--kinds grey16,float_tiff,...]
    python benchmarks/large_images.py --generate [--sides 4000,8000,12000] [--model tiny-random]

The first form builds one image of each kind (tiny or small on disk, huge decoded), then loads it
with `llamav.images.load_image` in a fresh process per case and prints the peak resident memory
that loading added to the process (Linux: /proc/self/status, its peak reset through
/proc/self/clear_refs once the file is read; `ru_maxrss` would count the parent's memory, which a
forked child inherits), for the loader at REV (default: the one before images were
converted in bands) and for the loader in this working tree. "final RGB" is the size of the 8-bit
RGB picture the model gets (Pillow holds RGB in four bytes a pixel); the loader is meant to stay within the decoder's own buffer plus twice
that.

The second form is the older measurement of a whole `llamav generate --image` run on a large
one-colour PNG, with the side limit as shipped and lifted (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# The loader before images were converted in bands (the commit that made `llamav.images`).
BEFORE = "117122e"

LOAD = textwrap.dedent("""
    import importlib.util, json, sys, time
    spec = importlib.util.spec_from_file_location("loader", sys.argv[1])
    loader = sys.modules["loader"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loader)
    import numpy, PIL.Image, PIL.PngImagePlugin, PIL.TiffImagePlugin, PIL.JpegImagePlugin
    def status(key):  # MB, from the kernel's own account of this process
        with open("/proc/self/status") as lines:
            return next(int(line.split()[1]) for line in lines if line.startswith(key + ":")) / 1024
    data = open(sys.argv[2], "rb").read()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the peak (VmHWM) starts again from here
    base = status("VmRSS")
    started = time.perf_counter()
    try:
        loaded = loader.load_image(data)
        outcome = {"size": list(loaded.size), "flags": list(loaded.flags)}
    except Exception as exc:
        outcome = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    outcome["seconds"] = time.perf_counter() - started
    outcome["added_mb"] = status("VmHWM") - base
    outcome["base_mb"] = base
    print(json.dumps(outcome))
""")


def build(kind: str, side: int, folder: Path) -> tuple[Path, int]:
    """One image of `kind`, `side` x `side`, and the bytes its decoded original takes in Pillow
    (one a pixel for grey and palette, two for 16-bit grey, four for float, RGB and RGBA)."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 1, side, dtype=np.float32)[None, :].repeat(side, axis=0)  # one row, repeated
    path = folder / f"{kind}-{side}"
    if kind == "grey16":  # the 1.2 MB 16-bit PNG
        Image.fromarray((ramp * 65535).astype(np.uint16)).save(path := path.with_suffix(".png"))
        return path, side * side * 2
    if kind == "float_tiff":  # 1,024 levels, in runs that deflate packs well (a smooth ramp would not)
        Image.fromarray(np.round(ramp * 1023) / 1023).save(path := path.with_suffix(".tif"),
                                                            compression="tiff_adobe_deflate")
        return path, side * side * 4
    grey8 = (ramp * 255).astype(np.uint8)
    del ramp
    if kind == "rgba":  # a drawing on a half-transparent background
        alpha = np.full_like(grey8, 255)
        alpha[:, : side // 2] = 0
        Image.fromarray(np.dstack([grey8, grey8[::-1], grey8, alpha])).save(path := path.with_suffix(".png"))
        return path, side * side * 4
    if kind == "rgb":
        Image.fromarray(np.dstack([grey8, grey8[::-1], grey8])).save(path := path.with_suffix(".png"))
        return path, side * side * 4  # Pillow holds RGB in four bytes a pixel
    if kind == "palette_transparent":
        image = Image.fromarray(grey8 // 64).convert("P")
        image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
        image.save(path := path.with_suffix(".png"), transparency=0)
        return path, side * side
    if kind == "jpeg":
        Image.fromarray(np.dstack([grey8, grey8[::-1], grey8])).save(path := path.with_suffix(".jpg"), quality=90)
        return path, side * side * 4  # at full scale; draft mode decodes it at 1/2 (or less)
    raise ValueError(f"unknown kind {kind!r}")


def measure(loader: Path, image: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", LOAD, str(loader), str(image)], capture_output=True, text=True)
    if done.returncode != 0:  # killed for memory, or a crash
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def loader_at(revision: str, folder: Path) -> Path:
    """The image loader as it was at `revision` (it imports nothing from llamav)."""
    for name in ("src/llamav/images.py", "src/llamav/bench/images.py"):
        shown = subprocess.run(["git", "show", f"{revision}:{name}"], capture_output=True, text=True)
        if shown.returncode == 0:
            path = folder / f"loader_{revision}.py"
            path.write_text(shown.stdout)
            return path
    raise SystemExit(f"no image loader at {revision}")


def cell(out: dict) -> str:
    if "error" in out:
        return f"failed: {out['error']}"
    return f"{out['added_mb']:,.0f} MB, {out['seconds']:.1f} s"


def images_table(args) -> None:
    here = Path(__file__).resolve().parents[1] / "src" / "llamav" / "images.py"
    side = args.side
    final_mb = min(side, 4096) ** 2 * 4 / 2**20  # RGB, as Pillow holds it
    print(f"| image ({side}x{side}) | file | decoded original | final RGB | before ({args.before}) | after |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        before = loader_at(args.before, Path(folder))
        for kind in args.kinds.split(","):
            image, decoded = build(kind, side, Path(folder))
            old, new = measure(before, image), measure(here, image)
            print(f"| {kind} | {image.stat().st_size / 2**20:,.1f} MB | {decoded / 2**20:,.0f} MB | {final_mb:,.0f} MB "
                  f"| {cell(old)} | {cell(new)} |", flush=True)
            image.unlink()
    print(f"\n{time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          "memory: the peak resident memory load_image added to a fresh process (VmHWM after a reset, minus VmRSS)")


# -- the older measurement: a whole `llamav generate --image` run -------------------------------

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


def generate_table(args) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=12000)
    parser.add_argument("--before", default=BEFORE, help="git revision of the loader to compare with")
    parser.add_argument("--kinds", default="grey16,float_tiff,rgba,rgb,palette_transparent,jpeg")
    parser.add_argument("--generate", action="store_true", help="the older whole-run measurement")
    parser.add_argument("--sides", default="4000,8000,12000")
    parser.add_argument("--model", default="tiny-random")
    args = parser.parse_args()
    generate_table(args) if args.generate else images_table(args)


if __name__ == "__main__":
    main()
