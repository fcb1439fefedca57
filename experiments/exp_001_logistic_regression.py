"""How much regularisation does a linear model want on the heart data?"""

from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pytest_experiments import experiment


@experiment(
    params={"C": [0.01, 0.1, 1.0, 10.0, 100.0]},
    expect={"accuracy": ">= 0.75", "roc_auc": ">= 0.85"},
    tolerance={"accuracy": 0.02},
    # Deterministic: one fit per case; the paired test sees the test set's noise.
    repeats=1,
)
def exp_logistic_regression(C, heart, seed, experiment_run):
    """Logistic regression (median imputation, standard scaling) over C."""
    model = make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(C=C, max_iter=5000, random_state=seed),
    )
    model.fit(heart.X_train, heart.y_train)
    experiment_run.log_model(model)
    pred = model.predict(heart.X_test)
    proba = model.predict_proba(heart.X_test)[:, 1]
    # The gate compares these with the baseline's, patient by patient.
    experiment_run.log_predictions(heart.y_test, pred, index=heart.X_test.index, y_score=proba)
    return {
        "accuracy": accuracy_score(heart.y_test, pred),
        "f1": f1_score(heart.y_test, pred),
        "roc_auc": roc_auc_score(heart.y_test, proba),
    }
