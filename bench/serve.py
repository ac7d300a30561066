#!/usr/bin/env python3
"""Load on `code-mesh serve` (release build) with the testkit server as the model:

(a) fan-out: CLIENTS concurrent SSE clients on one session's /stream, one prompt whose scripted
    reply streams WORDS text deltas; reports the time from the POST to each client's
    turn_finished, the events each client got (they must all be equal), and the server's peak
    RSS (VmHWM) and CPU time over the phase;
(b) reads: GET /api/sessions/{id} from 1, 8, 32 and 64 keep-alive HTTP/1.1 connections, LEVEL_S
    seconds each; reports requests/s, p50/p99 latency and errors, and the highest error-free rate.

The load generator is one Python asyncio thread sharing the machine with the server, so (b)'s
rates are a floor for the server, not its ceiling.

Usage: bench/serve.py [CLIENTS [WORDS]]   (builds the release binaries first)
e.g.   bench/serve.py 200 2000
"""
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
WORDS = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
LEVELS = [1, 8, 32, 64]
LEVEL_S = 5.0
TOKEN = "bench-token-0123456789abcdef"
PHASE_TIMEOUT_S = 60.0


def build():
    subprocess.run(
        ["cargo", "build", "--release", "-p", "code-mesh", "-p", "code-mesh-testkit"],
        cwd=ROOT, check=True)
    target = os.path.join(ROOT, "target", "release")
    return os.path.join(target, "code-mesh"), os.path.join(target, "code-mesh-testkit")


def script_text():
    # Every turn is the long reply, so whichever request comes first (the prompt or any side
    # request the engine makes) the prompt's turn streams WORDS deltas.
    reply = " ".join(f"word{i}" for i in range(WORDS))
    return 'pairing = "off"\n' + "".join(f'[[turn]]\ntext = "{reply}"\n' for _ in range(8))


def wait_for_line(stream, pattern, what):
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match.group(1)
    sys.exit(f"{what} printed no address:\n{''.join(seen)}")


def proc_status(pid):
    """(VmHWM KiB, VmRSS KiB, CPU seconds) of a process."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    # utime and stime are fields 14 and 15; the split starts at field 3.
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0]), cpu


# --- a minimal HTTP/1.1 client -------------------------------------------------------------

class Http:
    def __init__(self, host, port):
        self.host, self.port = host, port

    async def connect(self):
        return await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    def request_bytes(self, method, path, body=None):
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Authorization: Bearer {TOKEN}"]
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + payload

    async def read_head(self, reader):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        return status, headers

    async def read_response(self, reader):
        status, headers = await self.read_head(reader)
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b"".join([chunk async for chunk in chunks(reader)])
        else:
            body = b""
        return status, body

    async def call(self, method, path, body=None):
        reader, writer = await self.connect()
        try:
            writer.write(self.request_bytes(method, path, body))
            await writer.drain()
            status, payload = await self.read_response(reader)
            return status, json.loads(payload) if payload else None
        finally:
            writer.close()


async def chunks(reader):
    """The chunks of a chunked body, until the last (empty) one."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        yield data


# --- (a) SSE fan-out -------------------------------------------------------------------------

async def sse_client(http, session, ready, posted, result):
    reader, writer = await http.connect()
    try:
        path = f"/api/sessions/{session}/stream?token={TOKEN}"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {http.host}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        status, headers = await http.read_head(reader)
        if status != 200:
            raise RuntimeError(f"stream answered {status}")
        ready()
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        source = chunks(reader) if chunked else raw(reader)
        buffer = b""
        async for data in source:
            buffer += data
            while b"\n\n" in buffer:
                message, buffer = buffer.split(b"\n\n", 1)
                for line in message.split(b"\n"):
                    if not line.startswith(b"data:"):
                        continue
                    result["events"] += 1
                    # The server writes compact JSON; a substring test keeps 200 clients' worth
                    # of parsing from making this single-threaded client the bottleneck.
                    if b'"type":"turn_finished"' in line and posted.is_set():
                        result["finished_at"] = time.perf_counter()
                        return
    finally:
        writer.close()


async def raw(reader):
    while True:
        data = await reader.read(65536)
        if not data:
            return
        yield data


async def fan_out(http, server_pid):
    status, view = await http.call("POST", "/api/sessions", {})
    if status != 201:
        sys.exit(f"POST /api/sessions answered {status}: {view}")
    session = view["session"]["id"]
    connected = 0
    all_ready = asyncio.Event()
    posted = asyncio.Event()

    def ready():
        nonlocal connected
        connected += 1
        if connected == CLIENTS:
            all_ready.set()

    results = [{"events": 0, "finished_at": None} for _ in range(CLIENTS)]
    tasks = [asyncio.create_task(sse_client(http, session, ready, posted, r)) for r in results]
    await asyncio.wait_for(all_ready.wait(), PHASE_TIMEOUT_S)
    _, _, cpu_before = proc_status(server_pid)
    posted.set()
    start = time.perf_counter()
    status, accepted = await http.call("POST", f"/api/sessions/{session}/messages",
                                       {"text": "write a long answer"})
    if status != 202:
        sys.exit(f"POST messages answered {status}: {accepted}")
    done, pending = await asyncio.wait(tasks, timeout=PHASE_TIMEOUT_S)
    for task in pending:
        task.cancel()
    failures = [t.exception() for t in done if t.exception() is not None]
    hwm, rss, cpu_after = proc_status(server_pid)
    finished = [r["finished_at"] - start for r in results if r["finished_at"] is not None]
    events = [r["events"] for r in results]
    return {
        "session": session,
        "finished": len(finished),
        "failures": failures,
        "first_s": min(finished) if finished else None,
        "median_s": statistics.median(finished) if finished else None,
        "last_s": max(finished) if finished else None,
        "events_min": min(events),
        "events_max": max(events),
        "hwm_kib": hwm,
        "rss_kib": rss,
        "cpu_s": cpu_after - cpu_before,
    }


# --- (b) session reads ----------------------------------------------------------------------

async def reader_loop(http, path, stop_at, latencies, errors):
    reader = writer = None
    request = http.request_bytes("GET", path)
    while time.perf_counter() < stop_at:
        try:
            if writer is None:
                reader, writer = await http.connect()
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status, _ = await http.read_response(reader)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(status)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            errors.append(type(error).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def reads(http, session, server_pid):
    rows = []
    for level in LEVELS:
        latencies, errors = [], []
        _, _, cpu_before = proc_status(server_pid)
        start = time.perf_counter()
        stop_at = start + LEVEL_S
        await asyncio.gather(*(reader_loop(http, f"/api/sessions/{session}", stop_at,
                                           latencies, errors) for _ in range(level)))
        elapsed = time.perf_counter() - start
        _, _, cpu_after = proc_status(server_pid)
        latencies.sort()
        rows.append({
            "level": level,
            "requests": len(latencies),
            "rps": len(latencies) / elapsed,
            "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
            "errors": len(errors),
            "error_kinds": sorted(set(map(str, errors)))[:5],
            "server_cpu": (cpu_after - cpu_before) / elapsed,
        })
    return rows


async def bench(port, server_pid):
    http = Http("127.0.0.1", port)
    fan = await fan_out(http, server_pid)
    print(f"(a) {CLIENTS} SSE clients on one session, one prompt streaming {WORDS} words:")
    if fan["failures"]:
        print(f"  {len(fan['failures'])} clients failed, e.g. {fan['failures'][0]!r}")
    print(f"  clients that saw turn_finished  {fan['finished']}/{CLIENTS}")
    if fan["finished"]:
        print(f"  POST -> turn_finished            first {fan['first_s'] * 1000:.0f} ms, "
              f"median {fan['median_s'] * 1000:.0f} ms, last {fan['last_s'] * 1000:.0f} ms")
    equal = "all equal" if fan["events_min"] == fan["events_max"] else "NOT EQUAL"
    print(f"  events per client                min {fan['events_min']}, "
          f"max {fan['events_max']} ({equal})")
    print(f"  server CPU during the turn       {fan['cpu_s'] * 1000:.0f} ms")
    print(f"  server RSS                       peak {fan['hwm_kib'] / 1024:.1f} MiB, "
          f"now {fan['rss_kib'] / 1024:.1f} MiB")

    rows = await reads(http, fan["session"], server_pid)
    print(f"\n(b) GET /api/sessions/{{id}} (a session of {fan['events_max']} events), "
          f"{LEVEL_S:.0f} s per level:")
    print(f"  {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'srv CPU':>8}")
    for row in rows:
        kinds = f"  {row['error_kinds']}" if row["errors"] else ""
        print(f"  {row['level']:>5} {row['rps']:>8.0f} {row['p50_ms']:>8.2f} "
              f"{row['p99_ms']:>8.2f} {row['errors']:>7} {row['server_cpu'] * 100:>7.0f}%{kinds}")
    clean = [row for row in rows if row["errors"] == 0]
    if clean:
        best = max(clean, key=lambda row: row["rps"])
        print(f"  highest rate without errors: {best['rps']:.0f} req/s "
              f"at {best['level']} connections")
    else:
        print("  every level had errors")
    hwm, _, _ = proc_status(server_pid)
    print(f"  server peak RSS after both phases: {hwm / 1024:.1f} MiB")
    ok = (fan["finished"] == CLIENTS and not fan["failures"]
          and fan["events_min"] == fan["events_max"])
    return ok


def main():
    code_mesh, testkit = build()
    work = tempfile.mkdtemp(prefix="cm-bench-serve-")
    script = os.path.join(work, "long.toml")
    with open(script, "w") as f:
        f.write(script_text())
    project = os.path.join(work, "project")
    os.makedirs(project)
    subprocess.run(["git", "init", "--quiet"], cwd=project, check=True)
    model = subprocess.Popen([testkit, script], stdout=subprocess.PIPE, text=True)
    server = None
    try:
        base_url = wait_for_line(model.stdout, r"listening on (\S+)", "testkit")
        env = {"PATH": os.environ["PATH"], "HOME": work,
               "CODE_MESH_HOME": os.path.join(work, "home"), "OLLAMA_HOST": "127.0.0.1:9",
               "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "bench"}
        server = subprocess.Popen(
            [code_mesh, "serve", "--port", "0", "--token", TOKEN, "--sandbox", "off",
             "-m", "openai/bench-model"],
            env=env, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = int(wait_for_line(server.stderr, r"listening on http://127\.0\.0\.1:(\d+)",
                                 "code-mesh serve"))
        # Keep draining stderr: a full pipe would block the server's logging.
        threading.Thread(target=server.stderr.read, daemon=True).start()
        ok = asyncio.run(bench(port, server.pid))
    finally:
        for proc in (server, model):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    if not ok:
        sys.exit("the fan-out phase failed (see above)")


if __name__ == "__main__":
    main()
