"""The Export tab's side-by-side table: every export of a run and of its teacher or students."""

from __future__ import annotations

from app.ui.views import ARTIFACT_COLUMNS, artifacts_frame
from models.engine.train import train
from models.export import export_run
from models.export.artifacts import artifacts, relatives
from tests.conftest import make_sentiment_csv
from tests.models.test_distillation import _student, _teacher


def test_a_student_and_its_teacher_side_by_side(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=160)
    teacher = _teacher(tmp_path / "ws", data)
    student = train(_student(tmp_path / "ws", teacher))
    export_run(teacher, "int8", max_examples=16)
    export_run(student, "float32", max_examples=16)

    rows = artifacts(student)
    assert [(r.run_id, r.relation, r.quantization) for r in rows] == [
        (student.id, "this run", "float32"),
        (teacher.id, "teacher", "int8"),
    ]
    own = rows[0]
    assert own.model_kind == "bag" and own.format == "tflite" and own.keras_metric == "macro_f1"
    assert own.model_bytes > 0 and own.zip_bytes > 0 and own.agreement == 1.0 and own.ms_per_call > 0
    assert own.params == student.eval_report()["params"]
    assert own.agrees_with_teacher == student.eval_report()["teacher"]["agreement"]
    assert rows[1].agrees_with_teacher is None and rows[1].keras_value == teacher.eval_report()["macro_f1"]
    assert [relation for _, relation in relatives(teacher)] == ["this run", "student"]

    frame = artifacts_frame(rows)
    assert list(frame.columns) == ARTIFACT_COLUMNS and len(frame) == 2
    assert frame.iloc[1]["relation"] == "teacher" and frame.iloc[1]["agrees with teacher"] == ""
    assert frame.iloc[1]["weights"] == "int8" and frame.iloc[0]["agrees with teacher"] != ""
