"""What the consent pages share: labels of clause keys and statuses (msgids, translated where shown)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body

from carnet_core.plugin_api import CarnetSession

from carnet_consent.labels import (  # noqa: F401 (the pages' import place)
    PURPOSE_LABELS,
    ROLE_LABELS,
    RULE_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    labels,
    purpose_label,
)

DB = NamedDependency[CarnetSession]
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
