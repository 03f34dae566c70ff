"""Reading a rendered page's errors and form values, as a person would see them."""

from __future__ import annotations

from lxml import html

ERRORS = (
    "//ul[contains(@class, 'errorlist')]/li"
    " | //ul[contains(@class, 'messages')]/li[contains(@class, 'error')]"
)


def page_of(response) -> html.HtmlElement:
    return html.fromstring(response.content.decode())


def errors_shown(response) -> list[str]:
    """Every error on the page (at fields, above forms, in the banner), each as often as shown."""
    return [item.text_content().strip() for item in page_of(response).xpath(ERRORS)]


def errors_at(response, field_id: str) -> list[str]:
    """The errors shown at one field (its ``id``, e.g. ``id_fee-amount``)."""
    items = page_of(response).xpath(f"//ul[@id='{field_id}_error']/li")
    return [item.text_content().strip() for item in items]


def value_of(response, name: str) -> str | None:
    """What an input, select or textarea named ``name`` holds as the page is shown."""
    page = page_of(response)
    for element in page.xpath(f"//*[@name='{name}']"):
        if element.tag == "select":
            chosen = element.xpath(".//option[@selected]")
            return chosen[0].get("value") if chosen else None
        if element.tag == "textarea":
            return element.text or ""
        return element.get("value")
    return None
