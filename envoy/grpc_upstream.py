"""A gRPC server for end-to-end tests: `orders.v1.OrderService` with GetOrder, ListOrders,
CreateOrder and CancelOrder, served by grpcio with raw-bytes handlers (no generated code).
Each method answers with JSON naming the method and the identity meshguard forwarded
(`x-remote-user`), so a test sees what the service believed.

Usage: python envoy/grpc_upstream.py PORT   (listens on 127.0.0.1 only; needs grpcio)
"""
import json
import sys
import time
from concurrent import futures

import grpc

METHODS = ["GetOrder", "ListOrders", "CreateOrder", "CancelOrder"]


def handler(method):
    def call(request, context):
        metadata = dict(context.invocation_metadata())
        return json.dumps({
            "method": method,
            "user": metadata.get("x-remote-user", ""),
            "groups": metadata.get("x-remote-group", ""),
            "authorization": metadata.get("authorization", ""),
            "request": request.decode("utf-8", "replace"),
        }).encode()
    return grpc.unary_unary_rpc_method_handler(call)


def main():
    port = int(sys.argv[1])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "orders.v1.OrderService", {m: handler(m) for m in METHODS}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop(0)


if __name__ == "__main__":
    main()
