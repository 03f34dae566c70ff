"""The file a Message Center message becomes: plain UTF-8 text any computer opens.

Text rather than PDF because messages are free text in any script (Chinese, Arabic, ...): a
PDF would need fonts for every script, text needs none. The BOM lets older Windows tools
recognise the encoding.
"""

from __future__ import annotations

from exports.sources.records import Message


def render_message(message: Message) -> bytes:
    """Subject, sender, recipient, date, category, attachment names, then the body."""
    attachments = ", ".join(attachment.name or attachment.id for attachment in message.attachments)
    header = (
        f"Subject: {message.subject}",
        f"From: {message.sender}",
        f"To: {message.recipient}",
        f"Date: {message.received_at.isoformat(sep=' ')}",
        f"Category: {message.category}",
        f"Attachments: {attachments or 'none'}",
    )
    text = (
        "\r\n".join(header) + "\r\n\r\n" + message.body.replace("\r\n", "\n").replace("\n", "\r\n")
    )
    return text.encode("utf-8-sig", "replace")  # a lone surrogate must not lose the message
