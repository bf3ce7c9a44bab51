"""其他能力: 图片上传, 视频上传 (multipart uploads, protocol §1.5).

Paths from the official Java SDK (``service/file``) and Go SDK (``services/fileuploader``).
"""

from __future__ import annotations

from ..spec import both, entries, post

__all__ = ["ENTRIES", "upload_image", "upload_video"]

upload_image = entries("其他能力", "图片上传")
upload_video = entries("其他能力", "视频上传")

ENTRIES = [
    upload_image(
        "image_upload",
        "图片上传",
        **both(post("/v3/merchant/media/upload", upload=True)),
        reference="wechatpay-go services/fileuploader/image_uploader.go",
    ),
    upload_video(
        "video_upload",
        "视频上传",
        **both(post("/v3/merchant/media/video_upload", upload=True)),
        reference="wechatpay-go services/fileuploader/video_uploader.go",
    ),
]
