"""What `make evaluate` chooses on dev questions for the served pipeline: the hybrid's
fusion and the abstention threshold. Written next to the index it was chosen for
(`index/calibration.json`), so the image that ships the index ships them too."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .index import Manifest
from .platform.files import write_json
from .retrieval import Fusion

CALIBRATION = "calibration.json"


@dataclass(frozen=True)
class Calibration:
    embedding_model: str
    corpus_sha256: str
    chunking: str
    fusion: Fusion
    # Abstain when the best dense cosine is below this; None: never (no
    # out-of-scope questions to choose it on).
    abstain_below: float | None

    def fits(self, manifest: Manifest) -> bool:
        return (self.embedding_model, self.corpus_sha256, self.chunking) == (
            manifest.embedding_model,
            manifest.corpus_sha256,
            manifest.chunking,
        )


def save_calibration(index_dir: Path, calibration: Calibration) -> None:
    write_json(index_dir / CALIBRATION, asdict(calibration))


def load_calibration(index_dir: Path, manifest: Manifest) -> Calibration | None:
    """The calibration chosen for this very index, or None (defaults are used): a file
    from another corpus, model or chunking, or an unreadable one, is ignored."""
    path = index_dir / CALIBRATION
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        calibration = Calibration(**(raw | {"fusion": Fusion(**raw["fusion"])}))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return calibration if calibration.fits(manifest) else None
