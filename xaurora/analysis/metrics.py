"""Test-set scores for probes, computed with scikit-learn (one place for the metric choices).

>>> import numpy as np
>>> m = classification_metrics(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]),
...                            np.array([0.1, 0.9, 0.4, 0.2]))
>>> round(m["accuracy"], 2), round(m["recall"], 2), round(m["roc_auc"], 2)
(0.75, 0.5, 1.0)
"""

from __future__ import annotations

import numpy as np

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION_METRICS = ("r2", "rmse")

METRIC_ATTRS = {
    "accuracy": {"long_name": "test-set accuracy", "units": "1"},
    "balanced_accuracy": {"long_name": "test-set balanced accuracy (mean recall)", "units": "1"},
    "precision": {"long_name": "test-set precision of class 1", "units": "1"},
    "recall": {"long_name": "test-set recall of class 1", "units": "1"},
    "f1": {"long_name": "test-set F1 score of class 1", "units": "1"},
    "roc_auc": {"long_name": "test-set area under the ROC curve", "units": "1"},
    "r2": {"long_name": "test-set coefficient of determination", "units": "1"},
    "rmse": {"long_name": "test-set root-mean-square error (label units)"},
}


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray
) -> dict[str, float]:
    """Accuracy, balanced accuracy, precision, recall, F1 (class 1) and ROC AUC of ``y_score``.

    Precision of a probe that never predicts class 1 is reported as 0 (not an error).
    """
    from sklearn import metrics as skm  # heavy

    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    out = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, zero_division=0),
        "recall": skm.recall_score(y_true, y_pred, zero_division=0),
        "f1": skm.f1_score(y_true, y_pred, zero_division=0),
        "roc_auc": (
            skm.roc_auc_score(y_true, y_score) if np.unique(y_true).size == 2 else np.nan
        ),
    }
    return {k: float(v) for k, v in out.items()}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Coefficient of determination and root-mean-square error."""
    from sklearn import metrics as skm  # heavy

    return {
        "r2": float(skm.r2_score(y_true, y_pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
    }
