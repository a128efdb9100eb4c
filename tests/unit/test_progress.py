"""progress.py: a bar on stderr for a terminal only; a pipe or log gets nothing, not even a
blank line (plm predict --file and evaluate used to start their stdout with one)."""

from plmkit.progress import progress


def test_off_a_terminal_nothing_is_printed(capsys):
    assert list(progress(range(3), "counting")) == [0, 1, 2]
    assert list(progress(range(3), "counting", enabled=False)) == [0, 1, 2]
    assert capsys.readouterr() == ("", "")
