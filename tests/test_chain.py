"""Every sub-command on one run: run, ensemble, report, compare, --resume with an added
algorithm, load_run, serve --run, and the report again afterwards."""

import json
import socket

from mnistbench import load_run
from mnistbench.cli import main


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_one_digits_run_through_every_sub_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run, other = tmp_path / "R", tmp_path / "B"
    # the run, ensemble and --resume without their reports: the report command writes it after
    # them (tests/test_report.py checks that a run writes its own)
    assert main(["--algos", "knn,tree", "--dataset", "digits", "--out", str(run),
                 "--save-models", "models", "--no-report"]) == 0
    assert main(["ensemble", str(run), "--members", "knn,tree", "--no-report"]) == 0
    assert main(["report", str(run)]) == 0
    assert main(["--algos", "knn", "--dataset", "digits", "--out", str(other), "--no-report"]) == 0
    assert main(["compare", str(run), str(other)]) == 0
    assert main(["--resume", str(run), "--algos", "linear", "--no-report"]) == 0
    loaded = load_run(run)
    assert list(dict.fromkeys(loaded.summary["algorithm"])) == ["knn", "tree", "linear",
                                                                "ensemble"]
    assert (loaded.summary["status"] == "ok").all() and set(loaded.selective["algorithm"]) == {
        "knn", "tree", "linear", "ensemble"}
    assert set(loaded.configurations["algorithm"]) == {"knn", "tree", "linear", "ensemble"}
    assert main(["report", str(run)]) == 0
    # the saved models' folder is recorded whole, so a run's models are found from anywhere
    models = json.loads((run / "run.json").read_text())["request"]["save_models"]
    assert models == str(tmp_path / "models")
    assert {path.name for path in (tmp_path / "models").iterdir()} == set(
        loaded.summary["job_id"][loaded.summary["algorithm"] != "ensemble"])
    monkeypatch.chdir(run)
    capsys.readouterr()
    # digits models are 8x8: the page's 28x28 drawings cannot go to them, and serve says so
    assert main(["serve", "--run", str(run), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "was fitted on images of 64 pixels" in err and err.count("\n") == 1
