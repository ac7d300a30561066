#!/usr/bin/env python3
"""DESIGN.md's 10-tool-call task: `code-mesh run` against the testkit server, which asks for ten
`echo` calls through the shell tool and then gives a final answer. Prints wall time, CPU time
and peak RSS of the `code-mesh` process (median and range over N runs), plus `--version` timing.

Usage: bench/ten_tool_calls.py [N [RUN-OPTIONS...]]   (builds the release binaries first)
e.g.   bench/ten_tool_calls.py 20 --sandbox off
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
# Extra `code-mesh run` options, e.g. `--sandbox off` to measure without confinement.
EXTRA_ARGS = sys.argv[2:]


def build():
    subprocess.run(
        ["cargo", "build", "--release", "-p", "code-mesh", "-p", "code-mesh-testkit"],
        cwd=ROOT, check=True)
    target = os.path.join(ROOT, "target", "release")
    return os.path.join(target, "code-mesh"), os.path.join(target, "code-mesh-testkit")


def script_text():
    turns = []
    for i in range(10):
        turns.append(
            f'[[turn]]\n[[turn.tool_calls]]\nname = "bash"\n'
            f'arguments = {{ command = "echo hello {i}" }}\n')
    turns.append('[[turn]]\ntext = "Ran ten echo commands."\n')
    return "\n".join(turns)


def measure(cmd, env, cwd):
    """Runs cmd, returning (wall s, cpu s, peak RSS KiB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def main():
    code_mesh, testkit = build()
    work = tempfile.mkdtemp(prefix="cm-bench-")
    script = os.path.join(work, "ten.toml")
    with open(script, "w") as f:
        f.write(script_text())
    project = os.path.join(work, "project")
    os.makedirs(project)
    walls, cpus, rss = [], [], []
    for i in range(RUNS):
        home = os.path.join(work, f"home{i}")
        server = subprocess.Popen([testkit, "--exit-when-done", script],
                                  stdout=subprocess.PIPE, text=True)
        line = server.stdout.readline().strip()
        base_url = line.rsplit(" ", 1)[-1]
        env = {"PATH": os.environ["PATH"], "HOME": work, "CODE_MESH_HOME": home,
               "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "bench"}
        wall, cpu, peak, code = measure(
            [code_mesh, "run", "--yes", "-m", "openai/bench-model", *EXTRA_ARGS, "run ten echoes"],
            env, project)
        server.wait(timeout=10)
        if code != 0 or server.returncode != 0:
            sys.exit(f"run {i}: code-mesh exited {code}, testkit {server.returncode}")
        walls.append(wall)
        cpus.append(cpu)
        rss.append(peak)
    versions = [measure([code_mesh, "--version"], {"PATH": os.environ["PATH"]}, work)[0]
                for _ in range(50)]

    def fmt(values, scale, unit):
        return (f"median {statistics.median(values) * scale:.1f} {unit} "
                f"(min {min(values) * scale:.1f}, max {max(values) * scale:.1f})")

    print(f"10-tool-call task, {RUNS} runs:")
    print(f"  wall      {fmt(walls, 1000, 'ms')}")
    print(f"  cpu       {fmt(cpus, 1000, 'ms')}")
    print(f"  peak RSS  {fmt(rss, 1 / 1024, 'MiB')}")
    print(f"code-mesh --version, 50 runs: wall {fmt(versions, 1000, 'ms')}")


if __name__ == "__main__":
    main()
