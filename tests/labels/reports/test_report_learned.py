import pandas as pd

from hyperct.labels.reports.learned import load_learned, train_learned_file


def test_train_save_load_predict(shared_data, tmp_path):
    data = pd.read_csv(shared_data / "reports" / "ctrate_reports_train.csv").head(120)
    data.to_csv(tmp_path / "train.csv", index=False)
    model = train_learned_file(reports_path=tmp_path / "train.csv", out_path=tmp_path / "m.joblib")
    loaded = load_learned(tmp_path / "m.joblib")
    texts = data["report_text"].head(5).tolist()
    assert [o.labels for o in model.label_texts(texts)] == [
        o.labels for o in loaded.label_texts(texts)
    ]
    assert all(set(o.labels.values()) <= {0, 1} for o in loaded.label_texts(texts))
