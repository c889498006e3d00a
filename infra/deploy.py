#!/usr/bin/env python3
"""Deploys infra/template.yaml as one CloudFormation stack per stage: to AWS (`make deploy
STAGE=dev|staging|prod`) or to a local ministack (`make deploy-local`), by the same steps:

1. Code: each function's zip goes to the artifact bucket under a key made from what is in it
   (`functions/<binary>/<sha256 of the entries>.zip`). An unchanged function keeps its key, so
   its CodeUri, its published version and its alias stay as they are and only the functions
   whose code changed are updated (and shifted to).
2. The template, with each function's CodeUri pointing at its zip, goes next to them.
3. A change set (create or update) is made, printed, executed and waited for.
4. index-build runs once (the first match-index snapshot of a new stack, or one in the
   format of new code). The stack's outputs and what changed are printed and written to
   target/deploy/<stack>.json (the smoke test reads them).

AWS: CloudFormation applies the SAM transform, and CodeDeploy shifts each changed function's
`live` alias as the stage says, rolled back by the template's alarms. The zips are the ones
`make package` built (cargo lambda, arm64). The JWT secret is an SSM SecureString made outside
the template; a deploy without it, or without AWS credentials, stops and says so. With
CFN_EXECUTION_ROLE_ARN set (CI: infra/ci-role.yaml), CloudFormation acts with that role.

ministack (`--local URL`) does not do everything AWS does, so the template goes through
local_template.py first (the SAM transform applied here, no CodeDeploy, explicit routes, no
metric math), by a path-style TemplateURL. The zips are made here from this machine's
binaries (`--bin-dir`), stripped, since ministack runs `bootstrap` as a host process.

Usage:
  deploy.py --stage dev --check          (credentials and the secret, before building)
  deploy.py --stage dev [--zips target/lambda] [--artifact-bucket NAME]
  deploy.py --stage dev --smoke          (infra/smoke.py against the deployed stage)
  deploy.py --stage dev --local http://127.0.0.1:PORT --bin-dir target/debug [--stack-name N]
"""
import argparse
import hashlib
import io
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, WaiterError
from cfnlint.decode import decode

from local_template import for_ministack

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
STAGES = ("dev", "staging", "prod")
# A stage's deploy waits through the slowest traffic shift (prod's canary: 5 minutes per
# function, all shifted in parallel) and CloudFormation's own work.
WAIT_SECONDS = 3600


def log(msg):
    print(f"[deploy] {msg}", file=sys.stderr, flush=True)


def fail(msg):
    log(msg)
    sys.exit(1)


# --- code -------------------------------------------------------------------------------------


def code_key(binary, entries):
    """The key of a function's zip: its entries' names, modes and contents (sha256), not the
    zip's own bytes (which carry timestamps), so the same binary built twice is one object."""
    h = hashlib.sha256()
    for name, mode, digest in sorted(entries):
        h.update(name.encode() + b"\0" + str(mode).encode() + b"\0" + digest)
    return f"functions/{binary}/{h.hexdigest()}.zip"


def read_zip(binary, path):
    """A zip `make package` built: (its bytes, its key)."""
    data = pathlib.Path(path).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        entries = [(i.filename, i.external_attr >> 16, hashlib.sha256(z.read(i)).digest()) for i in z.infolist()]
    return data, code_key(binary, entries)


_zips = {}


def zip_binary(binary, path):
    """A Lambda zip of this machine's `path`: (its bytes, its key). One entry, `bootstrap`,
    mode 0755, stripped (debug builds are 160 MB with their symbols), deflated at level 1
    (the fastest: it is uploaded once, to a local server), with a fixed date. Made once per
    binary file and process (a second deploy reuses the zips of unchanged binaries)."""
    real = pathlib.Path(path).resolve()
    stat = real.stat()
    cached = (str(real), stat.st_size, stat.st_mtime_ns)
    if cached not in _zips:
        with tempfile.TemporaryDirectory() as tmp:
            stripped = pathlib.Path(tmp) / "bootstrap"
            subprocess.run(["strip", "-o", str(stripped), str(real)], check=True)
            data = stripped.read_bytes()
        info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
        key = code_key(binary, [("bootstrap", 0o100755, hashlib.sha256(data).digest())])
        _zips[cached] = (buf.getvalue(), key)
    return _zips[cached]


def functions_of(template):
    """(logical id, binary) of every function in the template."""
    out = []
    for name, res in template["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            out.append((name, res["Metadata"]["BuildProperties"]["Binary"]))
    return out


def upload_code(s3, bucket, template, zip_of):
    """Uploads each function's zip (when its key is not there yet) and points its CodeUri at
    it. `zip_of(binary)` gives (bytes, key)."""
    functions = functions_of(template)
    # Stripping, compressing and hashing run outside the GIL: one per core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        zips = pool.map(lambda f: zip_of(f[1]), functions)
    for (name, binary), (data, key) in zip(functions, zips):
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            log(f"uploaded {binary}: {len(data):,} bytes -> {key}")
        template["Resources"][name]["Properties"]["CodeUri"] = f"s3://{bucket}/{key}"


def upload_template(s3, bucket, stack, template):
    """Puts the template the change set is made from next to the code, under its content hash
    (it is over the 51,200 bytes a change set takes inline). Returns its key."""
    body = json.dumps(template, indent=1).encode()
    key = f"templates/{stack}/{hashlib.sha256(body).hexdigest()}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return key


# --- the stack -------------------------------------------------------------------------------


def stack_status(cfn, stack):
    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise


def print_changes(cfn, stack, change_set):
    changes = []
    for page in cfn.get_paginator("describe_change_set").paginate(StackName=stack, ChangeSetName=change_set):
        changes += page["Changes"]
    by_action = {}
    for c in changes:
        rc = c["ResourceChange"]
        by_action.setdefault(rc["Action"], []).append(rc)
    log(f"change set: {', '.join(f'{len(v)} to {k.lower()}' for k, v in sorted(by_action.items())) or 'nothing'}")
    for action, rcs in sorted(by_action.items()):
        if action == "Add" and len(rcs) > 20:
            continue  # a first deploy: every resource
        for rc in sorted(rcs, key=lambda r: r["LogicalResourceId"]):
            replace = " (replaced)" if rc.get("Replacement") == "True" else ""
            log(f"  {action:6} {rc['LogicalResourceId']} {rc['ResourceType']}{replace}")
    return changes


def failed_events(cfn, stack, since):
    """The failures of this deploy, the first (usually the cause) first."""
    failed = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack):
        events = [ev for ev in page["StackEvents"] if ev["Timestamp"].timestamp() >= since - 5]
        failed += [ev for ev in events if ev["ResourceStatus"].endswith("_FAILED")]
        if len(events) < len(page["StackEvents"]):
            break
    for ev in sorted(failed, key=lambda ev: ev["Timestamp"])[:20]:
        log(f"  {ev['LogicalResourceId']} {ev['ResourceStatus']}: {ev.get('ResourceStatusReason', '')}")


def deploy_stack(cfn, stack, template_url, parameters, capabilities, role_arn=None):
    """Change set, printed, executed, waited for. Returns the change set's changes ([] when
    there was nothing to change). `role_arn`: the role CloudFormation acts with (CI's
    execution role, infra/ci-role.yaml), else the caller's own permissions."""
    status = stack_status(cfn, stack)
    if status == "ROLLBACK_COMPLETE":
        fail(f"stack {stack} is ROLLBACK_COMPLETE (its first create failed): delete it, then deploy again")
    if status and (status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"):
        fail(f"stack {stack} is {status}: another deploy is running; try again when it ends")
    if status and status.endswith("_FAILED"):
        fail(f"stack {stack} is {status}: see its events in the CloudFormation console, then continue or delete it")
    kind = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    name = f"deploy-{time.strftime('%Y%m%d-%H%M%S')}"
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateURL=template_url,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=capabilities,
        **({"RoleARN": role_arn} if role_arn else {}),
    )
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 300}
        )
    except WaiterError:
        cs = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        reason = cs.get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            log(f"{stack}: nothing to change")
            cfn.delete_change_set(StackName=stack, ChangeSetName=name)
            return []
        fail(f"change set {name} failed: {reason}")
    changes = print_changes(cfn, stack, name)
    started = time.time()
    cfn.execute_change_set(StackName=stack, ChangeSetName=name)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    try:
        cfn.get_waiter(waiter).wait(StackName=stack, WaiterConfig={"Delay": 5, "MaxAttempts": WAIT_SECONDS // 5})
    except WaiterError:
        log(f"{stack}: {stack_status(cfn, stack)}; what failed:")
        failed_events(cfn, stack, started)
        sys.exit(1)
    log(f"{stack}: {stack_status(cfn, stack)} in {time.time() - started:.1f} s")
    return changes


def outputs(cfn, stack):
    st = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in st.get("Outputs", [])}


def stage_parameters(stage, overrides):
    path = ROOT / "infra" / "stages" / f"{stage}.json"
    params = json.loads(path.read_text())
    for o in overrides:
        k, _, v = o.partition("=")
        params[k] = v
    params["Stage"] = stage
    return {k: str(v) for k, v in params.items()}


def load_template():
    template, matches = decode(str(TEMPLATE))
    if matches:
        fail("cannot parse infra/template.yaml: " + "; ".join(str(m) for m in matches))
    return json.loads(json.dumps(template))


# index-build may run up to its 900 s timeout; throttled (a scheduled run holds its one unit
# of reserved concurrency), the standard retries wait and try again.
INVOKE_CONFIG = Config(read_timeout=910, connect_timeout=10, retries={"mode": "standard", "max_attempts": 5})


def publish_match_index(lam, stack):
    """Runs index-build once, as its schedule would: the matching functions and csv-import
    load its snapshot, which a new stack does not have for its first 15 minutes, and new code
    may read another snapshot format than the last one written. `lam` is made with
    INVOKE_CONFIG."""
    started = time.time()
    event = json.loads((ROOT / "events" / "index-build.json").read_text())
    try:
        r = lam.invoke(FunctionName=f"{stack}-index-build", Qualifier="live", Payload=json.dumps(event).encode())
    except (ClientError, BotoCoreError) as e:
        fail(f"could not run index-build after the deploy (its schedule will, within 15 minutes): {e}")
    answer = r["Payload"].read().decode()
    if r.get("FunctionError"):
        fail(f"index-build failed after the deploy: {answer[:500]}")
    log(f"match index published ({time.time() - started:.1f} s): {answer[:200]}")


WEB_DIST = ROOT / "web" / "dist"
# What the browser needs told (Python's table lacks the manifest's, and some systems' the
# module script's or WebAssembly's).
WEB_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def web_objects():
    """What the web app (`make web`'s web/dist) is in the bucket, in the order it is put: `(file,
    key, content type, cache control)`, the hashed assets first (a year, immutable), then the
    shell that names them (revalidated on every load), so no browser is handed a shell whose
    assets are not there yet."""
    if not (WEB_DIST / "index.html").is_file():
        fail("web/dist is not built: run `make web` (make deploy does)")
    files = sorted(p for p in WEB_DIST.rglob("*") if p.is_file())
    is_asset = lambda p: p.relative_to(WEB_DIST).parts[0] == "assets"  # noqa: E731
    for path in sorted(files, key=lambda p: not is_asset(p)):
        cache = "public, max-age=31536000, immutable" if is_asset(path) else "no-cache"
        kind = WEB_TYPES.get(path.suffix, "application/octet-stream")
        yield path, "app/" + path.relative_to(WEB_DIST).as_posix(), kind, cache


def publish_web(s3, bucket):
    """Copies the web app to `app/` in the images bucket, which the stack's CloudFront
    distribution serves at `/` (`web_objects` says how). Old assets stay for pages still open
    on them; the bucket's lifecycle does not touch `app/`."""
    n = 0
    for path, key, kind, cache in web_objects():
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=kind, CacheControl=cache)
        n += 1
    log(f"web app published: {n} files to s3://{bucket}/app/")


def write_outputs(stack, outs, changes):
    out = ROOT / "target" / "deploy" / f"{stack}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    changed = sorted({c["ResourceChange"]["LogicalResourceId"] for c in changes})
    out.write_text(json.dumps({"outputs": outs, "changed": changed}, indent=1) + "\n")
    for k, v in sorted(outs.items()):
        log(f"  {k} = {v}")
    log(f"outputs written to {out.relative_to(ROOT)}")


# --- the two targets -------------------------------------------------------------------------


def aws_session():
    """boto3's session, with the region from AWS_REGION too (boto3 reads AWS_DEFAULT_REGION
    and the profile, the other SDKs and the AWS actions set AWS_REGION)."""
    return boto3.Session(region_name=os.environ.get("AWS_REGION") or None)


def aws_preflight(parameters):
    """What a deploy to AWS needs before anything is built: credentials that work, a region,
    and the stage's token secret in SSM. Returns (session, account, region)."""
    session = aws_session()
    if session.get_credentials() is None:
        fail(
            "no AWS credentials: `make deploy` deploys to the account your credentials reach "
            "(AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; CI assumes its role by "
            "OIDC). Nothing was built or changed. For a deploy on this machine: make deploy-local"
        )
    region = session.region_name or fail("no AWS region: set AWS_REGION (the stage's region)")
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except ClientError as e:
        fail(f"the AWS credentials do not work: {e}")
    except BotoCoreError as e:
        fail(f"cannot reach AWS STS to check the credentials: {e}")
    secret = parameters["JwtSecretParameterName"]
    try:
        found = session.client("ssm").describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [secret]}])
    except ClientError as e:
        fail(f"cannot look up the token secret {secret} in SSM: {e}")
    if not found["Parameters"]:
        fail(
            f"the token secret {secret} is not in SSM ({account}, {region}). Create it once per "
            f"stage, outside the stack:\n  aws ssm put-parameter --type SecureString --name {secret} "
            '--value "$(openssl rand -base64 48)"'
        )
    log(f"deploying to account {account}, {region}")
    return session, account, region


def deploy_aws(args, parameters):
    session, account, region = aws_preflight(parameters)
    zips = pathlib.Path(args.zips)
    template = load_template()
    missing = [b for _, b in functions_of(template) if not (zips / b / "bootstrap.zip").exists()]
    if missing:
        fail(f"no zip for {', '.join(missing)} under {zips}: run `make package` first")

    bucket = args.artifact_bucket or f"kirana-catalog-artifacts-{account}-{region}"
    s3 = session.client("s3")
    ensure_artifact_bucket(s3, bucket, region)
    upload_code(s3, bucket, template, lambda b: read_zip(b, zips / b / "bootstrap.zip"))
    key = upload_template(s3, bucket, args.stack_name, template)
    cfn = session.client("cloudformation")
    changes = deploy_stack(
        cfn,
        args.stack_name,
        f"https://{bucket}.s3.{region}.amazonaws.com/{key}",
        parameters,
        ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        os.environ.get("CFN_EXECUTION_ROLE_ARN") or None,
    )
    publish_match_index(session.client("lambda", config=INVOKE_CONFIG), args.stack_name)
    outs = outputs(cfn, args.stack_name)
    publish_web(s3, outs["ImagesBucketName"])
    outs["ApiBaseUrl"] = outs["ApiUrl"]
    write_outputs(args.stack_name, outs, changes)


def ensure_artifact_bucket(s3, bucket, region):
    """The bucket the code and templates go to: made on the first deploy (private, encrypted),
    kept across stacks and never emptied here: a rollback reads the previous code's zips."""
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError:
        pass
    log(f"creating the artifact bucket {bucket}")
    kw = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **kw)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    )


def deploy_local(endpoint, stack, bin_dir, parameters, bucket="kirana-catalog-artifacts"):
    """Deploys `stack` to the ministack at `endpoint` with the binaries in `bin_dir`."""
    endpoint = endpoint.rstrip("/")
    kw = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}),
    )
    s3, cfn, ssm = (boto3.client(s, **kw) for s in ("s3", "cloudformation", "ssm"))
    lam = boto3.client("lambda", **dict(kw, config=INVOKE_CONFIG))
    secret = parameters["JwtSecretParameterName"]
    try:
        ssm.get_parameter(Name=secret)
    except ClientError:
        fail(f"the token secret {secret} is not in ministack's SSM (infra/deploy_local.py puts it there)")
    bin_dir = pathlib.Path(bin_dir)
    template = load_template()
    missing = [b for _, b in functions_of(template) if not (bin_dir / b).exists()]
    if missing:
        fail(f"no binary for {', '.join(missing)} in {bin_dir}")
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        if "BucketAlreadyOwnedByYou" not in str(e):
            raise
    upload_code(s3, bucket, template, lambda b: zip_binary(b, bin_dir / b))
    key = upload_template(s3, bucket, stack, for_ministack(template, parameters))
    changes = deploy_stack(cfn, stack, f"{endpoint}/{bucket}/{key}", parameters, ["CAPABILITY_IAM"])
    publish_match_index(lam, stack)
    outs = outputs(cfn, stack)
    publish_web(s3, outs["ImagesBucketName"])
    api = next(
        r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        if r["LogicalResourceId"] == "CatalogApi"
    )
    outs["ApiBaseUrl"] = f"{endpoint}/_aws/execute-api/{api}/$default"
    write_outputs(stack, outs, changes)


def smoke(stage, stack, parameters):
    """The smoke flow (infra/smoke.py) against a deployed stage: its API URL from the stack,
    its token secret from SSM. Outside dev only its reads (no smoke products in a catalog
    that store owners use)."""
    session = aws_session()
    if session.get_credentials() is None:
        fail("no AWS credentials: the smoke test reads the stage's token secret from SSM")
    if stack_status(session.client("cloudformation"), stack) is None:
        fail(f"there is no stack {stack} to smoke-test: make deploy STAGE={stage} first")
    base = outputs(session.client("cloudformation"), stack)["ApiUrl"]
    secret = session.client("ssm").get_parameter(Name=parameters["JwtSecretParameterName"], WithDecryption=True)
    env = dict(os.environ, SMOKE_JWT_SECRET=secret["Parameter"]["Value"])
    cmd = [sys.executable, str(ROOT / "infra" / "smoke.py"), "--base-url", base, "--jwt-secret-env", "SMOKE_JWT_SECRET"]
    if stage != "dev":
        cmd.append("--read-only")
    sys.exit(subprocess.run(cmd, env=env).returncode)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", required=True, choices=STAGES)
    p.add_argument("--stack-name", help="default: kirana-catalog-<stage>")
    p.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE", help="override a stage parameter")
    p.add_argument("--artifact-bucket")
    p.add_argument("--zips", default=str(ROOT / "target" / "lambda"), help="AWS: where `make package` put the zips")
    p.add_argument("--local", metavar="URL", help="deploy to the ministack at URL instead of AWS")
    p.add_argument("--bin-dir", default=str(ROOT / "target" / "debug"), help="local: this machine's binaries")
    p.add_argument("--check", action="store_true", help="AWS: only check credentials and the secret (before a build)")
    p.add_argument("--smoke", action="store_true", help="AWS: run the smoke flow against the deployed stage")
    args = p.parse_args()
    args.stack_name = args.stack_name or f"kirana-catalog-{args.stage}"
    parameters = stage_parameters(args.stage, args.parameter)
    started = time.time()
    try:
        if args.check:
            aws_preflight(parameters)
            return
        if args.smoke:
            smoke(args.stage, args.stack_name, parameters)
        if args.local:
            deploy_local(args.local, args.stack_name, args.bin_dir, parameters, args.artifact_bucket or "kirana-catalog-artifacts")
        else:
            deploy_aws(args, parameters)
    except (ClientError, BotoCoreError) as e:
        # What the steps above do not turn into advice: expired credentials, a missing
        # permission, a bucket name another account owns, an unreachable endpoint.
        fail(f"{args.stack_name}: {e}")
    log(f"deployed {args.stack_name} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
