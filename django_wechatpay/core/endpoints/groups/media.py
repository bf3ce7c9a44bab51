"""其他能力: 图片上传, 视频上传."""

from __future__ import annotations

from ..spec import Endpoint

ENTRIES: list[Endpoint] = []
