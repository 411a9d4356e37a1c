"""Pure models and rules: no I/O, no Qt, no HTTP, no SQL (enforced by import-linter).

Import from the module that holds a name (`ibdesk.domain.models`, `.enums`, `.errors`,
`.naming`, `.status`…): this package imports nothing itself, so that reaching one cheap
module (the enums the command line's parser offers) does not load pydantic.
"""
