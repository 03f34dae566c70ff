"""A Schematron phase evaluated directly with lxml's XPath engine.

Why not ``lxml.isoschematron``: the ISO skeleton compiles every pattern into its own XSLT
mode, and each mode walks the whole document. The C-CDA R2.1 errors phase has 218
patterns, so a 2,000-element CCD costs ~440,000 template dispatches: 3-5 seconds per
document, where an export validates ten thousand of them. And every run re-reads the 2 MB
``voc.xml`` behind ``document('voc.xml')`` and scans it for each value-set lookup.

This engine keeps the Schematron's semantics and evaluates the same XPath expressions, but
finds each rule's context nodes directly: contexts anchored on a template
(``cda:act[cda:templateId[@root='…' and @extension='…']]/…``, 262 of the 267 rules) are
looked up in an index of the document's templateIds built once per document (a rule whose
templates the document lacks is never visited; the paths below one anchor are one union),
the templateId version-list rule's (``//cda:templateId[contains(' … ', concat(…))]``) by a
set lookup over the same index, any others as ``//context``. Value sets are read once, and
each ``document('voc.xml')/…[@valueSetOid='X']/voc:code/@value`` becomes a variable holding
that value set's codes. As in the skeleton, a node matched by one rule of a pattern is not
matched by the pattern's later rules, ``sch:extends`` pulls an abstract rule's lets and
asserts in place, and ``sch:value-of`` fills in assertion messages. Valid documents are the
common case, so a rule first asks whether all its asserts hold, at once for all its context
nodes whose lets are alike, and asks which failed only when some did. Anything else the
loader does not know is refused when loading, rather than skipped.

Objects here are not thread-safe (lxml's compiled XPath is not): one per thread.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

SCHEMATRON = "http://purl.oclc.org/dsdl/schematron"
VOC = "http://www.lantanagroup.com/voc"
_S = f"{{{SCHEMATRON}}}"

_VALUE_SET_LOOKUP = re.compile(
    r"document\('voc\.xml'\)/voc:systems/voc:system\[@valueSetOid='([0-9.]+)'\]/voc:code/@value"
)
# contains() on a long literal list ("' 2.16…:2015-08-01 2.16…:2014-06-09 …'", 5,000 characters
# in the R1.1 templateId rule) is slow in libxml2's XPath; Python's `in` answers the same.
_LONG_LITERAL_CONTAINS = re.compile(r"contains\('([^']{256,})',")
_EXTENSIONS = "urn:x-export-portal:schematron"
# The variable holding a rule's context nodes, when it is asked about all of them at once.
_CONTEXT_NODES = "x-context-nodes"
# An XPath expression reading one attribute (in no namespace) of the context node.
_ATTRIBUTE = re.compile(r"^@([A-Za-z_][\w.-]*)$")
# A namespace prefix in an XPath expression (an axis, as in ``parent::``, is not one).
_PREFIX = re.compile(r"(?<![\w.-])([A-Za-z_][\w.-]*):(?![:=])")
# A rule context (one branch of a union) anchored on an element that carries a templateId.
_TEMPLATE_ANCHOR = re.compile(
    r"^cda:(?P<name>[A-Za-z]\w*|\*)"
    r"\[cda:templateId\[@root='(?P<root>[^']+)'(?: and @extension='(?P<extension>[^']*)')?\]\]"
    r"(?:/(?P<rest>.+))?$"
)
# A rule context listing template versions: every templateId whose " root:extension " is in
# the literal (the R1.1/R2.1 templateId pair rule, over all of a document's templateIds).
_TEMPLATE_VERSION_LIST = re.compile(
    r"^//cda:templateId\[contains\('(?P<versions>[^']*)', "
    r"concat\(' ', @root, ':', @extension, ' '\)\)\]$"
)


class SchematronError(Exception):
    """The schema uses something this engine does not evaluate (raised when loading)."""


@dataclass(frozen=True, slots=True)
class FailedAssert:
    assert_id: str
    element: etree._Element
    message: str


@dataclass(frozen=True, slots=True)
class _Assert:
    id: str
    test: str  # the XPath, with value-set lookups rewritten to variables
    variables: Mapping[str, list[etree._Element]]  # the value sets the test reads
    message: tuple[str | etree.XPath, ...]  # text, and value-of expressions to fill in


@dataclass(frozen=True, slots=True)
class _Let:
    name: str
    value: Callable[[etree._Element, Mapping[str, Any]], Any]  # (node, earlier lets) -> value
    attribute: str | None  # the attribute of the context node it reads, if that is all


# Finds a rule's context nodes in a document, given its templateIds (in document order, and
# by root).
_Selector = Callable[
    [etree._ElementTree, list[etree._Element], Mapping[str, list[etree._Element]]], list[Any]
]


class _Rule:
    """A rule's context selectors, and its asserts compiled into XPath expressions: whether
    all of them hold (the common case, and cheap: ``and`` stops at the first that fails, and
    builds no string), at one context node and at several alike, and "1" (holds) or "0"
    (fails) per assert, asked only when some assert failed."""

    def __init__(
        self,
        selectors: tuple[tuple[str | None, _Selector], ...],
        anchor_roots: frozenset[str] | None,
        lets: tuple[_Let, ...],
        asserts: tuple[_Assert, ...],
        compile_xpath: Callable[[str], etree.XPath],
    ) -> None:
        self.selectors = selectors  # (the templateId root it hangs from or None, selector)
        # The templateId roots the rule's contexts hang from (None: some context does not).
        self.anchor_roots = anchor_roots
        self.lets = lets
        self.asserts = asserts
        self._compile_xpath = compile_xpath
        all_hold = " and ".join(f"({check.test})" for check in asserts)
        self._all_hold = compile_xpath(f"boolean({all_hold})") if asserts else None
        # A test reads its context node and the lets (no test in the phase asks position()
        # or last()): whether it holds at every one of several context nodes whose lets are
        # the same is one question. Lets reading an attribute of the context node, the only
        # kind in the phase, are the same for nodes with the same attribute values.
        self._let_attributes = tuple(let.attribute for let in lets)
        self._all_hold_at_each = (
            compile_xpath(f"not(${_CONTEXT_NODES}[not({all_hold})])")
            if asserts and None not in self._let_attributes
            else None
        )
        self._variables = {name: v for check in asserts for name, v in check.variables.items()}

    def context_nodes(
        self,
        tree: etree._ElementTree,
        template_ids: list[etree._Element],
        templates: Mapping[str, list[etree._Element]],
    ) -> list[etree._Element]:
        found = [
            node
            for root, find in self.selectors
            if root is None or root in templates  # a header rule names 46 templates
            for node in find(tree, template_ids, templates)
        ]
        # Each once, and only elements: the skeleton's traversal never visits other nodes.
        return [node for node in dict.fromkeys(found) if isinstance(node, etree._Element)]

    def failures(self, nodes: list[etree._Element]) -> Iterator[FailedAssert]:
        """The asserts that fail, node by node, in the order of ``nodes``."""
        if len(nodes) > 1 and self._all_hold_at_each is not None:
            alike: dict[tuple[str | None, ...], list[etree._Element]] = defaultdict(list)
            if self.lets:
                for node in nodes:
                    alike[tuple(map(node.get, self._let_attributes))].append(node)
            else:
                alike[()] = nodes
            holding: set[etree._Element] = set()
            for values, group in alike.items():
                lets = {
                    let.name: [] if value is None else value
                    for let, value in zip(self.lets, values, strict=True)
                }
                variables = {_CONTEXT_NODES: group} | lets | self._variables
                if self._all_hold_at_each(group[0], **variables):
                    if len(alike) == 1:
                        return
                    holding.update(group)
            nodes = [node for node in nodes if node not in holding]
        for node in nodes:
            yield from self.failed_asserts(node)

    @functools.cached_property
    def _outcomes(self) -> etree.XPath:
        """Compiled when first needed: most rules never see a failing node in a process."""
        outcomes = [f"string(number(boolean({check.test})))" for check in self.asserts]
        expression = outcomes[0] if len(outcomes) == 1 else f"concat({', '.join(outcomes)})"
        return self._compile_xpath(expression)

    def failed_asserts(self, node: etree._Element) -> Iterator[FailedAssert]:
        if self._all_hold is None:
            return
        lets: dict[str, Any] = {}
        for let in self.lets:
            lets[let.name] = let.value(node, lets)
        if self._all_hold(node, **lets, **self._variables):
            return
        outcomes = self._outcomes(node, **lets, **self._variables)
        for check, outcome in zip(self.asserts, outcomes, strict=True):
            if outcome != "1":
                yield FailedAssert(check.id, node, _message(check, node, lets))


class CompiledSchematron:
    """One phase of a Schematron schema, ready to check documents against."""

    def __init__(self, schema_path: Path, *, phase: str, vocabulary_path: Path) -> None:
        schema = etree.parse(str(schema_path)).getroot()
        self._namespaces = {ns.get("prefix"): ns.get("uri") for ns in schema.iter(f"{_S}ns")}
        self._namespaces["ext"] = _EXTENSIONS
        self._literals: list[str] = []
        self._extensions = {(_EXTENSIONS, "contains-literal"): self._contains_literal}
        self._template_id_tag = f"{{{self._namespaces['cda']}}}templateId"
        looked_up = {
            match[1]
            for check in schema.iter(f"{_S}assert")
            for match in _VALUE_SET_LOOKUP.finditer(check.get("test", ""))
        }
        self._value_sets = _read_value_sets(vocabulary_path, looked_up)
        self._rules_by_id = {
            rule.get("id"): rule for rule in schema.iter(f"{_S}rule") if rule.get("id")
        }
        patterns = {pattern.get("id"): pattern for pattern in schema.iter(f"{_S}pattern")}
        phase_element = schema.find(f"{_S}phase[@id='{phase}']")
        if phase_element is None:
            raise SchematronError(f"no phase {phase!r} in the schema")
        # Every rule of the phase in order: (its pattern's number, the rule, whether the
        # pattern has other rules), and which of them each templateId root can bring in.
        self._rules: list[tuple[int, _Rule, bool]] = []
        self._rules_by_root: dict[str, list[int]] = defaultdict(list)
        self._unanchored_rules: list[int] = []
        for number, active in enumerate(phase_element.iter(f"{_S}active")):
            rules = [
                self._compile_rule(rule)
                for rule in patterns[active.get("pattern")].findall(f"{_S}rule")
                if rule.get("abstract") != "true"
            ]
            for rule in rules:
                if rule.anchor_roots is None:
                    self._unanchored_rules.append(len(self._rules))
                for root in rule.anchor_roots or ():
                    self._rules_by_root[root].append(len(self._rules))
                self._rules.append((number, rule, len(rules) > 1))
        del self._rules_by_id  # its elements would keep the schema's tree (4.5 MB) alive

    def failed_asserts(self, tree: etree._ElementTree) -> list[FailedAssert]:
        """Every assertion of the phase that ``tree`` fails, with the node it failed on."""
        template_ids = list(tree.getroot().iter(self._template_id_tag))
        templates: dict[str, list[etree._Element]] = defaultdict(list)
        for template_id in template_ids:
            templates[template_id.get("root")].append(template_id)
        # The rules that can have context nodes: those hanging from a template the document
        # has, and those not anchored on one; in the phase's order.
        applicable = set(self._unanchored_rules)
        for root in templates:
            applicable.update(self._rules_by_root.get(root, ()))
        failures: list[FailedAssert] = []
        claimed: set[etree._Element] = set()  # first matching rule of a pattern wins
        pattern = -1
        for number in sorted(applicable):
            rule_pattern, rule, shares_pattern = self._rules[number]
            nodes = rule.context_nodes(tree, template_ids, templates)
            if shares_pattern:
                if rule_pattern != pattern:
                    pattern, claimed = rule_pattern, set()
                nodes = [node for node in nodes if node not in claimed]
                claimed.update(nodes)
            failures.extend(rule.failures(nodes))
        return failures

    # -- loading ------------------------------------------------------------------------

    def _compile_rule(self, rule: etree._Element) -> _Rule:
        lets: list[_Let] = []
        asserts: list[_Assert] = []
        self._collect(rule, lets, asserts, seen=set())
        selectors: list[tuple[str | None, _Selector]] = []
        anchor_roots: set[str | None] = set()
        # Branches anchored on the same template are found from the same anchors, by one
        # union (a rule context lists up to 30 paths below the document's header).
        anchored: dict[tuple[str, str, str | None], list[str | None]] = {}
        for branch in _union_branches(rule.get("context")):
            anchor = _TEMPLATE_ANCHOR.match(branch)
            if anchor is None:
                selectors.append((None, self._unanchored_selector(branch)))
                anchor_roots.add(None)
            else:
                key = (anchor["name"], anchor["root"], anchor["extension"])
                anchored.setdefault(key, []).append(anchor["rest"])
        for (name, root, extension), rests in anchored.items():
            selectors.append((root, self._anchored_selector(name, root, extension, rests)))
            anchor_roots.add(root)
        try:
            return _Rule(
                tuple(selectors),
                None if None in anchor_roots else frozenset(anchor_roots),
                tuple(lets),
                tuple(asserts),
                self._xpath,
            )
        except etree.XPathSyntaxError:
            for check in asserts:  # the error again, raised by the assert that has it
                self._xpath(check.test)
            raise

    def _collect(
        self, rule: etree._Element, lets: list[_Let], asserts: list[_Assert], seen: set[str]
    ) -> None:
        for child in rule.iterchildren(tag=etree.Element):
            if child.tag == f"{_S}assert":
                asserts.append(self._compile_assert(child))
            elif child.tag == f"{_S}let":
                value = child.get("value")
                attribute = _ATTRIBUTE.match(value)
                lets.append(
                    _Let(child.get("name"), self._let_value(value), attribute and attribute[1])
                )
            elif child.tag == f"{_S}extends":
                target = child.get("rule")
                if target in seen or target not in self._rules_by_id:
                    raise SchematronError(f"rule {target!r}: missing or extends itself")
                self._collect(self._rules_by_id[target], lets, asserts, seen | {target})
            else:
                raise SchematronError(f"unsupported element {child.tag} in a rule")

    def _let_value(self, expression: str) -> Callable[[etree._Element, Mapping[str, Any]], Any]:
        attribute = _ATTRIBUTE.match(expression)
        if attribute is not None:
            # ``@root``, the only kind of let in the phase: read without an XPath call.
            name = attribute[1]
            return lambda node, lets: node.get(name, [])
        value = self._xpath(expression)
        return lambda node, lets: _as_variable(value(node, **lets))

    def _compile_assert(self, element: etree._Element) -> _Assert:
        variables: dict[str, list[etree._Element]] = {}

        def bind_value_set(match: re.Match[str]) -> str:
            name = "vs_" + match[1].replace(".", "_")
            variables[name] = self._value_sets.get(match[1], [])
            return f"${name}/@value"

        test = _VALUE_SET_LOOKUP.sub(bind_value_set, element.get("test"))
        if "document(" in test:
            raise SchematronError(f"assert {element.get('id')}: unsupported document() call")
        message: list[str | etree.XPath] = [element.text or ""]
        for part in element.iterchildren(tag=etree.Element):
            if part.tag == f"{_S}value-of":
                message.append(self._xpath(f"string({part.get('select')})"))
            else:
                message.append("".join(part.itertext()))
            message.append(part.tail or "")
        return _Assert(element.get("id") or "", test, variables, tuple(message))

    def _xpath(self, expression: str) -> etree.XPath:
        """The expression compiled with only the namespace prefixes and extension functions
        it names: lxml registers them on every call, and that costs more than most tests."""
        expression = _LONG_LITERAL_CONTAINS.sub(self._bind_literal, expression)
        prefixes = set(_PREFIX.findall(expression))
        return etree.XPath(
            expression,
            namespaces={p: uri for p, uri in self._namespaces.items() if p in prefixes},
            extensions=self._extensions if "ext" in prefixes else None,
            # Nor EXSLT's regular expressions (no test names them), nor strings that know
            # their node (nothing asks): less to set up on each call.
            regexp=False,
            smart_strings=False,
        )

    def _bind_literal(self, match: re.Match[str]) -> str:
        self._literals.append(match[1])
        return f"ext:contains-literal({len(self._literals) - 1},"

    def _contains_literal(self, _context: object, index: float, needle: Any) -> bool:
        """XPath ``contains(literal, needle)``, with the literal looked up by its index."""
        return _xpath_string(needle) in self._literals[int(index)]

    def _unanchored_selector(self, branch: str) -> _Selector:
        """How to find the nodes a union branch not anchored on a template matches."""
        version_list = _TEMPLATE_VERSION_LIST.match(branch)
        if version_list is not None:
            # XPath's contains() scans the 5,000-character list character by character, for
            # each templateId; a set lookup answers the same (a missing attribute is "").
            listed = _word_list(version_list["versions"])
            return lambda tree, template_ids, templates: [
                template_id
                for template_id in template_ids
                if listed(f"{template_id.get('root', '')}:{template_id.get('extension', '')}")
            ]
        select = self._xpath(branch if branch.startswith("/") else f"//{branch}")
        return lambda tree, template_ids, templates: select(tree)

    def _anchored_selector(
        self, name: str, root: str, extension: str | None, rests: list[str | None]
    ) -> _Selector:
        """How to find the nodes of the branches ``cda:name[cda:templateId[@root=root and
        @extension=extension]]/rest``, for each of ``rests`` (None: the anchor itself)."""
        tag = None if name == "*" else f"{{{self._namespaces['cda']}}}{name}"
        paths = [
            "." if rest is None else f"./{rest}" if rest.startswith("/") else rest
            for rest in dict.fromkeys(rests)
        ]
        below = None if paths == ["."] else self._xpath(" | ".join(paths))

        def select_anchored(
            tree: etree._ElementTree,
            template_ids: list[etree._Element],
            templates: Mapping[str, list[etree._Element]],
        ) -> list[Any]:
            anchors = dict.fromkeys(
                template_id.getparent()
                for template_id in templates.get(root, ())
                if extension is None or template_id.get("extension") == extension
            )
            anchors = [a for a in anchors if tag is None or a.tag == tag]
            if below is None:
                return anchors
            return [node for a in anchors for node in below(a)]

        return select_anchored


def _read_value_sets(vocabulary_path: Path, oids: set[str]) -> dict[str, list[etree._Element]]:
    """The codes of the value sets ``oids``, as elements carrying only their ``value`` (all
    a test reads of them): holding the vocabulary's own elements would keep its whole tree
    alive in every process that validates, 19 MB for 104 value sets where 14 are asked."""
    holder = etree.Element("value-sets")
    value_sets: dict[str, list[etree._Element]] = {}
    for _, system in etree.iterparse(str(vocabulary_path), tag=f"{{{VOC}}}system"):
        oid = system.get("valueSetOid")
        if oid in oids:
            value_sets.setdefault(oid, []).extend(
                etree.SubElement(holder, "code", value=code.get("value"))
                for code in system.iter(f"{{{VOC}}}code")
            )
        system.clear()
    return value_sets


def _word_list(words: str) -> Callable[[str], bool]:
    """``contains(words, concat(' ', candidate, ' '))`` as a test of ``candidate``: a set
    lookup when ``words`` is single-spaced words between spaces and the candidate has no
    space, a substring search otherwise."""
    if not (words.startswith(" ") and words.endswith(" ")) or "  " in words:
        return lambda candidate: f" {candidate} " in words
    listed = frozenset(words[1:-1].split(" "))
    return lambda candidate: (
        candidate in listed if " " not in candidate else f" {candidate} " in words
    )


def _as_variable(value: Any) -> Any:
    """An XPath result as an lxml variable: lxml takes node-sets of elements, but not of
    attributes or text; those (at most one, as in ``let name="root" value="@root"``) are
    passed as their string value, which compares the same."""
    if isinstance(value, list) and value and not isinstance(value[0], etree._Element):
        if len(value) > 1:
            raise SchematronError("a let holding several attribute or text nodes")
        return str(value[0])
    return value


def _xpath_string(value: Any) -> str:
    """XPath's string(): a node-set's first node's string value, anything else as text."""
    if isinstance(value, list):
        if not value:
            return ""
        first = value[0]
        return "".join(first.itertext()) if isinstance(first, etree._Element) else str(first)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _message(check: _Assert, node: etree._Element, lets: Mapping[str, Any]) -> str:
    parts = [part if isinstance(part, str) else str(part(node, **lets)) for part in check.message]
    return " ".join("".join(parts).split())


def _union_branches(expression: str) -> list[str]:
    """Split a pattern at its top-level ``|`` (not inside brackets, parentheses or quotes)."""
    branches, depth, quote, start = [], 0, "", 0
    for position, character in enumerate(expression):
        if quote:
            quote = "" if character == quote else quote
        elif character in "'\"":
            quote = character
        elif character in "[(":
            depth += 1
        elif character in "])":
            depth -= 1
        elif character == "|" and depth == 0:
            branches.append(expression[start:position].strip())
            start = position + 1
    branches.append(expression[start:].strip())
    return branches
