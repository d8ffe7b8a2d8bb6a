import subprocess
import sys

import pytest

from hyperct import tasks


def test_catalogue_has_25_tasks_in_fixed_order():
    assert tasks.NUM_TASKS == 25
    assert [t.id for t in tasks.TASKS] == list(range(25))
    assert len(tasks.CONVENTIONAL) == 18 and len(tasks.OPPORTUNISTIC) == 7
    assert all(t.group == "conventional" for t in tasks.TASKS[:18])
    assert tasks.TASKS[0].name == "Medical material"
    assert tasks.TASKS[17].name == "Interlobular septal thickening"
    assert tasks.TASKS[18].name == "Reduced LV systolic function"


def test_conventional_names_match_ctrate_label_columns(shared_data):
    import pandas as pd

    columns = pd.read_csv(shared_data / "reports" / "ctrate_reports_train.csv", nrows=1).columns
    findings = [c for c in columns if c not in ("AccessionNo", "report_text")]
    assert findings == [t.name for t in tasks.CONVENTIONAL]


def test_names_and_short_names_unique_and_lookup():
    assert len(set(tasks.TASK_NAMES)) == 25
    assert len({t.short_name for t in tasks.TASKS}) == 25
    assert tasks.task_by_name("emphysema").id == 7
    assert tasks.task_by_name("pulmonary_hypertension").group == "opportunistic"
    with pytest.raises(KeyError, match="unknown task"):
        tasks.task_by_name("Pneumothorax")


def test_opportunistic_definitions_state_echo_thresholds():
    text = {t.short_name: t.definition for t in tasks.OPPORTUNISTIC}
    assert "50 %" in text["reduced_lv_systolic_function"]
    assert "35 mmHg" in text["pulmonary_hypertension"]
    assert "5.3 cm" in text["ventricular_enlargement"] and "5.9 cm" in text["ventricular_enlargement"]


def test_tasks_module_imports_nothing_heavy():
    code = "import sys, hyperct.tasks; print(any(m in sys.modules for m in ('torch', 'numpy', 'pandas')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
