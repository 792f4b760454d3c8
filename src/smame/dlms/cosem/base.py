"""The COSEM object framework: objects, attributes, methods, access rights, results.

An object's attributes are getters and setters over a live :class:`smame.meter.Meter`:
nothing is copied, so a GET always sees the meter as it is now. Two client roles exist
(SPEC S14): the public client may read only attributes marked ``public``; the management
client may read every attribute with a getter, write those with a setter and invoke
every method.

Errors travel as :class:`CosemError` carrying a Data-Access-Result. Validation errors of
the meter (ValueError, KeyError) become ``other-reason``; bad parameter types become
``type-unmatched``. Nothing else escapes :class:`Model`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, IntFlag
from typing import TYPE_CHECKING, Any

from dlms_cosem.enumerations import DataAccessResult

from smame.dlms.axdr import AxdrError, Data
from smame.dlms.cosem_time import TimeFormatError
from smame.dlms.obis import ln_str

if TYPE_CHECKING:
    from smame.meter import Meter

__all__ = [
    "Access",
    "AttributeDef",
    "Context",
    "CosemError",
    "CosemObject",
    "MethodDef",
    "Model",
    "Role",
    "Selection",
]


class Role(Enum):
    """Who is associated: the public client (SAP 16) or the management client (SAP 1)."""

    PUBLIC = "public"
    MANAGEMENT = "management"


class Access(IntFlag):
    NONE = 0
    READ = 1
    WRITE = 2


class CosemError(Exception):
    """A request that fails with a Data-Access-Result (the ACTION result uses the same
    numbers)."""

    def __init__(self, result: DataAccessResult, detail: str = "") -> None:
        super().__init__(f"{result.name.lower()}: {detail}" if detail else result.name.lower())
        self.result = result


@dataclass(frozen=True)
class Selection:
    """Selective access: a selector and its parameters (SPEC M3 profile reads)."""

    selector: int
    parameters: Data


@dataclass
class Context:
    """What a getter, setter or method sees: the meter, the server's state for it, the
    association the request came on, and a sink for events it raises (e.g. a push)."""

    meter: Meter
    endpoint: Any  # smame.dlms.server.MeterEndpoint (kept untyped to avoid an import cycle)
    association: Any  # smame.dlms.association.Association
    emit: Callable[[object], None] = field(default=lambda _event: None)

    @property
    def role(self) -> Role:
        return self.association.role


Getter = Callable[[Context, Selection | None], bytes]
Setter = Callable[[Context, Data], None]
Caller = Callable[[Context, Data | None], bytes | None]


@dataclass(frozen=True)
class AttributeDef:
    """One attribute: ``get`` returns encoded A-XDR Data; ``set`` takes decoded Data."""

    get: Getter | None = None
    set: Setter | None = None
    public: bool = False
    selectors: frozenset[int] = frozenset()
    doc: str = ""


@dataclass(frozen=True)
class MethodDef:
    call: Caller
    doc: str = ""


@dataclass
class CosemObject:
    """One interface-class instance, named by its logical name (6 octets)."""

    class_id: int
    logical_name: bytes
    name: str
    attributes: dict[int, AttributeDef]
    methods: dict[int, MethodDef] = field(default_factory=dict)
    version: int = 0
    backing: str = ""

    def __post_init__(self) -> None:
        from smame.dlms import axdr

        ln = axdr.octet_string(self.logical_name)
        public = any(a.public for a in self.attributes.values())
        self.attributes = {1: AttributeDef(lambda _c, _s: ln, public=public,
                                           doc="logical_name"), **self.attributes}

    def access(self, role: Role, index: int) -> Access:
        attribute = self.attributes.get(index)
        if attribute is None:
            return Access.NONE
        if role is Role.PUBLIC:
            return Access.READ if attribute.public and attribute.get else Access.NONE
        mode = Access.NONE
        if attribute.get is not None:
            mode |= Access.READ
        if attribute.set is not None:
            mode |= Access.WRITE
        return mode

    def may_invoke(self, role: Role, index: int) -> bool:
        return role is Role.MANAGEMENT and index in self.methods

    def visible_to(self, role: Role) -> bool:
        """Whether ``role`` may use any attribute or method: the objects listed in its
        association's object_list."""
        return (any(self.access(role, index) for index in self.attributes)
                or any(self.may_invoke(role, index) for index in self.methods))

    def __repr__(self) -> str:
        return f"CosemObject({self.class_id}, {ln_str(self.logical_name)}, {self.name!r})"


def _guard(call: Callable[[], Any]) -> Any:
    """Run a handler; map what it raises to a :class:`CosemError`."""
    try:
        return call()
    except CosemError:
        raise
    except (AxdrError, TimeFormatError) as exc:
        raise CosemError(DataAccessResult.TYPE_UNMATCHED, str(exc)) from None
    except (ValueError, KeyError) as exc:  # the meter refused (limit range, past time…)
        raise CosemError(DataAccessResult.OTHER_REASON, str(exc)) from None


class Model:
    """The objects of one meter, looked up by logical name."""

    def __init__(self, objects: Iterable[CosemObject]) -> None:
        self._objects: dict[bytes, CosemObject] = {}
        for obj in objects:
            if obj.logical_name in self._objects:
                raise ValueError(f"duplicate logical name {ln_str(obj.logical_name)}")
            self._objects[obj.logical_name] = obj

    def __iter__(self):
        return iter(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)

    def __getitem__(self, logical_name: bytes) -> CosemObject:
        return self._objects[logical_name]

    def find(self, class_id: int, logical_name: bytes) -> CosemObject:
        obj = self._objects.get(bytes(logical_name))
        if obj is None:
            raise CosemError(DataAccessResult.OBJECT_UNDEFINED, ln_str(logical_name))
        if obj.class_id != class_id:
            raise CosemError(DataAccessResult.OBJECT_CLASS_INCONSISTENT,
                             f"{ln_str(logical_name)} is class {obj.class_id}, not {class_id}")
        return obj

    def get(self, ctx: Context, class_id: int, logical_name: bytes, index: int,
            selection: Selection | None = None) -> bytes:
        obj = self.find(class_id, logical_name)
        attribute = obj.attributes.get(index)
        if attribute is None:
            raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"no attribute {index}")
        if not obj.access(ctx.role, index) & Access.READ:
            raise CosemError(DataAccessResult.READ_WRITE_DENIED)
        if selection is not None and selection.selector not in attribute.selectors:
            raise CosemError(DataAccessResult.OBJECT_UNAVAILABLE,
                             f"selector {selection.selector} is not supported")
        assert attribute.get is not None
        getter = attribute.get
        return _guard(lambda: getter(ctx, selection))

    def set(self, ctx: Context, class_id: int, logical_name: bytes, index: int,
            value: Data, selection: Selection | None = None) -> None:
        obj = self.find(class_id, logical_name)
        attribute = obj.attributes.get(index)
        if attribute is None:
            raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"no attribute {index}")
        if not obj.access(ctx.role, index) & Access.WRITE:
            raise CosemError(DataAccessResult.READ_WRITE_DENIED)
        if selection is not None:
            raise CosemError(DataAccessResult.OBJECT_UNAVAILABLE, "no selective SET")
        assert attribute.set is not None
        setter = attribute.set
        _guard(lambda: setter(ctx, value))

    def action(self, ctx: Context, class_id: int, logical_name: bytes, index: int,
               parameters: Data | None) -> bytes | None:
        obj = self.find(class_id, logical_name)
        method = obj.methods.get(index)
        if method is None:
            raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"no method {index}")
        if not obj.may_invoke(ctx.role, index):
            raise CosemError(DataAccessResult.READ_WRITE_DENIED)
        return _guard(lambda: method.call(ctx, parameters))
