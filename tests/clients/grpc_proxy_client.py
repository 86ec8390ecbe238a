#!/usr/bin/env python3
"""A grpcio client of the example gRPC service (sidecars/grpc_service.py), pointed at
sidetop's proxy: unary calls that succeed and fail, server-streaming calls to their last
message. Prints one JSON line of what came back. Usage: grpc_proxy_client.py PORT [down]
("down": one call, expecting UNAVAILABLE, its details printed)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "sidecars"))
import grpc  # noqa: E402
import grpc_service  # noqa: E402

_, M = grpc_service.build_pool()
channel = grpc.insecure_channel("127.0.0.1:" + sys.argv[1])
prefix = "/" + grpc_service.SERVICE + "/"
get_price = channel.unary_unary(prefix + "GetPrice", request_serializer=M["PriceRequest"].SerializeToString,
                                response_deserializer=M["PriceReply"].FromString)
ticks = channel.unary_stream(prefix + "Ticks", request_serializer=M["PriceRequest"].SerializeToString,
                             response_deserializer=M["PriceReply"].FromString)

if sys.argv[2:] == ["down"]:
    try:
        get_price(M["PriceRequest"](pair="BTC"), timeout=10)
        print(json.dumps({"code": "OK"}))
    except grpc.RpcError as e:
        print(json.dumps({"code": e.code().name, "details": e.details()}))
    sys.exit(0)

out = {"ok": 0, "not_found": 0, "prices": [], "streams": [], "stream_errors": []}
for i in range(20):
    reply = get_price(M["PriceRequest"](pair="P" * (i % 3 + 1)), timeout=10)
    out["ok"] += 1
    out["prices"].append(reply.price)
for _ in range(5):
    try:
        get_price(M["PriceRequest"](pair="FAIL"), timeout=10)
    except grpc.RpcError as e:
        out["not_found"] += e.code() == grpc.StatusCode.NOT_FOUND
for _ in range(3):
    out["streams"].append([r.price for r in ticks(M["PriceRequest"](pair="BTC"), timeout=10)])
got = []
try:
    for r in ticks(M["PriceRequest"](pair="FAIL"), timeout=10):
        got.append(r.price)
except grpc.RpcError as e:
    out["stream_errors"].append([e.code().name, got])
print(json.dumps(out))
