#!/usr/bin/env python3
"""Runs update-1k, render-1k and render-10k with two agent binaries alternately (base, new,
base, new, ...), each on its own stores of the same secrets, and prints the median pairwise
ratio new/base.
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
        stores = {}
        for count in (1000, 10000):
            dotenv = os.path.join(root, f"secrets-{count}.env")
            bench.write_dotenv(dotenv, count, random.Random(bench.SEED))
            for label, binary in binaries.items():
                bench.AGENT = binary
                stores[label, count] = os.path.join(root, f"store-{label}-{count}")
                bench.new_store(stores[label, count], dotenv)
        rng = random.Random(bench.SEED + 1)

        def update(label):
            def once(i):
                value = f"{bench.random_value(rng)}-{i}"
                t0 = time.perf_counter()
                bench.run([binaries[label], "update", bench.secret_name(rng.randrange(1000)), "--store", stores[label, 1000]],
                          stdin_bytes=value.encode())
                return time.perf_counter() - t0
            return once

        def render(count):
            def make(label):
                def once(i):
                    t0 = time.perf_counter()
                    bench.run([binaries[label], "render", "--store", stores[label, count]])
                    return time.perf_counter() - t0
                return once
            return make

        print(f"# base vs new, {PAIRS} pairs, medians; ratio = median of pairwise new/base", flush=True)
        for name, make in [("update-1k", update), ("render-1k", render(1000)), ("render-10k", render(10000))]:
            tn, tb, ratios = bench.pairs(PAIRS, make("new"), make("base"), warmup=3)
            ratio = statistics.median(ratios)
            print(f"{name:<10} base {statistics.median(tb) * 1e3:6.2f} ms  new {statistics.median(tn) * 1e3:6.2f} ms  "
                  f"ratio {ratio:5.3f}  target <= {TARGET:.2f}  {'PASS' if ratio <= TARGET else 'FAIL'}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
