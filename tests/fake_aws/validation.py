"""Validation of JSON request bodies against botocore's operation models,
plus what botocore's ParamValidator leaves out (maxima, lengths, enums,
patterns), as AWS itself checks them. The models are loaded once per service
and shared by every thread."""
import copy
import datetime
import re
import threading

import botocore.session
import botocore.validate

from common import AwsError

_botocore_session = botocore.session.get_session()
_models = {}
_models_lock = threading.Lock()


def service_model(name):
    """botocore's model of the service (loaded on first use, then cached)."""
    with _models_lock:
        if name not in _models:
            _models[name] = _botocore_session.get_service_model(name)
        return _models[name]


def _to_datetime_members(params, shape):
    """JSON 1.1 sends timestamps as epoch numbers; botocore's validator wants
    datetimes or strings. Converts in place (a copy is validated)."""
    t = shape.type_name
    if t == 'structure' and isinstance(params, dict):
        for k, v in list(params.items()):
            if k in shape.members:
                ms = shape.members[k]
                if ms.type_name == 'timestamp' and isinstance(v, (int, float)) and not isinstance(v, bool):
                    params[k] = datetime.datetime.fromtimestamp(v, datetime.timezone.utc)
                else:
                    _to_datetime_members(v, ms)
    elif t == 'list' and isinstance(params, list):
        for v in params:
            _to_datetime_members(v, shape.member)
    elif t == 'map' and isinstance(params, dict):
        for v in params.values():
            _to_datetime_members(v, shape.value)


def _extra_checks(params, shape, name, errors):
    """What botocore's validator leaves out: max of numbers, max length of
    strings and lists, enums and patterns."""
    t = shape.type_name
    md = shape.metadata
    if t in ('integer', 'long', 'float', 'double') and isinstance(params, (int, float)) and not isinstance(params, bool):
        if 'min' in md and params < md['min']:
            errors.append('Invalid value for parameter %s, value: %s, valid min value: %s' % (name, params, md['min']))
        if 'max' in md and params > md['max']:
            errors.append('Invalid value for parameter %s, value: %s, valid max value: %s' % (name, params, md['max']))
    elif t == 'string' and isinstance(params, str):
        if 'max' in md and len(params) > md['max']:
            errors.append('Invalid length for parameter %s, value: %d, valid max length: %s' % (name, len(params), md['max']))
        if md.get('enum') and params not in md['enum']:
            errors.append("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]"
                          % (params, name, ', '.join(md['enum'])))
        pat = md.get('pattern')
        if pat:
            try:
                ok = re.fullmatch(pat, params) is not None
            except re.error:
                ok = True
            if not ok:
                errors.append("Value at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s"
                              % (name, pat))
    elif t == 'structure' and isinstance(params, dict):
        for k, v in params.items():
            if k in shape.members:
                _extra_checks(v, shape.members[k], '%s.%s' % (name, k) if name else k, errors)
    elif t == 'list' and isinstance(params, list):
        if 'max' in md and len(params) > md['max']:
            errors.append('Invalid length for parameter %s, value: %d, valid max length: %s' % (name, len(params), md['max']))
        for i, v in enumerate(params):
            _extra_checks(v, shape.member, '%s[%d]' % (name, i), errors)


def validate_params(service, op_name, params):
    """Returns the operation model; raises AwsError on invalid input."""
    model = service_model(service)
    try:
        op = model.operation_model(op_name)
    except Exception:
        raise AwsError('UnknownOperationException', 'Unknown operation %s' % op_name)
    if not isinstance(params, dict):
        raise AwsError('SerializationException', 'Start of structure or map found where not expected.', invalid=True)
    if op.input_shape is None:
        return op
    p = copy.deepcopy(params)
    _to_datetime_members(p, op.input_shape)
    report = botocore.validate.ParamValidator().validate(p, op.input_shape)
    msgs = []
    if report.has_errors():
        msgs.extend(report.generate_report().splitlines())
    _extra_checks(params, op.input_shape, '', msgs)
    msgs = list(dict.fromkeys(m.strip() for m in msgs if m.strip()))
    if msgs:
        raise AwsError('ValidationException', '; '.join(msgs), invalid=True)
    return op
