#!/usr/bin/env python3
"""Deploys berth to Amazon SageMaker with boto3 (an optional tool; the server never needs Python).

  berth_sagemaker.py push --archive build-image/berth-cuda.oci.tar --repository berth --tag cuda
      creates the ECR repository if it is missing and copies the OCI archive (tools/image.sh) into it
      with skopeo, logged in with ECR's authorization token; prints the image URI.
  berth_sagemaker.py endpoint --name NAME --image URI --model s3://BUCKET/PREFIX/ --role ARN
      one model: a SageMaker model (berth's image, the S3 prefix downloaded uncompressed into
      /opt/ml/model), an endpoint configuration and an endpoint.
  berth_sagemaker.py components --name NAME --image URI --config components.json --role ARN
      an endpoint with one inference component per entry of a `berth serve --config` file
      (docs/deployment.md): each its own model, accelerators, memory and copy count.
  berth_sagemaker.py delete --name NAME
      deletes the endpoint's inference components, the endpoint, its configuration and its models.

Common options: --region, --instance-type (default ml.g6e.xlarge), --instance-count, --wait (until
the endpoint is InService). The container is configured through berth's environment variables,
since SageMaker starts it as `IMAGE serve` with no other arguments."""
import argparse
import base64
import json
import subprocess
import sys
import time

# Component fields of a `berth serve --config` file that berth reads from the environment, so that
# a SageMaker inference component can set them; the others are command-line options only.
ENV_OF_FIELD = {"tool_call_parser": "BERTH_TOOL_CALL_PARSER", "request_timeout_s": "BERTH_REQUEST_TIMEOUT"}
CLI_ONLY_FIELDS = {"max_num_seqs", "max_model_len", "max_num_batched_tokens", "kv_cache_tokens", "threads"}
VARIANT = "AllTraffic"


class DeployError(Exception):
    pass


def model_env(endpoint, served_name, extra=None):
    """berth's settings: the model SageMaker downloaded, the names clients use, the port SageMaker
    gives (SAGEMAKER_BIND_TO_PORT is read by berth itself)."""
    env = {"BERTH_MODEL": "/opt/ml/model", "BERTH_SERVED_MODEL_NAME": served_name,
           "BERTH_ENDPOINT_NAME": endpoint}
    env.update(extra or {})
    return env


def s3_prefix(uri, what):
    if not uri.startswith("s3://") or not uri.endswith("/") or uri.count("/") < 4:
        raise DeployError(f"{what}: '{uri}' must be an S3 prefix, s3://BUCKET/PREFIX/ (uncompressed model files)")
    return uri


def container(image, model_uri, env):
    return {"Image": image, "Environment": env,
            "ModelDataSource": {"S3DataSource": {"S3Uri": model_uri, "S3DataType": "S3Prefix",
                                                 "CompressionType": "None"}}}


def variant(args, model_name=None):
    v = {"VariantName": VARIANT, "InstanceType": args.instance_type,
         "InitialInstanceCount": args.instance_count,
         # Downloads and loads of large models take minutes; berth's /ping is 503 until it serves.
         "ModelDataDownloadTimeoutInSeconds": 3600, "ContainerStartupHealthCheckTimeoutInSeconds": 1800}
    if model_name:
        v["ModelName"] = model_name
        v["InitialVariantWeight"] = 1.0
    else:
        v["RoutingConfig"] = {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}
    return v


def deploy_endpoint(sm, args):
    model = s3_prefix(args.model, "--model")
    name = args.name
    sm.create_model(ModelName=name, ExecutionRoleArn=args.role,
                    PrimaryContainer=container(args.image, model, model_env(name, args.served_model_name or name)))
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant(args, name)])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    if args.wait:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name)
    return name


def load_components(path):
    """The components of a `berth serve --config` file, checked for what SageMaker can carry."""
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise DeployError(f"{path}: {e}") from e
    comps = cfg.get("components")
    if not isinstance(comps, list) or not comps:
        raise DeployError(f"{path}: components must be a non-empty array")
    for i, c in enumerate(comps):
        where = f"{path}: components[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not isinstance(c.get("model"), str):
            raise DeployError(f"{where}: needs a name and a model (strings)")
        s3_prefix(c["model"], f"{where}.model")
        for k in c:
            if k in CLI_ONLY_FIELDS:
                raise DeployError(f"{where}.{k}: SageMaker starts berth with no options and berth reads "
                                  f"{k} from the command line only; remove it for SageMaker")
            if k not in {"name", "model", "memory_mib", "copies"} | set(ENV_OF_FIELD):
                raise DeployError(f"{where}.{k}: not a component field")
    return comps


def deploy_components(sm, args):
    comps = load_components(args.config)
    name = args.name
    sm.create_endpoint_config(EndpointConfigName=name, ExecutionRoleArn=args.role,
                              ProductionVariants=[variant(args)])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    # Inference components go onto an endpoint that is in service.
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name)
    for c in comps:
        extra = {ENV_OF_FIELD[k]: str(v) for k, v in c.items() if k in ENV_OF_FIELD}
        if "memory_mib" in c:
            # The component's share of its accelerator(s): berth's whole memory budget.
            extra["BERTH_MEMORY_BUDGET"] = str(int(c["memory_mib"]) << 20)
        model_name = f"{name}-{c['name']}"
        sm.create_model(ModelName=model_name, ExecutionRoleArn=args.role,
                        PrimaryContainer=container(args.image, c["model"], model_env(name, c["name"], extra)))
        sm.create_inference_component(
            InferenceComponentName=c["name"], EndpointName=name, VariantName=VARIANT,
            Specification={"ModelName": model_name, "ComputeResourceRequirements": {
                "NumberOfAcceleratorDevicesRequired": float(args.accelerators),
                "MinMemoryRequiredInMb": args.host_memory_mb}},
            RuntimeConfig={"CopyCount": int(c.get("copies", 1))})
    if args.wait:
        for c in comps:
            wait_component(sm, c["name"])
    return [c["name"] for c in comps]


def wait_component(sm, name, sleep=time.sleep, timeout_s=3600):
    """botocore has no waiter for inference components: DescribeInferenceComponent every 30 s."""
    for _ in range(int(timeout_s / 30) + 1):
        d = sm.describe_inference_component(InferenceComponentName=name)
        status = d["InferenceComponentStatus"]
        if status == "InService":
            return
        if status == "Failed":
            raise DeployError(f"inference component {name} failed: {d.get('FailureReason', 'no reason given')}")
        sleep(30)
    raise DeployError(f"inference component {name} not in service after {timeout_s} s")


def delete(sm, args):
    name = args.name
    comps = sm.list_inference_components(EndpointNameEquals=name)["InferenceComponents"]
    models = set()
    for c in comps:
        d = sm.describe_inference_component(InferenceComponentName=c["InferenceComponentName"])
        models.add(d["Specification"]["ModelName"])
        sm.delete_inference_component(InferenceComponentName=c["InferenceComponentName"])
    config = sm.describe_endpoint_config(EndpointConfigName=name)
    models |= {v["ModelName"] for v in config["ProductionVariants"] if v.get("ModelName")}
    sm.delete_endpoint(EndpointName=name)
    sm.delete_endpoint_config(EndpointConfigName=name)
    for m in sorted(models):
        sm.delete_model(ModelName=m)
    return sorted(models)


def push(ecr, args, run=subprocess.run):
    try:
        repo = ecr.describe_repositories(repositoryNames=[args.repository])["repositories"][0]
    except ecr.exceptions.RepositoryNotFoundException:
        repo = ecr.create_repository(repositoryName=args.repository,
                                     imageScanningConfiguration={"scanOnPush": True})["repository"]
    auth = ecr.get_authorization_token(registryIds=[repo["registryId"]])["authorizationData"][0]
    user, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
    uri = f"{repo['repositoryUri']}:{args.tag}"
    r = run(["skopeo", "copy", "--dest-creds", f"{user}:{password}", f"oci-archive:{args.archive}",
             f"docker://{uri}"])
    if r.returncode != 0:
        raise DeployError(f"skopeo copy to {uri} failed (exit {r.returncode})")
    return uri


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("push", help="copy the OCI archive into ECR")
    s.add_argument("--archive", required=True)
    s.add_argument("--repository", default="berth")
    s.add_argument("--tag", default="cuda")
    for cmd in ("endpoint", "components"):
        s = sub.add_parser(cmd)
        s.add_argument("--name", required=True, help="endpoint (and configuration) name")
        s.add_argument("--image", required=True, help="the image URI in ECR (push prints it)")
        s.add_argument("--role", required=True, help="the SageMaker execution role ARN")
        s.add_argument("--instance-type", default="ml.g6e.xlarge")
        s.add_argument("--instance-count", type=int, default=1)
        s.add_argument("--wait", action="store_true")
        if cmd == "endpoint":
            s.add_argument("--model", required=True, help="s3://BUCKET/PREFIX/ of the model files")
            s.add_argument("--served-model-name")
        else:
            s.add_argument("--config", required=True, help="a `berth serve --config` JSON file")
            s.add_argument("--accelerators", type=float, default=1, help="GPUs per component copy")
            s.add_argument("--host-memory-mb", type=int, default=4096, help="host memory per copy")
    s = sub.add_parser("delete")
    s.add_argument("--name", required=True)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import boto3  # only here, so that --help and the tests' parsing need no AWS configuration

    session = boto3.session.Session(region_name=args.region)
    try:
        if args.command == "push":
            print(push(session.client("ecr"), args))
        elif args.command == "endpoint":
            print(deploy_endpoint(session.client("sagemaker"), args))
        elif args.command == "components":
            print("\n".join(deploy_components(session.client("sagemaker"), args)))
        else:
            print("\n".join(delete(session.client("sagemaker"), args)))
    except DeployError as e:
        print(f"berth_sagemaker: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
