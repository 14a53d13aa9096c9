"""The command line, run as ``python -m mnistbench`` runs it: in this process, through
:func:`mnistbench.cli.main` with the ``sys.argv`` that command gives it (the ``cli`` fixture),
and in a subprocess where only a process of its own proves the point (the interpreter's exit
code and the command a run records, a run that never imports TensorFlow, TensorFlow's silence
on standard error)."""

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from mnistbench.classifiers import registry


def subprocess_mnistbench(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "mnistbench", *args], capture_output=True,
                          text=True, timeout=300, **kwargs)


@pytest.mark.parametrize("args, message", [
    (["--algos", "nope"], "mnistbench: error: unknown algorithm 'nope'; choose from: knn"),
    (["--dataset", "cifar"], "unknown dataset 'cifar'; choose from: digits, fashion, mnist"),
    (["--algos", ""], "no algorithm given; choose from: knn, tree"),
    (["--seed", "-1"], "seed must be an integer in [0, 4294967295], got -1"),
    (["--repeats", "0"], "repeats must be an integer in [1, "),
    (["--algos", "knn", "--grid", "knn.k"], "--grid takes ALGO.PARAM=VALUE"),
    (["--algos", "knn", "--grid", "tree.max_depth=1,2"], "'tree', which is not among"),
    (["--algos", "knn", "--set", "knn.k=1", "--grid", "knn.k=1,3"], "knn.k is given by both"),
    (["--algos", "knn", "--set", "knn.k=zero"], "k must be an integer >= 1, got 'zero'"),
    (["--algos", "knn", "--set", "knn.q=1"], "unknown parameter q for 'knn'; valid: augment,"),
    (["--algos", "knn", "--set", "knn.validation_fraction=0"],
     "validation_fraction must be between 0 and 1, both excluded, got 0"),
    (["--algos", "knn", "--set", "k=1"], "--set takes ALGO.PARAM=VALUE"),
    (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, cli):
    result = cli(*args, "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_corrupt_data_dir_is_one_line_and_exit_2(tmp_path, cli):
    (tmp_path / "mnist.npz").write_bytes(b"garbage")
    result = cli("--algos", "knn", "--data-dir", str(tmp_path), "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "is not a readable .npz archive" in result.stderr
    assert result.stderr.count("\n") == 1


def test_run_on_digits_prints_table_and_writes_files(tmp_path):
    out = tmp_path / "run"
    result = subprocess_mnistbench("--algos", "knn,tree", "--dataset", "digits", "--set",
                                   "knn.k=1,3,5", "--seed", "7", "--no-report", "--out", str(out))
    assert result.returncode == 0, result.stderr
    header, rule, knn_row, tree_row = result.stdout.strip().splitlines()
    assert header.split("|")[1].strip() == "algorithm" and "accuracy" in header
    assert knn_row.split("|")[1].strip() == "knn" and "k=" in knn_row
    assert "fitting on 1,437 images" in result.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert f"{100 * summary.loc[0, 'accuracy']:.2f}" in knn_row
    info = json.loads((out / "run.json").read_text())
    assert info["command"][:3] == ["python", "-m", "mnistbench"] and "--seed" in info["command"]


def test_list_shows_parameters_and_defaults(cli):
    result = cli("--list")
    assert result.returncode == 0
    assert "knn" in result.stdout and "k=(1, 3, 5, 7, 9, 11, 13, 15)" in result.stdout
    assert "random_state=None" in result.stdout
    assert "preset=adaptive (default): Adam peaking" in result.stdout
    assert "preset=fast: Adam 3e-3" in result.stdout and "preset=classic: plain SGD" in (
        result.stdout)


def test_scikit_learn_only_runs_never_import_tensorflow(tmp_path):
    # its jobs time single images for their minimum calls only (numpy is all timing imports),
    # as the jobs run in the tests' own process do (conftest.py)
    code = ("import sys; from mnistbench.run import timing; timing.MIN_SECONDS = 0; "
            "from mnistbench.cli import main; "
            f"rc = main(['--algos', 'knn,tree', '--dataset', 'digits', '--out', r'{tmp_path}']);"
            "main(['--list']); "
            "sys.exit(10 + rc if 'tensorflow' in sys.modules or 'keras' in sys.modules else rc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr


def test_a_tensorflow_run_prints_only_our_progress_lines(tmp_path):
    result = subprocess_mnistbench("--algos", "tf-softmax", "--dataset", "digits", "--set",
                                   "tf-softmax.epochs=1", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-2:] == [f"results written to {tmp_path / 'run'}",
                          f"report: {tmp_path / 'run' / 'report.html'}"] and lines[-3] == ""
    assert all(re.fullmatch(r" *\d+\.\ds  \[tf-softmax-\w+\] .*", line) for line in lines[:-3]), (
        result.stderr)


def test_ctrl_c_exits_130_and_keeps_finished_jobs(tmp_path, cli, monkeypatch):
    monkeypatch.setitem(registry.ALGORITHMS, "ctrl-c", "fake_algorithms:CtrlC")
    result = cli("--algos", "tree,ctrl-c", "--dataset", "digits", "--out", str(tmp_path))
    assert result.returncode == 130
    assert f"interrupted; finished jobs are kept in {tmp_path}; finish the run with --resume" in (
        result.stderr)
    assert pd.read_csv(tmp_path / "summary.csv")["algorithm"].tolist() == ["tree"]


@pytest.mark.parametrize("args, message", [
    (["--resume", "{tmp}/nowhere"], "is not a folder holding an mnistbench run"),
    (["--resume", "{tmp}"], "holds no mnistbench run (no run.json)"),
    (["--resume", "{tmp}", "--out", "{tmp}/x"], "--resume continues the run in its own folder"),
    (["--out", "{tmp}/file"], "is a file, not a folder; choose another --out"),
    (["--out", "{tmp}/file/run"], "Not a directory (a part of the path is a file"),
    (["--out", "{tmp}/" + "a" * 300], "File name too long (choose a shorter name"),
    (["--set", "knn.k=1000000000"], "knn.k=1000000000 is more than the 1,437 digits images"),
    (["--save-models", "{tmp}/file"], "--save-models {tmp}/file is a file, not a folder"),
])
def test_bad_run_folders_are_one_line_and_exit_2(args, message, tmp_path, cli):
    (tmp_path / "file").write_text("not a folder")
    result = cli(*[arg.format(tmp=tmp_path) for arg in args], "--dataset", "digits",
                 *(() if "--out" in args or "--resume" in args else
                   ("--out", str(tmp_path / "run"))), "--algos", "knn")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message.format(tmp=tmp_path) in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_folder_of_the_users_files_is_refused_and_left_byte_for_byte(tmp_path, cli):
    folder = tmp_path / "W"
    (folder / "figures").mkdir(parents=True)
    for name in ("summary.csv", "report.html"):
        (folder / name).write_text("mine\n")
    result = cli("--algos", "tree", "--dataset", "digits", "--out", "W", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("mnistbench: error: W already holds files (figures, report.html, "
                             "summary.csv); a run writes into a new or empty folder, so choose "
                             "another --out\n")
    assert sorted(path.name for path in folder.iterdir()) == [
        "figures", "report.html", "summary.csv"]
    assert all((folder / name).read_text() == "mine\n"
               for name in ("summary.csv", "report.html"))


def test_compare_refuses_runs_on_other_test_images_even_with_fail_if_worse(tmp_path, cli):
    out = tmp_path / "run"
    assert cli("--algos", "tree", "--dataset", "digits", "--no-report", "--out",
               str(out)).returncode == 0
    info = json.loads((out / "run.json").read_text())
    for name, change in (("other-dataset", {"dataset": "mnist"}),
                         ("other-files", {"dataset_checksum": "0" * 32})):
        other = tmp_path / name
        other.mkdir()
        (other / "run.json").write_text(json.dumps({**info, **change}))
        result = cli("compare", str(out), str(other), "--fail-if-worse")
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and "compare runs on the same" in result.stderr


def test_resume_extends_a_run_and_prints_the_whole_table(tmp_path, cli):
    out = tmp_path / "run"
    first = cli("--algos", "tree", "--dataset", "digits", "--no-report", "--out", str(out))
    assert first.returncode == 0, first.stderr
    again = cli("--algos", "tree", "--dataset", "digits", "--out", str(out))
    assert again.returncode == 2 and f"finish or extend it with --resume {out}" in again.stderr
    result = cli("--resume", str(out), "--algos", "knn", "--repeats", "2", "--no-report")
    assert result.returncode == 0, result.stderr
    assert "1 of 4 jobs already finished" in result.stderr
    # one row per configuration over its two seeds, sorted by accuracy
    header, _, *rows = result.stdout.strip().splitlines()
    assert [cell.strip() for cell in header.split("|")[1:3]] == ["configuration", "seeds"]
    assert [row.split("|")[1].strip() for row in rows] == ["knn", "tree"]
    assert [row.split("|")[2].strip() for row in rows] == ["2", "2"]
    assert " ± " in rows[1].split("|")[3]  # the tree's accuracy differs between its seeds
    assert len(pd.read_csv(out / "summary.csv")) == 4
    info = json.loads((out / "run.json").read_text())
    assert info["request"]["repeats"] == 2 and len(info["attempts"]) == 2
    assert info["attempts"][1]["command"][3:] == ["--resume", str(out), "--algos", "knn",
                                                  "--repeats", "2", "--no-report"]
