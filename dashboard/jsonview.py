"""JSON as readable HTML: a collapsible tree, escaped, with limits so a megabyte output cannot stall a page.

Also finds what in a job's output a person would rather see than read: image URLs and images inlined as
base64, and links. Only http(s) URLs and data:image/(png|jpeg|gif|webp) are ever put in a src or href.
"""

import json
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from django.template.loader import render_to_string
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe

# Past these the tree gives way to plain pretty-printed text, itself cut short (the download has it all).
TREE_MAX_NODES = 3_000
TREE_MAX_DEPTH = 40
TEXT_MAX_CHARS = 200_000
STRING_PREVIEW = 400
INLINE_MAX_CHARS = 2_000

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".bmp")
DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$")
# Bare base64 of a PNG or JPEG, as many image workers return it.
BARE_IMAGE = {"iVBORw0KGgo": "png", "/9j/": "jpeg", "R0lGOD": "gif", "UklGR": "webp"}
BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")
MEDIA_MAX = {"image": 12, "link": 40}
MEDIA_WALK_MAX = 5_000


def render(value, *, name="json", download_url="", open_depth=2):
    """The JSON panel: size, copy and download buttons, and the tree (or text, when the value is large)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if _fits_tree(value):
        body = format_html('<div class="json-tree">{}</div>', _tree(value, 0, open_depth))
        truncated = False
    else:
        truncated = len(text) > TEXT_MAX_CHARS
        body = format_html('<pre class="json-text">{}</pre>', text[:TEXT_MAX_CHARS])
    return render_to_string(
        "dashboard/_json.html",
        {
            "name": name,
            "body": body,
            "size": len(text.encode()),
            "truncated": truncated,
            "download_url": download_url,
            "copy_text": text if len(text) <= TEXT_MAX_CHARS else "",
        },
    )


def _fits_tree(value) -> bool:
    """Small and shallow enough to draw as a tree (deep nesting would also exhaust the recursion limit)."""
    count, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > TREE_MAX_NODES or depth > TREE_MAX_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def _tree(value, depth, open_depth):
    if isinstance(value, dict):
        if not value:
            return mark_safe('<span class="j-punct">{}</span>')
        items = [
            format_html('<li><span class="j-key">{}</span>: {}</li>', k, _tree(v, depth + 1, open_depth))
            for k, v in value.items()
        ]
        return _container(items, "{", "}", f"{len(value)} key{'s' if len(value) != 1 else ''}", depth, open_depth)
    if isinstance(value, list):
        if not value:
            return mark_safe('<span class="j-punct">[]</span>')
        items = [format_html("<li>{}</li>", _tree(v, depth + 1, open_depth)) for v in value]
        return _container(items, "[", "]", f"{len(value)} item{'s' if len(value) != 1 else ''}", depth, open_depth)
    return _scalar(value)


def _container(items, opening, closing, summary, depth, open_depth):
    return format_html(
        '<details class="j-node"{}><summary><span class="j-punct">{}</span><span class="j-count">{}</span>'
        '</summary><ul>{}</ul><span class="j-punct">{}</span></details>',
        " open" if depth < open_depth else "",
        opening,
        summary,
        format_html_join("", "{}", ((item,) for item in items)),
        closing,
    )


def _scalar(value):
    if isinstance(value, str):
        if len(value) <= STRING_PREVIEW:
            return format_html('<span class="j-str">"{}"</span>', value)
        # An inline image is shown above the tree; its base64 here would only be noise.
        preview, what = (value[:48], "an image") if image_source(value) else (value[:STRING_PREVIEW], "characters")
        return format_html(
            '<span class="j-str">"{}…"</span> <span class="j-more">{} {}; the download has all of it</span>',
            preview,
            f"{len(value):,}",
            what if what == "characters" else "characters of " + what,
        )
    if isinstance(value, bool):
        return format_html('<span class="j-bool">{}</span>', "true" if value else "false")
    if value is None:
        return mark_safe('<span class="j-null">null</span>')
    if isinstance(value, int | float):
        return format_html('<span class="j-num">{}</span>', json.dumps(value))
    return format_html('<span class="j-str">{}</span>', str(value))


def inline(value) -> str:
    """One line of compact JSON (strings shown as text), escaped and cut short."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text) > INLINE_MAX_CHARS:
        text = text[:INLINE_MAX_CHARS] + f"… ({len(text):,} characters)"
    return escape(text)


# --- Images and links in output -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Media:
    kind: str  # "image" or "link"
    url: str
    path: str  # where in the output it was, like output.images[0]

    @property
    def linkable(self) -> bool:
        # Inline data: images are shown, never linked: output links are http(s) only.
        return self.url.startswith(("http://", "https://"))

    @property
    def host(self) -> str:
        return urlparse(self.url).hostname or "" if self.linkable else ""


def safe_http_url(text: str) -> str | None:
    """The URL if it is a plain http(s) URL with a host, else None (javascript:, data:, relative, ...)."""
    if not isinstance(text, str) or len(text) > 4096 or any(c.isspace() or ord(c) < 32 for c in text):
        return None
    parsed = urlparse(text)
    if parsed.scheme.lower() not in ("http", "https") or not parsed.hostname:
        return None
    return text


def image_source(text: str) -> str | None:
    """A src for an <img>: a data:image of a raster type, or bare base64 of one, else None."""
    if text.startswith("data:image/"):
        return text if DATA_IMAGE.match(text[:100]) and BASE64.match(text.split(",", 1)[1]) else None
    if len(text) < 64:
        return None
    for signature, kind in BARE_IMAGE.items():
        if text.startswith(signature) and BASE64.match(text):
            return f"data:image/{kind};base64,{text}"
    return None


def _classify(text: str) -> Media | None:
    url = safe_http_url(text)
    if url:
        path = urlparse(url).path.lower()
        return Media("image" if path.endswith(IMAGE_EXTENSIONS) else "link", url, "")
    src = image_source(text)
    return Media("image", src, "") if src else None


def find_media(value) -> dict[str, list[Media]]:
    """Images and links anywhere in the value, in document order, a bounded number of each."""
    found: dict[str, list[Media]] = {"image": [], "link": []}
    stack = [("output", value)]
    seen = 0
    while stack and seen < MEDIA_WALK_MAX:
        path, item = stack.pop()
        seen += 1
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}", v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
        elif isinstance(item, str):
            media = _classify(item)
            if media and len(found[media.kind]) < MEDIA_MAX[media.kind]:
                found[media.kind].append(Media(media.kind, media.url, path))
    return found
