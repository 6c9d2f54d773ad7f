from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class InferSeniorityRequest(_message.Message):
    __slots__ = ("companies", "titles")
    COMPANIES_FIELD_NUMBER: _ClassVar[int]
    TITLES_FIELD_NUMBER: _ClassVar[int]
    companies: _containers.RepeatedScalarFieldContainer[str]
    titles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, companies: _Optional[_Iterable[str]] = ..., titles: _Optional[_Iterable[str]] = ...) -> None: ...

class InferSeniorityResponse(_message.Message):
    __slots__ = ("levels", "confidences", "model_version")
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    levels: _containers.RepeatedScalarFieldContainer[int]
    confidences: _containers.RepeatedScalarFieldContainer[float]
    model_version: str
    def __init__(self, levels: _Optional[_Iterable[int]] = ..., confidences: _Optional[_Iterable[float]] = ..., model_version: _Optional[str] = ...) -> None: ...

class DescribeModelRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelDescription(_message.Message):
    __slots__ = ("model_version", "max_batch_size")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    max_batch_size: int
    def __init__(self, model_version: _Optional[str] = ..., max_batch_size: _Optional[int] = ...) -> None: ...
