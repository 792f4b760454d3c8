"""The current association, 0.0.40.0.0.255 (Association LN, class 15, version 1), as seen
by the association that asks (SPEC S14, ``docs/obis.md``).

Every association reads its own view: the public client (SAP 16) gets the objects it may
access and nothing else, the management client (SAP 1) every object; each object comes
with the asking client's access rights. Attributes (Blue Book, class 15 version 1):

1 logical_name; 2 object_list; 3 associated_partners_id {client SAP, server SAP};
4 application_context_name; 5 xDLMS_context_info; 6 authentication_mechanism_name;
7 secret (never readable: HLS-GMAC proves the keys, it has no secret to show);
8 association_status; 9 security_setup_reference.
"""

from __future__ import annotations

from dlms_cosem.enumerations import DataAccessResult

from smame.dlms import axdr, obis
from smame.dlms.axdr import Data
from smame.dlms.cosem.base import (
    Access,
    AttributeDef,
    Context,
    CosemError,
    CosemObject,
    MethodDef,
    Role,
    Selection,
)

__all__ = ["NO_SECURITY_SETUP", "OID_DLMS_UA", "association_ln", "object_list"]

OID_DLMS_UA = (2, 16, 756, 5, 8)
"""joint-iso-ccitt(2) country(16) country-name(756) identified-organization(5) DLMS-UA(8):
the arc above every DLMS application context and mechanism name."""
APPLICATION_CONTEXT_ARC, MECHANISM_ARC = 1, 2
NO_SECURITY_SETUP = bytes(6)
"""security_setup_reference of an association without security: no object (0.0.0.0.0.0)."""
QUALITY_OF_SERVICE_NONE = 0
SERVER_SAP = 1  # the management logical device


def _name_structure(arc: int, last: int) -> bytes:
    """An application context or mechanism name as the class 15 structure of seven
    elements {2, 16, 756, 5, 8, arc, id} (unsigned, except long-unsigned 756)."""
    joint, country, country_name, organization, dlms_ua = OID_DLMS_UA
    return axdr.structure(axdr.unsigned(joint), axdr.unsigned(country),
                          axdr.long_unsigned(country_name), axdr.unsigned(organization),
                          axdr.unsigned(dlms_ua), axdr.unsigned(arc), axdr.unsigned(last))


def _object_entry(obj: CosemObject, role: Role) -> bytes:
    attributes = []
    for index, attribute in obj.attributes.items():
        mode = obj.access(role, index)
        selectors = (axdr.array(axdr.integer(s) for s in sorted(attribute.selectors))
                     if attribute.selectors and mode & Access.READ else axdr.null())
        attributes.append(axdr.structure(axdr.integer(index), axdr.enum(int(mode)),
                                         selectors))
    methods = [axdr.structure(axdr.integer(i), axdr.enum(int(obj.may_invoke(role, i))))
               for i in obj.methods]
    return axdr.structure(
        axdr.long_unsigned(obj.class_id), axdr.unsigned(obj.version),
        axdr.octet_string(obj.logical_name),
        axdr.structure(axdr.array(attributes), axdr.array(methods)))


def object_list(ctx: Context, _selection: Selection | None = None) -> bytes:
    """Attribute 2: the objects the asking client may access, each with its access
    rights (attribute access: 0 none, 1 read, 2 write, 3 read and write, with the
    selective-access selectors of a readable attribute; method access: 0 none, 1 access)."""
    role: Role = ctx.role
    return axdr.array(_object_entry(obj, role) for obj in ctx.endpoint.model
                      if obj.visible_to(role))


def _partners(ctx: Context, _selection: Selection | None) -> bytes:
    return axdr.structure(axdr.integer(ctx.association.client_sap),
                          axdr.long_unsigned(SERVER_SAP))


def _application_context_name(ctx: Context, _selection: Selection | None) -> bytes:
    return _name_structure(APPLICATION_CONTEXT_ARC, ctx.association.application_context)


def _xdlms_context_info(ctx: Context, _selection: Selection | None) -> bytes:
    """Attribute 5: the negotiated conformance block (24 bits), the largest APDU the meter
    receives, the largest it sends on this association (the client's max-receive size),
    the DLMS version, quality of service (unused) and cyphering_info (empty: dedicated
    keys are not offered)."""
    from smame.dlms.association import DLMS_VERSION

    association = ctx.association
    conformance = association.conformance.to_bytes()[-3:]
    return axdr.structure(
        axdr.bit_string(conformance),
        axdr.long_unsigned(ctx.endpoint.config.max_receive_pdu),
        axdr.long_unsigned(min(association.client_max_pdu, 0xFFFF)),
        axdr.unsigned(DLMS_VERSION), axdr.integer(QUALITY_OF_SERVICE_NONE),
        axdr.octet_string(b""))


def _mechanism_name(ctx: Context, _selection: Selection | None) -> bytes:
    return _name_structure(MECHANISM_ARC, int(ctx.association.mechanism))


def _status(ctx: Context, _selection: Selection | None) -> bytes:
    """Attribute 8: 0 non-associated, 1 association-pending (HLS not done), 2 associated."""
    return axdr.enum(2 if ctx.association.authenticated else 1)


def _security_setup_reference(ctx: Context, _selection: Selection | None) -> bytes:
    return axdr.octet_string(obis.SECURITY_SETUP if ctx.association.ciphered
                             else NO_SECURITY_SETUP)


def _already_authenticated(_ctx: Context, _params: Data | None) -> bytes | None:
    raise CosemError(DataAccessResult.READ_WRITE_DENIED, "no HLS pending")


def association_ln() -> CosemObject:
    """Current association 0.0.40.0.0.255. Method 1 ``reply_to_HLS`` is served by the
    association layer while HLS is pending; once associated it is refused."""
    attributes = {
        2: AttributeDef(object_list, public=True, doc="object_list"),
        3: AttributeDef(_partners, public=True, doc="associated_partners_id"),
        4: AttributeDef(_application_context_name, public=True,
                        doc="application_context_name"),
        5: AttributeDef(_xdlms_context_info, public=True, doc="xDLMS_context_info"),
        6: AttributeDef(_mechanism_name, public=True, doc="authentication_mechanism_name"),
        7: AttributeDef(doc="secret (no access)"),
        8: AttributeDef(_status, public=True, doc="association_status"),
        9: AttributeDef(_security_setup_reference, public=True,
                        doc="security_setup_reference"),
    }
    return CosemObject(15, obis.CURRENT_ASSOCIATION, "Current association", attributes,
                       {1: MethodDef(_already_authenticated, "reply_to_HLS")}, version=1,
                       backing="the association of the request")
