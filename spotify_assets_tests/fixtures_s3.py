"""A real S3 API over HTTP for the tests: moto's server on 127.0.0.1, one fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

from spotify_assets.storage.lake import LakeResource

S3_REGION = "us-east-1"
_DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": S3_REGION,
}
# Anything that could send the tests to a real account or another endpoint.
_CLEARED_ENV = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture(scope="session")
def s3_endpoint_url() -> Iterator[str]:
    """Start moto's S3 server on a free local port with dummy AWS credentials; yields its endpoint url."""
    with pytest.MonkeyPatch.context() as patch:
        for name in _CLEARED_ENV:
            patch.delenv(name, raising=False)
        for name, value in _DUMMY_ENV.items():
            patch.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint_url: str) -> Any:
    """A boto3 S3 client for the moto server, built the way the lake builds its own."""
    return S3Resource(endpoint_url=s3_endpoint_url, region_name=S3_REGION).get_client()


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A new, empty, uniquely named bucket."""
    name = f"lake-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_lake(s3_endpoint_url: str, s3_bucket: str) -> LakeResource:
    """A lake on S3 (moto over HTTP) in a fresh bucket, under the key prefix `lake`."""
    return LakeResource(bucket=s3_bucket, endpoint_url=s3_endpoint_url, prefix="lake", region_name=S3_REGION)
