"""The SAM template as ministack 1.5.33 can deploy it, for `make deploy-local` only
(infra/ministack.md has the findings behind each step). AWS gets the template as it is.

- The SAM transform is applied here (ministack applies it only when aws-sam-translator is
  installed into its own venv).
- DeploymentPreference is dropped: ministack has no CodeDeploy, so the `live` aliases are
  published and moved at once.
- An alarm on metric math watches its first metric instead (the 5xx count rather than the
  share): ministack's alarms take no `Metrics`.
- The HTTP API's OpenAPI `Body`, which ministack ignores, becomes explicit Integration and
  Route resources: the same method, path and target per route (and its CORS settings).
- Resource types ministack does not have (`UNSUPPORTED`: the event archive) are left out; an
  unknown type fails the whole stack there.
"""
import json
import logging
import os
import re

from samtranslator.translator.transform import transform


UNSUPPORTED = {"AWS::Events::Archive"}


class NoManagedPolicies:
    """The template names no managed policies by name, so nothing needs looking up in IAM."""

    def load(self):
        return {}


def for_ministack(template, parameters):
    """The expansion of `template` (a parsed SAM template, not changed) with `parameters`."""
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    # The transform fills AWS::Region from the environment; ministack's is us-east-1.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = json.loads(json.dumps(template))
    template["Globals"]["Function"].pop("DeploymentPreference", None)
    for res in template["Resources"].values():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"].pop("DeploymentPreference", None)
    expanded = transform(template, dict(parameters), NoManagedPolicies())
    resources = expanded["Resources"]
    for name in [n for n, r in resources.items() if r["Type"] in UNSUPPORTED]:
        del resources[name]
    for alarm in resources.values():
        props = alarm.get("Properties", {})
        if alarm["Type"] == "AWS::CloudWatch::Alarm" and "Metrics" in props:
            stat = next(m["MetricStat"] for m in props.pop("Metrics") if "MetricStat" in m)
            props.update(stat["Metric"])
            props["Period"], props["Statistic"] = stat["Period"], stat["Stat"]
    for api_id, api in list(resources.items()):
        if api["Type"] == "AWS::ApiGatewayV2::Api" and "Body" in api.get("Properties", {}):
            resources.update(explicit_routes(api_id, api["Properties"]))
    return expanded


def explicit_routes(api_id, api):
    """Takes the OpenAPI Body off `api` and returns an Integration and a Route per operation."""
    body = api.pop("Body")
    api.setdefault("ProtocolType", "HTTP")
    api.setdefault("Name", {"Ref": "AWS::StackName"})
    cors = body.get("x-amazon-apigateway-cors")
    if cors:
        api["CorsConfiguration"] = {k[0].upper() + k[1:]: v for k, v in cors.items()}
    out = {}
    for path, methods in body.get("paths", {}).items():
        for method, op in methods.items():
            integration = op.get("x-amazon-apigateway-integration")
            if not integration:
                continue
            verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
            base = re.sub(r"[^A-Za-z0-9]", "", f"{api_id}{verb}{path}")[:200]
            out[base + "Integration"] = {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": api_id},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": integration["uri"],
                    "PayloadFormatVersion": integration.get("payloadFormatVersion", "2.0"),
                },
            }
            out[base + "Route"] = {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": api_id},
                    "RouteKey": f"{verb} {path}",
                    "Target": {"Fn::Sub": "integrations/${" + base + "Integration}"},
                },
            }
    return out
