"""Every way a fetch can fail says what went wrong and names the bucket and prefix: no credentials,
rejected or unauthorised credentials (moto checking SigV4 signatures against its IAM users), a
missing bucket, an empty prefix, a prefix that holds no model; and the command line's own errors."""

import subprocess

import pytest

from s3_harness import DRIVER, fetch, make_env


@pytest.fixture(scope="module")
def staged(moto):
    moto.s3.create_bucket(Bucket="models")
    moto.s3.put_object(Bucket="models", Key="m/config.json", Body=b"{}")
    moto.s3.put_object(Bucket="models", Key="m/model.safetensors", Body=b"\x08" + b"\0" * 7 + b"{}      ")
    moto.s3.put_object(Bucket="models", Key="docs/readme.txt", Body=b"not a model")
    moto.s3.put_object(Bucket="models", Key="cfg-only/config.json", Body=b"{}")
    return moto


def failing(env, url, tmp_path):
    p, _ = fetch(env, url, tmp_path / "out", check=False)
    assert p.returncode == 1, p.stderr
    assert not (tmp_path / "out" / "config.json").exists()
    return p.stderr


def test_missing_prefix(staged, tmp_path):
    err = failing(make_env(tmp_path, staged), "s3://models/nothing-here/", tmp_path)
    assert "s3://models/nothing-here/: no objects under this prefix" in err


def test_missing_bucket(staged, tmp_path):
    err = failing(make_env(tmp_path, staged), "s3://no-such-bucket/m/", tmp_path)
    assert "bucket 'no-such-bucket' not found listing s3://no-such-bucket/m/ (404 NoSuchBucket" in err


def test_prefix_without_a_model(staged, tmp_path):
    err = failing(make_env(tmp_path, staged), "s3://models/docs", tmp_path)
    assert "s3://models/docs/ holds 1 objects but neither config.json nor any *.safetensors file" in err
    err = failing(make_env(tmp_path, staged), "s3://models/cfg-only/", tmp_path)
    assert "no *.safetensors file: not a model directory" in err


def test_no_credentials(staged, tmp_path):
    env = make_env(tmp_path, staged)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    err = failing(env, "s3://models/m/", tmp_path)
    assert "s3://models/m/: no AWS credentials for S3" in err


def test_command_line(tmp_path):
    p = subprocess.run([str(DRIVER), "fetch", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "usage: berth fetch [OPTIONS] s3://BUCKET/PREFIX/ [DIR]" in p.stdout
    for args, msg in ((["/local/dir"], "expected s3://BUCKET/PREFIX/"),
                      (["--part-size", "12x", "s3://b1b/m"], "--part-size '12x'"),
                      (["--concurrency", "0", "s3://b1b/m"], "--concurrency '0', expected 1 to 256"),
                      (["--progress", "loud", "s3://b1b/m"], "--progress 'loud'"),
                      (["--bogus", "1", "s3://b1b/m"], "unknown option '--bogus'"),
                      (["s3://b1b/m", "d1", "d2"], "unexpected argument 'd2'")):
        p = subprocess.run([str(DRIVER), "fetch", *args], capture_output=True, text=True)
        assert p.returncode == 2 and msg in p.stderr, (args, p.stderr)


# The last tests: they switch moto to checking signatures for the rest of this module's server.
def test_signatures_are_checked_and_bad_credentials_named(staged, tmp_path):
    iam = staged.client("iam")
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="s3-read", PolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", '
        '"Resource": "*"}]}'))
    reader = iam.create_access_key(UserName="reader")["AccessKey"]
    iam.create_user(UserName="nobody")
    nobody = iam.create_access_key(UserName="nobody")["AccessKey"]
    staged.enable_auth()

    def env_for(akid, secret):
        return make_env(tmp_path, staged, AWS_ACCESS_KEY_ID=akid, AWS_SECRET_ACCESS_KEY=secret)

    # Our SigV4 signatures pass moto's verifier.
    dest = tmp_path / "ok"
    _, stats = fetch(env_for(reader["AccessKeyId"], reader["SecretAccessKey"]), "s3://models/m/", dest)
    assert stats["downloaded"] == 2 and (dest / "config.json").read_bytes() == b"{}"

    err = failing(env_for(reader["AccessKeyId"], "wrong" + reader["SecretAccessKey"][5:]),
                  "s3://models/m/", tmp_path)
    assert "access denied listing s3://models/m/ (403 SignatureDoesNotMatch" in err
    assert "credentials from environment" in err
    err = failing(env_for("AKIAUNKNOWNUNKNOWN00", "x" * 40), "s3://models/m/", tmp_path)
    assert "access denied listing s3://models/m/ (403 InvalidAccessKeyId" in err
    err = failing(env_for(nobody["AccessKeyId"], nobody["SecretAccessKey"]), "s3://models/m/", tmp_path)
    assert "access denied listing s3://models/m/ (403 AccessDenied" in err
