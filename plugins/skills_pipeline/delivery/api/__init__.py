"""The archive read API (FastAPI on uvicorn; `skills-pipeline api`, `make api`; OpenAPI in docs/openapi.json).

One module per concern, each route's SQL beside it:
  app          create_app: the routers, the offline portal (delivery/portal.py), RFC 9457 problem documents
               (delivery/problems.py), gzip, and the hot path that sends a found document ahead of FastAPI
  access       tokens, the warehouse role and county of each request, its connections (ApiWarehouse)
  health       /healthz
  persons      /v1/persons/{pseudonym} and /v1/persons/batch
  change_feed  /v1/changes
  metrics      /v1/metrics/employment-rates, /v1/metrics/skilled-shares, /v1/talent-pool
  http         ETags and conditional answers, gzip on the hot path
  schemas      the OpenAPI schemas and parameter patterns

Bad input is a 4xx with a reason (422 for malformed parameters, 401 without a valid token, 403 where the token's
role or county may not read, 404 for an archive the token cannot see); a warehouse that does not answer is a 503.
Documents and pages carry an ETag (a request with If-None-Match gets 304 when nothing changed) and are gzipped for
clients that accept it.
"""

from skills_pipeline.delivery.api.access import TOKEN_CACHE_SECONDS, TokenCache
from skills_pipeline.delivery.api.app import API_VERSION, ArchiveAPI, create_app, openapi_document, serve
from skills_pipeline.delivery.api.change_feed import MAX_CHANGES
from skills_pipeline.delivery.api.http import conditional, etag_of, hot_path_response
from skills_pipeline.delivery.api.metrics import MAX_METRIC_ROWS
from skills_pipeline.delivery.api.persons import DOCUMENT_QUERY, MAX_BATCH

__all__ = [
    "API_VERSION",
    "DOCUMENT_QUERY",
    "MAX_BATCH",
    "MAX_CHANGES",
    "MAX_METRIC_ROWS",
    "TOKEN_CACHE_SECONDS",
    "ArchiveAPI",
    "TokenCache",
    "conditional",
    "create_app",
    "etag_of",
    "hot_path_response",
    "openapi_document",
    "serve",
]
