#!/usr/bin/env python3
"""A gRPC sidecar: a unary "Pricing" service, standard health checking and server reflection.

Usage: grpc_service.py PORT   (or GRPC_PORT=PORT; 0 picks a free port)
Serves plaintext HTTP/2 on 127.0.0.1:PORT. Prints "grpc_service: listening on
127.0.0.1:PORT" to stderr once ready; every Pricing call is logged there (method, peer).

The proto descriptors are built in code (no .proto file, no protoc): package
sidetop.example, file sidetop/example/pricing.proto, service sidetop.example.Pricing:
  GetPrice(PriceRequest) -> PriceReply   price = len(pair) * 1000.5; pair "FAIL" -> NOT_FOUND
  Sum(SumRequest) -> SumReply            total and count of values (OUT_OF_RANGE past int64)
  Slow(PriceRequest) -> PriceReply       like GetPrice, after GRPC_SLOW_MS ms (default 300)
  Ticks(PriceRequest) -> stream PriceReply  five replies 20 ms apart; pair "FAIL" -> NOT_FOUND
                                         after two
  SetServing(Empty) -> Empty             health of "" and the Pricing service -> SERVING
  SetNotServing(Empty) -> Empty          health of "" and the Pricing service -> NOT_SERVING
  PriceRequest{pair} PriceReply{pair, price, atUnixMs} SumRequest{values} SumReply{total, count}
Also served: grpc.health.v1.Health (Check/Watch) and grpc.reflection.v1alpha.ServerReflection,
plus the same reflection service under grpc.reflection.v1 (the two are wire-identical).

Environment:
  GRPC_PORT          port, if not given as an argument
  GRPC_DELAY_MS      extra sleep before every Pricing reply (a slower build)
  GRPC_SLOW_MS       how long Slow sleeps (default 300)
  GRPC_NOT_SERVING=1 start with health NOT_SERVING
SIGTERM/SIGINT: health goes NOT_SERVING, server.stop(grace=1), exit 0.
"""
import os
import signal
import sys
import threading
import time
from concurrent import futures

# Third-party: grpcio, grpcio-reflection, grpcio-health-checking (and protobuf), from
# sidecars/requirements-grpc.txt. If they are missing, the ModuleNotFoundError traceback
# goes to stderr and the process exits 1.
import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

PACKAGE = "sidetop.example"
SERVICE = PACKAGE + ".Pricing"
F = descriptor_pb2.FieldDescriptorProto


def log(msg):
    print("grpc_service: " + msg, file=sys.stderr, flush=True)


def ms_env(name, default):
    return float(os.environ.get(name) or default) / 1000.0


def build_pool():
    """Builds sidetop/example/pricing.proto in a fresh pool; returns (pool, message classes)."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="sidetop/example/pricing.proto", package=PACKAGE, syntax="proto3")
    messages = {
        "PriceRequest": [("pair", F.TYPE_STRING, False)],
        "PriceReply": [("pair", F.TYPE_STRING, False), ("price", F.TYPE_DOUBLE, False),
                       ("at_unix_ms", F.TYPE_INT64, False)],
        "SumRequest": [("values", F.TYPE_INT64, True)],
        "SumReply": [("total", F.TYPE_INT64, False), ("count", F.TYPE_INT32, False)],
        "Empty": [],
    }
    for name, fields in messages.items():
        msg = fdp.message_type.add(name=name)
        for number, (fname, ftype, repeated) in enumerate(fields, start=1):
            msg.field.add(name=fname, number=number, type=ftype,
                          label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
    svc = fdp.service.add(name="Pricing")
    for method, req, rep in METHODS:
        svc.method.add(name=method, input_type="." + PACKAGE + "." + req,
                       output_type="." + PACKAGE + "." + rep,
                       server_streaming=method in STREAMING)
    pool = descriptor_pool.DescriptorPool()
    # Health's and reflection's own files too, so reflection can describe every listed service.
    for module in (health_pb2, reflection_pb2):
        other = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(other)
        pool.Add(other)
    pool.Add(fdp)
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.21
        get_class = message_factory.GetMessageClass
    else:
        get_class = message_factory.MessageFactory(pool).GetPrototype
    classes = {n: get_class(pool.FindMessageTypeByName(PACKAGE + "." + n)) for n in messages}
    return pool, classes


METHODS = [("GetPrice", "PriceRequest", "PriceReply"), ("Sum", "SumRequest", "SumReply"),
           ("Slow", "PriceRequest", "PriceReply"), ("SetServing", "Empty", "Empty"),
           ("SetNotServing", "Empty", "Empty"), ("Ticks", "PriceRequest", "PriceReply")]
STREAMING = {"Ticks"}


def main():
    port = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("GRPC_PORT", "")
    if not port.isdigit():
        print("usage: grpc_service.py PORT   (or GRPC_PORT=PORT)", file=sys.stderr)
        return 2
    pool, M = build_pool()
    delay = ms_env("GRPC_DELAY_MS", 0)
    health_servicer = health.HealthServicer()
    SERVING = health_pb2.HealthCheckResponse.SERVING
    NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

    def set_health(status):
        for name in ("", SERVICE):
            health_servicer.set(name, status)

    def price_reply(pair, context):
        if pair == "FAIL":
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown pair " + pair)
        return M["PriceReply"](pair=pair, price=len(pair) * 1000.5,
                               at_unix_ms=int(time.time() * 1000))

    def get_price(req, context):
        return price_reply(req.pair, context)

    def slow(req, context):
        time.sleep(ms_env("GRPC_SLOW_MS", 300))
        return price_reply(req.pair, context)

    def sum_(req, context):
        total = sum(req.values)
        if not -2**63 <= total < 2**63:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, "sum overflows int64")
        return M["SumReply"](total=total, count=len(req.values))

    def set_serving(req, context):
        set_health(SERVING)
        return M["Empty"]()

    def set_not_serving(req, context):
        set_health(NOT_SERVING)
        return M["Empty"]()

    def ticks(req, context):
        log("call Ticks peer=%s" % context.peer())
        for n in range(5):
            if req.pair == "FAIL" and n == 2:
                context.abort(grpc.StatusCode.NOT_FOUND, "unknown pair " + req.pair)
            yield M["PriceReply"](pair=req.pair, price=n, at_unix_ms=int(time.time() * 1000))
            time.sleep(0.02)

    impls = {"GetPrice": get_price, "Sum": sum_, "Slow": slow,
             "SetServing": set_serving, "SetNotServing": set_not_serving}

    def wrap(method, fn):
        def handler(req, context):
            log("call %s peer=%s" % (method, context.peer()))
            reply = fn(req, context)
            if delay:
                time.sleep(delay)
            return reply
        return handler

    handlers = {
        method: grpc.unary_unary_rpc_method_handler(
            wrap(method, impls[method]), request_deserializer=M[req].FromString,
            response_serializer=M[rep].SerializeToString)
        for method, req, rep in METHODS if method not in STREAMING
    }
    handlers["Ticks"] = grpc.unary_stream_rpc_method_handler(
        ticks, request_deserializer=M["PriceRequest"].FromString,
        response_serializer=M["PriceReply"].SerializeToString)
    # so_reuseport=0: a second instance on a busy port must fail, not share it silently.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    set_health(NOT_SERVING if os.environ.get("GRPC_NOT_SERVING") == "1" else SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [SERVICE, reflection.SERVICE_NAME, health.SERVICE_NAME]
    reflection.enable_server_reflection(names, server, pool=pool)
    # grpcio-reflection only registers v1alpha; v1 has the same messages, so serve it as well.
    v1 = reflection.ReflectionServicer(names, pool=pool)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "grpc.reflection.v1.ServerReflection", {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                v1.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString),
        }),))
    err = "port in use?"
    try:
        bound = server.add_insecure_port("127.0.0.1:%d" % int(port))
    except RuntimeError as e:  # newer grpcio raises instead of returning 0
        bound, err = 0, e
    if not bound:
        log("cannot bind 127.0.0.1:%s: %s" % (port, err))
        return 1

    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopping.set())
    server.start()
    log("listening on 127.0.0.1:%d" % bound)
    while not stopping.wait(0.5):
        pass
    log("stopping")
    health_servicer.enter_graceful_shutdown()
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
