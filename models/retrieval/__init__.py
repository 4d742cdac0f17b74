"""Two-tower retrieval: from the whole catalogue, the few hundred titles worth ranking.

Data: `load_interactions(warehouse_path) -> InteractionData` (`data`).
Training (imports TensorFlow): `models.retrieval.model.train_two_tower(data, split, config)`;
end to end with evaluation and a saved version: `models.retrieval.train.train_retrieval`.
Serving (numpy only): `load_artifacts(path) -> (TwoTowerRetriever, manifest)`, then
`retriever.recommend(user_id, history=..., features=..., k=200)`.
Evaluation: `models.retrieval.evaluate.evaluate_retrieval(warehouse_path) -> dict`.
"""

from models.retrieval.artifacts import ArtifactError, list_versions, load_artifacts, save_artifacts
from models.retrieval.config import RetrievalConfig
from models.retrieval.data import InteractionData, load_interactions, make_interaction_data
from models.retrieval.retriever import Recommendation, TwoTowerRetriever

__all__ = [
    "ArtifactError",
    "InteractionData",
    "Recommendation",
    "RetrievalConfig",
    "TwoTowerRetriever",
    "list_versions",
    "load_artifacts",
    "load_interactions",
    "make_interaction_data",
    "save_artifacts",
]
