"""botocore's failures, turned into this service's errors in one place."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from kvstore.datastores.errors import DatastoreUnavailable, ValueTooLarge

THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)
REFUSED = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "AccessDeniedException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)


class ConditionFailed(Exception):
    """A request's ConditionExpression did not hold (ConditionalCheckFailedException)."""


class Cancelled(Exception):
    """TransactWriteItems was cancelled; `codes[i]` says why operation i failed ("None")."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


def translate(exc: ClientError | BotoCoreError, table: str, action: str) -> Exception:
    """The one place that turns botocore's failures into this service's errors.

    Conditions that did not hold become the private `ConditionFailed`/`Cancelled` for the
    caller to word; everything that means "the store cannot serve this now" becomes
    `DatastoreUnavailable` with a Retry-After; a malformed request (a bug here) is re-raised.
    """
    if isinstance(exc, ParamValidationError):
        return exc
    if isinstance(exc, BotoCoreError):
        # EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, NoCredentialsError ...
        # named by type only: the message shows the endpoint URL, and clients see this text.
        return DatastoreUnavailable(
            f"DynamoDB {action} on table {table!r} failed after retries ({type(exc).__name__})",
            reason="unreachable",
        )
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = error.get("Message", "")
    if code == "ConditionalCheckFailedException":
        return ConditionFailed()
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []
        return Cancelled([str(reason.get("Code", "None")) for reason in reasons])
    if code == "ResourceNotFoundException":
        return DatastoreUnavailable(
            f"DynamoDB table {table!r} does not exist", reason="missing-table", datastore="dynamodb"
        )
    if code in THROTTLED:
        return DatastoreUnavailable(
            f"DynamoDB is throttling {action} on table {table!r} after retries ({code})",
            reason="throttled",
        )
    if code in REFUSED:
        return DatastoreUnavailable(
            f"DynamoDB refused the credentials for {action} on table {table!r} ({code})",
            reason="refused",
        )
    if code == "UnknownOperationException":
        return DatastoreUnavailable(
            f"this DynamoDB endpoint does not implement {action}", reason="unsupported"
        )
    if code == "ValidationException" and "size" in message.lower():
        return ValueTooLarge(f"DynamoDB refused the item: {message}")
    return exc


class UnknownOutcome(Exception):
    """A write was sent and its answer never came (a timeout, a dropped connection, a 5xx):
    DynamoDB may have applied it. Raised instead of botocore re-sending it."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"no answer to {operation}")
        self.operation = operation
