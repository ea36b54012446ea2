"""A Node.js client written the usual way (@grpc/grpc-js with @grpc/proto-loader's defaults: clients/node) gets
the same answer as the Python client for every example request, whether it sends the field names of protoc's
JSON mapping or the deprecated fields as protobufjs spells them; and protobufjs and protoc spell every live
field of the API the same way.

clients/node's packages are installed by ``make test`` (``make node-client``); the server is the shared real one.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from precisionpain.service.client import RecommendationClient
from precisionpain.v1 import patient_pb2, recommendation_pb2, service_pb2
from tests.contract.serverproc import ServerProcess

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / "clients" / "node"
PROTO_ROOT = REPO / "proto"
TIMESTAMP = "google.protobuf.Timestamp"
EXAMPLE_REQUESTS = sorted((REPO / "examples" / "requests").glob("*.json"))


def run_node(*args: str, timeout_s: float = 120) -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.fail("Node.js and clients/node's packages are needed: run `make node-client` (make test does)")
    result = subprocess.run(
        [node, "recommend.js", *args], cwd=NODE_DIR, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def node_names() -> dict[str, dict[int, str]]:
    """Message full name -> field number -> the field's name as protobufjs gives it to a Node application."""
    raw = json.loads(run_node("fields", str(PROTO_ROOT)))
    return {message: {int(n): name for n, name in fields.items()} for message, fields in raw.items()}


def api_messages() -> list[Descriptor]:
    """Every message type of precisionpain.v1 (map entries are fields to protobufjs, not messages)."""
    out: list[Descriptor] = []
    todo = [m for module in (patient_pb2, recommendation_pb2, service_pb2) for m in module.DESCRIPTOR.message_types_by_name.values()]
    while todo:
        message = todo.pop()
        if not message.GetOptions().map_entry:
            out.append(message)
            todo.extend(message.nested_types)
    return sorted(out, key=lambda m: m.full_name)


def test_protobufjs_and_protoc_spell_every_live_field_alike(node_names: dict[str, dict[int, str]]) -> None:
    """A field protobufjs camel-cases differently from protoc's JSON name is silently dropped when a Node client
    sends the JSON name (hla_b_1502: "hlaB_1502" against "hlaB1502"); only deprecated fields may be such."""
    assert set(node_names) == {m.full_name for m in api_messages()}
    split = [
        f"{m.name}.{f.name}: protobufjs {node_names[m.full_name][f.number]!r}, protoc JSON {f.json_name!r}"
        for m in api_messages()
        for f in m.fields
        if node_names[m.full_name][f.number] != f.json_name and not f.GetOptions().deprecated
    ]
    assert not split, split


def node_object(message: Message, names: dict[str, dict[int, str]]) -> dict[str, Any]:
    """A message as a Node application builds it for protobufjs: its field names, enums by number."""
    fields = names[message.DESCRIPTOR.full_name]
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        def one(v: Any, field: FieldDescriptor = field) -> Any:
            return node_object(v, names) if field.message_type is not None else v

        out[fields[field.number]] = [one(v) for v in value] if field.is_repeated else one(value)
    return out


def with_deprecated_fields(message: Message) -> Message:
    """The same request with every renamed field sent under its old (deprecated) name, as clients written
    before the renaming send it."""
    from precisionpain.service.convert import RENAMED_FIELDS

    copy = type(message)()
    copy.CopyFrom(message)
    todo: list[Message] = [copy]
    while todo:
        msg = todo.pop()
        for old, new in RENAMED_FIELDS.get(msg.DESCRIPTOR.full_name, ()):
            if msg.HasField(new) if msg.DESCRIPTOR.fields_by_name[new].has_presence else getattr(msg, new):
                setattr(msg, old, getattr(msg, new))
                msg.ClearField(new)
        for field, value in msg.ListFields():
            if field.message_type is not None:
                todo.extend(value if field.is_repeated else [value])
    return copy


def comparable(response: Message) -> Message:
    """The answer without what differs between two calls: request ids and when the answer was made."""
    todo = [response]
    while todo:
        msg = todo.pop()
        for field, value in msg.ListFields():
            timestamp = field.message_type is not None and field.message_type.full_name == TIMESTAMP
            if field.name == "request_id" or timestamp:
                msg.ClearField(field.name)
            elif field.message_type is not None:
                todo.extend(value if field.is_repeated else [value])
    return response


def ranking(response: Message) -> Any:
    if isinstance(response, service_pb2.RecommendBatchResponse):
        return [ranking(r.response) if r.HasField("response") else r.error.message for r in response.results]
    return (
        [(o.option_id, o.rank) for o in response.options],  # type: ignore[attr-defined]
        [o.option_id for o in response.excluded],  # type: ignore[attr-defined]
    )


def test_node_client_answers_every_example_request_like_the_python_client(
    shared_server: ServerProcess, node_names: dict[str, dict[int, str]], tmp_path: Path
) -> None:
    assert len(EXAMPLE_REQUESTS) >= 7
    calls: list[dict[str, Any]] = []
    expected: list[tuple[str, str, Message]] = []
    with RecommendationClient(shared_server.target, timeout_s=30) as client:
        for path in EXAMPLE_REQUESTS:
            if path.stem == "batch":
                method, batch = "RecommendBatch", json_format.Parse(path.read_text(), service_pb2.RecommendBatchRequest())
                answer: Message = client.recommend_batch(list(batch.requests))
                request: Message = batch
            else:
                method, request = "Recommend", json_format.Parse(path.read_text(), service_pb2.RecommendRequest())
                answer = client.recommend(request)
            answer = comparable(answer)
            calls.append({"method": method, "request": json_format.MessageToDict(request)})
            expected.append((f"{path.name} (protoc JSON names)", method, answer))
            calls.append({"method": method, "request": node_object(with_deprecated_fields(request), node_names)})
            expected.append((f"{path.name} (deprecated fields, protobufjs names)", method, answer))
    calls_path = tmp_path / "calls.json"
    calls_path.write_text(json.dumps(calls))
    lines = run_node("call", str(PROTO_ROOT), shared_server.target, str(calls_path)).splitlines()
    assert len(lines) == len(expected)
    differ = []
    for (what, method, want), line in zip(expected, lines, strict=True):
        result = json.loads(line)
        assert "response" in result, f"{what}: {result}"
        kind = service_pb2.RecommendBatchResponse if method == "RecommendBatch" else service_pb2.RecommendResponse
        got = comparable(kind.FromString(base64.b64decode(result["response"])))
        if ranking(got) != ranking(want):
            differ.append(f"{what}: ranked {ranking(got)} against the Python client's {ranking(want)}")
        elif got != want:
            differ.append(f"{what}: same ranking, different answer")
    assert not differ, "\n".join(differ)
