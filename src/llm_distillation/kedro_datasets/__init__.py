"""Custom Kedro datasets of this project (``type: llm_distillation.kedro_datasets.<Name>``)."""

from llm_distillation.kedro_datasets.benchmark_source import BenchmarkSourceDataset
from llm_distillation.kedro_datasets.hf_model import HFModelFolderDataset
from llm_distillation.kedro_datasets.packaged_file import PackagedFileDataset
from llm_distillation.kedro_datasets.per_teacher_parquet import PerTeacherParquetDataset
from llm_distillation.kedro_datasets.polars_table import PolarsTableDataset
from llm_distillation.kedro_datasets.student_model import (
    StudentModelDataset,
    TrainingCheckpointsDataset,
    TrainingCurvesDataset,
)
from llm_distillation.kedro_datasets.teacher_shards import TeacherShardsDataset

__all__ = [
    "BenchmarkSourceDataset",
    "HFModelFolderDataset",
    "PackagedFileDataset",
    "PerTeacherParquetDataset",
    "PolarsTableDataset",
    "StudentModelDataset",
    "TeacherShardsDataset",
    "TrainingCheckpointsDataset",
    "TrainingCurvesDataset",
]
