#!/usr/bin/env python3
"""make bench-init: every function's cold start, next to an empty lambda_runtime function's.

Each function's release binary (the profile `make package` ships, linked as it links: no
PIE, see .cargo/config.toml; built for this machine) is started as Lambda starts it: a fresh
process with the Lambda environment (the SAM template's variables, JSON logs,
`AWS_LAMBDA_INITIALIZATION_TYPE=on-demand`) and `AWS_LAMBDA_RUNTIME_API` pointing at a fake
Runtime API served here. Two times are taken from the spawn:

- init: until the runtime's first `GET /runtime/invocation/next` (what Lambda bills as Init);
- first answer: the function's sample event (events/<function>.json) is handed over on that
  `next`, and the clock stops when its response (or error) is posted. That is the whole cold
  path a first caller waits for: the app built (SDK clients, the token secret read from SSM),
  the route's warm-up, the handler. The sample events carry tokens signed with the local
  development secret, which a function in Lambda refuses: their first answer is the 401 a
  real token check gives after the app is up. Health and the OpenAPI document answer 200.

The SSM parameter and every AWS endpoint are ministack's (`servers.sh`), on loopback. Nothing
else exists there (no tables, no buckets), so the triggers' first answers are failures, timed
all the same.

Runs are interleaved (round after round of every binary, in a shuffled order each round,
seeded), and each figure is the median of --rounds runs. The spawning thread, and so each
function, is pinned to one CPU (a Lambda function below 1,769 MB has at most one vCPU's
worth; the template gives most 256 MB, a fraction of one, which this cannot model); the fake
Runtime API answers from the other. `app ready` is the function's own log of how long its
app took to make (SDK clients, the SSM read) at its first invocation.

What it does not measure: TLS. Every endpoint here is plain http (ministack), so the HTTPS
client's root certificates are never parsed; in AWS that happens at the first call.
"""

import argparse
import json
import os
import random
import socket
import statistics
import sys
import threading
import time
import urllib.request

API_PREFIX = "/2018-06-01/runtime/invocation/"


class Run:
    """One cold start: the times the fake Runtime API saw, from the spawn."""

    def __init__(self, event):
        self.event = event
        self.spawned = None
        self.first_next = None
        self.answered = None
        self.status = None
        self.done = threading.Event()


class FakeRuntimeApi:
    """The Lambda Runtime API, just enough for one invocation per process."""

    def __init__(self, cpu):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.run = None
        self.cpu = cpu
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        if self.cpu is not None:
            os.sched_setaffinity(0, {self.cpu})
        while True:
            conn, _ = self.sock.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A connection belongs to the run that was current when it was accepted: a killed
            # process's late request never counts for the next one.
            threading.Thread(target=self.serve, args=(conn, self.run), daemon=True).start()

    def serve(self, conn, run):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                now = time.perf_counter()
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                while len(buf) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:length], buf[length:]
                if not self.answer(conn, run, method, path, body, now):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def answer(self, conn, run, method, path, body, now):
        if method == "GET" and path == API_PREFIX + "next":
            if run is None or run.first_next is not None:
                return False  # a second poll: the process is about to be stopped
            run.first_next = now
            payload = run.event
            deadline = int(time.time() * 1000) + 30_000
            conn.sendall(
                b"HTTP/1.1 200 OK\r\n"
                b"Content-Type: application/json\r\n"
                b"Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n"
                + f"Lambda-Runtime-Deadline-Ms: {deadline}\r\n".encode()
                + b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n"
                b"Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            return True
        if method == "POST" and path.startswith(API_PREFIX):
            if run is not None and run.answered is None:
                run.answered = now
                if path.endswith("/error"):
                    run.status = "error"
                else:
                    try:
                        run.status = str(json.loads(body).get("statusCode", "ok"))
                    except (ValueError, AttributeError):
                        run.status = "ok"
                run.done.set()
            conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            return True
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True


def put_parameter(endpoint, name, value):
    """The token secret as an SSM SecureString in ministack (the AWS JSON protocol)."""
    req = urllib.request.Request(
        endpoint,
        data=json.dumps({"Name": name, "Value": value, "Type": "SecureString", "Overwrite": True}).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AmazonSSM.PutParameter",
            "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20261203/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    urllib.request.urlopen(req, timeout=10).read()


def lambda_env(function, api_port, endpoint, secret_param):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api_port}",
        "AWS_LAMBDA_FUNCTION_NAME": f"catalog-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/catalog-{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "_HANDLER": "bootstrap",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_ENDPOINT_URL": endpoint,
        "PRODUCTS_TABLE": "bench-products",
        "INVENTORY_TABLE": "bench-inventory",
        "JOBS_TABLE": "bench-jobs",
        "ACCOUNTS_TABLE": "bench-accounts",
        "UPLOADS_BUCKET": "bench-uploads",
        "IMAGES_BUCKET": "bench-images",
        "JWT_SECRET_PARAM": secret_param,
        "S3_FORCE_PATH_STYLE": "true",
        "IMPORT_QUEUE_URL": f"{endpoint}/000000000000/bench-imports",
    }
    return env


def app_ready_ms(log_path):
    """The function's own `app ready` figure from its JSON log, if it logged one."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if "app ready" not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                fields = record.get("fields", record)
                if fields.get("message") == "app ready" and "ms" in fields:
                    return float(fields["ms"])
    except OSError:
        pass
    return None


def cold_start(api, binary, env, event, log_path, timeout):
    run = Run(event)
    api.run = run
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fd, 1),
            (os.POSIX_SPAWN_DUP2, fd, 2),
        ]
        run.spawned = time.perf_counter()
        pid = os.posix_spawn(binary, [binary], env, file_actions=actions)
    finally:
        os.close(fd)
    run.done.wait(timeout)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    api.run = None
    return run


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin-dir", required=True, help="where the release binaries are (target/release)")
    p.add_argument("--empty", default="empty-lambda", help="the empty function's binary name")
    p.add_argument("--events", required=True, help="the sample events folder (events/)")
    p.add_argument("--functions", required=True, help="comma-separated function names")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--endpoint", required=True, help="ministack's endpoint (SSM and the rest)")
    p.add_argument("--cpu", type=int, default=None, help="the CPU the functions run on (default: the last)")
    p.add_argument("--logs", default="target/bench-results/init-logs")
    p.add_argument("--timeout", type=float, default=15.0)
    args = p.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    function_cpu = args.cpu if args.cpu is not None else cpus[-1]
    api_cpu = next((c for c in cpus if c != function_cpu), None)
    api = FakeRuntimeApi(api_cpu)
    os.sched_setaffinity(0, {function_cpu})

    secret_param = "/catalog/bench/jwt-secret"
    put_parameter(args.endpoint, secret_param, "bench-secret-" + os.urandom(24).hex())

    functions = [f for f in args.functions.split(",") if f]
    entries = [("(empty lambda_runtime)", args.empty, "health")] + [(f, f, f) for f in functions]
    os.makedirs(args.logs, exist_ok=True)
    results = {name: {"init": [], "answer": [], "ready": [], "status": set()} for name, _, _ in entries}
    missing = [b for _, b, _ in entries if not os.path.exists(os.path.join(args.bin_dir, b))]
    if missing:
        sys.exit(f"not built: {', '.join(missing)} (under {args.bin_dir})")

    order = list(entries)
    shuffle = random.Random(20261203)
    for r in range(args.rounds):
        shuffle.shuffle(order)
        for name, binary, event_name in order:
            with open(os.path.join(args.events, f"{event_name}.json"), "rb") as f:
                event = f.read()
            log_path = os.path.join(args.logs, f"{binary}.log")
            env = lambda_env(event_name, api.port, args.endpoint, secret_param)
            run = cold_start(api, os.path.join(args.bin_dir, binary), env, event, log_path, args.timeout)
            res = results[name]
            if run.first_next is None:
                with open(log_path, encoding="utf-8", errors="replace") as f:
                    tail = f.read()[-2000:]
                sys.exit(f"{name}: never polled for an invocation; its log:\n{tail}")
            res["init"].append((run.first_next - run.spawned) * 1000)
            if run.answered is not None:
                res["answer"].append((run.answered - run.spawned) * 1000)
                res["status"].add(run.status)
            else:
                res["status"].add("no answer")
            ready = app_ready_ms(log_path)
            if ready is not None:
                res["ready"].append(ready)
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr, end="\r")
    print(file=sys.stderr)

    empty = statistics.median(results[entries[0][0]]["init"])
    worst = 0.0
    print(f"cold starts: {args.rounds} interleaved rounds, functions on CPU {function_cpu}, medians in ms")
    print()
    print("| function | binary MB | init | init / empty | first answer | (status) | app ready |")
    print("|---|---|---|---|---|---|---|")
    for name, binary, _ in entries:
        res = results[name]
        init = statistics.median(res["init"])
        ratio = init / empty
        if name != entries[0][0]:
            worst = max(worst, ratio)
        answer = f"{statistics.median(res['answer']):.1f}" if res["answer"] else "-"
        ready = f"{statistics.median(res['ready']):.1f}" if res["ready"] else "-"
        size = os.path.getsize(os.path.join(args.bin_dir, binary)) / 1e6
        status = ",".join(sorted(res["status"]))
        print(f"| {name} | {size:.1f} | {init:.2f} | {ratio:.2f} | {answer} | {status} | {ready} |")
    print()
    print(f"worst init ratio to the empty function: {worst:.2f} (target <= 1.5)")
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
