"""progress.py: a bar on stderr for a terminal only; a pipe or log gets nothing, not even a
blank line (plm predict --file and evaluate used to start their stdout with one)."""

from plmkit.progress import progress


def test_off_a_terminal_nothing_is_printed(capsys):
    assert list(progress(range(3), "counting")) == [0, 1, 2]
    assert list(progress(range(3), "counting", enabled=False)) == [0, 1, 2]
    assert capsys.readouterr() == ("", "")


def test_off_a_terminal_a_line_comes_every_interval_with_rate_and_time_left(monkeypatch):
    import io

    monkeypatch.setenv("PLMKIT_PROGRESS_SECONDS", "0")
    out = io.StringIO()
    assert list(progress(range(4), "classifying", stream=out)) == [0, 1, 2, 3]
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[1].startswith("classifying: 2/4 batches (50%), ")
    assert "batches/s" in lines[1] and lines[1].endswith(" left")


def test_the_interval_is_configurable_and_defaults_to_ten_seconds(monkeypatch):
    import io

    from plmkit.progress import duration, progress_interval

    monkeypatch.delenv("PLMKIT_PROGRESS_SECONDS", raising=False)
    assert progress_interval() == 10.0
    monkeypatch.setenv("PLMKIT_PROGRESS_SECONDS", "3600")
    out = io.StringIO()
    assert list(progress(range(50), "encoding", stream=out)) == list(range(50))
    assert out.getvalue() == ""  # quick work within one interval stays quiet
    monkeypatch.setenv("PLMKIT_PROGRESS_SECONDS", "soon")
    assert progress_interval() == 10.0
    assert [duration(s) for s in (5, 185, 3720, None)] == ["5s", "3m05s", "1h02m", "?"]
