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

ministack (`--local URL`) does not do everything AWS does, so the template is adapted here,
and only here (infra/ministack.md says why): the SAM transform is applied by this script
(ministack's own needs aws-sam-translator installed into it); DeploymentPreference is dropped
(no CodeDeploy: the aliases are published and moved at once); an alarm on metric math
watches its first metric instead (ministack has no metric math); the HTTP API's OpenAPI Body
becomes explicit Integration and Route resources (ministack ignores Body); and the template
goes by a path-style TemplateURL. The zips are made here from this machine's binaries
(`--bin-dir`), stripped, since ministack runs `bootstrap` as a host process.

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
import logging
import os
import pathlib
import re
import shutil
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


def content_key(binary, zip_bytes):
    """The zip's key: its entries' names, modes and bytes, not the zip's own bytes (which carry
    timestamps), so the same binary built twice is the same object."""
    h = hashlib.sha256()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            h.update(info.filename.encode() + b"\0")
            h.update(str(info.external_attr >> 16).encode() + b"\0")
            h.update(hashlib.sha256(z.read(info)).digest())
    return f"functions/{binary}/{h.hexdigest()}.zip"


_zips = {}


def zip_binary(path):
    """A Lambda zip of one binary: `bootstrap`, mode 0755, stripped (debug builds are 160 MB
    with their symbols), with a fixed date so the same binary gives the same bytes. Made once
    per binary file and process (a second deploy reuses the zips of unchanged binaries)."""
    real = pathlib.Path(path).resolve()
    stat = real.stat()
    cached = (str(real), stat.st_size, stat.st_mtime_ns)
    if cached not in _zips:
        _zips[cached] = _zip_binary(real)
    return _zips[cached]


def _zip_binary(path):
    with tempfile.TemporaryDirectory() as tmp:
        stripped = pathlib.Path(tmp) / "bootstrap"
        subprocess.run(["strip", "-o", str(stripped), str(path)], check=True)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 << 16)
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(stripped, "rb") as f, z.open(info, "w") as out:
                shutil.copyfileobj(f, out, 1 << 20)
        return buf.getvalue()


def functions_of(template):
    """(logical id, binary) of every function in the template."""
    out = []
    for name, res in template["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            out.append((name, res["Metadata"]["BuildProperties"]["Binary"]))
    return out


def logical_id_of(binary):
    return next(name for name, b in functions_of(load_template()) if b == binary)


def upload_code(s3, bucket, template, zip_of):
    """Uploads each function's zip (when its key is not there yet) and points its CodeUri at
    it. Returns {binary: key}."""
    keys = {}
    functions = functions_of(template)
    # Stripping and compressing run outside the GIL: one per core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        zips = pool.map(lambda f: zip_of(f[1]), functions)
    for (name, binary), data in zip(functions, zips):
        key = content_key(binary, data)
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            log(f"uploaded {binary}: {len(data):,} bytes -> {key}")
        template["Resources"][name]["Properties"]["CodeUri"] = f"s3://{bucket}/{key}"
        keys[binary] = key
    return keys


# --- the template for ministack --------------------------------------------------------------


class NoManagedPolicies:
    def load(self):
        return {}


def for_ministack(template, parameters):
    """The SAM template as ministack can deploy it (see the module doc)."""
    from samtranslator.translator.transform import transform

    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    # The transform fills AWS::Region from the environment; ministack's is us-east-1.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = json.loads(json.dumps(template))
    template["Globals"]["Function"].pop("DeploymentPreference", None)
    for _, res in template["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"].pop("DeploymentPreference", None)
    expanded = transform(template, dict(parameters), NoManagedPolicies())
    resources = expanded["Resources"]
    for alarm in resources.values():
        # No metric math in ministack's alarms: the alarm watches its first metric (the
        # 5xx count rather than the 5xx share), with the same threshold.
        props = alarm["Properties"]
        if alarm["Type"] == "AWS::CloudWatch::Alarm" and "Metrics" in props:
            stat = next(m["MetricStat"] for m in props.pop("Metrics") if "MetricStat" in m)
            props.update(stat["Metric"])
            props["Period"], props["Statistic"] = stat["Period"], stat["Stat"]
    for api_id, api in list(resources.items()):
        if api["Type"] != "AWS::ApiGatewayV2::Api" or "Body" not in api["Properties"]:
            continue
        body = api["Properties"].pop("Body")
        api["Properties"].setdefault("ProtocolType", "HTTP")
        api["Properties"].setdefault("Name", {"Ref": "AWS::StackName"})
        cors = body.get("x-amazon-apigateway-cors")
        if cors:
            api["Properties"]["CorsConfiguration"] = {k[0].upper() + k[1:]: v for k, v in cors.items()}
        for path, methods in body.get("paths", {}).items():
            for method, op in methods.items():
                integration = op.get("x-amazon-apigateway-integration")
                if not integration:
                    continue
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                base = re.sub(r"[^A-Za-z0-9]", "", f"{api_id}{verb}{path}")[:200]
                resources[base + "Integration"] = {
                    "Type": "AWS::ApiGatewayV2::Integration",
                    "Properties": {
                        "ApiId": {"Ref": api_id},
                        "IntegrationType": "AWS_PROXY",
                        "IntegrationUri": integration["uri"],
                        "PayloadFormatVersion": integration.get("payloadFormatVersion", "2.0"),
                    },
                }
                resources[base + "Route"] = {
                    "Type": "AWS::ApiGatewayV2::Route",
                    "Properties": {
                        "ApiId": {"Ref": api_id},
                        "RouteKey": f"{verb} {path}",
                        "Target": {"Fn::Sub": "integrations/${" + base + "Integration}"},
                    },
                }
    return expanded


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


def failed_events(cfn, stack):
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    for ev in events[:50]:
        if "FAILED" in ev["ResourceStatus"] or "ROLLBACK" in ev["ResourceStatus"]:
            log(f"  {ev['LogicalResourceId']} {ev['ResourceStatus']}: {ev.get('ResourceStatusReason', '')}")


def deploy_stack(cfn, stack, template_url, parameters, capabilities, role_arn=None):
    """Change set, printed, executed, waited for. Returns the change set's changes ([] when
    there was nothing to change). `role_arn`: the role CloudFormation acts with (CI's
    execution role, infra/ci-role.yaml), else the caller's own permissions."""
    status = stack_status(cfn, stack)
    if status == "ROLLBACK_COMPLETE":
        fail(f"stack {stack} is ROLLBACK_COMPLETE (its first create failed): delete it, then deploy again")
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
        failed_events(cfn, stack)
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


def publish_match_index(lam, stack):
    """Runs index-build once, as its schedule would: the matching functions and csv-import
    load its snapshot, which a new stack does not have for its first 15 minutes, and new code
    may read another snapshot format than the last one written."""
    started = time.time()
    event = json.loads((ROOT / "events" / "index-build.json").read_text())
    r = lam.invoke(FunctionName=f"{stack}-index-build", Qualifier="live", Payload=json.dumps(event).encode())
    answer = r["Payload"].read().decode()
    if r.get("FunctionError"):
        fail(f"index-build failed after the deploy: {answer[:500]}")
    log(f"match index published ({time.time() - started:.1f} s): {answer[:200]}")


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
        session.client("ssm").describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [secret]}])["Parameters"][0]
    except (ClientError, IndexError):
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
    missing = [b for _, b in functions_of(load_template()) if not (zips / b / "bootstrap.zip").exists()]
    if missing:
        fail(f"no zip for {', '.join(missing)} under {zips}: run `make package` first")

    bucket = args.artifact_bucket or f"kirana-catalog-artifacts-{account}-{region}"
    s3 = session.client("s3")
    ensure_artifact_bucket(s3, bucket, region)
    template = load_template()
    upload_code(s3, bucket, template, lambda b: (zips / b / "bootstrap.zip").read_bytes())
    body = json.dumps(template, indent=1).encode()
    key = f"templates/{args.stack_name}/{hashlib.sha256(body).hexdigest()}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    cfn = session.client("cloudformation")
    changes = deploy_stack(
        cfn,
        args.stack_name,
        f"https://{bucket}.s3.{region}.amazonaws.com/{key}",
        parameters,
        ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        os.environ.get("CFN_EXECUTION_ROLE_ARN") or None,
    )
    publish_match_index(session.client("lambda"), args.stack_name)
    outs = outputs(cfn, args.stack_name)
    outs["ApiBaseUrl"] = outs["ApiUrl"]
    write_outputs(args.stack_name, outs, changes)


def ensure_artifact_bucket(s3, bucket, region):
    """The bucket the code and templates go to: made on the first deploy (private, encrypted,
    old objects expire), kept across stacks."""
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


def deploy_local(args, parameters):
    endpoint = args.local.rstrip("/")
    kw = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}),
    )
    s3, cfn, ssm, lam = (boto3.client(s, **kw) for s in ("s3", "cloudformation", "ssm", "lambda"))
    secret = parameters["JwtSecretParameterName"]
    try:
        ssm.get_parameter(Name=secret)
    except ClientError:
        fail(f"the token secret {secret} is not in ministack's SSM (infra/deploy_local.sh puts it there)")
    bin_dir = pathlib.Path(args.bin_dir)
    missing = [b for _, b in functions_of(load_template()) if not (bin_dir / b).exists()]
    if missing:
        fail(f"no binary for {', '.join(missing)} in {bin_dir}")
    bucket = args.artifact_bucket or "kirana-catalog-artifacts"
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        if "BucketAlreadyOwnedByYou" not in str(e):
            raise
    template = load_template()
    upload_code(s3, bucket, template, lambda b: zip_binary(bin_dir / b))
    expanded = for_ministack(template, parameters)
    body = json.dumps(expanded, indent=1).encode()
    key = f"templates/{args.stack_name}/{hashlib.sha256(body).hexdigest()}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    changes = deploy_stack(cfn, args.stack_name, f"{endpoint}/{bucket}/{key}", parameters, ["CAPABILITY_IAM"])
    publish_match_index(lam, args.stack_name)
    outs = outputs(cfn, args.stack_name)
    api = next(
        r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=args.stack_name)["StackResourceSummaries"]
        if r["LogicalResourceId"] == "CatalogApi"
    )
    outs["ApiBaseUrl"] = f"{endpoint}/_aws/execute-api/{api}/$default"
    write_outputs(args.stack_name, outs, changes)


def smoke(args, parameters):
    """The smoke flow (infra/smoke.py) against a deployed stage: its API URL from the stack,
    its token secret from SSM."""
    session = aws_session()
    if session.get_credentials() is None:
        fail("no AWS credentials: the smoke test reads the stage's token secret from SSM")
    cfn = session.client("cloudformation")
    base = outputs(cfn, args.stack_name)["ApiUrl"]
    secret = session.client("ssm").get_parameter(Name=parameters["JwtSecretParameterName"], WithDecryption=True)
    env = dict(os.environ, SMOKE_JWT_SECRET=secret["Parameter"]["Value"])
    smoke_py = ROOT / "infra" / "smoke.py"
    cmd = [sys.executable, str(smoke_py), "--base-url", base, "--jwt-secret-env", "SMOKE_JWT_SECRET"]
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
    if args.check:
        aws_preflight(parameters)
        return
    if args.smoke:
        smoke(args, parameters)
    if args.local:
        deploy_local(args, parameters)
    else:
        deploy_aws(args, parameters)
    log(f"deployed {args.stack_name} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
