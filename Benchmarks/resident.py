#!/usr/bin/env python3
"""The resident agent's benchmarks (issue 15), standard library only.

Each command is timed as a whole client process (`agent …` with AGENT_SOCK pointing at a
started agent) against its baseline, run alternately (A B A B …); ratio = median of the
pairwise ratios. The same command run in-process (AGENT_NO_DAEMON=1) against the same baseline
is printed beside it, without a target: that is what a user without an agent sees.

Usage: AGENT_BIN=/path/to/agent python3 Benchmarks/resident.py   (resident.sh builds and sets it)
  BENCH_PAIRS=N (default 21), BENCH_QUICK=1 (5 pairs), BENCH_TMPDIR, BENCH_KEEP=1
"""

import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (helpers: run, pairs, stores, data)

IN_PROCESS = {"AGENT_NO_DAEMON": "1"}
RESULTS = []


def report(name, baseline_label, ta, tb, ratios, target, ta_in, ratios_in):
    ma, mb, mr = statistics.median(ta), statistics.median(tb), statistics.median(ratios)
    ok = mr <= target
    RESULTS.append((name, ok))
    print(f"{name:<20} agent {ma * 1e3:6.2f} ms  baseline({baseline_label}) {mb * 1e3:6.2f} ms  ratio {mr:5.2f}"
          f"  target <= {target:.2f}  {'PASS' if ok else 'FAIL'}   | in-process {statistics.median(ta_in) * 1e3:6.2f} ms"
          f"  ratio {statistics.median(ratios_in):5.2f}", flush=True)
    bench.log(f"    [{name}] through the agent: ratio min {min(ratios):.2f} max {max(ratios):.2f}; "
              f"in-process: min {min(ratios_in):.2f} max {max(ratios_in):.2f}")


def timed_run(argv, **kw):
    t0 = time.perf_counter()
    bench.run(argv, **kw)
    return time.perf_counter() - t0


def compare(name, baseline_label, target, agent_once, baseline_once):
    """agent_once(i, extra_env) → seconds. Through the agent, then in-process, each against
    its own alternating baseline runs."""
    ta, tb, ratios = bench.pairs(bench.PAIRS, lambda i: agent_once(i, {}), baseline_once, warmup=2)
    ta_in, _, ratios_in = bench.pairs(bench.PAIRS, lambda i: agent_once(i, IN_PROCESS), baseline_once, warmup=1)
    report(name, baseline_label, ta, tb, ratios, target, ta_in, ratios_in)


def bench_update(root, dotenv_1k):
    store = os.path.join(root, "update-store")
    plain = os.path.join(root, "update-plain")
    bench.new_store(store, dotenv_1k)
    bench.plain_repo_like(store, plain)
    lines = bench.secrets_blob(store).decode().splitlines()
    plain_file = os.path.join(plain, "secrets")
    rng = random.Random(bench.SEED + 1)
    b64 = string.ascii_letters + string.digits + "+/"

    def agent_once(i, extra):
        idx = rng.randrange(1000)
        value = f"{bench.random_value(rng)}-{i}"
        return timed_run([bench.AGENT, "update", bench.secret_name(idx), "--store", store],
                         stdin_bytes=value.encode(), extra_env=extra)

    def git_once(i):
        idx = rng.randrange(1000)
        fields = lines[idx].split(" ")
        fields[-1] = "a:" + "".join(rng.choice(b64) for _ in range(len(fields[-1]) - 2))
        new_line = " ".join(fields)
        return bench.timed([(["sed", "-i", f"{idx + 1}s|.*|{new_line}|", plain_file], {}),
                            (["git", "-C", plain, "commit", "-qam", f"update {bench.secret_name(idx)}"], {})])

    compare("update-1k", "sed+git commit", 0.6, agent_once, git_once)
    return store


def bench_read(root, name, command, dotenv, count, target):
    store = os.path.join(root, f"read-store-{count}")
    if not os.path.isdir(store):
        bench.new_store(store, dotenv)
    out = bench.run([bench.AGENT, *command, "--store", store], out=subprocess.PIPE).stdout
    assert out.count(b"\n") >= count, (name, out.count(b"\n"))

    def agent_once(i, extra):
        return timed_run([bench.AGENT, *command, "--store", store], extra_env=extra)

    def git_once(i):
        return timed_run(["git", "-C", store, "cat-file", "-p", "HEAD:.envagent/dev/secrets"])

    compare(name, "git cat-file", target, agent_once, git_once)
    return store


def bench_post_checkout(root, dotenv_1k):
    store = os.path.join(root, "postcheckout-store")
    bench.new_store(store, dotenv_1k)
    with open(os.path.join(store, ".envagent", "targets"), "w") as f:
        f.write("[target app]\nenvironment = dev\noutput = .env\n")
    bench.run([bench.AGENT, "render", "--targets"], cwd=store)
    head = bench.git(store, "rev-parse", "HEAD", out=subprocess.PIPE).stdout.decode().strip()
    env_file = os.path.join(store, ".env")
    before = os.stat(env_file).st_mtime_ns
    hook = [bench.AGENT, "hooks", "run", "post-checkout", head, head, "1"]
    r = bench.run(hook, cwd=store, out=subprocess.PIPE)
    assert r.stdout == b"" and r.stderr == b"", (r.stdout, r.stderr)

    def agent_once(i, extra):
        return timed_run(hook, cwd=store, extra_env=extra)

    def git_once(i):
        return timed_run(["git", "-C", store, "rev-parse", "HEAD"])

    compare("post-checkout-noop", "git rev-parse", 1.5, agent_once, git_once)
    assert os.stat(env_file).st_mtime_ns == before


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def bench_agent_memory(root, dotenv_1k, pid):
    """The agent's resident memory after serving three repositories of 1,000 secrets."""
    stores = [os.path.join(root, f"memory-store-{n}") for n in range(3)]
    for store in stores:
        bench.new_store(store, dotenv_1k)
    for _ in range(3):
        for store in stores:
            bench.run([bench.AGENT, "list", "--store", store])
            bench.run([bench.AGENT, "render", "--store", store])
            bench.run([bench.AGENT, "update", bench.secret_name(1), "--store", store], stdin_bytes=b"memory-check")
    rss, peak = rss_kib(pid, "VmRSS"), rss_kib(pid, "VmHWM")
    ok = rss <= 40 * 1024
    RESULTS.append(("agent-rss-3x1k", ok))
    print(f"{'agent-rss-3x1k':<20} agent {rss / 1024:6.1f} MiB resident (peak {peak / 1024:.1f} MiB) after list, render and"
          f" update in 3 repositories of 1,000 secrets  target <= 40 MiB  {'PASS' if ok else 'FAIL'}", flush=True)


def main():
    if not bench.AGENT or not os.access(bench.AGENT, os.X_OK):
        sys.exit("AGENT_BIN must point to the agent binary")
    root = tempfile.mkdtemp(prefix="envagent-resident-", dir=os.environ.get("BENCH_TMPDIR") or None)
    home = os.path.join(root, "home")
    os.makedirs(home)
    bench.ENV = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LANG": "C",
        "LC_ALL": "C",
        "AGENT_SOCK": os.path.join(root, "run", "agent.sock"),
    }
    pid = None
    try:
        bench.log(f"agent: {bench.AGENT}\ntemp:  {root}\n{bench.PAIRS} pairs")
        bench.run([bench.AGENT, "keygen"])
        started = bench.run([bench.AGENT, "start"], out=subprocess.PIPE).stdout.decode()
        pid = int(started.split("AGENT_PID=")[1].split(";")[0])
        dotenv_1k = os.path.join(root, "secrets-1k.env")
        dotenv_10k = os.path.join(root, "secrets-10k.env")
        bench.write_dotenv(dotenv_1k, 1000, random.Random(bench.SEED))
        bench.write_dotenv(dotenv_10k, 10000, random.Random(bench.SEED))
        print("# EnvAgent through the resident agent (medians; ratio = median of pairwise agent/baseline;"
              " in-process: AGENT_NO_DAEMON=1 against the same baseline)", flush=True)
        bench_update(root, dotenv_1k)
        bench_read(root, "render-1k", ["render"], dotenv_1k, 1000, 1.5)
        bench_read(root, "render-10k", ["render"], dotenv_10k, 10000, 2.5)
        bench_read(root, "list-1k", ["list"], dotenv_1k, 1000, 1.0)
        bench_post_checkout(root, dotenv_1k)
        bench_agent_memory(root, dotenv_1k, pid)
        failed = [n for n, ok in RESULTS if not ok]
        print(f"# {len(RESULTS) - len(failed)}/{len(RESULTS)} targets met"
              + (f"; FAIL: {', '.join(failed)}" if failed else ""), flush=True)
    finally:
        if pid:
            subprocess.run([bench.AGENT, "stop"], env=bench.ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.environ.get("BENCH_KEEP"):
            bench.log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
