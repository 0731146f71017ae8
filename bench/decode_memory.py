"""Peak memory of decoding one very large non-JPEG photo for indexing (issue 13: a 121-megapixel PNG).

    python bench/decode_memory.py [--side 11000] [--min-side 256] [--file big.png]

Writes a SIDE x SIDE RGB PNG (a gradient with noise, once, in the temp folder unless --file names one),
then decodes it with ``imageio.decode`` in a fresh process and prints how far the process's peak
resident memory rose above what it held before the decode (``VmHWM``, Linux), and the time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, sys, time
from desktop_search.core.library.imageio import decode
def hwm_kb():  # this process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
before = hwm_kb()
t = time.perf_counter()
d = decode(sys.argv[1], min_side=int(sys.argv[2]))
seconds = time.perf_counter() - t
peak = hwm_kb()
print(json.dumps({"above_baseline_mb": round((peak - before) / 1024), "seconds": round(seconds, 2),
                  "decoded": list(d.image.size), "full": [d.width, d.height]}))
"""


def make_png(path: Path, side: int) -> None:
    import numpy as np
    from PIL import Image

    rows = []
    rng = np.random.default_rng(0)
    x = np.arange(side, dtype=np.uint32)
    for y0 in range(0, side, 1000):  # built in bands: the generator itself stays small
        y = np.arange(y0, min(side, y0 + 1000), dtype=np.uint32)[:, None]
        band = np.stack([(x[None, :] * 255 // side) + 0 * y, (y * 255 // side) + 0 * x[None, :], (x[None, :] + y) % 256], -1)
        rows.append((band + rng.integers(0, 4, band.shape)).clip(0, 255).astype(np.uint8))
    Image.fromarray(np.concatenate(rows)).save(path, compress_level=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=11_000)
    parser.add_argument("--min-side", type=int, default=256)
    parser.add_argument("--file", type=Path, default=None)
    args = parser.parse_args()
    path = args.file or Path(tempfile.gettempdir()) / f"decode-memory-{args.side}.png"
    if not path.exists():
        make_png(path, args.side)
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.min_side)], cwd=repo,
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    print(json.dumps({"file": str(path), "megapixels": round(args.side**2 / 1e6), **result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
