"""Print each benchmark group's ratios to its floor or anchor from a pytest-benchmark JSON report.

Usage: ``python benchmarks/ratios.py results/benchmarks/REPORT.json``. A benchmark whose
``extra_info`` has ``max_ratio`` is checked against its group's ``floor`` (or ``anchor``, if
the group has no floor) and marked ``met`` or ``MISSED``; medians are compared.
"""

import json
import sys
from collections import defaultdict

from tabulate import tabulate


def ratio_rows(report):
    """One row per benchmark in a group that has a floor or anchor."""
    groups = defaultdict(list)
    for bench in report["benchmarks"]:
        groups[bench["group"]].append(bench)
    rows = []
    for group, benches in groups.items():
        by_role = {b["extra_info"].get("role"): b for b in benches}
        base = by_role.get("floor") or by_role.get("anchor")
        for bench in benches:
            info = bench["extra_info"]
            median_ms = bench["stats"]["median"] * 1e3
            if "max_ms" in info:  # an absolute target
                rows.append([group, bench["name"], f"{median_ms:.3f}", "", "", "",
                             f"<= {info['max_ms']} ms", verdict(median_ms, info["max_ms"])])
            elif "ratio" in info:  # a ratio the benchmark measured itself
                rows.append([group, bench["name"], f"{median_ms:.3f}", "", "",
                             f"{info['ratio']:.4f}", f"<= {info['max_ratio']}",
                             verdict(info["ratio"], info["max_ratio"])])
            elif base is not None and bench is not base:
                ratio = bench["stats"]["median"] / base["stats"]["median"]
                limit = info.get("max_ratio")
                rows.append([group, bench["name"], f"{median_ms:.3f}", base["name"],
                             f"{base['stats']['median'] * 1e3:.3f}", f"{ratio:.3f}",
                             "" if limit is None else f"<= {limit}", verdict(ratio, limit)])
    return rows


def verdict(value, limit):
    """``met`` or ``MISSED`` against an upper limit; empty when there is none."""
    if limit is None:
        return ""
    return "met" if value <= limit else "MISSED"


def main(path):
    with open(path) as handle:
        report = json.load(handle)
    print(tabulate(ratio_rows(report), headers=["group", "benchmark", "median ms", "vs",
                                                "median ms", "ratio", "target", ""],
                   tablefmt="github"))


if __name__ == "__main__":
    main(sys.argv[1])
