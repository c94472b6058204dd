#!/usr/bin/env python3
"""Start-up of `agent` binaries side by side (issue 15, "plain start-up path").

    python3 Benchmarks/startup.py [-n RUNS] LABEL=AGENT_BINARY [LABEL=AGENT_BINARY …]

Times whole processes (time.perf_counter() around subprocess.run, stdout to /dev/null) of
`agent --version`, `agent list` on a 1,000-secret store and `agent hooks run post-checkout HEAD HEAD 1`
(a no-op: one rendered target, store unchanged), plus `git rev-parse HEAD` for scale. The
binaries (and git) run round-robin, one call each in turn, so that the noise of this shared
machine falls on all of them alike; prints the median and the 10th/90th percentiles in ms, and
the median CPU time (user + sys from wait4, less sensitive to other load than wall time).
The store is made once with the first binary; the others read the same one. Standard library
only; a private HOME and GIT_CONFIG_NOSYSTEM=1 as in bench.py.
"""
import argparse, os, random, statistics, string, subprocess, tempfile, time

parser = argparse.ArgumentParser()
parser.add_argument("-n", type=int, default=100, help="timed runs of each command and binary (default 100)")
parser.add_argument("binaries", nargs="+", metavar="LABEL=PATH")
args = parser.parse_args()
binaries = [b.split("=", 1) for b in args.binaries]

root = tempfile.mkdtemp(prefix="envagent-startup-")
ENV = {"PATH": os.environ["PATH"], "HOME": root, "XDG_CONFIG_HOME": root + "/config", "GIT_CONFIG_NOSYSTEM": "1",
       "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


def run(argv, cwd=None, stdin=None):
    r = subprocess.run(argv, cwd=cwd, env=ENV, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(argv)}\n{r.stderr.decode(errors='replace')}")
    return r


first = binaries[0][1]
store = os.path.join(root, "store")
os.makedirs(store)
run(["git", "init", "-q", "-b", "main"], cwd=store)
run(["git", "config", "user.name", "Bench"], cwd=store)
run(["git", "config", "user.email", "bench@example.com"], cwd=store)
run([first, "keygen"], cwd=store)
run([first, "init"], cwd=store)
rng = random.Random(20261126)
alphabet = string.ascii_letters + string.digits
dotenv = "".join(f"SECRET_{i:05d}={''.join(rng.choice(alphabet) for _ in range(rng.randint(20, 60)))}\n" for i in range(1000))
with open(os.path.join(root, "1k.env"), "w") as f:
    f.write(dotenv)
run([first, "import", os.path.join(root, "1k.env")], cwd=store)
with open(os.path.join(store, ".envagent", "targets"), "w") as f:
    f.write("[target app]\nenvironment = dev\noutput = .env\n")
run([first, "render", "--targets"], cwd=store)
head = run(["git", "rev-parse", "HEAD"], cwd=store).stdout.decode().strip()
for label, binary in binaries:  # every binary reads the store, and the hook is a silent no-op
    assert len(run([binary, "list"], cwd=store).stdout.splitlines()) >= 1000, label
    r = run([binary, "hooks", "run", "post-checkout", head, head, "1"], cwd=store)
    assert r.stdout == b"" and r.stderr == b"", (label, r.stderr)

commands = {
    "--version": ["--version"],
    "list (1,000 secrets)": ["list"],
    "hooks run post-checkout no-op": ["hooks", "run", "post-checkout", head, head, "1"],
}
print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {os.cpu_count()} cores  {args.n} runs each, round-robin")
for name, argv in commands.items():
    subjects = [(label, [binary] + argv) for label, binary in binaries] + [("git rev-parse HEAD", ["git", "rev-parse", "HEAD"])]
    times = {label: [] for label, _ in subjects}
    cpu = {label: [] for label, _ in subjects}
    for i in range(args.n + 3):
        for label, command in subjects:
            t0 = time.perf_counter()
            child = subprocess.Popen(command, cwd=store, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            elapsed = time.perf_counter() - t0
            child.returncode = os.waitstatus_to_exitcode(status)
            assert child.returncode == 0, (label, command)
            if i >= 3:  # warm-up rounds
                times[label].append(elapsed * 1000)
                cpu[label].append((usage.ru_utime + usage.ru_stime) * 1000)
    for label, samples in times.items():
        deciles = statistics.quantiles(samples, n=10)
        print(f"{name:26} {label:20} median {statistics.median(samples):6.2f} ms   p10 {deciles[0]:6.2f}   p90 {deciles[-1]:6.2f}"
              f"   cpu (user+sys) median {statistics.median(cpu[label]):6.2f} ms")
subprocess.run(["rm", "-rf", root])
