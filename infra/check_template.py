#!/usr/bin/env python3
"""Offline checks of the SAM template.

1. Expand it with aws-sam-translator (the same transform CloudFormation runs).
2. The caller runs cfn-lint on the expansion.
3. Compare the template with what the code expects (`catalog describe`): one function per
   route with the same method and path, one per trigger with its event source, a crate under
   functions/ for each, and the same table keys, indexes and TTL.
4. Every function is deployed as `make deploy` promises: published behind the `live` alias,
   which CodeDeploy shifts with automatic rollback on at least one alarm, and every route,
   queue and schedule invokes the alias (never $LATEST).

Usage: check_template.py TEMPLATE EXPANDED_OUT DESCRIBE_JSON
"""
import json
import logging
import pathlib
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

from local_template import NoManagedPolicies


def fail(msg):
    print(f"infra check: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    template_path, expanded_path, describe_path = sys.argv[1:4]
    template, matches = decode(template_path)
    if matches:
        fail("cannot parse template: " + "; ".join(str(m) for m in matches))
    # What `sam package` does: local code folders become S3 objects. The expansion is checked,
    # so a placeholder bucket stands in for the real artifact bucket.
    packaged = json.loads(json.dumps(template))
    for name, res in packaged["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = f"s3://artifacts-placeholder/{name}.zip"
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    expanded = transform(packaged, {}, NoManagedPolicies())
    check_deployments(expanded)
    pathlib.Path(expanded_path).write_text(json.dumps(expanded, indent=1, default=str))

    spec = json.loads(pathlib.Path(describe_path).read_text())
    resources = template["Resources"]

    # Routes: exactly one function per route, and a crate for each.
    want = {(r["function"], r["method"], r["path"]) for r in spec["routes"]}
    # A trigger's source in the code, as the template's events of its function: S3
    # notifications come through a queue; the catalog's own queue comes with a schedule (its
    # sweep).
    kinds = {"schedule": {"Schedule"}, "s3": {"SQS"}, "queue": {"SQS", "Schedule"}}
    event_kind = {"Schedule": "Schedule", "ScheduleV2": "Schedule", "S3": "SQS", "SQS": "SQS"}
    want_triggers = {(t["function"], k) for t in spec.get("triggers", []) for k in kinds[t["source"]]}
    got = set()
    got_triggers = set()
    for name, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if res.get("Metadata", {}).get("BuildMethod") != "rust-cargolambda" or not binary:
            fail(f"{name} must be built by rust-cargolambda with a Binary")
        props = res["Properties"]
        for ev in props.get("Events", {}).values():
            if ev.get("Type") == "HttpApi":
                got.add((binary, ev["Properties"]["Method"], ev["Properties"]["Path"]))
            elif ev.get("Type") in event_kind:
                got_triggers.add((binary, event_kind[ev["Type"]]))
        crate = pathlib.Path(template_path).parent.parent / "functions" / binary / "Cargo.toml"
        if not crate.exists():
            fail(f"{name} builds {binary}, but functions/{binary} does not exist")
    if got != want:
        fail(f"routes differ from the code.\n  only in template: {sorted(got - want)}\n  only in code: {sorted(want - got)}")
    if got_triggers != want_triggers:
        fail(f"triggers differ from the code.\n  only in template: {sorted(got_triggers - want_triggers)}\n  only in code: {sorted(want_triggers - got_triggers)}")
    # A route that takes integration keys reads and updates them (the key, its bucket) in the
    # accounts table: its function has the statement that allows it, and only such functions.
    keyed = {r["function"] for r in spec["routes"] if r.get("key_scopes")}
    for name, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        binary = res["Metadata"]["BuildProperties"]["Binary"]
        statements = [st for pol in res["Properties"].get("Policies", []) if isinstance(pol, dict) for st in pol.get("Statement", [])]
        checks = [st for st in statements if st.get("Sid") == "CheckIntegrationKeys"]
        if (binary in keyed) != bool(checks):
            fail(f"{name}: takes integration keys: {binary in keyed}, has CheckIntegrationKeys: {bool(checks)}")
        for st in checks:
            if sorted(st["Action"]) != ["dynamodb:GetItem", "dynamodb:UpdateItem"] or st["Resource"] != [{"Fn::GetAtt": ["AccountsTable", "Arn"]}]:
                fail(f"{name}: CheckIntegrationKeys must allow GetItem and UpdateItem on AccountsTable only: {st}")
            if st.get("Condition") != {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["S#*"]}}:
                fail(f"{name}: CheckIntegrationKeys must be limited to the stores' items (dynamodb:LeadingKeys S#*)")
    crates = {p.parent.name for p in (pathlib.Path(template_path).parent.parent / "functions").glob("*/Cargo.toml")}
    extra = crates - {f for f, _, _ in want} - {f for f, _ in want_triggers} - set(spec.get("local_only_crates", []))
    if extra:
        fail(f"function crates without a route in the template: {sorted(extra)}")

    # The import queue hands a message to the dead-letter queue after the delivery on which the
    # code fails the job (it counts deliveries to know which is the last).
    for queue, key in [("ImportQueue", "import_max_receives"), ("ImageQueue", "image_max_receives"), ("EnrichQueue", "enrich_max_receives"), ("OffImportQueue", "off_import_max_receives"), ("WebhookQueue", "webhook_max_receives")]:
        receives = resources[queue]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        if receives != spec[key]:
            fail(f"{queue} maxReceiveCount {receives} differs from the code's {spec[key]}")

    # Tables: keys, indexes and TTL as the DynamoDB adapter creates them.
    logical = {"products": "ProductsTable", "inventory": "InventoryTable", "jobs": "JobsTable", "accounts": "AccountsTable"}
    for t in spec["tables"]:
        props = resources[logical[t["logical"]]]["Properties"]
        keys = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
        if keys.get("HASH") != t["hash_key"] or keys.get("RANGE") != t["range_key"]:
            fail(f"{t['logical']} key schema {keys} differs from the code's {t['hash_key']}/{t['range_key']}")
        gsis = {}
        for g in props.get("GlobalSecondaryIndexes", []):
            k = {x["KeyType"]: x["AttributeName"] for x in g["KeySchema"]}
            gsis[g["IndexName"]] = (k.get("HASH"), k.get("RANGE"), g["Projection"]["ProjectionType"] == "ALL")
        want_gsis = {i["name"]: (i["hash_key"], i["range_key"], i["project_all"]) for i in t["indexes"]}
        if gsis != want_gsis:
            fail(f"{t['logical']} indexes {gsis} differ from the code's {want_gsis}")
        ttl = props.get("TimeToLiveSpecification", {}).get("AttributeName")
        if ttl != t["ttl_attribute"]:
            fail(f"{t['logical']} TTL attribute {ttl} differs from the code's {t['ttl_attribute']}")
        if props.get("BillingMode") != "PAY_PER_REQUEST":
            fail(f"{t['logical']} must be on-demand")
        if not props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            fail(f"{t['logical']} must have point-in-time recovery")
    print(f"infra check: {len(want)} routes ({len(keyed)} taking integration keys), {len(spec['triggers'])} triggers, {len(spec['tables'])} tables match the code")


def check_deployments(expanded):
    res = expanded["Resources"]
    functions = [n for n, r in res.items() if r["Type"] == "AWS::Lambda::Function"]
    for fn in functions:
        alias = res.get(f"{fn}Aliaslive")
        if not alias or alias["Type"] != "AWS::Lambda::Alias":
            fail(f"{fn} has no `live` alias (Globals: AutoPublishAlias)")
        update = alias.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate")
        if not update:
            fail(f"{fn}'s alias is not shifted by CodeDeploy (Globals: DeploymentPreference)")
        group = res[update["DeploymentGroupName"]["Ref"]]["Properties"]
        alarms = group.get("AlarmConfiguration", {}).get("Alarms", [])
        if not group.get("AlarmConfiguration", {}).get("Enabled") or not alarms:
            fail(f"{fn}'s deployment has no rollback alarm")
        for a in alarms:
            if res.get(a["Name"].get("Ref"), {}).get("Type") != "AWS::CloudWatch::Alarm":
                fail(f"{fn}'s rollback alarm {a['Name']} is not an alarm of the stack")
        if "DEPLOYMENT_STOP_ON_ALARM" not in group.get("AutoRollbackConfiguration", {}).get("Events", []):
            fail(f"{fn}'s deployment does not roll back on its alarms")
    # Whatever invokes a function names the alias: a permission, a queue mapping, a schedule.
    text = json.dumps(expanded)
    for fn in functions:
        if f'"Fn::GetAtt": ["{fn}", "Arn"]' in text.replace("\n", ""):
            fail(f"something invokes {fn} itself rather than its live alias")


if __name__ == "__main__":
    main()
