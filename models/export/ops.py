"""List the operators a .tflite flatbuffer uses, to prove an export needs no Flex (TensorFlow) kernels."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

_BUILTIN_NAMES = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}
_CUSTOM = schema.BuiltinOperator.CUSTOM


def operator_names(content: bytes) -> list[str]:
    """Sorted operator names: builtin names (FULLY_CONNECTED, ...) and custom codes (FlexCumprod, ...)."""
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    names = set()
    for code in model.operatorCodes or []:
        # Builtin codes above 127 live in builtinCode; older files only fill deprecatedBuiltinCode.
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        if builtin == _CUSTOM:
            custom = code.customCode
            names.add(custom.decode() if isinstance(custom, bytes) else str(custom))
        else:
            names.add(_BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}"))
    return sorted(names)


def flex_ops(content: bytes) -> list[str]:
    """The Flex (select TensorFlow) ops in the model; empty for a builtin-only export."""
    return [name for name in operator_names(content) if name.startswith("Flex")]
