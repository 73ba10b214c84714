"""JUnit XML for CI systems: a run's targets and thresholds, a compare's figures.

The shape Jenkins (the xunit plugin's junit-10.xsd, the junit plugin) and GitLab read:
``<testsuites name tests failures errors>`` holding
``<testsuite name tests failures errors skipped time>``, each holding
``<testcase classname name time>`` with at most one ``<failure message type>`` (a missed
target, a crossed threshold, a regression) or ``<skipped message>`` (not evaluated).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from utils.observe.verdict import Check, Status, Verdict


@dataclass
class Case:
    classname: str
    name: str
    failure: str | None = None  # the message of a failed case
    kind: str = "failure"  # the failure's type
    skipped: str | None = None
    details: str = ""


@dataclass
class Suite:
    name: str
    cases: list[Case] = field(default_factory=list)

    def element(self) -> ET.Element:
        failures = sum(c.failure is not None for c in self.cases)
        skipped = sum(c.skipped is not None and c.failure is None for c in self.cases)
        suite = ET.Element("testsuite", name=self.name, tests=str(len(self.cases)),
                           failures=str(failures), errors="0", skipped=str(skipped), time="0")
        for c in self.cases:
            case = ET.SubElement(suite, "testcase", classname=c.classname, name=c.name,
                                 time="0")
            if c.failure is not None:
                ET.SubElement(case, "failure", message=c.failure, type=c.kind).text = \
                    c.details or c.failure
            elif c.skipped is not None:
                ET.SubElement(case, "skipped", message=c.skipped)
        return suite


def check_case(c: Check) -> Case:
    classname = f"kcstress.{c.kind}s"
    name = c.key.removeprefix("thresholds.")
    if c.status is Status.MISSED:
        return Case(classname, name, failure=c.line(), kind=c.kind)
    if c.status is Status.NOT_EVALUATED:
        return Case(classname, name, skipped=c.note)
    return Case(classname, name, details=c.line())


def run_suite(name: str, verdict: Verdict | None, code: int) -> Suite:
    """A case per target and threshold of the run, and one for the whole verdict (what
    makes the run not clean besides them: interrupted, chain lost, ...)."""
    suite = Suite(f"kcstress run {name}")
    if verdict is None:
        suite.cases.append(Case("kcstress.run", "verdict", failure=f"the run left no summary "
                                f"(exit {code})", kind="error"))
        return suite
    suite.cases += [check_case(c) for c in verdict.checks]
    failure = None if verdict.code == 0 else verdict.headline()
    suite.cases.append(Case("kcstress.run", "verdict", failure=failure, kind="verdict"))
    return suite


def write_junit(path: Path, suites: list[Suite]) -> Path:
    root = ET.Element("testsuites", name="kcstress")
    elements = [s.element() for s in suites]
    for key in ("tests", "failures", "errors"):  # junit-10.xsd: no "skipped" on the root
        root.set(key, str(sum(int(e.get(key, "0")) for e in elements)))
    root.extend(elements)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tmp = path.with_name(path.name + ".tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
    return path
