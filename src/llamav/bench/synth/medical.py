"""Medical Imaging: reading an ECG strip and counting cells in a blood smear."""

from __future__ import annotations

import math

from llamav.bench.synth._common import DEFAULT_LEVEL, Probe, Template, by_level, canvas, font, plural

CATEGORY = "Medical Imaging"

# -- ECG -----------------------------------------------------------------------------------------

STRIP_LEFT, STRIP_PX_PER_S, STRIP_S = 16, 48, 10


def _ecg_voltage(t: float, peaks: list[float]) -> float:
    """A stylised lead-II beat around each R peak: P wave, Q dip, tall R, S dip, T wave."""
    v = 0.0
    for r in peaks:
        d = t - r
        if -0.4 < d < 0.5:
            v += 0.15 * math.exp(-((d + 0.17) / 0.035) ** 2)  # P
            v -= 0.12 * math.exp(-((d + 0.035) / 0.012) ** 2)  # Q
            v += 1.00 * math.exp(-(d / 0.014) ** 2)  # R
            v -= 0.25 * math.exp(-((d - 0.035) / 0.013) ** 2)  # S
            v += 0.28 * math.exp(-((d - 0.27) / 0.06) ** 2)  # T
    return v


class EcgHeartRate(Template):
    name = "ecg_heart_rate"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        rr_ms = rng.randint(500, 1300)  # 46 to 120 beats per minute
        first = rng.randint(250, 250 + rr_ms)
        # No beat within 0.25 s of either edge, so none is cut in half and every count is clear.
        peaks = list(range(first, STRIP_S * 1000 - 250, rr_ms))
        return {"peaks_ms": peaks, "rr_ms": rr_ms, "ink": rng.choice(["black", "navy"])}

    def question(self, scene):
        return (
            "The ECG strip shows exactly 10 seconds (the bracket below it). Estimate the heart rate in "
            "beats per minute with the 10-second method: count the R waves (the tall spikes) and "
            "multiply by 6."
        )

    def solve(self, scene):
        return str(len(scene["peaks_ms"]) * 6)

    def render(self, scene):
        width = STRIP_LEFT * 2 + STRIP_PX_PER_S * STRIP_S
        image, draw = canvas(width, 250, (255, 244, 244))
        top, bottom, right = 20, 200, STRIP_LEFT + STRIP_PX_PER_S * STRIP_S
        # ECG paper: small squares of 0.04 s, large squares of 0.2 s.
        for k in range(0, STRIP_S * 25 + 1):
            x = STRIP_LEFT + k * STRIP_PX_PER_S / 25
            draw.line((x, top, x, bottom), fill=(240, 170, 170) if k % 5 == 0 else (250, 215, 215))
        for k in range(0, int((bottom - top) / 9.6) + 1):
            y = top + k * 9.6
            draw.line((STRIP_LEFT, y, right, y), fill=(240, 170, 170) if k % 5 == 0 else (250, 215, 215))
        peaks = [p / 1000 for p in scene["peaks_ms"]]
        baseline = 145
        points = []
        for px in range(STRIP_LEFT, right + 1):
            t = (px - STRIP_LEFT) / STRIP_PX_PER_S
            # Sample the narrow QRS finely so the spikes reach their full height.
            for sub in (0.0, 0.25, 0.5, 0.75):
                tt = t + sub / STRIP_PX_PER_S
                points.append((px + sub, baseline - 105 * _ecg_voltage(tt, peaks)))
        ink = (20, 20, 20) if scene["ink"] == "black" else (20, 30, 110)
        draw.line(points, fill=ink, width=2)
        draw.line((STRIP_LEFT, 214, STRIP_LEFT, 226), fill="black", width=2)
        draw.line((right, 214, right, 226), fill="black", width=2)
        draw.line((STRIP_LEFT, 220, right, 220), fill="black", width=2)
        draw.text(((STRIP_LEFT + right) / 2, 236), "10 seconds", font=font(14), fill="black", anchor="mm")
        draw.text((STRIP_LEFT + 4, top + 4), "Lead II  25 mm/s", font=font(12), fill="black")
        return image

    def probes(self, scene):
        n = len(scene["peaks_ms"])
        return [Probe("How many R waves (tall spikes) does the ECG strip show?", str(n),
                      f"Counting the tall spikes from left to right gives {n} R waves.")]

    def chain(self, scene):
        n = len(scene["peaks_ms"])
        rr = scene["rr_ms"] / 1000
        return [
            "The image is a single-lead ECG strip on standard grid paper, and the bracket shows it spans 10 seconds.",
            "Each R wave is the tall narrow spike of a QRS complex; the small bumps before and after "
            "are P and T waves and are not counted.",
            f"Counting the tall spikes from left to right gives {n} R waves, evenly spaced about "
            f"{rr:.1f} s apart, so the rhythm is regular.",
            "10 seconds is one sixth of a minute, so beats per minute = R waves in 10 s x 6.",
            f"{n} x 6 = {n * 6} beats per minute. Final answer: {n * 6}.",
        ]


# -- blood smear ---------------------------------------------------------------------------------

FIELD_R, FIELD_C = 185, 200


class BloodSmearWbc(Template):
    name = "blood_smear_wbc"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        # Cells sit on a jittered grid inside the round field of view, so none overlap.
        spots = [
            (FIELD_C - 160 + 46 * col, FIELD_C - 160 + 46 * row)
            for row in range(8)
            for col in range(8)
            if math.hypot(FIELD_C - 160 + 46 * col - FIELD_C, FIELD_C - 160 + 46 * row - FIELD_C) < FIELD_R - 30
        ]
        chosen = rng.sample(spots, rng.randint(*by_level(level, (8, 12), (14, 22), (22, min(34, len(spots))))))
        n_white = rng.randint(1, by_level(level, 3, 5, 6))
        cells = [
            {"kind": "white" if i < n_white else "red", "x": x + rng.randint(-2, 2), "y": y + rng.randint(-2, 2),
             "lobes": rng.randint(2, 4)}
            for i, (x, y) in enumerate(chosen)
        ]
        return {"cells": sorted(cells, key=lambda c: (c["y"], c["x"])), "stain": rng.choice(["violet", "blue"])}

    def question(self, scene):
        return (
            "This stained blood smear shows red blood cells (pink discs with a pale centre) and white "
            "blood cells (larger cells with a dark, lobed nucleus). How many white blood cells are visible?"
        )

    def solve(self, scene):
        return str(sum(c["kind"] == "white" for c in scene["cells"]))

    def render(self, scene):
        image, draw = canvas(2 * FIELD_C, 2 * FIELD_C, (20, 20, 20))
        draw.ellipse((FIELD_C - FIELD_R, FIELD_C - FIELD_R, FIELD_C + FIELD_R, FIELD_C + FIELD_R), fill=(246, 232, 228))
        nucleus = (90, 40, 140) if scene["stain"] == "violet" else (50, 50, 150)
        for c in scene["cells"]:
            x, y = c["x"], c["y"]
            if c["kind"] == "red":
                draw.ellipse((x - 16, y - 16, x + 16, y + 16), fill=(222, 120, 125), outline=(190, 90, 95))
                draw.ellipse((x - 7, y - 7, x + 7, y + 7), fill=(238, 175, 175))
            else:
                draw.ellipse((x - 19, y - 19, x + 19, y + 19), fill=(225, 205, 235), outline=(160, 130, 180))
                for k in range(c["lobes"]):
                    a = 2 * math.pi * k / c["lobes"]
                    lx, ly = x + 7 * math.cos(a), y + 7 * math.sin(a)
                    draw.ellipse((lx - 8, ly - 8, lx + 8, ly + 8), fill=nucleus)
        return image

    def probes(self, scene):
        n = sum(c["kind"] == "white" for c in scene["cells"])
        return [Probe("How many white blood cells (larger cells with a dark, lobed nucleus) are visible?", str(n),
                      f"Scanning the field from top to bottom finds {plural(n, 'white blood cell')}.")]

    def chain(self, scene):
        cells = scene["cells"]
        whites = [c for c in cells if c["kind"] == "white"]
        n = len(whites)
        return [
            f"The image is a microscope field of a stained blood smear holding {len(cells)} cells.",
            "Most cells are small pink discs with a pale centre: these are red blood cells and are not counted.",
            f"The larger cells with a dark {scene['stain']} lobed nucleus are white blood cells; "
            f"scanning the field from top to bottom finds {plural(n, 'such cell')}.",
            f"So {n} white blood {'cell is' if n == 1 else 'cells are'} visible. Final answer: {n}.",
        ]


TEMPLATES = [EcgHeartRate(), BloodSmearWbc()]
