"""tools/sagemaker/berth_sagemaker.py against botocore's service models, with no AWS account:
botocore.stub.Stubber answers each call, botocore validates every request against the SageMaker
and ECR API models before the stub sees it (a wrong or missing parameter raises
ParamValidationError), and the stub checks the exact parameters and the order of the calls. The
responses are validated against the models' output shapes too."""
import base64
import importlib.util
import json
import subprocess
from datetime import datetime
from types import SimpleNamespace

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from berth_process import ROOT

spec = importlib.util.spec_from_file_location("berth_sagemaker", ROOT / "tools/sagemaker/berth_sagemaker.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/berth:cuda"
ROLE = "arn:aws:iam::111122223333:role/SageMakerExecution"
ARN = "arn:aws:sagemaker:us-east-1:111122223333:"


def client(service):
    s = botocore.session.get_session()
    return s.create_client(service, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                           aws_secret_access_key="secret")


def args(command, *argv):
    return tool.parse_args([command, *argv])


def container(model, env):
    return {"Image": IMAGE, "Environment": env, "ModelDataSource": {"S3DataSource": {
        "S3Uri": model, "S3DataType": "S3Prefix", "CompressionType": "None"}}}


def test_one_model_endpoint():
    sm = client("sagemaker")
    a = args("endpoint", "--name", "qwen", "--image", IMAGE, "--role", ROLE,
             "--model", "s3://bucket/models/Qwen3-4B/", "--served-model-name", "qwen3-4b", "--wait")
    variant = {"VariantName": "AllTraffic", "ModelName": "qwen", "InstanceType": "ml.g6e.xlarge",
               "InitialInstanceCount": 1, "InitialVariantWeight": 1.0,
               "ModelDataDownloadTimeoutInSeconds": 3600, "ContainerStartupHealthCheckTimeoutInSeconds": 1800}
    with Stubber(sm) as st:
        st.add_response("create_model", {"ModelArn": ARN + "model/qwen"}, {
            "ModelName": "qwen", "ExecutionRoleArn": ROLE,
            "PrimaryContainer": container("s3://bucket/models/Qwen3-4B/", {
                "BERTH_MODEL": "/opt/ml/model", "BERTH_SERVED_MODEL_NAME": "qwen3-4b",
                "BERTH_ENDPOINT_NAME": "qwen"})})
        st.add_response("create_endpoint_config", {"EndpointConfigArn": ARN + "endpoint-config/qwen"},
                        {"EndpointConfigName": "qwen", "ProductionVariants": [variant]})
        st.add_response("create_endpoint", {"EndpointArn": ARN + "endpoint/qwen"},
                        {"EndpointName": "qwen", "EndpointConfigName": "qwen"})
        described = {"EndpointName": "qwen", "EndpointArn": ARN + "endpoint/qwen",
                     "EndpointStatus": "InService", "CreationTime": datetime(2026, 1, 1),
                     "LastModifiedTime": datetime(2026, 1, 1)}
        st.add_response("describe_endpoint", described, {"EndpointName": "qwen"})
        assert tool.deploy_endpoint(sm, a) == "qwen"
        st.assert_no_pending_responses()


def write_components(tmp_path, components):
    p = tmp_path / "components.json"
    p.write_text(json.dumps({"endpoint": "berth", "components": components}))
    return str(p)


def test_inference_components(tmp_path):
    sm = client("sagemaker")
    cfg = write_components(tmp_path, [
        {"name": "big", "model": "s3://bucket/models/Qwen3-4B/", "memory_mib": 40960, "copies": 1},
        {"name": "small", "model": "s3://bucket/models/Qwen3-0.6B/", "copies": 2,
         "tool_call_parser": "hermes", "request_timeout_s": 120}])
    a = args("components", "--name", "shared", "--image", IMAGE, "--role", ROLE, "--config", cfg,
             "--instance-type", "ml.g6e.12xlarge", "--wait")
    sleeps = []
    with Stubber(sm) as st:
        st.add_response("create_endpoint_config", {"EndpointConfigArn": ARN + "endpoint-config/shared"}, {
            "EndpointConfigName": "shared", "ExecutionRoleArn": ROLE, "ProductionVariants": [{
                "VariantName": "AllTraffic", "InstanceType": "ml.g6e.12xlarge", "InitialInstanceCount": 1,
                "ModelDataDownloadTimeoutInSeconds": 3600, "ContainerStartupHealthCheckTimeoutInSeconds": 1800,
                "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}}]})
        st.add_response("create_endpoint", {"EndpointArn": ARN + "endpoint/shared"},
                        {"EndpointName": "shared", "EndpointConfigName": "shared"})
        st.add_response("describe_endpoint", {
            "EndpointName": "shared", "EndpointArn": ARN + "endpoint/shared", "EndpointStatus": "InService",
            "CreationTime": datetime(2026, 1, 1), "LastModifiedTime": datetime(2026, 1, 1)},
            {"EndpointName": "shared"})
        envs = {"big": {"BERTH_MEMORY_BUDGET": str(40960 << 20)},
                "small": {"BERTH_TOOL_CALL_PARSER": "hermes", "BERTH_REQUEST_TIMEOUT": "120"}}
        for name, model, copies in (("big", "s3://bucket/models/Qwen3-4B/", 1),
                                    ("small", "s3://bucket/models/Qwen3-0.6B/", 2)):
            env = {"BERTH_MODEL": "/opt/ml/model", "BERTH_SERVED_MODEL_NAME": name,
                   "BERTH_ENDPOINT_NAME": "shared", **envs[name]}
            st.add_response("create_model", {"ModelArn": ARN + f"model/shared-{name}"}, {
                "ModelName": f"shared-{name}", "ExecutionRoleArn": ROLE, "PrimaryContainer": container(model, env)})
            st.add_response("create_inference_component", {"InferenceComponentArn": ARN + f"inference-component/{name}"}, {
                "InferenceComponentName": name, "EndpointName": "shared", "VariantName": "AllTraffic",
                "Specification": {"ModelName": f"shared-{name}", "ComputeResourceRequirements": {
                    "NumberOfAcceleratorDevicesRequired": 1.0, "MinMemoryRequiredInMb": 4096}},
                "RuntimeConfig": {"CopyCount": copies}})

        def described(name, status):
            return {"InferenceComponentName": name, "InferenceComponentArn": ARN + f"inference-component/{name}",
                    "EndpointName": "shared", "EndpointArn": ARN + "endpoint/shared",
                    "InferenceComponentStatus": status, "CreationTime": datetime(2026, 1, 1),
                    "LastModifiedTime": datetime(2026, 1, 1)}
        st.add_response("describe_inference_component", described("big", "Creating"), {"InferenceComponentName": "big"})
        st.add_response("describe_inference_component", described("big", "InService"), {"InferenceComponentName": "big"})
        st.add_response("describe_inference_component", described("small", "InService"), {"InferenceComponentName": "small"})
        real_wait = tool.wait_component
        tool.wait_component = lambda sm_, name: real_wait(sm_, name, sleep=sleeps.append)
        try:
            assert tool.deploy_components(sm, a) == ["big", "small"]
        finally:
            tool.wait_component = real_wait
        st.assert_no_pending_responses()
    assert sleeps == [30]


def test_a_failed_component_is_reported():
    sm = client("sagemaker")
    with Stubber(sm) as st:
        st.add_response("describe_inference_component", {
            "InferenceComponentName": "x", "InferenceComponentArn": ARN + "inference-component/x",
            "EndpointName": "e", "EndpointArn": ARN + "endpoint/e", "InferenceComponentStatus": "Failed",
            "FailureReason": "CUDA out of memory", "CreationTime": datetime(2026, 1, 1),
            "LastModifiedTime": datetime(2026, 1, 1)}, {"InferenceComponentName": "x"})
        with pytest.raises(tool.DeployError, match="x failed: CUDA out of memory"):
            tool.wait_component(sm, "x", sleep=lambda s: None)


@pytest.mark.parametrize("component, message", [
    ({"name": "a", "model": "s3://b/m/", "max_num_seqs": 8}, r"components\[0\].max_num_seqs: SageMaker starts berth"),
    ({"name": "a", "model": "/models/x"}, r"components\[0\].model: '/models/x' must be an S3 prefix"),
    ({"name": "a", "model": "s3://b/m/", "colour": 1}, r"components\[0\].colour: not a component field"),
    ({"model": "s3://b/m/"}, r"components\[0\]: needs a name"),
])
def test_components_sagemaker_cannot_carry_are_refused(tmp_path, component, message):
    with pytest.raises(tool.DeployError, match=message):
        tool.load_components(write_components(tmp_path, [component]))


def test_the_kubernetes_components_example_names_cli_only_fields():
    """The Kubernetes overlay's file uses max_num_seqs, which only `berth serve --config` carries."""
    with pytest.raises(tool.DeployError, match="max_num_seqs"):
        tool.load_components(str(ROOT / "deploy/kubernetes/overlays/components/components.json"))


def test_delete():
    sm = client("sagemaker")
    with Stubber(sm) as st:
        st.add_response("list_inference_components", {"InferenceComponents": [{
            "InferenceComponentName": "big", "InferenceComponentArn": ARN + "inference-component/big",
            "EndpointName": "shared", "EndpointArn": ARN + "endpoint/shared", "VariantName": "AllTraffic",
            "CreationTime": datetime(2026, 1, 1), "LastModifiedTime": datetime(2026, 1, 1)}]},
            {"EndpointNameEquals": "shared"})
        st.add_response("describe_inference_component", {
            "InferenceComponentName": "big", "InferenceComponentArn": ARN + "inference-component/big",
            "EndpointName": "shared", "EndpointArn": ARN + "endpoint/shared",
            "Specification": {"ModelName": "shared-big"}, "CreationTime": datetime(2026, 1, 1),
            "LastModifiedTime": datetime(2026, 1, 1)}, {"InferenceComponentName": "big"})
        st.add_response("delete_inference_component", {}, {"InferenceComponentName": "big"})
        st.add_response("describe_endpoint_config", {
            "EndpointConfigName": "shared", "EndpointConfigArn": ARN + "endpoint-config/shared",
            "ProductionVariants": [{"VariantName": "AllTraffic"}], "CreationTime": datetime(2026, 1, 1)},
            {"EndpointConfigName": "shared"})
        st.add_response("delete_endpoint", {}, {"EndpointName": "shared"})
        st.add_response("delete_endpoint_config", {}, {"EndpointConfigName": "shared"})
        st.add_response("delete_model", {}, {"ModelName": "shared-big"})
        assert tool.delete(sm, args("delete", "--name", "shared")) == ["shared-big"]
        st.assert_no_pending_responses()


def test_push_creates_the_repository_and_copies_with_skopeo():
    ecr = client("ecr")
    a = args("push", "--archive", "/tmp/berth-cuda.oci.tar", "--repository", "berth", "--tag", "cuda")
    ran = []
    with Stubber(ecr) as st:
        st.add_client_error("describe_repositories", "RepositoryNotFoundException",
                            expected_params={"repositoryNames": ["berth"]})
        st.add_response("create_repository", {"repository": {
            "registryId": "111122223333", "repositoryName": "berth",
            "repositoryUri": "111122223333.dkr.ecr.us-east-1.amazonaws.com/berth"}},
            {"repositoryName": "berth", "imageScanningConfiguration": {"scanOnPush": True}})
        st.add_response("get_authorization_token", {"authorizationData": [{
            "authorizationToken": base64.b64encode(b"AWS:pa:ss").decode(),
            "proxyEndpoint": "https://111122223333.dkr.ecr.us-east-1.amazonaws.com"}]},
            {"registryIds": ["111122223333"]})
        uri = tool.push(ecr, a, run=lambda cmd: ran.append(cmd) or SimpleNamespace(returncode=0))
    assert uri == IMAGE
    assert ran == [["skopeo", "copy", "--dest-creds", "AWS:pa:ss", "oci-archive:/tmp/berth-cuda.oci.tar",
                    "docker://" + IMAGE]]


def test_a_wrong_parameter_fails_botocores_validation():
    """The stub does not hide a malformed call: botocore validates against the model first."""
    sm = client("sagemaker")
    with Stubber(sm) as st:
        st.add_response("create_inference_component", {"InferenceComponentArn": ARN + "inference-component/x"})
        with pytest.raises(ParamValidationError, match="CopyCount"):
            sm.create_inference_component(InferenceComponentName="x", EndpointName="e",
                                          RuntimeConfig={"CopyCount": "two"})


def test_cli_help_runs_without_aws():
    r = subprocess.run([str(ROOT / ".venv/bin/python"), str(ROOT / "tools/sagemaker/berth_sagemaker.py"),
                        "components", "--help"], capture_output=True, text=True, env={})
    assert r.returncode == 0 and "--config" in r.stdout, r.stderr
