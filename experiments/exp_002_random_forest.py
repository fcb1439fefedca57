"""Does a bigger forest help on the heart-disease data?"""

from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import make_pipeline

from pytest_experiments import experiment


@experiment(
    params={"n_estimators": [50, 100, 200, 300, 500]},
    expect={"accuracy": ">= 0.75", "f1": ">= 0.70"},
    tolerance={"accuracy": 0.02},
    repeats=3,
)
def exp_random_forest(n_estimators, heart, seed, experiment_run):
    """Random forest over the number of trees."""
    model = make_pipeline(
        SimpleImputer(strategy="median"),
        RandomForestClassifier(n_estimators=n_estimators, random_state=seed),
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
