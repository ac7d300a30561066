#!/usr/bin/env python3
"""Issue 7's terminal UI measurements on the real `code-mesh` binary, in tmux on a socket of its
own (120x40), against the testkit server (which it never needs to ask: nothing is sent):

- time to the first frame and idle CPU: the TUI on a fresh session; utime+stime of the process
  (/proc/PID/stat) and its context switches over IDLE_S seconds after the first frame
  (target: about 0, no redraw without a change);
- peak memory with a 10,000-message session open: the session is written into the store first
  (the `tui_session` example of crates/store), then `code-mesh --session ID` opens it; VmHWM
  from /proc/PID/status once the last message is on screen (target: under 30 MiB);
- keystroke-to-frame end to end: a character sent with `tmux send-keys`, then `capture-pane`
  polled until it shows, N times; median and p95, next to the same against a plain `cat` in a
  tmux pane (the terminal echoes at once there, so that row is tmux's own cost).

Usage: bench/tui.py [KEYS [MESSAGES]]   (builds the release binaries first)
e.g.   bench/tui.py 200 10000
"""
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
MESSAGES = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
IDLE_S = 10
WIDTH, HEIGHT = 120, 40
DEADLINE_S = 60
# Typed per round before the editor is cleared, so the line never wraps.
ROUND = 40
# Between two keys: a fast typist's pace, and more than the UI's 16 ms frame spacing.
KEY_GAP_S = 0.05
SOCKET = f"code-mesh-bench-tui-{os.getpid()}"
TICKS = os.sysconf("SC_CLK_TCK")


def build():
    subprocess.run(
        ["cargo", "build", "--release", "-p", "code-mesh", "-p", "code-mesh-testkit"],
        cwd=ROOT, check=True)
    subprocess.run(
        ["cargo", "build", "--release", "-p", "code-mesh-store", "--example", "tui_session"],
        cwd=ROOT, check=True)
    target = os.path.join(ROOT, "target", "release")
    return (os.path.join(target, "code-mesh"), os.path.join(target, "code-mesh-testkit"),
            os.path.join(target, "examples", "tui_session"))


# The tmux server and so every pane get this environment only, not the caller's (no API keys,
# no NO_COLOR); tmux adds TERM.
TMUX_ENV = {"PATH": os.environ["PATH"], "HOME": tempfile.gettempdir()}


def tmux(*args, check=True):
    out = subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args],
                         capture_output=True, text=True, env=TMUX_ENV)
    if check and out.returncode != 0:
        sys.exit(f"tmux {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def start(name, cwd, command):
    """Starts `command` (a list) in a detached WIDTHxHEIGHT session; returns its process id."""
    shell = "exec " + " ".join(shlex.quote(part) for part in command)
    tmux("new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), "-c", cwd, shell)
    pid = int(tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())
    return pid


def capture(name):
    return tmux("capture-pane", "-p", "-t", name, check=False)


def alive(name):
    return subprocess.run(["tmux", "-L", SOCKET, "has-session", "-t", name],
                          capture_output=True, env=TMUX_ENV).returncode == 0


def wait_for(name, ready, what, errors=None):
    """Polls the pane until `ready(screen)`; returns the seconds it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < DEADLINE_S:
        if ready(capture(name)):
            return time.perf_counter() - started
        if not alive(name):
            detail = open(errors).read().strip() if errors and os.path.exists(errors) else ""
            sys.exit(f"{name}: the program exited before {what}\n{detail}")
        time.sleep(0.002)
    sys.exit(f"{name}: no {what} within {DEADLINE_S} s; the screen:\n{capture(name)}")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def context_switches(pid):
    """Each live thread's voluntary and involuntary context switches, by thread id."""
    switches = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                switches[task] = sum(
                    int(line.split()[1]) for line in f
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))
        except FileNotFoundError:
            pass  # The thread ended meanwhile.
    return switches


def switches_between(before, after):
    """Switches of the threads alive at both reads, and how many threads ended or started."""
    common = before.keys() & after.keys()
    return (sum(after[task] - before[task] for task in common),
            len(before.keys() - common), len(after.keys() - common))


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    sys.exit(f"no {field} in /proc/{pid}/status")


def check_comm(pid, expected):
    with open(f"/proc/{pid}/comm") as f:
        comm = f.read().strip()
    if comm != expected[:15]:
        sys.exit(f"pane process {pid} is `{comm}`, not `{expected}`")


def key_latencies(name, clear_key, count):
    """Seconds from each `send-keys` of one character to a capture showing it."""
    latencies = []
    round_number = 0
    while len(latencies) < count:
        # A marker of its own per round, so text of an earlier round never matches.
        typed = f"@{round_number}@"
        tmux("send-keys", "-t", name, "-l", typed)
        wait_for(name, lambda screen: typed in screen, f"the marker {typed!r}")
        for index in range(min(ROUND, count - len(latencies))):
            typed += "abcdefghijklmnopqrstuvwxyz"[index % 26]
            time.sleep(KEY_GAP_S)
            started = time.perf_counter()
            tmux("send-keys", "-t", name, "-l", typed[-1])
            while typed not in capture(name):
                if time.perf_counter() - started > DEADLINE_S:
                    sys.exit(f"{name}: {typed!r} never showed; the screen:\n{capture(name)}")
            latencies.append(time.perf_counter() - started)
        tmux("send-keys", "-t", name, clear_key)
        round_number += 1
        time.sleep(KEY_GAP_S)
    return latencies


def main():
    code_mesh, testkit, tui_session = build()
    work = tempfile.mkdtemp(prefix="cm-bench-tui-")
    script = os.path.join(work, "script.toml")
    with open(script, "w") as f:
        f.write('[[turn]]\ntext = "never asked for"\n')
    project = os.path.join(work, "project")
    os.makedirs(project)
    server = subprocess.Popen([testkit, script], stdout=subprocess.PIPE, text=True)
    base_url = server.stdout.readline().strip().rsplit(" ", 1)[-1]

    def code_mesh_command(home, errors, *args):
        return ["env", f"HOME={work}", f"CODE_MESH_HOME={home}", f"OPENAI_BASE_URL={base_url}",
                "OPENAI_API_KEY=bench", "OLLAMA_HOST=127.0.0.1:9", "sh", "-c",
                'exec "$0" "$@" 2>' + shlex.quote(errors), code_mesh,
                "-m", "openai/bench-model", *args]

    rows = []
    try:
        # 1. A fresh session: first frame, then idle.
        errors = os.path.join(work, "fresh.stderr")
        started = time.perf_counter()
        pid = start("fresh", project, code_mesh_command(os.path.join(work, "home"), errors))
        wait_for("fresh", lambda screen: "Enter sends" in screen, "the first frame", errors)
        first_frame = time.perf_counter() - started
        check_comm(pid, "code-mesh")
        ticks, switches = cpu_ticks(pid), context_switches(pid)
        time.sleep(IDLE_S)
        ticks = cpu_ticks(pid) - ticks
        switches, ended, started_threads = switches_between(switches, context_switches(pid))
        idle_cpu = ticks / TICKS / IDLE_S * 100
        fresh_peak = status_kib(pid, "VmHWM")
        rows += [
            ("time to first frame, fresh session", f"{first_frame * 1e3:.0f} ms", ""),
            (f"idle CPU over {IDLE_S} s after it", f"{idle_cpu:.2f} % ({ticks} ticks)", "≈ 0"),
            (f"context switches in those {IDLE_S} s",
             f"{switches} ({ended} threads ended, {started_threads} started)", "≈ 0"),
            ("peak RSS (VmHWM), fresh session", f"{fresh_peak / 1024:.1f} MiB", ""),
        ]

        # 2. Keystroke to frame, against tmux's own cost with `cat`.
        tui_keys = key_latencies("fresh", "C-c", KEYS)
        start("cat", project, ["cat"])
        cat_keys = key_latencies("cat", "Enter", KEYS)

        def spread(values):
            values = sorted(values)
            p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
            return f"median {statistics.median(values) * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms"

        rows += [
            (f"keystroke to screen, code-mesh ({KEYS})", spread(tui_keys), ""),
            (f"keystroke to screen, tmux + cat ({KEYS})", spread(cat_keys), "baseline"),
            ("code-mesh over the baseline (medians)",
             f"{(statistics.median(tui_keys) - statistics.median(cat_keys)) * 1e3:.1f} ms", ""),
        ]
        tmux("kill-session", "-t", "fresh")

        # 3. A long session opened.
        home = os.path.join(work, "home-long")
        session = subprocess.run(
            [tui_session, os.path.join(home, "data", "code-mesh.db"), str(MESSAGES), project],
            check=True, capture_output=True, text=True).stdout.strip()
        last_user = MESSAGES - (MESSAGES + 2) % 3
        errors = os.path.join(work, "long.stderr")
        started = time.perf_counter()
        pid = start("long", project, code_mesh_command(home, errors, "--session", session))
        wait_for("long", lambda screen: f"Step {last_user}:" in screen,
                 f"message {last_user} on screen", errors)
        shown = time.perf_counter() - started
        check_comm(pid, "code-mesh")
        # Settled: what it keeps while the session stays open, next to the peak of opening it.
        time.sleep(1)
        peak, resident = status_kib(pid, "VmHWM"), status_kib(pid, "VmRSS")
        rows += [
            (f"{MESSAGES} messages: last one on screen", f"{shown * 1e3:.0f} ms", ""),
            (f"{MESSAGES} messages: peak RSS (VmHWM)", f"{peak / 1024:.1f} MiB", "< 30 MiB"),
            (f"{MESSAGES} messages: RSS 1 s later (VmRSS)", f"{resident / 1024:.1f} MiB", ""),
        ]
    finally:
        if rows:
            print(f"\nterminal UI at {WIDTH}x{HEIGHT} in tmux, {os.cpu_count()} cores")
            width = max(len(row[0]) for row in rows)
            for what, value, target in rows:
                print(f"  {what:<{width}}  {value:<32} {target}")
        tmux("kill-server", check=False)
        server.send_signal(signal.SIGINT)
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
