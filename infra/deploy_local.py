#!/usr/bin/env python3
"""`make deploy-local` (and a step of `make test`): the whole stack deployed to a ministack of
its own, used through its API Gateway, updated, and deleted.

  0. `make deploy` without AWS credentials stops, says so, and builds nothing;
  1. ministack started on a free loopback port, with a clean environment (the function
     processes it spawns inherit it) and its state under target/deploy-local/;
  2. the stage's token secret put in its SSM (made outside the stack, as in AWS);
  3. deploy.py --local: every function, table, bucket, queue and route (CREATE_COMPLETE);
  4. the smoke flow (infra/smoke.py) through the API Gateway URL, with its sign-in steps (the
     SMS the auth-code function publishes through SNS is read from ministack's record of them);
  5. the web app is in the images bucket under app/ (where CloudFront reads it) as web/dist
     has it, with its types and caching, and both buckets take browsers' presigned uploads;
     each request's metrics record (Embedded Metric Format) is in the function's log group,
     and the smoke import's `job.completed` reached the stack's event bus (a rule there sends
     it to a queue of the test's); an Open Food Facts export put under off/ in the uploads
     bucket is loaded by off-import (S3 -> its queue -> the function), its job completed;
  6. the black-box fuzz (tests/scripts/fuzz.sh) through the same URL: its generated and
     stateful phases, every operation with valid and invalid input (the coverage phase's
     thousands of boundary cases ran against `catalog serve`, the same handlers, already);
  7. the stack updated with one changed function (health's binary with a note added): the
     change set touches only that function, its version and its alias, and every other
     function's code is as it was;
  8. the stack deleted (DELETE_COMPLETE, no function left; the tables and buckets stay, as
     their DeletionPolicy says), and ministack stopped.

Prints each step's duration. Usage: deploy_local.py [--bin-dir target/debug] [--keep]
(--keep leaves the stack and ministack running after step 7 and prints how to reach them).
"""
import argparse
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
from botocore.config import Config

import deploy
import smoke

ROOT = deploy.ROOT
WORK = ROOT / "target" / "deploy-local"
STACK = "kirana-local"
STAGE = "dev"
CHANGED = "health"  # the function step 7 changes


def log(msg):
    print(f"[deploy-local] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ministack:
    """A ministack of this run's own, stopped (with the function processes it started) by its
    PID on exit."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        shutil.rmtree(WORK / "ministack", ignore_errors=True)
        (WORK / "ministack" / "state").mkdir(parents=True)
        (WORK / "ministack" / "tmp").mkdir(parents=True)
        # Only what ministack needs: the function processes inherit its environment, and a
        # developer's AWS_* or CATALOG_* variables must not reach them.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "BIND_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.port),
            "STATE_DIR": str(WORK / "ministack" / "state"),
            "TMPDIR": str(WORK / "ministack" / "tmp"),
            # What a function needs that Lambda does not set locally: the endpoint of the
            # emulated services, and path-style S3 URLs (no bucket.localhost names).
            "AWS_ENDPOINT_URL": self.url,
            "S3_FORCE_PATH_STYLE": "true",
        }
        binary = ROOT / ".local" / "venv" / "bin" / "ministack"
        self.log = open(WORK / "ministack.log", "w")
        self.proc = subprocess.Popen([str(binary)], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{self.url}/_ministack/health", timeout=1).read()
                log(f"ministack {self.proc.pid} on {self.url} (log: target/deploy-local/ministack.log)")
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.5)
        self.stop()
        sys.exit(f"[deploy-local] ministack did not start; see {WORK / 'ministack.log'}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        # The functions' unpacked code: a gigabyte of debug binaries.
        shutil.rmtree(WORK / "ministack" / "tmp", ignore_errors=True)

    def client(self, service):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(s3={"addressing_style": "path"}),
        )


class Steps:
    def __init__(self):
        self.times = []
        self.started = time.time()

    def run(self, name, fn):
        log(f"--- {name}")
        t = time.time()
        out = fn()
        self.times.append((name, time.time() - t))
        return out

    def report(self):
        log("done:")
        for name, secs in self.times:
            log(f"  {secs:6.1f} s  {name}")
        log(f"  {time.time() - self.started:6.1f} s  in all")


def stack_outputs():
    return json.loads((ROOT / "target" / "deploy" / f"{STACK}.json").read_text())


def code_of_functions(lam):
    out = {}
    for page in lam.get_paginator("list_functions").paginate():
        for f in page["Functions"]:
            if f["FunctionName"].startswith(STACK + "-"):
                out[f["FunctionName"][len(STACK) + 1 :]] = f["CodeSha256"]
    return out


def update_one_function(ms, bin_dir, parameters):
    """Deploys again with CHANGED's binary changed (an ELF note section added, which `strip`
    keeps: the same program, other bytes) and every other binary as it was; checks that only
    CHANGED moved."""
    lam = ms.client("lambda")
    before = code_of_functions(lam)
    changed_dir = WORK / "bin-changed"
    shutil.rmtree(changed_dir, ignore_errors=True)
    changed_dir.mkdir(parents=True)
    functions = deploy.functions_of(deploy.load_template())
    for _, binary in functions:
        src = pathlib.Path(bin_dir) / binary
        if binary == CHANGED:
            note = changed_dir / "note.txt"
            note.write_text(f"redeployed at {time.time()}\n")
            subprocess.run(
                ["objcopy", "--add-section", f".note.redeploy={note}", str(src), str(changed_dir / binary)], check=True
            )
        else:
            (changed_dir / binary).symlink_to(src.resolve())
    deploy.deploy_local(ms.url, STACK, changed_dir, parameters)
    changed = stack_outputs()["changed"]
    function = next(name for name, binary in functions if binary == CHANGED)
    others = [c for c in changed if not c.startswith(function)]
    if not changed or others:
        sys.exit(f"[deploy-local] the update changed {changed}; expected only {function}'s function, version and alias")
    after = code_of_functions(lam)
    moved = sorted(name for name in after if after[name] != before.get(name))
    if moved != [CHANGED]:
        sys.exit(f"[deploy-local] functions whose code changed: {moved}; expected [{CHANGED}]")
    log(f"only {CHANGED} changed: {', '.join(changed)}")
    # The alias now serves the new version, through the gateway.
    base = stack_outputs()["outputs"]["ApiBaseUrl"]
    body = json.loads(urllib.request.urlopen(f"{base}/v1/health", timeout=30).read())
    if body.get("status") != "ok":
        sys.exit(f"[deploy-local] health after the update: {body}")
    versions = lam.get_alias(FunctionName=f"{STACK}-{CHANGED}", Name="live")["FunctionVersion"]
    log(f"{STACK}-{CHANGED}:live is version {versions} and answers {body}")


def metrics_in_the_logs(ms):
    """The smoke flow's product creation left its EMF record in products-create's log group,
    in the stack's namespace (CloudWatch turns such lines into metrics; ministack keeps them
    as log events)."""
    logs = ms.client("logs")
    group = f"/aws/lambda/{STACK}-products-create"
    records = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
        for ev in page["events"]:
            text = ev["message"].strip()
            if text.startswith("{") and '"_aws"' in text:
                records.append(json.loads(text))
    mine = [r for r in records if r.get("Route") == "POST /v1/products" and r.get("Status") == "2xx"]
    if not mine:
        sys.exit(f"[deploy-local] no metrics record for POST /v1/products in {group} ({len(records)} records)")
    namespace = mine[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"]
    if namespace != f"KiranaCatalog/{STACK}":
        sys.exit(f"[deploy-local] the metrics namespace is {namespace}")
    log(f"metrics records in {group}: {len(records)}, e.g. {namespace} {mine[0]['Route']} {mine[0]['Latency']:.1f} ms")


RULE = "deploy-local-job-completed"


def listen_to_the_bus(ms):
    """A rule on the stack's bus that sends `job.completed` to a queue of its own, as an
    integrator's would. Returns the queue's URL."""
    bus = stack_outputs()["outputs"]["EventBusName"]
    sqs, events = ms.client("sqs"), ms.client("events")
    url = sqs.create_queue(QueueName=RULE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["kirana.catalog"], "detail-type": ["job.completed"]}
    events.put_rule(Name=RULE, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=RULE, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def job_completed_on_the_bus(ms, url):
    """The smoke import's event, from the rule's queue; the rule is removed after (a bus
    with rules cannot be deleted)."""
    sqs, events = ms.client("sqs"), ms.client("events")
    bus = stack_outputs()["outputs"]["EventBusName"]
    seen = []
    deadline = time.time() + 20
    while time.time() < deadline and not seen:
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            seen.append(json.loads(m["Body"]))
    events.remove_targets(Rule=RULE, EventBusName=bus, Ids=["queue"])
    events.delete_rule(Name=RULE, EventBusName=bus)
    # The detail is the event's envelope; its `data` is the job's.
    done = [e for e in seen if e.get("detail-type") == "job.completed" and e["detail"].get("data", {}).get("status") == "completed"]
    if not done:
        sys.exit(f"[deploy-local] no completed job.completed on {bus}: {seen}")
    d = done[0]["detail"]["data"]
    log(f"job.completed on {bus}: job {d['job_id']} of {d['store_id']}, {d['successful']} rows")


def off_export_loaded(ms, base, secret):
    """An Open Food Facts export put under off/ in the uploads bucket (the demo catalog's,
    every country: off/all/) reaches off-import through its queue and is loaded: its job
    (under the store id _catalog, as an admin lists it through the API) completes with every
    record accounted for and the products created."""
    bucket = stack_outputs()["outputs"]["UploadsBucketName"]
    demo = ROOT / "functions" / "catalog" / "demo" / "off-india.jsonl.gz"
    key = "off/all/demo.jsonl.gz"
    ms.client("s3").put_object(Bucket=bucket, Key=key, Body=demo.read_bytes(), ContentType="application/gzip")
    admin = smoke.token(secret, "admin", "deploy-local")
    request = urllib.request.Request(f"{base}/v1/stores/_catalog/imports", headers={"Authorization": f"Bearer {admin}"})
    job = None
    deadline = time.time() + 180
    while time.time() < deadline:
        with urllib.request.urlopen(request, timeout=10) as r:
            jobs = [j for j in json.load(r)["items"] if j["upload_key"] == key]
        job = jobs[0] if jobs else None
        if job and job["status"] in ("completed", "failed"):
            break
        time.sleep(1)
    if not job or job["status"] != "completed":
        sys.exit(f"[deploy-local] the OFF export's load did not complete: {job}")
    st = job["off_stats"]
    accounted = st["created"] + st["enriched"] + st["unchanged"] + st["other_country"] + st["invalid"] + st["repeated"]
    if job["kind"] != "off_import" or st["created"] == 0 or accounted != st["records"]:
        sys.exit(f"[deploy-local] the OFF export's load does not add up: {job}")
    log(f"off-import of {key}: job {job['job_id']}, {st['records']} records, {st['created']} products created")


def web_app_published(ms):
    """The web app is where CloudFront reads it (the images bucket under app/, the
    distribution's default origin): every file of web/dist, byte for byte, with the type a
    browser needs and its caching (hashed assets a year, the shell revalidated); and both
    buckets answer browsers' presigned uploads (their CORS rules)."""
    outs = stack_outputs()["outputs"]
    s3 = ms.client("s3")
    files = list(deploy.web_objects())
    for path, key, kind, cache in files:
        got = s3.get_object(Bucket=outs["ImagesBucketName"], Key=key)
        if got["Body"].read() != path.read_bytes():
            sys.exit(f"[deploy-local] {key} is not web/dist's")
        if (got.get("CacheControl"), got["ContentType"]) != (cache, kind):
            sys.exit(f"[deploy-local] {key}: {got.get('CacheControl')}, {got['ContentType']}; expected {cache}, {kind}")
    if not any(c.endswith("immutable") for *_, c in files) or ("app/index.html", "no-cache") not in {(k, c) for _, k, _, c in files}:
        sys.exit("[deploy-local] web/dist has no hashed asset, or its page is not revalidated")
    for name in ("ImagesBucketName", "UploadsBucketName"):
        rules = s3.get_bucket_cors(Bucket=outs[name])["CORSRules"]
        if not any("PUT" in r["AllowedMethods"] for r in rules):
            sys.exit(f"[deploy-local] {name} takes no browser upload: {rules}")
    log(f"web app: {len(files)} files in s3://{outs['ImagesBucketName']}/app/; both buckets take browsers' uploads")


def delete_stack(ms):
    cfn, lam, ddb, s3 = (ms.client(s) for s in ("cloudformation", "lambda", "dynamodb", "s3"))
    cfn.delete_stack(StackName=STACK)
    cfn.get_waiter("stack_delete_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    left = code_of_functions(lam)
    if left:
        sys.exit(f"[deploy-local] functions left after the delete: {sorted(left)}")
    tables = [t for t in ddb.list_tables()["TableNames"] if t.startswith(STACK)]
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(STACK)]
    log(f"deleted: no function left; kept by DeletionPolicy Retain: {len(tables)} tables, {len(buckets)} buckets")


def deploy_without_credentials():
    """`make deploy` where no AWS credentials can be found: a clear message and exit 1, before
    anything is built (the build would be 20 minutes for nothing). A `cargo` that fails loudly
    comes first on PATH, and the run is a process group of its own, killed whole on a
    timeout."""
    stub = WORK / "no-build-bin"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "cargo").write_text("#!/bin/sh\necho '[deploy-local] cargo ran: a build started' >&2\nexit 97\n")
    (stub / "cargo").chmod(0o755)
    env = {
        "PATH": f"{stub}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(WORK),  # no ~/.aws here
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    proc = subprocess.Popen(
        [str(ROOT / "infra" / "deploy.sh"), STAGE],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        sys.exit("[deploy-local] make deploy without credentials did not stop within 2 minutes")
    said = err.strip().splitlines()[-1] if err.strip() else ""
    if proc.returncode != 1 or "no AWS credentials" not in said or "cargo ran" in err or "[package]" in out + err:
        sys.exit(f"[deploy-local] make deploy without credentials: exit {proc.returncode}, said: {err[-800:]}")
    log(f"make deploy without credentials: exit 1, {said[:110]}...")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin-dir", default=str(ROOT / "target" / "debug"))
    p.add_argument("--keep", action="store_true")
    p.add_argument("--fuzz-examples", default=os.environ.get("DEPLOY_LOCAL_FUZZ_EXAMPLES", "10"))
    args = p.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    steps = Steps()
    steps.run("make deploy without AWS credentials", deploy_without_credentials)
    ms = steps.run("start ministack", Ministack)
    try:
        parameters = deploy.stage_parameters(STAGE, [])
        secret = secrets.token_hex(32)
        ms.client("ssm").put_parameter(
            Name=parameters["JwtSecretParameterName"], Type="SecureString", Value=secret, Overwrite=True
        )
        steps.run("deploy (create)", lambda: deploy.deploy_local(ms.url, STACK, args.bin_dir, parameters))
        base = stack_outputs()["outputs"]["ApiBaseUrl"]
        events_queue = listen_to_the_bus(ms)
        env = dict(os.environ, JWT_SECRET=secret)
        steps.run(
            "smoke flow through the API Gateway",
            lambda: subprocess.run(
                [sys.executable, str(ROOT / "infra" / "smoke.py"), "--base-url", base, "--sms-inbox", f"{ms.url}/_ministack/sns/sms-messages"],
                env=env,
                check=True,
            ),
        )
        steps.run("the web app where CloudFront reads it", lambda: web_app_published(ms))
        steps.run("request metrics in the functions' logs", lambda: metrics_in_the_logs(ms))
        steps.run("job.completed on the stack's event bus", lambda: job_completed_on_the_bus(ms, events_queue))
        steps.run("an Open Food Facts export uploaded under off/ is loaded", lambda: off_export_loaded(ms, base, secret))
        fuzz_env = dict(
            env,
            FUZZ_BASE_URL=base,
            FUZZ_EXAMPLES=args.fuzz_examples,
            FUZZ_PHASES="fuzzing,stateful",
            FUZZ_OUT=str(WORK / "fuzz"),
        )
        steps.run(
            "black-box fuzz through the API Gateway",
            lambda: subprocess.run([str(ROOT / "tests" / "scripts" / "fuzz.sh")], env=fuzz_env, check=True),
        )
        steps.run(f"update with {CHANGED} changed", lambda: update_one_function(ms, args.bin_dir, parameters))
        if args.keep:
            log(f"kept: ministack {ms.proc.pid} at {ms.url}, API at {base}; JWT_SECRET={secret}")
            log(f"stop it with: kill {ms.proc.pid}")
            return
        steps.run("delete", lambda: delete_stack(ms))
    except subprocess.CalledProcessError as e:
        log(f"failed: {' '.join(map(str, e.cmd))} exited {e.returncode}")
        ms.stop()
        sys.exit(1)
    except BaseException:
        ms.stop()
        raise
    ms.stop()
    steps.report()


if __name__ == "__main__":
    main()
