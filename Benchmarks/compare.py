#!/usr/bin/env python3
"""Runs update-1k and render-1k with two agent binaries alternately (base, new, base, new, ...),
each on its own store of the same 1,000 secrets, and prints the median pairwise ratio new/base.
Used by compare.sh to show what a change costs (issue #13: authentication at most 5 %)."""
import os
import random
import statistics
import sys
import tempfile
import shutil
import time

import bench

PAIRS = int(os.environ.get("BENCH_PAIRS", "31"))
TARGET = 1.05


def main():
    binaries = {"base": os.environ["BASE_BIN"], "new": os.environ["AGENT_BIN"]}
    root = tempfile.mkdtemp(prefix="envagent-compare-")
    home = os.path.join(root, "home")
    os.makedirs(home)
    bench.ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
                 "XDG_CONFIG_HOME": os.path.join(home, ".config"), "GIT_CONFIG_NOSYSTEM": "1",
                 "LANG": "C", "LC_ALL": "C"}
    try:
        bench.run([binaries["new"], "keygen"])
        dotenv = os.path.join(root, "secrets-1k.env")
        bench.write_dotenv(dotenv, 1000, random.Random(bench.SEED))
        stores = {}
        for label, binary in binaries.items():
            bench.AGENT = binary
            stores[label] = os.path.join(root, f"store-{label}")
            bench.new_store(stores[label], dotenv)
        rng = random.Random(bench.SEED + 1)

        def update(label):
            def once(i):
                value = f"{bench.random_value(rng)}-{i}"
                t0 = time.perf_counter()
                bench.run([binaries[label], "update", bench.secret_name(rng.randrange(1000)), "--store", stores[label]],
                          stdin_bytes=value.encode())
                return time.perf_counter() - t0
            return once

        def render(label):
            def once(i):
                t0 = time.perf_counter()
                bench.run([binaries[label], "render", "--store", stores[label]])
                return time.perf_counter() - t0
            return once

        print(f"# base vs new, {PAIRS} pairs, medians; ratio = median of pairwise new/base", flush=True)
        for name, make in [("update-1k", update), ("render-1k", render)]:
            tn, tb, ratios = bench.pairs(PAIRS, make("new"), make("base"), warmup=3)
            ratio = statistics.median(ratios)
            print(f"{name:<10} base {statistics.median(tb) * 1e3:6.2f} ms  new {statistics.median(tn) * 1e3:6.2f} ms  "
                  f"ratio {ratio:5.3f}  target <= {TARGET:.2f}  {'PASS' if ratio <= TARGET else 'FAIL'}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
