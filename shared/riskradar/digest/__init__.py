"""The theme digest: what strategists read after every recluster run and on demand.

`build_digest` turns a snapshot, its activity statistics, the curation and the interventions
(with their effect as an `EffectView`) into a `Digest` (the JSON contract, schemas/digest.v1.json);
`render_html` makes the self-contained page and `render_markdown` the short chat / e-mail summary.
Everything here is pure: the caller reads the inputs and stores the outputs.
"""

from riskradar.digest.builder import DigestLimits, build_digest
from riskradar.digest.html_page import content_security_policy, render_html
from riskradar.digest.markdown_summary import neutralise, render_markdown
from riskradar.digest.model import (
    DIGEST_SCHEMA_ID,
    DIGEST_SCHEMA_VERSION,
    Digest,
    EffectView,
    Estimate,
    digest_json_schema,
)
from riskradar.digest.priority import DEFAULT_PRIORITY, ThemePriorityConfig

__all__ = [
    "DEFAULT_PRIORITY",
    "DIGEST_SCHEMA_ID",
    "DIGEST_SCHEMA_VERSION",
    "Digest",
    "DigestLimits",
    "EffectView",
    "Estimate",
    "ThemePriorityConfig",
    "build_digest",
    "content_security_policy",
    "digest_json_schema",
    "neutralise",
    "render_html",
    "render_markdown",
]
