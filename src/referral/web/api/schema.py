"""The OpenAPI schema says what the API refuses: a request body takes no unknown field."""

from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar._openapi.schema_generation.schema import SchemaCreator
from litestar.openapi.spec import Schema
from litestar.typing import FieldDefinition

from referral.web.api.models import Body


class ClosedBodySchema(StructSchemaPlugin):
    """Bodies are `forbid_unknown_fields` (a misspelt field answers 400); Litestar's own
    plugin leaves `additionalProperties` open, so clients and fuzzers would be told an
    extra field is fine. This one closes it."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.is_subclass_of(Body)

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema
