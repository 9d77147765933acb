"""The typed model signature (relucompile.ir.signature) and load_network's single parse."""
from __future__ import annotations

import dataclasses
import hashlib

import onnx.serialization

from relucompile import load_network
from relucompile.examples import tiny_mlp_path
from relucompile.examples.random_nets import random_mlp
from relucompile.ir.signature import ModelSignature


def test_load_network_records_a_typed_signature_and_the_file_hash() -> None:
    net = load_network(tiny_mlp_path())
    assert isinstance(net.signature, ModelSignature)
    assert (net.signature.input_name, net.signature.output_name) == ("x", "y")
    assert net.signature.input_dims == ("N", 2) and net.signature.input_elem_type == onnx.TensorProto.FLOAT
    with open(tiny_mlp_path(), "rb") as f:
        assert net.source_sha256 == hashlib.sha256(f.read()).hexdigest()
    assert net.source == net.source_name == "tiny_mlp.onnx"
    assert net.relu_nodes and net.graph is not None


def test_a_network_built_from_weights_has_no_source() -> None:
    net = random_mlp(2, [3], 1)
    assert net.signature == ModelSignature() and len(net.signature) == 0
    assert net.source_sha256 == "" and net.source_name == ""


def test_the_signature_reads_as_a_mapping_of_its_known_fields() -> None:
    sig = ModelSignature(input_name="x", output_dims=("N", 3))
    assert dict(sig) == {"input_name": "x", "output_dims": ("N", 3)}
    assert sig.get("output_name", "output") == "output" and sig["input_name"] == "x"
    assert "opset" not in sig and "no_such_field" not in sig
    assert set(f.name for f in dataclasses.fields(sig)) >= set(dict(ModelSignature(*["a"] * 10)))


def test_load_network_parses_the_file_once(monkeypatch) -> None:
    serializer = type(onnx.serialization.registry.get("protobuf"))
    parse = serializer.deserialize_proto
    calls = []

    def counting(self, serialized, proto):
        calls.append(len(serialized))
        return parse(self, serialized, proto)

    monkeypatch.setattr(serializer, "deserialize_proto", counting)
    load_network(tiny_mlp_path())
    assert len(calls) == 1
