from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListCustomersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Customer(_message.Message):
    __slots__ = ("customer_id", "name", "tier", "feature_flags")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FLAGS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    name: str
    tier: str
    feature_flags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, customer_id: _Optional[str] = ..., name: _Optional[str] = ..., tier: _Optional[str] = ..., feature_flags: _Optional[_Iterable[str]] = ...) -> None: ...

class ListCustomersResponse(_message.Message):
    __slots__ = ("customers",)
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[Customer]
    def __init__(self, customers: _Optional[_Iterable[_Union[Customer, _Mapping]]] = ...) -> None: ...

class GetTaxonomyRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class Tag(_message.Message):
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

class Taxonomy(_message.Message):
    __slots__ = ("customer_id", "version", "tags")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    version: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    def __init__(self, customer_id: _Optional[str] = ..., version: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ...) -> None: ...

class ListModulesRequest(_message.Message):
    __slots__ = ("customer_id", "page_token", "page_size")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    page_token: str
    page_size: int
    def __init__(self, customer_id: _Optional[str] = ..., page_token: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class Module(_message.Message):
    __slots__ = ("module_id", "title", "description", "content_hash", "last_modified", "tag_ids")
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFIED_FIELD_NUMBER: _ClassVar[int]
    TAG_IDS_FIELD_NUMBER: _ClassVar[int]
    module_id: str
    title: str
    description: str
    content_hash: str
    last_modified: str
    tag_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, module_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., content_hash: _Optional[str] = ..., last_modified: _Optional[str] = ..., tag_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModulesResponse(_message.Message):
    __slots__ = ("modules", "next_page_token")
    MODULES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    modules: _containers.RepeatedCompositeFieldContainer[Module]
    next_page_token: str
    def __init__(self, modules: _Optional[_Iterable[_Union[Module, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApplyTagsRequest(_message.Message):
    __slots__ = ("customer_id", "module_id", "tag_ids", "idempotency_key")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_IDS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    module_id: str
    tag_ids: _containers.RepeatedScalarFieldContainer[str]
    idempotency_key: str
    def __init__(self, customer_id: _Optional[str] = ..., module_id: _Optional[str] = ..., tag_ids: _Optional[_Iterable[str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ApplyTagsResponse(_message.Message):
    __slots__ = ("module_id", "tag_ids", "replayed")
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_IDS_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    module_id: str
    tag_ids: _containers.RepeatedScalarFieldContainer[str]
    replayed: bool
    def __init__(self, module_id: _Optional[str] = ..., tag_ids: _Optional[_Iterable[str]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class ListRecordsRequest(_message.Message):
    __slots__ = ("customer_id", "page_token", "page_size")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    page_token: str
    page_size: int
    def __init__(self, customer_id: _Optional[str] = ..., page_token: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class Learner(_message.Message):
    __slots__ = ("learner_id", "customer_id", "region", "role", "hired_on")
    LEARNER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    HIRED_ON_FIELD_NUMBER: _ClassVar[int]
    learner_id: str
    customer_id: str
    region: str
    role: str
    hired_on: str
    def __init__(self, learner_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., region: _Optional[str] = ..., role: _Optional[str] = ..., hired_on: _Optional[str] = ...) -> None: ...

class ListLearnersResponse(_message.Message):
    __slots__ = ("learners", "next_page_token")
    LEARNERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    learners: _containers.RepeatedCompositeFieldContainer[Learner]
    next_page_token: str
    def __init__(self, learners: _Optional[_Iterable[_Union[Learner, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Completion(_message.Message):
    __slots__ = ("completion_id", "learner_id", "module_id", "completed_on", "score")
    COMPLETION_ID_FIELD_NUMBER: _ClassVar[int]
    LEARNER_ID_FIELD_NUMBER: _ClassVar[int]
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_ON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    completion_id: str
    learner_id: str
    module_id: str
    completed_on: str
    score: float
    def __init__(self, completion_id: _Optional[str] = ..., learner_id: _Optional[str] = ..., module_id: _Optional[str] = ..., completed_on: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class ListCompletionsResponse(_message.Message):
    __slots__ = ("completions", "next_page_token")
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    completions: _containers.RepeatedCompositeFieldContainer[Completion]
    next_page_token: str
    def __init__(self, completions: _Optional[_Iterable[_Union[Completion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class FieldPerformance(_message.Message):
    __slots__ = ("learner_id", "month", "metric", "value")
    LEARNER_ID_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    learner_id: str
    month: str
    metric: str
    value: float
    def __init__(self, learner_id: _Optional[str] = ..., month: _Optional[str] = ..., metric: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class ListFieldPerformanceResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[FieldPerformance]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[FieldPerformance, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
