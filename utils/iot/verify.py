"""Checking every IoT record: decrypts, proof hash, and the same bytes on chain."""

from __future__ import annotations

from dataclasses import dataclass, field

from lcore_node.node import LcoreNode
from lcore_node.types import VerifyReport


@dataclass
class VerifyCounts:
    ok: int = 0
    mismatch: int = 0
    not_committed: int = 0
    missing_on_chain: int = 0
    on_chain_checked: bool = False
    problems: list[VerifyReport] = field(default_factory=list)
    #: inputbox mode: committed records compared with the Cartesi application's database
    app_compared: int | None = None
    app_problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.ok + self.mismatch + self.not_committed + self.missing_on_chain

    @property
    def passed(self) -> bool:
        return self.mismatch == 0 and self.missing_on_chain == 0 and not self.app_problems

    def add(self, report: VerifyReport) -> None:
        if not (report.decrypts and report.proof_matches) or (
            report.on_chain is False and not report.missing_on_chain
        ):
            self.mismatch += 1
            self.problems.append(report)
        elif report.missing_on_chain:
            self.missing_on_chain += 1
            self.problems.append(report)
        elif report.commit_status != "committed":
            self.not_committed += 1
        else:
            self.ok += 1

    def line(self) -> str:
        where = "on chain" if self.on_chain_checked else "offline (no chain to compare)"
        return (f"verified {self.total} records {where}: {self.ok} ok, {self.mismatch} mismatch, "
                f"{self.not_committed} not yet committed, {self.missing_on_chain} missing on chain"
                + self._app_line())

    def _app_line(self) -> str:
        if self.app_compared is None:
            return ""
        return (f"; the Cartesi application's database: {self.app_compared} committed records"
                f" compared, {len(self.app_problems)} differ")

    def as_dict(self) -> dict[str, int | bool]:
        return {"total": self.total, "ok": self.ok, "mismatch": self.mismatch,
                "not_committed": self.not_committed, "missing_on_chain": self.missing_on_chain,
                "on_chain_checked": self.on_chain_checked}


async def verify_records(node: LcoreNode, *, on_chain: bool) -> VerifyCounts:
    counts = VerifyCounts(on_chain_checked=on_chain)
    async for report in node.verify_all(on_chain=on_chain):
        counts.add(report)
    return counts
