"""Plain text input (plmkit.data.texts): the one strict UTF-8 reader, the texts of a --file,
gather_texts, and the same errors through `plm encode --file`."""

from __future__ import annotations

import io

import pytest
from typer.testing import CliRunner

from plmkit import data
from plmkit.cli import app
from plmkit.data import gather_texts, read_text_file, read_utf8
from plmkit.errors import DataError, InvalidInputError

LATIN1 = "first line\ncafé crème\n".encode("latin-1")  # é is byte 0xe9 at offset 14


def test_read_utf8_names_the_line_and_the_byte_of_a_wrong_encoding(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(LATIN1)
    with pytest.raises(DataError) as info:
        read_utf8(path)
    assert info.value.message == f"'{path}' is not UTF-8: byte 0xe9 at offset 14 (line 2)"
    assert info.value.fix == (
        f"re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 {path} > {tmp_path}/latin1.utf8.txt"
    )


def test_read_utf8_drops_a_bom_and_counts_it_in_offsets(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfcaf\xc3\xa9\n")
    assert read_utf8(path) == "café\n"
    path.write_bytes(b"\xef\xbb\xbfok\ncaf\xe9\n")
    with pytest.raises(DataError, match=r"byte 0xe9 at offset 9 \(line 2\)"):
        read_utf8(path)


def test_a_directory_is_the_same_error_everywhere(tmp_path):
    with pytest.raises(DataError) as by_reader:
        read_utf8(tmp_path)
    with pytest.raises(DataError) as by_encode:
        read_text_file(tmp_path)
    with pytest.raises(DataError) as by_data:
        data.load_split(str(tmp_path), "all")
    messages = {e.value.message for e in (by_reader, by_encode, by_data)}
    assert messages == {f"'{tmp_path}' is a directory"}


def test_read_text_file_lines_and_jsonl(tmp_path):
    lines = tmp_path / "in.txt"
    lines.write_bytes(b"\xef\xbb\xbf the cat \r\n\n  \nthe dog sat\n")
    assert read_text_file(lines) == ["the cat", "the dog sat"]  # no "\ufeff" in the first text
    records = tmp_path / "in.jsonl"
    records.write_text('{"text": "a"}\n\n{"text": 2, "id": 1}\n', encoding="utf-8")
    assert read_text_file(records) == ["a", "2"]
    records.write_text('{"text": "a"}\n{"body": "b"}\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"in.jsonl:2 is not a JSON object with a 'text'"):
        read_text_file(records)
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(InvalidInputError, match="has no text"):
        read_text_file(tmp_path / "blank.txt")
    with pytest.raises(InvalidInputError, match="input file '.*nope.txt' does not exist"):
        read_text_file(tmp_path / "nope.txt")


def test_gather_texts_puts_arguments_before_the_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("from the file\n", encoding="utf-8")
    assert gather_texts(["first", "second"], path) == ["first", "second", "from the file"]
    assert gather_texts(["only"], None) == ["only"]
    with pytest.raises(InvalidInputError, match="no text given"):
        gather_texts(None, None)
    with pytest.raises(InvalidInputError, match="empty text"):
        gather_texts(["fine", " "], None)


def test_a_stream_is_read_a_text_a_line_with_the_same_utf8_check():
    assert gather_texts(["arg"], io.StringIO("one\n\n two \n")) == ["arg", "one", "two"]
    stdin = io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfcaf\xc3\xa9\n"), encoding="latin-1")
    assert gather_texts(None, stdin) == ["café"]  # the bytes are decoded, not the wrapper
    with pytest.raises(DataError) as info:
        gather_texts(None, io.TextIOWrapper(io.BytesIO(LATIN1)))
    assert info.value.message == "stdin is not UTF-8: byte 0xe9 at offset 14 (line 2)"
    assert "iconv" in info.value.fix
    with pytest.raises(InvalidInputError, match="stdin has no text"):
        gather_texts(None, io.StringIO("\n"))


runner = CliRunner()


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error[")]


def test_plm_encode_refuses_a_latin1_file(tiny_bert_dir, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(LATIN1)
    result = runner.invoke(app, ["encode", "--file", str(path), "--model", str(tiny_bert_dir)])
    assert result.exit_code == 2, result.output
    assert "caf" not in result.output.replace(str(tmp_path), "")  # nothing was encoded
    [line] = error_lines(result.output)
    assert "is not UTF-8: byte 0xe9 at offset 14 (line 2)" in line and "iconv" in line


def test_plm_encode_says_a_directory_is_a_directory(tiny_bert_dir, tmp_path):
    result = runner.invoke(app, ["encode", "--file", str(tmp_path), "--model", str(tiny_bert_dir)])
    assert result.exit_code == 2, result.output
    [line] = error_lines(result.output)
    assert f"'{tmp_path}' is a directory" in line and "does not exist" not in line
