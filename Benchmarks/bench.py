#!/usr/bin/env python3
"""EnvAgent benchmark suite (standard library only).

Every timed target is a ratio against a baseline that is run alternately with it
(A B A B ..., N pairs); the reported ratio is the median of the pairwise ratios A_i/B_i,
the reported times are the medians of each side. Whole processes are timed with
time.perf_counter() around subprocess.run().

Usage: AGENT_BIN=/path/to/agent python3 Benchmarks/bench.py
Environment:
  AGENT_BIN      agent binary (required; run.sh sets it)
  BENCH_ONLY     comma-separated subset: core, api (default: both)
  BENCH_QUICK=1  fewer pairs and a 200-update growth benchmark (smoke run)
  BENCH_PAIRS=N  override the pair count
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
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "core,api").split(",")))
HERE = os.path.dirname(os.path.abspath(__file__))

AGENT = os.environ.get("AGENT_BIN")
RNG = random.Random(SEED)
ENV = {}        # environment for every child process, set up in main()
RESULTS = []    # (name, passed)


# --------------------------------------------------------------------------- helpers

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(argv, cwd=None, stdin_bytes=None, out=subprocess.DEVNULL):
    """Runs a process, raising on failure (so a crash makes the suite exit non-zero)."""
    r = subprocess.run(argv, cwd=cwd, env=ENV, input=stdin_bytes, stdout=out,
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
    print(f"{name:<16} agent {ma * 1e3:7.1f} ms  baseline({baseline_label}) {mb * 1e3:7.1f} ms  "
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
            st = os.lstat(os.path.join(root, name))
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
        f"({elapsed / GROWTH_UPDATES * 1e3:.1f} ms each); agent .git: {len(packs)} pack(s), {loose} loose objects")


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
    pack_seconds = sum(float(ms) for _, ms in packs) / 1e3
    amortized = answered / (API_PATCH_SECONDS + pack_seconds)
    log(f"    [api-patch-1k] counting the deferred packing too: {answered} updates in {API_PATCH_SECONDS} s + "
        f"{pack_seconds:.1f} s of packing = {amortized:.0f} updates/s = {amortized * update:.1f}x sequential agent update")
    log(f"    [api-patch-1k] packing, deferred while busy: " + (", ".join(
        f"{float(ms):.0f} ms ({'after the run, idle' if idle == 'true' else 'under load'})" for idle, ms in packs) or "none"))
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
        if "core" in ONLY:
            log("  update-1k ...")
            bench_update(root, dotenv_1k)
            log("  render-1k ...")
            bench_render(root, "render-1k", dotenv_1k, 1000, 2.0)
            log("  render-10k ...")
            store_10k = bench_render(root, "render-10k", dotenv_10k, 10000, 3.0)
            log("  import-10k ...")
            bench_import(root, dotenv_10k)
            log("  render-10k-rss ...")
            bench_rss(store_10k)
            log(f"  growth-{GROWTH_UPDATES} ...")
            bench_growth(root, dotenv_1k)
        if "api" in ONLY:
            log("  api-patch-1k ...")
            bench_api_patch(root, dotenv_1k)
            log("  api-list-1k ...")
            bench_api_list(root, dotenv_1k)
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
