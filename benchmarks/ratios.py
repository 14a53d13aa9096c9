"""Print the README and docs tables from pytest-benchmark JSON reports.

Usage: ``python benchmarks/ratios.py REPORT.json [REPORT.json ...]``. For each report, a line
naming the commit, the time and the machine, then two Markdown tables:

- the ratios: a benchmark whose ``extra_info`` has ``max_ratio`` is checked against its
  group's ``floor`` (or ``anchor``, if the group has no floor), or against the ``ratio`` it
  measured itself, and one with ``max_ms`` against that time; medians are compared, and each
  row is marked ``met`` or ``MISSED``;
- the conditions: what the benchmarks recorded beside their times (``MEASURED`` keys of
  ``extra_info``: memory, quiet and loaded times, the load average), so that a table says
  how busy the machine was.
"""

import json
import sys
from collections import defaultdict

from tabulate import tabulate

MEASURED = ("index_mb", "peak_mb", "quiet_s", "loaded_s", "load_average",
            "load_average_before", "load_average_after")


def ratio_rows(report):
    """One row per benchmark in a group that has a floor or anchor, or with a target."""
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


def condition_rows(report):
    """One row per benchmark that recorded any of ``MEASURED``: its name and those values."""
    return [[bench["group"], bench["name"],
             "; ".join(f"{key} {bench['extra_info'][key]}" for key in MEASURED
                       if key in bench["extra_info"])]
            for bench in report["benchmarks"]
            if any(key in bench["extra_info"] for key in MEASURED)]


def verdict(value, limit):
    """``met`` or ``MISSED`` against an upper limit; empty when there is none."""
    if limit is None:
        return ""
    return "met" if value <= limit else "MISSED"


def provenance(report):
    """Where the numbers come from: commit, time, machine."""
    commit = report.get("commit_info", {})
    machine = report.get("machine_info", {})
    cpu = machine.get("cpu", {})
    return (f"commit {commit.get('id', '?')[:10]}{' (dirty)' if commit.get('dirty') else ''}, "
            f"{report.get('datetime', '?')[:19]} UTC, {cpu.get('brand_raw', '?')} "
            f"({cpu.get('count', '?')} cores), Python {machine.get('python_version', '?')}")


def main(paths):
    for path in paths:
        with open(path) as handle:
            report = json.load(handle)
        print(f"{path}: {provenance(report)}\n")
        print(tabulate(ratio_rows(report), headers=["group", "benchmark", "median ms", "vs",
                                                    "median ms", "ratio", "target", ""],
                       tablefmt="github"))
        conditions = condition_rows(report)
        if conditions:
            print()
            print(tabulate(conditions, headers=["group", "benchmark", "conditions"],
                           tablefmt="github"))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
