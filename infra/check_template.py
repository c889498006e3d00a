#!/usr/bin/env python3
"""Offline checks of the SAM template.

1. Expand it with aws-sam-translator (the same transform CloudFormation runs).
2. The caller runs cfn-lint on the expansion.
3. Compare the template with what the code expects (`catalog describe`): one function per
   route with the same method and path, one per trigger with its event source, a crate under
   functions/ for each, and the same table keys, indexes and TTL.

Usage: check_template.py TEMPLATE EXPANDED_OUT DESCRIBE_JSON
"""
import json
import pathlib
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no managed policies by name, so nothing needs looking up in IAM."""

    def load(self):
        return {}


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
    expanded = transform(packaged, {}, NoManagedPolicies())
    pathlib.Path(expanded_path).write_text(json.dumps(expanded, indent=1, default=str))

    spec = json.loads(pathlib.Path(describe_path).read_text())
    resources = template["Resources"]

    # Routes: exactly one function per route, and a crate for each.
    want = {(r["function"], r["method"], r["path"]) for r in spec["routes"]}
    want_triggers = {(t["function"], t["source"]) for t in spec.get("triggers", [])}
    sources = {"Schedule": "schedule", "ScheduleV2": "schedule", "S3": "s3", "SQS": "s3"}
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
            elif ev.get("Type") in sources:
                got_triggers.add((binary, sources[ev["Type"]]))
        crate = pathlib.Path(template_path).parent.parent / "functions" / binary / "Cargo.toml"
        if not crate.exists():
            fail(f"{name} builds {binary}, but functions/{binary} does not exist")
    if got != want:
        fail(f"routes differ from the code.\n  only in template: {sorted(got - want)}\n  only in code: {sorted(want - got)}")
    if got_triggers != want_triggers:
        fail(f"triggers differ from the code.\n  only in template: {sorted(got_triggers - want_triggers)}\n  only in code: {sorted(want_triggers - got_triggers)}")
    crates = {p.parent.name for p in (pathlib.Path(template_path).parent.parent / "functions").glob("*/Cargo.toml")}
    extra = crates - {f for f, _, _ in want} - {f for f, _ in want_triggers} - set(spec.get("local_only_crates", []))
    if extra:
        fail(f"function crates without a route in the template: {sorted(extra)}")

    # The import queue hands a message to the dead-letter queue after the delivery on which the
    # code fails the job (it counts deliveries to know which is the last).
    receives = resources["ImportQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    if receives != spec["import_max_receives"]:
        fail(f"ImportQueue maxReceiveCount {receives} differs from the code's {spec['import_max_receives']}")

    # Tables: keys, indexes and TTL as the DynamoDB adapter creates them.
    logical = {"products": "ProductsTable", "inventory": "InventoryTable", "jobs": "JobsTable"}
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
    print(f"infra check: {len(want)} routes, {len(want_triggers)} triggers, {len(spec['tables'])} tables match the code")


if __name__ == "__main__":
    main()
