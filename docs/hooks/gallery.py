"""Generate the results gallery from results/reference/ at build time: an index, and one page per
reference run with what produced it (its experiment file when it has one, else its command line),
the commit and the machine it ran on, its summary table and the figures its report drew. Nothing
here is typed by hand, and a run folder missing any of these files still gets its page, saying
what is missing.
"""

import json
import shlex
from pathlib import Path

import pandas as pd
from mkdocs.structure.files import File

RESULTS = "results/reference"
SECTION = "Results gallery"
COLUMNS = {"algorithm": "algorithm", "params": "parameters", "seed": "seed",
           "status": "status", "accuracy": "accuracy %", "f1_macro": "macro F1 %",
           "fit_s": "fit s", "latency_p50_ms": "p50 ms"}


def run_folders(config):
    """The reference run folders, by name."""
    root = Path(config.config_file_path).parent.parent / RESULTS
    return sorted(path for path in root.iterdir() if path.is_dir()) if root.is_dir() else []


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def provenance(folder, record):
    """Markdown naming what produced the run, its commit and its machine."""
    experiment = folder / "experiment.toml"
    if experiment.is_file():
        made = f"Experiment file `{RESULTS}/{folder.name}/experiment.toml`:\n\n" \
               f"```toml\n{experiment.read_text().rstrip()}\n```"
    elif record.get("command"):
        made = f"Command:\n\n```sh\n{shlex.join(record['command'])}\n```"
    else:
        made = "The run's folder records neither an experiment file nor a command."
    machine = ", ".join(str(record[key]) for key in ("cpu", "platform") if record.get(key))
    if record.get("cpu_count"):
        machine += f", {record['cpu_count']} cores"
    facts = [("commit", f"`{record['git_revision']}`" if record.get("git_revision") else None),
             ("machine", machine or None), ("dataset", record.get("dataset")),
             ("finished", record.get("ended_at")), ("status", record.get("status"))]
    lines = [f"| {name} | {value} |" for name, value in facts if value]
    table = "| recorded | |\n|---|---|\n" + "\n".join(lines) if lines else ""
    return f"{made}\n\n{table}\n"


def summary_table(folder):
    """The run's summary.csv as a Markdown table of its main columns (percentages for rates)."""
    try:
        summary = pd.read_csv(folder / "summary.csv")
    except (OSError, ValueError):
        return "This run has no readable `summary.csv`."
    table = summary[[column for column in COLUMNS if column in summary]].rename(columns=COLUMNS)
    for column in ("accuracy %", "macro F1 %"):
        if column in table:
            table[column] = (100 * table[column]).round(2)
    for column, digits in (("fit s", 1), ("p50 ms", 3)):
        if column in table:
            table[column] = table[column].round(digits)
    if "parameters" in table:
        table["parameters"] = table["parameters"].fillna("").map(
            lambda text: "" if text == "{}" else f"`{text}`")
    return table.to_markdown(index=False)


def job_name(row):
    """``algorithm {parameters} (seed N)`` of a summary row."""
    given = row.get("params")
    params = "" if pd.isna(given) or given == "{}" else f" {given}"
    return f"{row['algorithm']}{params} (seed {row['seed']})"


def shifts_table(folder):
    """Accuracy % of each job (rows) under each evaluation condition (columns), from shifts.csv
    and summary.csv; None for a run evaluated on the clean test set alone."""
    try:
        shifts = pd.read_csv(folder / "shifts.csv")
        summary = pd.read_csv(folder / "summary.csv")
    except (OSError, ValueError):
        return None
    if shifts["condition"].nunique() < 2:
        return None
    names = dict(zip(summary["job_id"], summary.apply(job_name, axis=1)))
    table = shifts.pivot_table(index="job_id", columns="condition", values="accuracy",
                               sort=False) * 100
    table.index = [names.get(job_id, job_id) for job_id in table.index]
    return table.round(2).to_markdown()


def run_page(folder, figures):
    record = read_json(folder / "run.json")
    parts = [f"# {folder.name}\n", provenance(folder, record), "## Summary\n",
             summary_table(folder) + "\n"]
    shifted = shifts_table(folder)
    if shifted:
        parts += ["## Accuracy % under each condition\n", shifted + "\n"]
    if figures:
        parts.append("## Figures\n\nAs the run's report drew them.\n")
        parts += [f"![{figure.stem}]({folder.name}/{figure.name})\n" for figure in figures]
    else:
        parts.append("This run's folder keeps no figures.\n")
    parts.append(f"The run's folder is `{RESULTS}/{folder.name}/` in the repository.\n")
    return "\n".join(parts)


def index_page(folders):
    rows = []
    for folder in folders:
        command = read_json(folder / "run.json").get("command")
        shown = f"`{shlex.join(command[3:])}`" if command else ""
        rows.append(f"| [{folder.name}]({folder.name}.md) | {shown} |")
    return ("# Results gallery\n\n"
            "Every reference run committed in `results/reference/`, each page generated from the "
            "run's own folder when this site was built: what produced it, the commit and the "
            "machine, its summary and its report's figures. Timings are from that machine, often "
            "shared with other work: compare them within a run, not across machines.\n\n"
            "| run | `python -m mnistbench` ... |\n|---|---|\n" + "\n".join(rows) + "\n")


def on_config(config):
    """Expand the gallery's nav entry into the index and one page per run."""
    pages = [{"Overview": "gallery/index.md"}] + [
        {folder.name: f"gallery/{folder.name}.md"} for folder in run_folders(config)]
    config.nav = [{SECTION: pages} if isinstance(entry, dict) and SECTION in entry else entry
                  for entry in config.nav]
    return config


def on_files(files, config):
    folders = run_folders(config)
    files.append(File.generated(config, "gallery/index.md", content=index_page(folders)))
    for folder in folders:
        figures = sorted((folder / "figures").glob("*.png"))
        files.append(File.generated(config, f"gallery/{folder.name}.md",
                                    content=run_page(folder, figures)))
        for figure in figures:
            files.append(File.generated(config, f"gallery/{folder.name}/{figure.name}",
                                        abs_src_path=str(figure)))
    return files
