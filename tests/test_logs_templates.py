import json

from logs_common import _private_cache, logs_dir, needs_logs  # noqa: F401

from llmad.data.logs import LogOptions, TemplateModel, get_format, load
from llmad.data.logs.reader import read_all
from llmad.data.logs.drain import UNSEEN


@needs_logs
def test_saved_and_loaded_miner_maps_lines_to_the_same_templates(tmp_path):
    rows, _ = read_all(logs_dir() / "hdfs/HDFS_20000.log", get_format("hdfs"))
    msgs = [f["Content"] for _, f in rows]
    m = TemplateModel()
    for x in msgs[:10000]:
        m.add(x)
    assert 5 <= len(m) <= 40
    path = m.save(tmp_path / "t.json")
    text = path.read_text()
    assert "py/object" not in text and json.loads(text)["format"] == "llmad.templates"
    m2 = TemplateModel.load(path)
    assert m2.templates() == m.templates()
    ids = [m.match(x) for x in msgs]
    assert ids == [m2.match(x) for x in msgs] and ids.count(None) < len(ids)
    # mining goes on identically after loading
    assert [m.add(x) for x in msgs[10000:]] == [m2.add(x) for x in msgs[10000:]]
    assert m.templates() == m2.templates()


@needs_logs
def test_bgl_templates_are_masked_and_unseen_is_marked():
    rows, _ = read_all(logs_dir() / "bgl/BGL_5000.log", get_format("bgl"))
    m = TemplateModel()
    for _, f in rows:
        m.add(f["Content"])
    assert any("<*>" in t for t in m.templates().values())
    assert m.template(m.match("completely novel message never logged before")) == UNSEEN


@needs_logs
def test_template_text_mode_mines_on_train_only():
    from llmad.data.splits import split
    from llmad.text.layer import WindowText

    w = load("thunderbird", LogOptions(text="templates"))
    parts = split(w, "chrono")
    layer = WindowText.for_table(w)
    assert layer.config.mode == "templates"
    layer.fit(parts["train"])
    assert len(layer.drain) > 10
    # the state is exactly what mining the train lines (first 70 % of the file) gives
    rows, _ = read_all(logs_dir() / "thunderbird/thunderbird_20051115_slice.log", get_format("thunderbird"))
    ref = TemplateModel()  # masks itself; the loader mines already-masked messages: same templates
    for _, f in rows[:int(len(rows) * 0.7)]:
        ref.add(f["Content"])
    assert ref.templates() == layer.drain.templates()
    known = set(layer.drain.templates().values()) | {UNSEEN}
    assert all(t in known for msgs in layer.messages(parts["test"]) for t in msgs)


@needs_logs
def test_a_template_model_owns_its_templates(tmp_path):
    import numpy as np
    import pytest

    from llmad import LlmadError
    from llmad.data.splits import split
    from llmad.detectors import load_detector, make_detector

    w = load("thunderbird", LogOptions(text="templates"))
    parts = split(w, "chrono")
    det = make_detector("tfidf").fit(parts["train"], parts["valid"])
    det.save(tmp_path / "m")
    assert (tmp_path / "m" / "templates.json").is_file()
    again = load_detector(tmp_path / "m")
    np.testing.assert_allclose(again.decision_function(parts["test"]), det.decision_function(parts["test"]))
    # template text differs from masked text: the model really reads templates
    assert det._texts(parts["test"]) != parts["test"]["text"].tolist()
    # nothing lives in a shared cache: without its templates.json the folder is refused, not read as masked text
    (tmp_path / "m" / "templates.json").unlink()
    with pytest.raises(LlmadError, match="templates.json is missing"):
        load_detector(tmp_path / "m")
