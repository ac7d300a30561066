#!/usr/bin/env python3
"""Issue 6's orchestration benchmark: `code-mesh run --strategy hierarchical` against the testkit
server, where the Coordinator delegates N tasks at once (`[agents] max_count = N`) and every
agent's model request takes 200 ms (the scripted latency). Compares the wall time of N agents
with one agent's (target: 32 agents within 1.3x of one), and prints the engine's CPU time and
peak RSS of the `code-mesh` process, per extra agent.

Usage: bench/agents.py [RUNS [N...]]   (builds the release binaries first)
e.g.   bench/agents.py 5 1 8 32
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
COUNTS = [int(n) for n in sys.argv[2:]] or [1, 8, 32]
LATENCY_MS = 200


def build():
    subprocess.run(
        ["cargo", "build", "--release", "-p", "code-mesh", "-p", "code-mesh-testkit"],
        cwd=ROOT, check=True)
    target = os.path.join(ROOT, "target", "release")
    return os.path.join(target, "code-mesh"), os.path.join(target, "code-mesh-testkit")


def script_text(n):
    tasks = ", ".join(
        f'{{ id = "t{i}", description = "task {i}: say done", agent = "coder" }}' for i in range(n))
    turns = [
        # The Coordinator answers at once: only the agents' requests have latency.
        f'[[turn]]\nagent = "coordinator"\n[[turn.tool_calls]]\nname = "delegate"\n'
        f'arguments = {{ tasks = [{tasks}] }}\n'
    ]
    for i in range(n):
        turns.append(
            f'[[turn]]\nagent = "coder"\ntext = "done {i}"\ndelay_ms = {LATENCY_MS}\n'
            f'usage = {{ prompt_tokens = 100, completion_tokens = 10 }}\n')
    turns.append('[[turn]]\nagent = "coordinator"\ntext = "All tasks are done."\n')
    return "\n".join(turns)


def measure(cmd, env, cwd):
    """Runs cmd, returning (wall s, cpu s, peak RSS KiB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def run_count(code_mesh, testkit, work, n):
    script = os.path.join(work, f"agents{n}.toml")
    with open(script, "w") as f:
        f.write(script_text(n))
    project = os.path.join(work, f"project{n}")
    os.makedirs(project, exist_ok=True)
    with open(os.path.join(project, "code-mesh.toml"), "w") as f:
        f.write(f"[agents]\nmax_count = {n}\n")
    walls, cpus, rss = [], [], []
    for i in range(RUNS):
        home = os.path.join(work, f"home{n}-{i}")
        server = subprocess.Popen([testkit, "--exit-when-done", script],
                                  stdout=subprocess.PIPE, text=True)
        base_url = server.stdout.readline().strip().rsplit(" ", 1)[-1]
        env = {"PATH": os.environ["PATH"], "HOME": work, "CODE_MESH_HOME": home,
               "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "bench"}
        wall, cpu, peak, code = measure(
            [code_mesh, "run", "--strategy", "hierarchical", "-m", "openai/bench-model",
             "do the tasks"], env, project)
        server.wait(timeout=30)
        if code != 0 or server.returncode != 0:
            sys.exit(f"{n} agents, run {i}: code-mesh exited {code}, testkit {server.returncode}")
        walls.append(wall)
        cpus.append(cpu)
        rss.append(peak / 1024)
    return statistics.median(walls), statistics.median(cpus), statistics.median(rss), walls


def main():
    code_mesh, testkit = build()
    work = tempfile.mkdtemp(prefix="cm-bench-agents-")
    results = {n: run_count(code_mesh, testkit, work, n) for n in COUNTS}
    base_wall, base_cpu, base_rss, _ = results[COUNTS[0]]
    print(f"hierarchical run, one 200 ms model request per agent, {RUNS} runs each (medians):")
    for n, (wall, cpu, rss, walls) in results.items():
        line = (f"  {n:>3} agents: wall {wall * 1000:7.1f} ms (min {min(walls) * 1000:.1f}, "
                f"max {max(walls) * 1000:.1f}), {wall / base_wall:4.2f}x of {COUNTS[0]}; "
                f"cpu {cpu * 1000:6.1f} ms; peak RSS {rss:5.1f} MiB")
        if n > COUNTS[0]:
            extra = n - COUNTS[0]
            line += (f"; per extra agent: cpu {(cpu - base_cpu) * 1000 / extra:.2f} ms, "
                     f"RSS {(rss - base_rss) * 1024 / extra:.0f} KiB")
        print(line)


if __name__ == "__main__":
    main()
