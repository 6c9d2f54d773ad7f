from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaxonomyTag(_message.Message):
    __slots__ = ("tag_id", "label", "description", "aliases")
    TAG_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    tag_id: str
    label: str
    description: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tag_id: _Optional[str] = ..., label: _Optional[str] = ..., description: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ...) -> None: ...

class ModuleText(_message.Message):
    __slots__ = ("module_id", "title", "description")
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    module_id: str
    title: str
    description: str
    def __init__(self, module_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ApprovedTags(_message.Message):
    __slots__ = ("module_id", "tag_ids", "title", "description")
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_IDS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    module_id: str
    tag_ids: _containers.RepeatedScalarFieldContainer[str]
    title: str
    description: str
    def __init__(self, module_id: _Optional[str] = ..., tag_ids: _Optional[_Iterable[str]] = ..., title: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class SuggestTagsRequest(_message.Message):
    __slots__ = ("customer_id", "taxonomy_version", "taxonomy", "modules", "max_tags_per_module", "approved", "request_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_VERSION_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_FIELD_NUMBER: _ClassVar[int]
    MODULES_FIELD_NUMBER: _ClassVar[int]
    MAX_TAGS_PER_MODULE_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    taxonomy_version: str
    taxonomy: _containers.RepeatedCompositeFieldContainer[TaxonomyTag]
    modules: _containers.RepeatedCompositeFieldContainer[ModuleText]
    max_tags_per_module: int
    approved: _containers.RepeatedCompositeFieldContainer[ApprovedTags]
    request_id: str
    def __init__(self, customer_id: _Optional[str] = ..., taxonomy_version: _Optional[str] = ..., taxonomy: _Optional[_Iterable[_Union[TaxonomyTag, _Mapping]]] = ..., modules: _Optional[_Iterable[_Union[ModuleText, _Mapping]]] = ..., max_tags_per_module: _Optional[int] = ..., approved: _Optional[_Iterable[_Union[ApprovedTags, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SuggestedTag(_message.Message):
    __slots__ = ("tag_id", "confidence")
    TAG_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    tag_id: str
    confidence: float
    def __init__(self, tag_id: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class SuggestTagsReply(_message.Message):
    __slots__ = ("module_id", "tags", "rationale", "abstained", "model_version", "unreadable_output")
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    ABSTAINED_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    UNREADABLE_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    module_id: str
    tags: _containers.RepeatedCompositeFieldContainer[SuggestedTag]
    rationale: str
    abstained: bool
    model_version: str
    unreadable_output: str
    def __init__(self, module_id: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[SuggestedTag, _Mapping]]] = ..., rationale: _Optional[str] = ..., abstained: _Optional[bool] = ..., model_version: _Optional[str] = ..., unreadable_output: _Optional[str] = ...) -> None: ...

class DescribeTaggerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TaggerDescription(_message.Message):
    __slots__ = ("model_version", "max_batch_size", "backend")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    max_batch_size: int
    backend: str
    def __init__(self, model_version: _Optional[str] = ..., max_batch_size: _Optional[int] = ..., backend: _Optional[str] = ...) -> None: ...
