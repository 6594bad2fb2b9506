"""What telecare's handlers share: the form types (multipart for attachments), labels, the upload
reader and the attachment answer (served as a download, never rendered)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from litestar import Response
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body

from carnet_core.plugin_api import N_, CarnetSession

from carnet_telecare.services import attachments
from carnet_telecare.services.messaging import Upload

DB = NamedDependency[CarnetSession]
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
UploadForm = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]

KIND_LABELS = {"clinical": N_("Clinical"), "administrative": N_("Administrative")}
STATUS_LABELS = {"open": N_("open"), "closed": N_("closed")}
SESSION_LABELS = {"scheduled": N_("planned"), "waiting": N_("patient in the waiting room"),
                  "started": N_("in progress"), "ended": N_("ended"), "cancelled": N_("cancelled")}
EVENT_LABELS = {"planned": N_("planned"), "joined": N_("patient in the waiting room"),
                "admitted": N_("patient admitted"), "ended": N_("ended"),
                "moved": N_("moved in the agenda"), "cancelled": N_("cancelled in the agenda"),
                "patient_connected": N_("video: patient connected"),
                "practitioner_connected": N_("video: practitioner connected"),
                "patient_reconnected": N_("video: patient reconnected"),
                "practitioner_reconnected": N_("video: practitioner reconnected"),
                "patient_left": N_("video: patient disconnected"),
                "practitioner_left": N_("video: practitioner disconnected"),
                "video_connected": N_("video established between the two browsers"),
                "video_interrupted": N_("video interrupted"), "video_failed": N_("video connection failed"),
                "recording_started": N_("recording started on the practitioner's device (patient's consent checked)"),
                "recording_stopped": N_("recording stopped")}
AUTHOR_LABELS = {"staff": N_("The practice"), "patient": N_("The patient"), "auto": N_("Automatic reply")}


def labels() -> dict[str, Any]:
    return {"kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS, "author_labels": AUTHOR_LABELS,
            "session_labels": SESSION_LABELS, "event_labels": EVENT_LABELS}


def field(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    return value[: limit + 1] if isinstance(value, str) else ""


def upload_of(data: dict[str, Any], limit: int) -> Upload | None:
    """The file of the form's `attachment` field, read by chunks up to the limit (InvalidInput past it)."""
    item = data.get("attachment")
    if item is None or isinstance(item, str) or not hasattr(item, "file"):
        return None
    name = str(getattr(item, "filename", "") or "")
    content = attachments.read_limited(item.file, limit)
    if not name and not content:
        return None
    return Upload(name=name, data=content)


def download(media_type: str, name: str, content: bytes) -> Response[bytes]:
    """An attachment: always a download, never sniffed, never run (a CSP that allows nothing)."""
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace('"', "_").replace("?", "_")
    return Response(content=content, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "no-store",
    })

AUDIT_RESOURCES = {
    "telecare_conversation": N_("secure conversation"),
    "telecare_message": N_("secure message"),
    "telecare_attachment": N_("message attachment"),
    "telecare_access": N_("message notification"),
    "telecare_session": N_("remote session (télésoin)"),
    "telecare_template": N_("answer template"),
    "telecare_setting": N_("messaging settings"),
}
