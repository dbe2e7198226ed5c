"""Build-time model optimisation: the step of ``svai build`` that prepares the model file.

It sits between the user's trained model and the packaged runtime artifact (``svai.build.package``):
tabular models (scikit-learn, XGBoost, LightGBM pickles; XGBoost, LightGBM and CatBoost native
files) become checked ONNX graphs, sentence-transformers
encoders become ONNX + ``tokenizers`` folders with pooling inside the graph, and any of them can be
quantised to int8 behind a quality gate that falls back to fp32. Nothing here runs in the serving
path; every file written is byte-stable, so builds hash to the same version id.
"""

from svai.build.optimize.boosters import booster_features, convert_booster
from svai.build.optimize.canonical import canonicalize, save_model, sha256_file
from svai.build.optimize.convert import Conversion, convert_tabular
from svai.build.optimize.encoder import (
    EncoderExport,
    OnnxSentenceEncoder,
    export_sentence_encoder,
    quantize_encoder,
)
from svai.build.optimize.errors import (
    ConversionMismatchError,
    OptimizeError,
    UnsupportedModelError,
)
from svai.build.optimize.quality import Accuracy, ArgmaxAgreement, MeanCosine, QualityMetric
from svai.build.optimize.quantize import (
    Quantization,
    WeightCensus,
    count_weights,
    quantize_model,
)

__all__ = [
    "Accuracy",
    "ArgmaxAgreement",
    "Conversion",
    "ConversionMismatchError",
    "EncoderExport",
    "MeanCosine",
    "OnnxSentenceEncoder",
    "OptimizeError",
    "QualityMetric",
    "Quantization",
    "UnsupportedModelError",
    "WeightCensus",
    "booster_features",
    "canonicalize",
    "convert_booster",
    "convert_tabular",
    "count_weights",
    "export_sentence_encoder",
    "quantize_encoder",
    "quantize_model",
    "save_model",
    "sha256_file",
]
