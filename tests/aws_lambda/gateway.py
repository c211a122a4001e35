"""API Gateway as the Lambda function sees it: proxy events in, proxy responses out.

A `Gateway` turns a request, written as a client sends it (the URL's path, percent-encoded,
stage included), into the event API Gateway would hand the function, runs it through Zappa's
`LambdaHandler`, and reads the proxy response back the way API Gateway does.

What the events carry follows AWS, not convenience:

- REST API, payload 1.0 (what `zappa deploy` creates): `path` is the resource path *without*
  the stage and still percent-encoded as the client sent it; query parameters arrive decoded
  (`queryStringParameters`, `multiValueQueryStringParameters`). With Zappa's `binary_support`
  the API's binary media types are `*/*`, so every request body arrives base64-encoded.
- HTTP API, payload 2.0: `rawPath` keeps the stage and arrives percent-*decoded*;
  `rawQueryString` stays encoded; a text body arrives as text.

Zappa sets SCRIPT_NAME to `/<stage>` when the Host is an `execute-api` domain, and to nothing
for a custom domain, so both are driven here.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from werkzeug.datastructures import Headers

EXECUTE_API_HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"
CUSTOM_DOMAIN_HOST = "kv.example.com"
PayloadVersion = Literal["1.0", "2.0"]


@dataclass
class LambdaContext:
    """The few attributes of Lambda's context object that a WSGI app may look at."""

    function_name: str = "kvstore-dev"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:kvstore-dev"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class GatewayResponse:
    """What the client receives once API Gateway has read the proxy response."""

    status: int
    headers: Headers
    body: bytes
    proxy: dict[str, Any]  # the raw proxy response, to check how the body was encoded

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def base64_encoded(self) -> bool:
        return bool(self.proxy.get("isBase64Encoded"))

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Gateway:
    """One API Gateway deployment in front of one handler.

    Args:
        handler: a `zappa.handler.LambdaHandler`.
        stage: the deployed stage; part of every URL on the execute-api domain.
        payload: "1.0" for a REST API (Zappa's default), "2.0" for an HTTP API.
        custom_domain: serve as a custom domain mapped to the stage (no stage in URLs).
    """

    def __init__(
        self,
        handler: Any,
        *,
        stage: str = "dev",
        payload: PayloadVersion = "1.0",
        custom_domain: bool = False,
    ) -> None:
        self.handler = handler
        self.stage = stage
        self.payload = payload
        self.custom_domain = custom_domain
        self.host = CUSTOM_DOMAIN_HOST if custom_domain else EXECUTE_API_HOST

    @property
    def prefix(self) -> str:
        """The path prefix of every URL the client uses: `/<stage>`, or none on a domain."""
        return "" if self.custom_domain else f"/{self.stage}"

    def url(self, path: str) -> str:
        """The client-side path of an app path, e.g. `/v1/key` -> `/dev/v1/key`."""
        return self.prefix + path

    def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        base64_body: bool | None = None,
    ) -> GatewayResponse:
        """Send `method url` through the handler; see `event` for the arguments."""
        event = self.event(
            method, url, json_body=json_body, body=body, headers=headers, base64_body=base64_body
        )
        return self.read(self.handler.handler(event, LambdaContext()))

    def event(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        base64_body: bool | None = None,
    ) -> dict[str, Any]:
        """The event API Gateway hands the function for `method url`.

        Args:
            url: the client-side path, percent-encoded, stage included; may hold `?query`.
            json_body: sent as application/json unless `body` is given.
            base64_body: force the body's encoding in the event; by default it is what
                the payload version's API sends (REST with binary support: base64).
        """
        sent_headers = {"Host": self.host, "User-Agent": "gateway-test/1.0"}
        sent_headers.update(
            {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
            if not self.custom_domain
            else {"X-Forwarded-Proto": "https"}
        )
        if json_body is not None and body is None:
            body = json.dumps(json_body).encode("utf-8")
            sent_headers["Content-Type"] = "application/json"
        sent_headers.update(headers or {})
        if base64_body is None:
            base64_body = self.payload == "1.0"
        build = self._event_v1 if self.payload == "1.0" else self._event_v2
        return build(method, url, sent_headers, body, base64_body)

    def follow(self, path: str) -> str:
        """Where the app path `path` leads a browser, through redirects that keep the prefix."""
        location = self.url(path)
        for _ in range(3):
            response = self.get(location)
            if response.status not in (302, 308):
                break
            location = response.headers["Location"]
            assert location.startswith(self.prefix + "/"), location
        assert response.status == 200, (location, response.status)
        return location

    def get(self, url: str, **kwargs: Any) -> GatewayResponse:
        return self.request("GET", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> GatewayResponse:
        return self.request("PUT", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> GatewayResponse:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> GatewayResponse:
        return self.request("DELETE", url, **kwargs)

    # -- events ---------------------------------------------------------------------------

    def _split(self, url: str) -> tuple[str, str]:
        parts = urlsplit(url)
        assert parts.path.startswith(self.prefix + "/"), f"{url} is not under {self.prefix}/"
        return parts.path, parts.query

    @staticmethod
    def _body(body: bytes | None, base64_body: bool) -> tuple[str | None, bool]:
        if body is None:
            return None, False
        if base64_body:
            return base64.b64encode(body).decode("ascii"), True
        return body.decode("utf-8"), False

    def _event_v1(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, b64: bool
    ) -> dict[str, Any]:
        path, query = self._split(url)
        resource_path = path[len(self.prefix) :]  # REST API strips the stage, keeps encoding
        multi_query = parse_qs(query, keep_blank_values=True) if query else None
        text, encoded = self._body(body, b64)
        return {
            "resource": "/{proxy+}",
            "path": resource_path,
            "httpMethod": method,
            "headers": dict(headers),
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "queryStringParameters": (
                {name: values[-1] for name, values in multi_query.items()} if multi_query else None
            ),
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": {"proxy": unquote(resource_path[1:])},
            "stageVariables": None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123defg",
                "domainName": self.host,
                "httpMethod": method,
                "identity": {"sourceIp": "203.0.113.7", "userAgent": headers["User-Agent"]},
                "path": path,
                "protocol": "HTTP/1.1",
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(time.time() * 1000),
                "resourcePath": "/{proxy+}",
                "stage": self.stage,
            },
            "body": text,
            "isBase64Encoded": encoded,
        }

    def _event_v2(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, b64: bool
    ) -> dict[str, Any]:
        path, query = self._split(url)
        raw_path = unquote(path)  # HTTP APIs hand the function a decoded path
        text, encoded = self._body(body, b64)
        lower = {name.lower(): value for name, value in headers.items()}
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": lower,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123defg",
                "domainName": self.host,
                "domainPrefix": self.host.split(".")[0],
                "http": {
                    "method": method,
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.7",
                    "userAgent": lower["user-agent"],
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": "$default",
                "stage": self.stage,
                "timeEpoch": int(time.time() * 1000),
            },
            "isBase64Encoded": encoded,
        }
        if query:
            event["queryStringParameters"] = {
                name: ",".join(values) for name, values in parse_qs(query).items()
            }
        if text is not None:
            event["body"] = text
        return event

    # -- responses ------------------------------------------------------------------------

    @staticmethod
    def read(proxy: dict[str, Any]) -> GatewayResponse:
        assert isinstance(proxy.get("statusCode"), int), f"not a proxy response: {proxy}"
        headers = Headers()
        multi: dict[str, list[str]] | None = proxy.get("multiValueHeaders")
        if multi is not None:
            for name, values in multi.items():
                for value in values:
                    headers.add(name, value)
        else:
            for name, value in (proxy.get("headers") or {}).items():
                headers.add(name, value)
        raw = proxy.get("body") or ""
        assert isinstance(raw, str), "API Gateway needs the body as a string"
        body = base64.b64decode(raw) if proxy.get("isBase64Encoded") else raw.encode("utf-8")
        return GatewayResponse(proxy["statusCode"], headers, body, proxy)
