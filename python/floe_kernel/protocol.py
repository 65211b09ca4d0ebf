"""The protocol between floe and its kernels, read from protocol.def (the
same file the C side includes as X-macros): the artifact codecs as
CODEC_<ID> = "name" and CODECS, and every message as MESSAGES[op] =
(direction, fields)."""
import os
import re

_DEF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protocol.def")

CODECS = {}
MESSAGES = {}

with open(_DEF, encoding="utf-8") as _f:
    _text = _f.read()
for _id, _name in re.findall(r'^FLOE_CODEC\((\w+),\s*"([^"]*)"', _text, re.M):
    CODECS[_name] = _id
    globals()["CODEC_" + _id] = _name
for _id, _op, _dir, _fields in re.findall(r'^FLOE_MSG\((\w+),\s*"([^"]*)",\s*"([^"]*)",\s*"([^"]*)"\)', _text, re.M):
    MESSAGES[_op] = (_dir, _fields.split())
del _f, _text
