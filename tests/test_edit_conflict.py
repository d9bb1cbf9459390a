"""Concurrent edits never lose work (issue 10, item 20): a save carries the revision it started from."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from core.errors import EditConflict
from core.transcripts import library
from core.transcripts.service import transcribe_file
from tests.conftest import FIXTURES


@pytest.fixture
def doc(wb, alice, mock_provider):
    mock_provider.enqueue("Quarterly numbers look strong. The migration slipped a week.")
    return transcribe_file(wb, FIXTURES / "fmt_speech.mp3", "standup.mp3", alice, provider=mock_provider).transcript


def _edited(doc, text):
    return [dataclasses.replace(doc.segments[0], text=text), *doc.segments[1:]]


def test_a_stale_save_is_refused_and_says_so(wb, alice, doc):
    base = doc.revision
    assert library.save_revision(wb, doc.id, alice, _edited(doc, "First editor."), base_revision=base) == base + 1
    with pytest.raises(EditConflict, match=rf"saved revision {base + 1} after you started editing revision {base}"):
        library.save_revision(wb, doc.id, alice, _edited(doc, "Second editor."), base_revision=base)
    stored = library.open_transcript(wb, doc.id, alice)
    assert stored.revision == base + 1 and "First editor." in stored.text
    assert [r.number for r in library.list_revisions(wb, doc.id, alice)][0] == base + 1


def test_of_two_concurrent_saves_from_one_revision_exactly_one_lands(wb, alice, doc):
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def save(text: str) -> None:
        start.wait()
        try:
            outcomes.append(library.save_revision(wb, doc.id, alice, _edited(doc, text), base_revision=doc.revision))
        except EditConflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=save, args=(t,)) for t in ("A wins.", "B wins.")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["EditConflict", "int"]
    assert library.open_transcript(wb, doc.id, alice).revision == doc.revision + 1
