"""Small builders for the CDA data types the document is made of (II, CD, TS, IVL_TS, AD, TEL).

Every string that reaches the tree goes through ``clean_text`` first: sources hold free text
with control characters XML cannot carry, and one such character must not cost a document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache, lru_cache

from lxml import etree

from exports.sources.records import Address

from .vocabulary import Code, NullFlavor

V3 = "urn:hl7-org:v3"
SDTC = "urn:hl7-org:sdtc"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {None: V3, "sdtc": SDTC, "xsi": XSI}
XSI_TYPE = f"{{{XSI}}}type"

Element = etree._Element

# Characters XML 1.0 cannot hold: C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry; everything else is kept."""
    if text.isprintable():  # no control character, surrogate or non-character: most text
        return text
    return _XML_ILLEGAL.sub("", text)


def add(parent: Element, tag: str, attrib: Mapping[str, str] | None = None) -> Element:
    """A child element in the HL7 v3 namespace (attribute values are trusted, not cleaned)."""
    return etree.SubElement(parent, f"{{{V3}}}{tag}", attrib)


def add_text(parent: Element, tag: str, text: str) -> Element:
    element = add(parent, tag)
    element.text = clean_text(text)
    return element


def add_sdtc(parent: Element, tag: str, attrib: Mapping[str, str]) -> Element:
    return etree.SubElement(parent, f"{{{SDTC}}}{tag}", attrib)


def add_template(parent: Element, root: str, extension: str | None = None) -> None:
    """The templateId pair C-CDA R2.1 asks for: the R2.1 version, and the R1.1 root when
    the template had one (``extension`` given)."""
    parent.extend([template_id.__copy__() for template_id in _template_ids(root, extension)])


@cache
def _template_ids(root: str, extension: str | None) -> tuple[Element, ...]:
    """A template's templateIds, made once: a copy of a finished element costs half of
    making it again (lxml checks and converts each attribute each time). They carry the
    document's default namespace, so a copy takes its parent's declaration and adds none."""
    attributes = [{"root": root}] + ([{"root": root, "extension": extension}] if extension else [])
    return tuple(
        etree.Element(f"{{{V3}}}templateId", attrib, nsmap={None: V3}) for attrib in attributes
    )


class Prototype:
    """A piece of the document that is the same every time but for some attribute values:
    made once with the builders above, then copied where it goes and its slots filled.
    Copying a finished subtree costs a fraction of building it again element by element
    (lxml checks and converts every tag and attribute it is given).

    A slot is an attribute whose value holds ``slot(name)``, alone or with fixed text around
    it (``#`` + ``slot("row")``); ``add`` fills it with its keyword argument ``name``, the
    value cleaned as every string that reaches the tree is. Worth it for what a document
    holds many of (entries of one kind, table rows); anything else is simply built.
    """

    def __init__(self, element: Element) -> None:
        self._element = element
        self._slots: list[tuple[tuple[int, ...], str, str, str, str]] = []
        self._find_slots(element, ())

    def _find_slots(self, element: Element, path: tuple[int, ...]) -> None:
        for attribute, value in element.attrib.items():
            if match := _SLOT.fullmatch(value):
                prefix, name, suffix = match.groups()
                self._slots.append((path, attribute, prefix, name, suffix))
        for index, child in enumerate(element):
            self._find_slots(child, (*path, index))

    def add(self, parent: Element, **values: str) -> Element:
        """A copy of the prototype appended to ``parent``, its slots filled from ``values``."""
        element = self._element.__copy__()
        parent.append(element)
        for path, attribute, prefix, name, suffix in self._slots:
            node = element
            for index in path:
                node = node[index]
            node.set(attribute, f"{prefix}{clean_text(values[name])}{suffix}")
        return element


_SLOT = re.compile("(.*)\ue000(\\w+)\ue001(.*)")


def slot(name: str) -> str:
    """A place in a ``Prototype``'s attribute value filled when the prototype is copied
    (marked with private-use characters; a prototype is made from the builder's constants
    only, source data fills its slots)."""
    return f"\ue000{name}\ue001"


def prototype_root(tag: str, attrib: Mapping[str, str] | None = None) -> Element:
    """The top element of a ``Prototype`` being made, in the document's namespaces (a copy
    takes its new parent's declarations and adds none)."""
    return etree.Element(f"{{{V3}}}{tag}", attrib, nsmap=NSMAP)


def add_id(parent: Element, root: str, extension: str | None = None) -> Element:
    attrib = {"root": root}
    if extension:
        attrib["extension"] = clean_text(extension)
    return add(parent, "id", attrib)


def add_code(
    parent: Element,
    value: Code | NullFlavor,
    *,
    tag: str = "code",
    reference: str | None = None,
    xsi_type: str | None = None,
    translations: tuple[Code, ...] = (),
) -> Element:
    """A CD/CE: the code, or a nullFlavor; ``reference`` points originalText at the
    narrative (``#id``) so the reader sees what the source said."""
    if not reference:
        element = _prepared_code(value, tag, xsi_type, translations).__copy__()
        parent.append(element)
        return element
    element = _add_code(parent, value, tag, xsi_type)
    add(add(element, "originalText"), "reference", {"value": f"#{reference}"})
    _add_translations(element, translations)
    return element


@lru_cache(maxsize=4096)
def _prepared_code(
    value: Code | NullFlavor, tag: str, xsi_type: str | None, translations: tuple[Code, ...]
) -> Element:
    """A code element made once and copied where it goes (see ``_template_ids``)."""
    holder = etree.Element(f"{{{V3}}}holder", nsmap=NSMAP)
    element = _add_code(holder, value, tag, xsi_type)
    _add_translations(element, translations)
    holder.remove(element)
    return element


def _add_translations(element: Element, translations: tuple[Code, ...]) -> None:
    for translation in translations:
        _add_code(element, translation, "translation", None)


def _add_code(parent: Element, value: Code | NullFlavor, tag: str, xsi_type: str | None) -> Element:
    attrib = {XSI_TYPE: xsi_type} if xsi_type else {}
    if isinstance(value, Code):
        attrib |= {"code": value.code, "codeSystem": value.system}
        if value.display:
            attrib["displayName"] = clean_text(value.display)
    else:
        attrib["nullFlavor"] = value.value
    return add(parent, tag, attrib)


def timestamp(moment: date | datetime) -> str:
    """The HL7 TS form: YYYYMMDD for a day, YYYYMMDDHHMMSS[+ZZZZ] for a moment."""
    if not isinstance(moment, datetime):
        return f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
    stamp = (
        f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
        f"{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"
    )
    offset = moment.utcoffset()
    if offset is None:
        return stamp
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{stamp}{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def add_time(
    parent: Element,
    tag: str,
    moment: date | datetime | str | None,
    null_flavor: NullFlavor = NullFlavor.UNKNOWN,
) -> Element:
    """A TS: the moment (a ``slot`` in a ``Prototype``), or ``nullFlavor`` when the source
    did not know it."""
    if moment is None:
        return add(parent, tag, {"nullFlavor": null_flavor.value})
    return add(parent, tag, {"value": moment if isinstance(moment, str) else timestamp(moment)})


def add_interval(
    parent: Element,
    low: date | datetime | str | None,
    high: date | datetime | str | None = None,
    *,
    with_high: bool = False,
    xsi_type: str | None = None,
) -> Element:
    """An IVL_TS effectiveTime: low always (nullFlavor when unknown), high when given or
    ``with_high`` (a finished thing has an end even when nobody recorded it)."""
    effective_time = add(parent, "effectiveTime", {XSI_TYPE: xsi_type} if xsi_type else None)
    add_time(effective_time, "low", low)
    if high is not None or with_high:
        add_time(effective_time, "high", high)
    return effective_time


def add_address(parent: Element, address: Address, use: str | None = None) -> Element:
    """A US Realm Address (AD.US.FIELDED); unknown parts carry nullFlavor."""
    lines = [line for line in (address.line1, address.line2) if line.strip()]
    if not (lines or address.city.strip() or address.state.strip() or address.zip_code.strip()):
        return add(parent, "addr", {"nullFlavor": NullFlavor.UNKNOWN.value})
    addr = add(parent, "addr", {"use": use} if use else None)
    for line in lines or [""]:
        _add_address_part(addr, "streetAddressLine", line)
    _add_address_part(addr, "city", address.city)
    _add_address_part(addr, "state", address.state)
    _add_address_part(addr, "postalCode", address.zip_code)
    add_text(addr, "country", "US")
    return addr


def _add_address_part(addr: Element, tag: str, text: str) -> None:
    if text.strip():
        add_text(addr, tag, text.strip())
    else:
        add(addr, tag, {"nullFlavor": NullFlavor.UNKNOWN.value})


_PHONE_CHARACTERS = re.compile(r"[^0-9+]")


def telecom_value(phone: str = "", email: str = "") -> str | None:
    """The TEL URL of a phone number (digits kept, punctuation dropped) or an e-mail address."""
    if email.strip():
        return "mailto:" + clean_text(email.strip())
    digits = _PHONE_CHARACTERS.sub("", phone)
    return f"tel:{digits}" if digits else None


def add_telecoms(parent: Element, telecoms: list[tuple[str, str]]) -> None:
    """One telecom per (use, URL), or a single nullFlavor telecom when there are none."""
    for use, value in telecoms:
        add(parent, "telecom", {"use": use, "value": value})
    if not telecoms:
        add(parent, "telecom", {"nullFlavor": NullFlavor.UNKNOWN.value})
