"""attachment-type: what each attachment really is, by its bytes (libmagic), not by its name.

A name or declared type is compared with the content by *family* (document, spreadsheet, pdf,
image, archive, ...), so harmless disagreements (a .csv libmagic calls text/plain) are not
findings; executables, scripts and archives (listed, encrypted or nested) are flagged. What
holds and what warns: sendguard-rules(7) and ARCHITECTURE.md, "Content rules".
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from sendguard.model import Finding, Severity
from sendguard.rules import Rule

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

_EXTENSION_FAMILY = {
    "pdf": "pdf",
    "doc": "document",
    "docx": "document",
    "docm": "document",
    "odt": "document",
    "rtf": "document",
    "xls": "spreadsheet",
    "xlsx": "spreadsheet",
    "xlsm": "spreadsheet",
    "ods": "spreadsheet",
    "ppt": "presentation",
    "pptx": "presentation",
    "pptm": "presentation",
    "odp": "presentation",
    "jpg": "image",
    "jpeg": "image",
    "png": "image",
    "gif": "image",
    "webp": "image",
    "bmp": "image",
    "tif": "image",
    "tiff": "image",
    "heic": "image",
    "zip": "archive",
    "7z": "archive",
    "rar": "archive",
    "gz": "archive",
    "tgz": "archive",
    "tar": "archive",
    "bz2": "archive",
    "xz": "archive",
    "zst": "archive",
    "exe": "executable",
    "dll": "executable",
    "msi": "executable",
    "scr": "executable",
    "com": "executable",
    "elf": "executable",
    "so": "executable",
    "dylib": "executable",
    "app": "executable",
    "apk": "executable",
    # what a double click runs (on Windows: .js and .vbs too); source code a developer sends
    # (.py, .rb, .sh read as text) is not a finding
    "bat": "script",
    "cmd": "script",
    "ps1": "script",
    "vbs": "script",
    "vbe": "script",
    "js": "script",
    "jse": "script",
    "wsf": "script",
    "hta": "script",
    "jar": "script",
    "lnk": "script",
    "txt": "text",
    "csv": "text",
    "log": "text",
    "md": "text",
    "patch": "text",
    "diff": "text",
    "eml": "text",
    "ics": "text",
    "vcf": "text",
    "html": "text",
    "htm": "text",
    "xml": "text",
    "json": "text",
    "asc": "text",
}
_ARCHIVE_EXTENSIONS = frozenset(e for e, f in _EXTENSION_FAMILY.items() if f == "archive")
_RISKY_EXTENSIONS = frozenset(e for e, f in _EXTENSION_FAMILY.items() if f in ("executable", "script"))
_FAMILY_NAMES = {
    "pdf": "a PDF",
    "document": "a text document",
    "spreadsheet": "a spreadsheet",
    "presentation": "a presentation",
    "image": "an image",
    "archive": "an archive",
    "executable": "a program",
    "script": "a script",
    "text": "plain text",
}


# Declared types that say nothing: mail programs fall back to them (and the stdlib parser
# assumes text/plain when Content-Type is broken). The extension, when there is one, wins over
# the declared type: mail programs derive the declared type from it, sometimes wrongly.
_GENERIC_TYPES = frozenset({"text/plain", "application/octet-stream", "application/unknown", "binary/octet-stream"})


def family_of_type(mime: str) -> str | None:
    """The family of a MIME type, None when it says nothing (octet-stream, unknown)."""
    mime = mime.lower()
    if mime == "application/pdf":
        return "pdf"
    if "spreadsheet" in mime or "ms-excel" in mime or mime == "text/csv":
        return "spreadsheet" if mime != "text/csv" else "text"
    if "wordprocessing" in mime or "msword" in mime or "opendocument.text" in mime or mime == "text/rtf":
        return "document"
    if "presentation" in mime or "powerpoint" in mime:
        return "presentation"
    if mime.startswith("image/"):
        return "image"
    if mime in (
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-pie-executable",
        "application/x-dosexec",
        "application/x-mach-binary",
        "application/vnd.microsoft.portable-executable",
        "application/x-msdownload",
        "application/x-msi",
    ):
        return "executable"
    if mime in ("text/x-msdos-batch", "application/java-archive", "application/x-ms-shortcut"):
        return "script"  # shell and Python scripts are source code, read as text
    if mime in (
        "application/zip",
        "application/x-7z-compressed",
        "application/x-rar",
        "application/vnd.rar",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-bzip2",
        "application/x-xz",
        "application/zstd",
        "application/x-rar-compressed",
    ):
        return "archive"
    if mime.startswith("text/") or mime in ("application/json", "application/xml"):
        return "text"
    return None


def extension_of(filename: str | None) -> str:
    if not filename or "." not in filename:
        return ""
    return filename.rsplit(".", 1)[1].strip().lower()


def _compatible(claimed: str, real: str) -> bool:
    if claimed == real:
        return True
    # OOXML/ODF are zip files; some writers produce files libmagic only knows as zip.
    if real == "archive" and claimed in ("document", "spreadsheet", "presentation"):
        return True
    # Text is text: .csv, .log, .patch, scripts read as text/plain.
    return real == "text" and claimed in ("text", "script")


if TYPE_CHECKING:
    import zipfile

_ZIP_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError, NotImplementedError, RuntimeError)


def _members(data: bytes) -> list[zipfile.ZipInfo] | None:
    import zipfile  # only when there is a zip: the send path stays lean

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.infolist()
    except (zipfile.BadZipFile, *_ZIP_ERRORS):  # type: ignore[misc]  # mypy cannot splat a typed tuple
        return None


def zip_findings(data: bytes, name: str) -> list[tuple[str, bool]]:
    """(problem, conclusive) about a zip's contents."""
    members = _members(data)
    if members is None:
        return [(f"{name} looks like a zip archive but cannot be opened, so its content was not checked", False)]
    out: list[tuple[str, bool]] = []
    names = [m.filename for m in members]
    if any(m.flag_bits & 0x1 for m in members):
        out.append((f"{name} is an encrypted archive: its content cannot be checked", False))
    nested = [n for n in names if extension_of(n) in _ARCHIVE_EXTENSIONS]
    if nested:
        out.append((f"{name} contains further archives ({', '.join(nested[:3])})", False))
    risky = [n for n in names if extension_of(n) in _RISKY_EXTENSIONS]
    if risky:
        out.append((f"{name} contains programs or scripts ({', '.join(risky[:3])})", False))
    if any(n.endswith("vbaProject.bin") for n in names):
        out.append((f"{name} contains macros", False))
    return out


def listing(data: bytes) -> str:
    members = _members(data)
    if not members:
        return ""
    names = [m.filename for m in members]
    shown = ", ".join(names[:10])
    return shown + (f" (+{len(names) - 10} more)" if len(names) > 10 else "")


class AttachmentType(Rule):
    id = "attachment-type"
    description = "Attachments whose content is not what their name says, programs, and archives."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        attachments = [p for p in message.attachments if p.encoded_size]
        if not attachments:
            return []
        from sendguard.mail.extract import real_type  # libmagic and zipfile only for mail with attachments

        outside = bool(context.outside_recipients)
        findings: list[Finding] = []
        for index, part in enumerate(attachments, 1):
            name = f"The attachment {part.filename}" if part.filename else f"Attachment {index} ({part.content_type})"
            real = real_type(part)
            real_family = family_of_type(real) if real else None
            problems: list[tuple[str, bool]] = []
            claimed = _EXTENSION_FAMILY.get(extension_of(part.filename))
            if claimed is None and part.content_type not in _GENERIC_TYPES:
                claimed = family_of_type(part.content_type)
            if real_family and claimed and not _compatible(claimed, real_family):
                disguised = real_family == "executable"
                problems.append(
                    (
                        f"{name} is really {_FAMILY_NAMES[real_family]} ({real}), not what its name "
                        "or declared type says",
                        disguised,
                    )
                )
            elif real_family in ("executable", "script") or _EXTENSION_FAMILY.get(extension_of(part.filename)) in (
                "executable",
                "script",
            ):
                problems.append((f"{name} is a program or script", False))
            if real in ("application/zip",) or extension_of(part.filename) in ("zip", "docm", "xlsm", "pptm"):
                problems.extend(zip_findings(part.payload(), name))
            for problem, conclusive in problems:
                severity = Severity.HOLD if conclusive else (Severity.WARN if outside else Severity.INFO)
                findings.append(
                    Finding(
                        self.id, severity, problem + ".", evidence=f"{part.filename or index}: {real or 'unknown type'}"
                    )
                )
            if real == "application/zip" and not problems:
                files = listing(part.payload())
                if files:
                    findings.append(
                        Finding(
                            self.id, Severity.INFO, f"{name} contains: {files}.", evidence=part.filename or str(index)
                        )
                    )
        return findings


RULE = AttachmentType
