#!/usr/bin/env python3
"""EnvAgent benchmark suite (standard library only).

Every timed target is a ratio against a baseline that is run alternately with it
(A B A B ..., N pairs); the reported ratio is the median of the pairwise ratios A_i/B_i,
the reported times are the medians of each side. Whole processes are timed with
time.perf_counter() around subprocess.run().

Usage: AGENT_BIN=/path/to/agent python3 Benchmarks/bench.py
Environment:
  AGENT_BIN      agent binary (required; run.sh sets it)
  BENCH_QUICK=1  fewer pairs and a 200-update growth benchmark (smoke run)
  BENCH_PAIRS=N  override the pair count
  BENCH_ONLY=a,b run only the benchmarks whose names start with a or b (`core`: all but api-*)
  BENCH_TMPDIR   where the temporary repositories go (default: system temp dir)
  BENCH_KEEP=1   keep the temporary directory
"""

import os
import random
import resource
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
import json
import re
import urllib.request

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
PAIRS = int(os.environ.get("BENCH_PAIRS", "5" if QUICK else "21"))
IMPORT_PAIRS = int(os.environ.get("BENCH_PAIRS", "5" if QUICK else "15"))
GROWTH_UPDATES = 200 if QUICK else 1000
RSS_RUNS = 3 if QUICK else 7
SEED = 20261126
API_PATCH_SECONDS = 8 if QUICK else 30
API_LIST_SECONDS = 5 if QUICK else 10
API_BASELINE_RUNS = 11 if QUICK else 31
HERE = os.path.dirname(os.path.abspath(__file__))

AGENT = os.environ.get("AGENT_BIN")
RNG = random.Random(SEED)
ENV = {}        # environment for every child process, set up in main()
RESULTS = []    # (name, passed)


# --------------------------------------------------------------------------- helpers

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(argv, cwd=None, stdin_bytes=None, out=subprocess.DEVNULL, extra_env=None):
    """Runs a process, raising on failure (so a crash makes the suite exit non-zero)."""
    r = subprocess.run(argv, cwd=cwd, env={**ENV, **(extra_env or {})}, input=stdin_bytes, stdout=out,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(argv)}\n"
                           f"{r.stderr.decode(errors='replace')}")
    return r


def timed(steps):
    """Times a sequence of (argv, kwargs) process runs as one measurement, in seconds."""
    t0 = time.perf_counter()
    for argv, kw in steps:
        run(argv, **kw)
    return time.perf_counter() - t0


def pairs(n, a_once, b_once, setup=None, warmup=1):
    """Runs A and B alternately n times (after `warmup` unmeasured pairs).

    a_once/b_once take the iteration number and return the elapsed seconds (they may do
    untimed preparation themselves). Returns (times_a, times_b, ratios)."""
    ta, tb, ratios = [], [], []
    for i in range(-warmup, n):
        a = a_once(i)
        b = b_once(i)
        if i >= 0:
            ta.append(a)
            tb.append(b)
            ratios.append(a / b)
    return ta, tb, ratios


def report(name, baseline_label, ta, tb, ratios, target):
    ma, mb, mr = statistics.median(ta), statistics.median(tb), statistics.median(ratios)
    ok = mr <= target
    RESULTS.append((name, ok))
    print(f"{name:<18} agent {ma * 1e3:7.1f} ms  baseline({baseline_label}) {mb * 1e3:7.1f} ms  "
          f"ratio {mr:5.2f}  target <= {target:.2f}  {'PASS' if ok else 'FAIL'}", flush=True)
    log(f"    [{name}] {len(ratios)} pairs; ratio min {min(ratios):.2f} max {max(ratios):.2f}; "
        f"agent min {min(ta) * 1e3:.1f} ms, baseline min {min(tb) * 1e3:.1f} ms")


def random_value(rng):
    alnum = string.ascii_letters + string.digits
    kind = rng.random()
    if kind < 0.25:
        return "sk-proj-" + "".join(rng.choice(alnum + "-_") for _ in range(rng.randint(40, 52)))
    if kind < 0.35:
        return "ghp_" + "".join(rng.choice(alnum) for _ in range(36))
    return "".join(rng.choice(alnum) for _ in range(rng.randint(20, 60)))


def secret_name(i):
    return f"SECRET_{i:05d}"


def write_dotenv(path, count, rng):
    with open(path, "w") as f:
        for i in range(count):
            f.write(f"{secret_name(i)}={random_value(rng)}\n")


def git(repo, *args, **kw):
    return run(["git", "-C", repo, *args], **kw)


def git_init(repo):
    os.makedirs(repo, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Bench Mark")
    git(repo, "config", "user.email", "bench@example.com")


def new_store(repo, dotenv=None):
    """A git repo with identity configured, an agent store, and optionally `dotenv` imported."""
    git_init(repo)
    run([AGENT, "init", "--store", repo])
    if dotenv:
        run([AGENT, "import", dotenv, "--store", repo])


def secrets_blob(repo):
    return git(repo, "cat-file", "-p", "HEAD:.envagent/dev/secrets", out=subprocess.PIPE).stdout


def plain_repo_like(store, repo):
    """A plain repo whose one file is the store's (encrypted, hence same-size) secrets file."""
    git_init(repo)
    with open(os.path.join(repo, "secrets"), "wb") as f:
        f.write(secrets_blob(store))
    git(repo, "add", "secrets")
    git(repo, "commit", "-qm", "initial")


def dir_size(path, files_only=False):
    """Like `du -sb` / `du -sB1` of a folder: (apparent bytes = sum of st_size, disk bytes =
    sum of st_blocks*512) over the folder and everything in it, directories included (each
    directory entry counts, e.g. 4096 bytes on ext4); files_only leaves directories out."""
    st = os.lstat(path)
    apparent, disk = (0, 0) if files_only else (st.st_size, st.st_blocks * 512)
    for root, dirs, files in os.walk(path):
        if files_only:
            dirs_and_files = files
        else:
            dirs_and_files = dirs + files
        for name in dirs_and_files:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:  # removed by a background gc during a progress reading
                continue
            apparent += st.st_size
            disk += st.st_blocks * 512
    return apparent, disk


def max_rss_kib(argv):
    """Peak RSS (KiB) of argv, measured by a fresh python child via RUSAGE_CHILDREN."""
    code = ("import resource,subprocess,sys\n"
            "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL)\n"
            "sys.exit(r.returncode) if r.returncode else None\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    r = run([sys.executable, "-c", code, *argv], out=subprocess.PIPE)
    return int(r.stdout.decode().strip())


# --------------------------------------------------------------------------- benchmarks

def bench_update(root, dotenv_1k):
    store = os.path.join(root, "update-store")
    plain = os.path.join(root, "update-plain")
    new_store(store, dotenv_1k)
    plain_repo_like(store, plain)
    lines = secrets_blob(store).decode().splitlines()
    assert len(lines) == 1000, len(lines)
    plain_file = os.path.join(plain, "secrets")
    rng = random.Random(SEED + 1)
    b64 = string.ascii_letters + string.digits + "+/"

    def agent_once(i):
        idx = rng.randrange(1000)
        value = f"{random_value(rng)}-{i}"
        t0 = time.perf_counter()
        run([AGENT, "update", secret_name(idx), "--store", store], stdin_bytes=value.encode())
        return time.perf_counter() - t0

    def git_once(i):
        idx = rng.randrange(1000)
        # Same-length replacement line with a new random "ciphertext" (distinct every time).
        fields = lines[idx].split(" ")
        fields[-1] = "a:" + "".join(rng.choice(b64) for _ in range(len(fields[-1]) - 2))
        new_line = " ".join(fields)
        return timed([(["sed", "-i", f"{idx + 1}s|.*|{new_line}|", plain_file], {}),
                      (["git", "-C", plain, "commit", "-qam", f"update {secret_name(idx)}"], {})])

    ta, tb, ratios = pairs(PAIRS, agent_once, git_once, warmup=2)
    report("update-1k", "sed+git commit", ta, tb, ratios, 1.0)


def bench_render(root, name, dotenv, count, target):
    store = os.path.join(root, f"render-store-{count}")
    new_store(store, dotenv)
    # Correctness check, untimed: every secret rendered.
    out = run([AGENT, "render", "--store", store], out=subprocess.PIPE).stdout
    assert out.count(b"\n") == count, (out.count(b"\n"), count)

    def agent_once(i):
        t0 = time.perf_counter()
        run([AGENT, "render", "--store", store])
        return time.perf_counter() - t0

    def git_once(i):
        t0 = time.perf_counter()
        git(store, "cat-file", "-p", "HEAD:.envagent/dev/secrets")
        return time.perf_counter() - t0

    ta, tb, ratios = pairs(PAIRS, agent_once, git_once, warmup=2)
    report(name, "git cat-file", ta, tb, ratios, target)
    return store


def bench_import(root, dotenv_10k):
    work = os.path.join(root, "import")

    def agent_once(i):
        repo = os.path.join(work, f"agent-{i + 10}")
        git_init(repo)
        run([AGENT, "init", "--store", repo])          # outside the timed region
        t0 = time.perf_counter()
        run([AGENT, "import", dotenv_10k, "--store", repo])
        dt = time.perf_counter() - t0
        shutil.rmtree(repo)
        return dt

    def git_once(i):
        repo = os.path.join(work, f"git-{i + 10}")
        git_init(repo)
        git(repo, "commit", "-q", "--allow-empty", "-m", "init")  # like agent init's commit
        dt = timed([(["cp", dotenv_10k, os.path.join(repo, "secrets.env")], {}),
                    (["git", "-C", repo, "add", "secrets.env"], {}),
                    (["git", "-C", repo, "commit", "-qm", "import"], {})])
        shutil.rmtree(repo)
        return dt

    ta, tb, ratios = pairs(IMPORT_PAIRS, agent_once, git_once, warmup=1)
    report("import-10k", "cp+git add+commit", ta, tb, ratios, 3.0)


def bench_rotate(root, name, dotenv, count):
    """`agent rotate` of a `count`-secret environment vs `agent import` of the same secrets."""
    store = os.path.join(root, f"rotate-store-{count}")
    new_store(store, dotenv)
    work = os.path.join(root, f"rotate-import-{count}")
    expected = run([AGENT, "render", "--store", store], out=subprocess.PIPE).stdout

    def agent_once(i):
        t0 = time.perf_counter()
        run([AGENT, "rotate", "--store", store])
        return time.perf_counter() - t0

    def import_once(i):
        repo = os.path.join(work, f"import-{i + 10}")
        git_init(repo)
        run([AGENT, "init", "--store", repo])          # outside the timed region
        t0 = time.perf_counter()
        run([AGENT, "import", dotenv, "--store", repo])
        dt = time.perf_counter() - t0
        shutil.rmtree(repo)
        return dt

    ta, tb, ratios = pairs(IMPORT_PAIRS, agent_once, import_once, warmup=1)
    # Correctness check, untimed: the rotated store renders the same and verifies clean.
    assert run([AGENT, "render", "--store", store], out=subprocess.PIPE).stdout == expected
    run([AGENT, "verify", "--store", store])
    report(name, "agent import", ta, tb, ratios, 1.5)


def bench_render_sealed(root, dotenv_1k):
    """Render of 1,000 write-only (sealed-box) values vs 1,000 member-written values (reported)."""
    member = os.path.join(root, "render-member-1k")
    new_store(member, dotenv_1k)
    sealed = os.path.join(root, "render-sealed-1k")
    new_store(sealed)
    run([AGENT, "set", "FIRST", "--store", sealed], stdin_bytes=b"member-value")  # creates dev
    nobody = {"XDG_CONFIG_HOME": os.path.join(root, "no-identity")}
    run([AGENT, "import", dotenv_1k, "--store", sealed], extra_env=nobody)       # write-only
    kinds = secrets_blob(sealed).count(b" s:")
    assert kinds == 1000, kinds
    run([AGENT, "delete", "FIRST", "--store", sealed])
    assert (run([AGENT, "render", "--store", sealed], out=subprocess.PIPE).stdout
            == run([AGENT, "render", "--store", member], out=subprocess.PIPE).stdout)

    def sealed_once(i):
        t0 = time.perf_counter()
        run([AGENT, "render", "--store", sealed])
        return time.perf_counter() - t0

    def member_once(i):
        t0 = time.perf_counter()
        run([AGENT, "render", "--store", member])
        return time.perf_counter() - t0

    ta, tb, ratios = pairs(PAIRS, sealed_once, member_once, warmup=2)
    ma, mb, mr = statistics.median(ta), statistics.median(tb), statistics.median(ratios)
    print(f"{'render-sealed-1k':<16} agent {ma * 1e3:7.1f} ms  baseline(member-written render) {mb * 1e3:7.1f} ms  "
          f"ratio {mr:5.2f}  (reported, no target; {(ma - mb) / 1000 * 1e6:.0f} us per sealed value)", flush=True)


def bench_rss(store_10k):
    agent_rss = [max_rss_kib([AGENT, "render", "--store", store_10k]) for _ in range(RSS_RUNS)]
    git_rss = [max_rss_kib(["git", "-C", store_10k, "cat-file", "-p", "HEAD:.envagent/dev/secrets"])
               for _ in range(RSS_RUNS)]
    peak = max(agent_rss) / 1024
    target = 40.0
    ok = peak <= target
    RESULTS.append(("render-10k-rss", ok))
    print(f"{'render-10k-rss':<16} agent {peak:7.1f} MiB (max of {RSS_RUNS}, ru_maxrss)  "
          f"[git cat-file {max(git_rss) / 1024:.1f} MiB]  target <= {target:.0f} MiB  "
          f"{'PASS' if ok else 'FAIL'}", flush=True)
    log(f"    [render-10k-rss] agent runs (KiB): {agent_rss}")


def bench_growth(root, dotenv_1k):
    store = os.path.join(root, "growth-store")
    new_store(store, dotenv_1k)
    rng = random.Random(SEED + 2)
    t0 = time.perf_counter()
    for i in range(GROWTH_UPDATES):
        idx = rng.randrange(1000)
        run([AGENT, "update", secret_name(idx), "--store", store],
            stdin_bytes=f"{random_value(rng)}-{i}".encode())
        if (i + 1) % 100 == 0 or i + 1 == GROWTH_UPDATES:
            size = dir_size(os.path.join(store, ".git"))[0]
            log(f"    [growth] {i + 1}/{GROWTH_UPDATES} updates ({time.perf_counter() - t0:.1f} s), "
                f".git {size / 1024:.0f} KiB")
    elapsed = time.perf_counter() - t0
    # Packing runs in background `agent gc --auto` processes: measure once the last has finished.
    waited = wait_for_background_gc(store)
    commits = int(git(store, "rev-list", "--count", "HEAD", out=subprocess.PIPE).stdout)
    assert commits == GROWTH_UPDATES + 2, commits   # init + import + updates
    copy = os.path.join(root, "growth-gc")
    run(["cp", "-a", store, copy])
    git(copy, "gc", "--prune=now", "-q")
    a_app, a_disk = dir_size(os.path.join(store, ".git"))
    g_app, g_disk = dir_size(os.path.join(copy, ".git"))
    ratio = a_app / g_app
    target = 2.0
    ok = ratio <= target
    RESULTS.append((f"growth-{GROWTH_UPDATES}", ok))
    print(f"{'growth-' + str(GROWTH_UPDATES):<16} agent {a_app / 1024:7.1f} KiB  baseline(git gc copy) "
          f"{g_app / 1024:7.1f} KiB  ratio {ratio:5.2f}  target <= {target:.2f}  {'PASS' if ok else 'FAIL'}"
          f"  (apparent size; disk usage {a_disk / 1024:.0f} vs {g_disk / 1024:.0f} KiB = {a_disk / g_disk:.2f})",
          flush=True)
    loose = sum(1 for d in os.listdir(os.path.join(store, ".git", "objects")) if len(d) == 2
                for _ in os.listdir(os.path.join(store, ".git", "objects", d)))
    packs = [p for p in os.listdir(os.path.join(store, ".git", "objects", "pack")) if p.endswith(".pack")]
    fa, fg = dir_size(os.path.join(store, ".git"), True)[0], dir_size(os.path.join(copy, ".git"), True)[0]
    dirs = sum(1 for _ in os.scandir(os.path.join(store, ".git", "objects")))
    log(f"    [growth] files only (no directory entries): agent {fa / 1024:.0f} KiB vs git gc {fg / 1024:.0f} KiB "
        f"= {fa / fg:.2f}; agent .git/objects has {dirs} entries (git gc leaves "
        f"{sum(1 for _ in os.scandir(os.path.join(copy, '.git', 'objects')))})")
    log(f"    [growth] {GROWTH_UPDATES} updates took {elapsed:.1f} s "
        f"({elapsed / GROWTH_UPDATES * 1e3:.1f} ms each, packing in the background; then {waited:.1f} s for the last "
        f"background gc); agent .git: {len(packs)} pack(s), {loose} loose objects")


def wait_for_background_gc(store, limit=300):
    """Seconds spent waiting until no `agent gc` process for `store` runs (they are detached)."""
    started = time.perf_counter()
    markers = {os.path.realpath(os.path.join(store, ".git")).encode(), os.path.join(store, ".git").encode()}
    time.sleep(0.1)  # a gc started by the last command may not have begun yet
    while time.perf_counter() - started < limit:
        running = False
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if b"gc" in cmdline and any(arg.rstrip(b"/") in markers for arg in cmdline):
                running = True
                break
        if not running:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError("a background agent gc did not finish")


def bench_pre_commit(root, dotenv_1k):
    """`agent hooks run pre-commit` on 1,000 staged files (10 MiB) against a 1,000-secret store vs
    `grep -F -f values.txt` over the same files (the 1,000 values in a plain file)."""
    import base64
    store = os.path.join(root, "precommit-store")
    new_store(store, dotenv_1k)
    files = os.path.join(store, "src")
    os.makedirs(files)
    data_rng = random.Random(SEED + 3)
    for i in range(1000):
        raw = data_rng.randbytes(10 * 1024 * 3 // 4 - 57 * 2)  # ~10 KiB of base64 text per file
        text = base64.encodebytes(raw).decode()
        with open(os.path.join(files, f"file{i:04d}.txt"), "w") as f:
            f.write(text)
    git(store, "add", "src")
    staged = sum(os.path.getsize(os.path.join(files, n)) for n in os.listdir(files))
    values = os.path.join(root, "values.txt")
    with open(values, "w") as f:
        for line in open(dotenv_1k):
            f.write(line.rstrip("\n").split("=", 1)[1] + "\n")
    hook = [AGENT, "hooks", "run", "pre-commit"]
    grep = ["grep", "-rF", "-f", values, "src"]

    def run_allowing(argv, ok):
        r = subprocess.run(argv, cwd=store, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode not in ok:
            raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
        return r.returncode

    # Correctness checks, untimed: clean content passes; one planted value is found by both.
    assert run_allowing(hook, (0,)) == 0
    assert run_allowing(grep, (1,)) == 1
    secret_value = open(values).readline().strip()
    planted = os.path.join(files, "file0500.txt")
    original = open(planted).read()
    with open(planted, "w") as f:
        f.write(original[:5000] + secret_value + original[5000:])
    git(store, "add", "src/file0500.txt")
    assert run_allowing(hook, (7,)) == 7
    assert run_allowing(grep, (0,)) == 0
    with open(planted, "w") as f:
        f.write(original)
    git(store, "add", "src/file0500.txt")

    def agent_once(i):
        t0 = time.perf_counter()
        run_allowing(hook, (0,))
        return time.perf_counter() - t0

    def grep_once(i):
        t0 = time.perf_counter()
        run_allowing(grep, (1,))
        return time.perf_counter() - t0

    log(f"    [hook-pre-commit] {len(os.listdir(files))} staged files, {staged / 2**20:.1f} MiB")
    ta, tb, ratios = pairs(PAIRS, agent_once, grep_once, warmup=2)
    report("hook-pre-commit", "grep -F -f", ta, tb, ratios, 2.0)


def bench_post_checkout_noop(root, dotenv_1k):
    """`agent hooks run post-checkout OLD NEW 1` when the store did not change vs `git rev-parse HEAD`."""
    store = os.path.join(root, "postcheckout-store")
    new_store(store, dotenv_1k)
    os.makedirs(os.path.join(store, ".envagent"), exist_ok=True)
    with open(os.path.join(store, ".envagent", "targets"), "w") as f:
        f.write("[target app]\nenvironment = dev\noutput = .env\n")
    run([AGENT, "render", "--targets"], cwd=store)
    head = git(store, "rev-parse", "HEAD", out=subprocess.PIPE).stdout.decode().strip()
    env_file = os.path.join(store, ".env")
    before = os.stat(env_file).st_mtime_ns
    hook = [AGENT, "hooks", "run", "post-checkout", head, head, "1"]
    r = run(hook, cwd=store, out=subprocess.PIPE)
    assert r.stdout == b"" and r.stderr == b"", (r.stdout, r.stderr)   # silent no-op

    def agent_once(i):
        t0 = time.perf_counter()
        run(hook, cwd=store)
        return time.perf_counter() - t0

    def git_once(i):
        t0 = time.perf_counter()
        git(store, "rev-parse", "HEAD")
        return time.perf_counter() - t0

    ta, tb, ratios = pairs(PAIRS, agent_once, git_once, warmup=2)
    assert os.stat(env_file).st_mtime_ns == before   # never rewritten
    report("post-checkout-noop", "git rev-parse", ta, tb, ratios, 3.0)

# --------------------------------------------------------------------------- HTTP API (issue 6)

class Server:
    """`agent serve` on an ephemeral loopback port; its log goes to a file."""

    def __init__(self, store, state, logfile):
        self.log = open(logfile, "w+")
        self.proc = subprocess.Popen([AGENT, "serve", "--store", store, "--state-dir", state,
                                      "--listen", "127.0.0.1:0", "--rate-limit", "0"],
                                     env=ENV, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 30
        self.base = None
        while time.time() < deadline and self.base is None:
            if self.proc.poll() is not None:
                raise RuntimeError("agent serve exited: " + open(logfile).read())
            match = re.search(r"^agent: serving (http://\S+)$", open(logfile).read(), re.M)
            if match:
                self.base = match.group(1)
            else:
                time.sleep(0.05)
        if self.base is None:
            raise RuntimeError("agent serve did not start")

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=60)
        if code != 0:
            raise RuntimeError(f"agent serve exited {code} on SIGTERM")


def wrk(args):
    r = run(["wrk", *args], out=subprocess.PIPE)
    return r.stdout.decode()


def wrk_seconds(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = wrk_seconds(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = wrk_seconds(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return rps, total, p50, p99, int(non2xx.group(1)) if non2xx else 0, errors.group(1) if errors else ""


def sequential(argv_for, runs, stdin_for=None):
    """Median seconds of `runs` sequential processes (after one unmeasured run)."""
    times = []
    for i in range(-1, runs):
        t0 = time.perf_counter()
        run(argv_for(i), stdin_bytes=stdin_for(i) if stdin_for else None)
        if i >= 0:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def api_store(root, name, dotenv):
    store = os.path.join(root, name)
    new_store(store, dotenv)
    state = os.path.join(root, name + "-state")
    os.makedirs(state, mode=0o700)
    token = run([AGENT, "tokens", "create", "--scope", "write", "--store", store, "--state-dir", state],
                out=subprocess.PIPE).stdout.decode().strip()
    return store, state, token


def bench_api_patch(root, dotenv_1k):
    store, state, token = api_store(root, "api-patch-store", dotenv_1k)
    rng = random.Random(SEED + 3)
    # Baseline, same run, same store: sequential `agent update` processes.
    update = sequential(lambda i: [AGENT, "update", secret_name(rng.randrange(1000)), "--store", store],
                        API_BASELINE_RUNS, lambda i: f"baseline-{i}-{random_value(rng)}".encode())
    logs = os.path.join(root, "wrk-patch-logs")
    os.makedirs(logs)
    commits_before = int(git(store, "rev-list", "--count", "HEAD", out=subprocess.PIPE).stdout)
    server = Server(store, state, os.path.join(root, "api-patch-server.log"))
    try:
        out = wrk(["-t16", "-c16", f"-d{API_PATCH_SECONDS}s", "--timeout", "10s", "--latency",
                   "-s", os.path.join(HERE, "wrk-patch.lua"), server.base, "--", token, "1000", "16", logs])
    finally:
        server.stop()
    rps, total, p50, p99, non2xx, errors = parse_wrk(out)
    packs = re.findall(r"idle=(\w+) ms=([\d.]+) \[EnvAgentServer\] packed loose objects", open(os.path.join(root, "api-patch-server.log")).read())
    # Zero lost updates: every secret holds the last value its client wrote (the last one sent,
    # if that one was still in flight when wrk stopped, else the last one answered 200).
    final = json.loads(run([AGENT, "render", "--format", "json", "--store", store], out=subprocess.PIPE).stdout)
    initial = dict(line.rstrip("\n").split("=", 1) for line in open(dotenv_1k))
    lost, checked, answered = [], 0, 0
    for name in sorted(os.listdir(logs)):
        last_sent, last_ok = {}, {}
        for line in open(os.path.join(logs, name)):
            parts = line.split()
            if parts[0] == "S":
                last_sent[parts[1]] = parts[2]
            elif parts[1] == "200":
                last_ok[parts[2]] = parts[3]
                answered += 1
        for secret, sent in last_sent.items():
            checked += 1
            if last_ok.get(secret) == sent:
                allowed = {sent}                                        # answered: must be there
            else:
                allowed = {sent, last_ok.get(secret, initial[secret])}  # in flight when wrk stopped
            if final[secret] not in allowed:
                lost.append(secret)
    fsck = subprocess.run(["git", "-C", store, "fsck", "--strict", "--no-progress"], env=ENV,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    commits = int(git(store, "rev-list", "--count", "HEAD", out=subprocess.PIPE).stdout) - commits_before
    ratio = rps * update
    p99_ratio = p99 / update
    ok = ratio >= 20 and p99_ratio <= 5 and not lost and fsck.returncode == 0 and non2xx == 0
    RESULTS.append(("api-patch-1k", ok))
    print(f"{'api-patch-1k':<16} api {rps:8.1f} req/s  p50 {p50 * 1e3:.1f} ms  p99 {p99 * 1e3:.1f} ms  "
          f"baseline(agent update) {update * 1e3:.1f} ms = {1 / update:.1f}/s  "
          f"ratio {ratio:5.1f}x  target >= 20x; p99/update {p99_ratio:.2f}  target <= 5; "
          f"lost {len(lost)} of {checked}; fsck {'clean' if fsck.returncode == 0 else 'FAILED'}  {'PASS' if ok else 'FAIL'}",
          flush=True)
    log(f"    [api-patch-1k] wrk -t16 -c16 {API_PATCH_SECONDS}s: {total} requests, {answered} answered 200, "
        f"non-2xx {non2xx}, socket errors: {errors or 'none'}; {commits} commits "
        f"({answered / max(commits, 1):.1f} updates per commit)")
    # Packing runs on the server's packer thread beside the writer, so packs made under load are
    # already inside the throughput. What the run leaves unpacked (or packs after it, idle) is
    # a debt someone pays later: measure it as the time `agent gc` (a forced pack of every
    # loose object, then the geometric roll-up) takes afterwards, and count it with the idle
    # packs against the run.
    started = time.perf_counter()
    run([AGENT, "gc", "--store", store])
    debt = time.perf_counter() - started
    idle_seconds = sum(float(ms) for idle, ms in packs if idle == "true") / 1e3
    amortized = answered / (API_PATCH_SECONDS + idle_seconds + debt)
    log(f"    [api-patch-1k] counting the packing left after the run too: {answered} updates in {API_PATCH_SECONDS} s + "
        f"{idle_seconds:.1f} s idle packing + {debt:.1f} s for the agent gc that packs the rest = {amortized:.0f} updates/s "
        f"= {amortized * update:.1f}x sequential agent update")
    log(f"    [api-patch-1k] packs (on the packer thread): " + (", ".join(
        f"{float(ms):.0f} ms ({'idle' if idle == 'true' else 'under load'})" for idle, ms in packs) or "none"))
    if lost:
        log(f"    [api-patch-1k] LOST: {lost[:10]}")
    if fsck.returncode != 0:
        log(fsck.stdout.decode(errors="replace"))


def bench_api_list(root, dotenv_1k):
    store, state, token = api_store(root, "api-list-store", dotenv_1k)
    listing = sequential(lambda i: [AGENT, "list", "--store", store], API_BASELINE_RUNS)
    server = Server(store, state, os.path.join(root, "api-list-server.log"))
    try:
        url = server.base + "/v1/environments/dev/secrets"
        request = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
        body = json.load(urllib.request.urlopen(request))
        assert len(body) == 1000 and all("••••" in s["masked_value"] for s in body), len(body)
        out = wrk(["-t2", "-c16", f"-d{API_LIST_SECONDS}s", "--latency", "-H", "Authorization: Bearer " + token, url])
    finally:
        server.stop()
    rps, total, p50, p99, non2xx, errors = parse_wrk(out)
    ratio = rps * listing
    ok = ratio >= 50 and non2xx == 0
    RESULTS.append(("api-list-1k", ok))
    print(f"{'api-list-1k':<16} api {rps:8.1f} req/s  p50 {p50 * 1e3:.2f} ms  p99 {p99 * 1e3:.2f} ms  "
          f"baseline(agent list) {listing * 1e3:.1f} ms = {1 / listing:.1f}/s  ratio {ratio:6.1f}x  target >= 50x  "
          f"{'PASS' if ok else 'FAIL'}", flush=True)
    log(f"    [api-list-1k] wrk -t2 -c16 {API_LIST_SECONDS}s: {total} requests, non-2xx {non2xx}, "
        f"socket errors: {errors or 'none'}; {len(json.dumps(body)) / 1024:.0f} KiB per response")


# --------------------------------------------------------------------------- main

def bench_sync(root, dotenv_1k):
    """`agent sync` of one local change against one remote change (fetch, key-level merge, push)
    vs `git pull --no-rebase && git push` of the same situation on a plain repository."""
    remote = os.path.join(root, "sync-remote.git")
    git(root, "init", "-q", "--bare", "-b", "main", remote)
    seed = os.path.join(root, "sync-seed")
    new_store(seed, dotenv_1k)
    git(seed, "remote", "add", "origin", "file://" + remote)
    run([AGENT, "sync", "--store", seed])
    clones = []
    for name in ("sync-a", "sync-b"):
        path = os.path.join(root, name)
        git(root, "clone", "-q", "file://" + remote, path)
        git(path, "config", "user.name", "Bench Mark")
        git(path, "config", "user.email", "bench@example.com")
        clones.append(path)
    # The same situation for git: a plain repository holding the same 1,000-line file.
    plain_remote = os.path.join(root, "sync-plain.git")
    git(root, "init", "-q", "--bare", "-b", "main", plain_remote)
    plain_seed = os.path.join(root, "sync-plain-seed")
    plain_repo_like(seed, plain_seed)
    git(plain_seed, "remote", "add", "origin", "file://" + plain_remote)
    git(plain_seed, "push", "-q", "origin", "main")
    plain = []
    for name in ("plain-a", "plain-b"):
        path = os.path.join(root, name)
        git(root, "clone", "-q", "file://" + plain_remote, path)
        git(path, "config", "user.name", "Bench Mark")
        git(path, "config", "user.email", "bench@example.com")
        plain.append(path)
    rng = random.Random(SEED + 7)
    lines = secrets_blob(seed).split(b"\n")[:-1]

    def agent_once(i):
        a, b = clones
        x, y = rng.sample(range(1000), 2)
        run([AGENT, "update", secret_name(x), "--store", a], stdin_bytes=random_value(rng).encode())
        run([AGENT, "sync", "--store", a])                                    # the remote change
        run([AGENT, "update", secret_name(y), "--store", b], stdin_bytes=random_value(rng).encode())
        t0 = time.perf_counter()
        run([AGENT, "sync", "--store", b])
        dt = time.perf_counter() - t0
        run([AGENT, "sync", "--store", a])                                    # untimed catch-up
        return dt

    def git_once(i):
        a, b = plain
        x, y = sorted(rng.sample(range(0, 1000, 4), 2))                      # never adjacent lines
        for repo, n in ((a, x), (b, y)):
            new = lines[n][:-20] + bytes(rng.choice(b"ABCDEFGHIJ") for _ in range(20))
            run(["sed", "-i", f"{n + 1}s|.*|{new.decode()}|", os.path.join(repo, "secrets")])
            git(repo, "commit", "-qam", f"update line {n}")
        git(a, "push", "-q", "origin", "main")
        t0 = time.perf_counter()
        timed_steps = [(["git", "-C", b, "pull", "--no-rebase", "--no-edit", "-q", "origin", "main"], {}),
                       (["git", "-C", b, "push", "-q", "origin", "main"], {})]
        for argv, kw in timed_steps:
            run(argv, **kw)
        dt = time.perf_counter() - t0
        git(a, "pull", "--no-rebase", "--no-edit", "-q", "origin", "main")   # untimed catch-up
        return dt

    ta, tb, ratios = pairs(PAIRS, agent_once, git_once, warmup=1)
    assert (run([AGENT, "render", "--store", clones[0]], out=subprocess.PIPE).stdout
            == run([AGENT, "render", "--store", clones[1]], out=subprocess.PIPE).stdout)
    report("sync-1", "git pull+push", ta, tb, ratios, 1.0)


def bench_convergence(root, dotenv_1k, clones=8, updates=25):
    """8 clones × 25 updates each, every update followed by `agent sync`, all clones at once;
    reports the wall time until every clone holds every update, and the push retries."""
    import json
    import threading
    remote = os.path.join(root, "conv-remote.git")
    git(root, "init", "-q", "--bare", "-b", "main", remote)
    seed = os.path.join(root, "conv-seed")
    new_store(seed, dotenv_1k)
    git(seed, "remote", "add", "origin", "file://" + remote)
    run([AGENT, "sync", "--store", seed])
    paths = []
    for c in range(clones):
        path = os.path.join(root, f"conv-{c}")
        git(root, "clone", "-q", "file://" + remote, path)
        paths.append(path)
    retries = [0] * clones
    errors = []

    def worker(c):
        try:
            for u in range(updates):
                name = secret_name(c * updates + u)      # distinct secrets per clone
                run([AGENT, "update", name, "--store", paths[c]], stdin_bytes=f"clone{c}-update{u}".encode())
                out = run([AGENT, "sync", "--json", "--store", paths[c]], out=subprocess.PIPE).stdout
                retries[c] += json.loads(out)["attempts"] - 1
        except Exception as e:  # reported below; the benchmark fails
            errors.append(e)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clones)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    for path in paths:                                   # everyone pulls the last pushes
        run([AGENT, "sync", "--store", path])
    elapsed = time.perf_counter() - t0
    renders = {run([AGENT, "render", "--store", p], out=subprocess.PIPE).stdout for p in paths}
    if len(renders) != 1:
        for p in paths:
            log(f"    {p}: HEAD {git(p, 'rev-parse', 'HEAD', out=subprocess.PIPE).stdout.decode().strip()}")
        log(f"    remote: {git(remote, 'rev-parse', 'main', out=subprocess.PIPE).stdout.decode().strip()}")
    assert len(renders) == 1, "clones did not converge"
    final = renders.pop().decode()
    for c in range(clones):
        for u in range(updates):
            assert f"{secret_name(c * updates + u)}='clone{c}-update{u}'" in final
    print(f"{'convergence-8x25':<16} {clones} clones x {updates} updates+syncs in parallel: "
          f"{elapsed:.1f} s to converge ({clones * updates} updates, {sum(retries)} push retries, "
          f"{elapsed / (clones * updates) * 1e3:.0f} ms per update)  (reported, no target)", flush=True)


def main():
    global ENV
    if not AGENT or not os.access(AGENT, os.X_OK):
        sys.exit("AGENT_BIN must point to the agent binary")
    base = os.environ.get("BENCH_TMPDIR") or None
    root = tempfile.mkdtemp(prefix="envagent-bench-", dir=base)
    home = os.path.join(root, "home")
    os.makedirs(home)
    ENV = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,                       # no user ~/.gitconfig
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LANG": "C",
        "LC_ALL": "C",
        # In-process, whatever runs on this machine: the resident agent has its own benchmarks
        # (resident.py).
        "AGENT_NO_DAEMON": "1",
    }
    try:
        mode = "QUICK" if QUICK else "full"
        log(f"agent: {AGENT}\ntemp:  {root}\nmode:  {mode}, {PAIRS} pairs "
            f"({IMPORT_PAIRS} for import), growth {GROWTH_UPDATES} updates, seed {SEED}")
        run([AGENT, "keygen"])
        dotenv_1k = os.path.join(root, "secrets-1k.env")
        dotenv_10k = os.path.join(root, "secrets-10k.env")
        write_dotenv(dotenv_1k, 1000, random.Random(SEED))
        write_dotenv(dotenv_10k, 10000, random.Random(SEED))

        print(f"# EnvAgent benchmarks ({mode}; medians; ratio = median of pairwise agent/baseline)", flush=True)
        only = [n for n in os.environ.get("BENCH_ONLY", "").split(",") if n]
        store_10k = None
        steps = [
            ("update-1k", lambda: bench_update(root, dotenv_1k)),
            ("render-1k", lambda: bench_render(root, "render-1k", dotenv_1k, 1000, 2.0)),
            ("render-10k", None),
            ("import-10k", lambda: bench_import(root, dotenv_10k)),
            ("render-10k-rss", None),
            ("rotate-1k", lambda: bench_rotate(root, "rotate-1k", dotenv_1k, 1000)),
            ("rotate-10k", lambda: bench_rotate(root, "rotate-10k", dotenv_10k, 10000)),
            ("render-sealed-1k", lambda: bench_render_sealed(root, dotenv_1k)),
            ("hook-pre-commit", lambda: bench_pre_commit(root, dotenv_1k)),
            ("post-checkout-noop", lambda: bench_post_checkout_noop(root, dotenv_1k)),
            ("sync-1", lambda: bench_sync(root, dotenv_1k)),
            ("convergence-8x25", lambda: bench_convergence(root, dotenv_1k)),
            (f"growth-{GROWTH_UPDATES}", lambda: bench_growth(root, dotenv_1k)),
            ("api-patch-1k", lambda: bench_api_patch(root, dotenv_1k)),
            ("api-list-1k", lambda: bench_api_list(root, dotenv_1k)),
        ]
        for name, step in steps:
            # `core` selects every benchmark but the HTTP API ones.
            if only and not any(name.startswith(o) or (o == "core" and not name.startswith("api")) for o in only):
                continue
            log(f"  {name} ...")
            if name == "render-10k":
                store_10k = bench_render(root, "render-10k", dotenv_10k, 10000, 3.0)
            elif name == "render-10k-rss":
                if store_10k is None:
                    store_10k = os.path.join(root, "render-store-10000")
                    new_store(store_10k, dotenv_10k)
                bench_rss(store_10k)
            else:
                step()
        failed = [n for n, ok in RESULTS if not ok]
        print(f"# {len(RESULTS) - len(failed)}/{len(RESULTS)} targets met"
              + (f"; FAIL: {', '.join(failed)}" if failed else ""), flush=True)
    finally:
        if os.environ.get("BENCH_KEEP"):
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
